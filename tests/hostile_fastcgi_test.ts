// Hostile PARAMS against the FastCGI responder, with a raw client over TCP
// (tests/_gateway_peers.ts): too many params, too many bytes of them, a URI too long.
// Each is answered (431, 414) without the app, and the server goes on serving. The
// linear reading of params is shown by counting work (the param store answers from a
// Map), never by timing it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import process from "node:process";
import { serveFastCgi } from "../adapters/fastcgi/mod.ts";
import type { FastCgiLimits } from "../adapters/fastcgi/mod.ts";
import { ParamBlock } from "../adapters/fastcgi/params.ts";
import type { Server } from "../adapters/adapter.ts";
import { begin, cat, FcgiClient, get, pairs, rec, request, T } from "./_gateway_peers.ts";

/** The documented defaults (docs/reference.md, FastCgiLimits). */
const MAX_PARAM_COUNT = 200;
const MAX_REQUEST_PARAMS_SIZE = 64 * 1024;
/** The HTTP servers' longest request target (adapters/common.ts MAX_URL_LENGTH). */
const MAX_URL = 8192;

/** Answers with what it saw: the number of request headers and one of them. */
const app = {
  fetch(req: Request): Response {
    let headers = 0;
    for (const _ of req.headers) headers++;
    return Response.json({ path: new URL(req.url).pathname, headers, x: req.headers.get("x-probe") });
  },
};

const logs: string[] = [];
const servers: Server[] = [];
async function start(limits: Partial<FastCgiLimits> = {}): Promise<number> {
  const server = await serveFastCgi({
    app, host: "127.0.0.1", port: 0, quiet: true,
    maxBodySize: Infinity, shutdownTimeout: 500, log: (l) => logs.push(l), limits,
  });
  servers.push(server);
  return Number(server.url.split(":").pop());
}
let port = 0;
before(async () => {
  port = await start();
});
after(() => Promise.all(servers.map((s) => s.close())));

/** `count` distinct `HTTP_X_*` params. */
function headers(count: number, value = (i: number) => `value-${i}`): [string, string][] {
  return Array.from({ length: count }, (_, i) => [`HTTP_X_H${i}`, value(i)] as [string, string]);
}

/** A GET of `/echo` whose PARAMS are exactly `size` bytes (a padding header fills them up). */
function paramsOfSize(size: number): [string, string][] {
  const base = get("/echo");
  const name = "HTTP_X_PAD";
  // 1 byte of name length, 4 of value length (the value is longer than 127).
  return [...base, [name, "p".repeat(size - pairs(base).length - 5 - name.length)]];
}

/** Sends one request on a new connection and returns its answer (the connection is closed after). */
async function ask(p: number, params: [string, string][]): Promise<ReturnType<FcgiClient["response"]>> {
  const c = await FcgiClient.connect(p);
  try {
    c.send(request(1, params));
    await c.ended(1, 20000);
    assert.deepEqual(c.end(1)?.[1], 0, "END_REQUEST(REQUEST_COMPLETE)");
    return c.response(1);
  } finally {
    c.close();
  }
}

/** A normal request on a new connection is served. */
async function stillServes(p = port): Promise<void> {
  const r = await ask(p, get("/echo", [["HTTP_X_PROBE", "alive"]]));
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.text).x, "alive");
}

/** Open file descriptors of this process (Linux), or undefined. */
function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

describe("FastCGI: hostile PARAMS", () => {
  test("20,000 distinct HTTP_* params (about 300 KB) → 431 on the same connection, which then serves the next request", async () => {
    const params = [...get("/echo"), ...headers(20_000)];
    assert.ok(pairs(params).length > 290_000);
    const c = await FcgiClient.connect(port);
    c.send(request(1, params, undefined, true));
    await c.ended(1, 20000);
    const r = c.response(1);
    assert.equal(r.status, 431);
    assert.equal(r.text, "Request Header Fields Too Large\n");
    // The rest of request 1's records were ignored; the connection is usable.
    c.send(request(2, get("/echo", [["HTTP_X_PROBE", "next"]]), undefined, true));
    await c.ended(2);
    assert.equal(JSON.parse(c.response(2).text).x, "next");
    assert.equal(c.closed, false);
    c.close();
    await stillServes();
  });

  test(`20,000 params in a PARAMS limit that lets them through → 431 from the count cap (${MAX_PARAM_COUNT})`, async () => {
    const p = await start({ maxRequestParamsSize: 1 << 20 });
    const r = await ask(p, [...get("/echo"), ...headers(20_000)]);
    assert.equal(r.status, 431);
    assert.equal(r.text, "Request Header Fields Too Large\n");
    await stillServes(p);
  });

  test(`the count cap fires at the documented count: ${MAX_PARAM_COUNT} params are served, one more is 431`, async () => {
    const base = get("/echo", [["HTTP_X_PROBE", "at the cap"]]);
    const atCap = [...base, ...headers(MAX_PARAM_COUNT - base.length)];
    const served = await ask(port, atCap);
    assert.equal(served.status, 200);
    assert.deepEqual(JSON.parse(served.text), { path: "/echo", headers: MAX_PARAM_COUNT - base.length + 1, x: "at the cap" });
    const refused = await ask(port, [...atCap, ["HTTP_X_ONE_MORE", "1"]]);
    assert.equal(refused.status, 431);
    // A repeated header is one param per line too (nginx sends each), so it counts each time.
    const repeated = await ask(port, [...base, ...Array.from({ length: MAX_PARAM_COUNT }, () => ["HTTP_X_SAME", "1"] as [string, string])]);
    assert.equal(repeated.status, 431);
  });

  test(`PARAMS are capped at the documented ${MAX_REQUEST_PARAMS_SIZE} bytes per request: exactly that is served, one byte more is 431`, async () => {
    const exact = paramsOfSize(MAX_REQUEST_PARAMS_SIZE);
    assert.equal(pairs(exact).length, MAX_REQUEST_PARAMS_SIZE);
    assert.equal((await ask(port, exact)).status, 200);
    assert.equal((await ask(port, paramsOfSize(MAX_REQUEST_PARAMS_SIZE + 1))).status, 431);
    // run({ maxHeaderSize }) sets it: the PARAMS are the request's header block.
    const server = await serveFastCgi({
      app, host: "127.0.0.1", port: 0, quiet: true,
      maxBodySize: Infinity, shutdownTimeout: 500, log: (l) => logs.push(l), maxHeaderSize: 2048,
    });
    servers.push(server);
    const small = Number(server.url.split(":").pop());
    assert.equal((await ask(small, paramsOfSize(2048))).status, 200);
    assert.equal((await ask(small, paramsOfSize(2049))).status, 431);
  });

  test("a PARAMS block of 1 MiB → 431 once the cap is crossed, the rest ignored; the connection serves on, nothing is closed", async () => {
    const n = logs.length;
    const c = await FcgiClient.connect(port);
    const huge = pairs([...get("/echo"), ...headers(1100, () => "v".repeat(1000))]);
    assert.ok(huge.length > 1 << 20);
    // In records of 65528 bytes, as a web server would write them, with a request behind.
    const stream = [begin(1, { keep: true })];
    for (let o = 0; o < huge.length; o += 65528) stream.push(rec(T.PARAMS, 1, huge.subarray(o, o + 65528)));
    stream.push(rec(T.PARAMS, 1), rec(T.STDIN, 1), request(2, get("/echo", [["HTTP_X_PROBE", "behind"]]), undefined, true));
    c.send(cat(...stream));
    await c.ended(2);
    assert.equal(c.response(1).status, 431);
    assert.equal(c.records.filter((r) => r.type === T.END && r.id === 1).length, 1, "one END_REQUEST for request 1");
    assert.equal(JSON.parse(c.response(2).text).x, "behind");
    assert.equal(c.closed, false);
    assert.deepEqual(logs.slice(n), [], "no protocol error: the connection was not closed");
    c.close();
  });

  test(`a request URI over ${MAX_URL} bytes (the HTTP servers' limit) → 414; exactly ${MAX_URL} is served`, async () => {
    const path = (length: number) => `/echo?${"q".repeat(length - "/app/echo?".length)}`;
    assert.equal(get(path(MAX_URL)).find(([n]) => n === "REQUEST_URI")![1].length, MAX_URL);
    assert.equal((await ask(port, get(path(MAX_URL)))).status, 200);
    for (const length of [MAX_URL + 1, 20_000]) {
      const r = await ask(port, get(path(length)));
      assert.equal(r.status, 414, `${length} bytes`);
      assert.equal(r.text, "URI Too Long\n");
    }
    // Without REQUEST_URI the target is rebuilt from SCRIPT_NAME, PATH_INFO and QUERY_STRING.
    const noUri = get(path(20_000)).filter(([n]) => n !== "REQUEST_URI");
    assert.equal((await ask(port, noUri)).status, 414);
    await stillServes();
  });

  test("many requests × many params, multiplexed over kept connections, refusals mixed in: all answered; fds and memory come back", async () => {
    await stillServes(); // (warm: sockets, buffers)
    const fdsBefore = openFds();
    const rssBefore = process.memoryUsage().rss;
    const near = [...get("/echo", [["HTTP_X_PROBE", "near"]]), ...headers(MAX_PARAM_COUNT - 10)];
    const tooMany = [...near, ...headers(20)];
    const tooLong = get(`/echo?${"q".repeat(MAX_URL)}`);
    const kinds = [near, near, tooMany, near, tooLong];
    const expected = [200, 200, 431, 200, 414];
    const clients = await Promise.all(Array.from({ length: 4 }, () => FcgiClient.connect(port)));
    for (let round = 0; round < 2; round++) {
      await Promise.all(clients.map(async (c) => {
        c.records.length = 0;
        c.send(cat(...Array.from({ length: 20 }, (_, i) => request(i + 1, kinds[i % kinds.length], undefined, true))));
        for (let id = 1; id <= 20; id++) {
          await c.ended(id, 60000);
          assert.equal(c.response(id).status, expected[(id - 1) % kinds.length], `request ${id}`);
        }
        assert.equal(JSON.parse(c.response(1).text).headers, MAX_PARAM_COUNT - 10 + 1);
      }));
    }
    for (const c of clients) c.close();
    await stillServes();
    const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grown < 150, `RSS grew by ${grown.toFixed(0)} MB`);
    if (fdsBefore !== undefined) {
      // The closed connections' fds are released (bounded wait for the close to land).
      let fds = openFds()!;
      for (let i = 0; i < 100 && fds > fdsBefore; i++) {
        await new Promise((r) => setTimeout(r, 50));
        fds = openFds()!;
      }
      assert.ok(fds <= fdsBefore, `${fds} fds open, ${fdsBefore} before`);
    }
  });
});

describe("FastCGI param store (adapters/fastcgi/params.ts)", () => {
  const encode = (list: [string, string][]) => pairs(list, true);

  test("keeps at most maxPairs pairs and says when there were more", () => {
    const list = headers(MAX_PARAM_COUNT + 1);
    const over = ParamBlock.parse(encode(list), { maxPairs: MAX_PARAM_COUNT })!;
    assert.equal(over.overflow, true);
    assert.equal(over.size, MAX_PARAM_COUNT);
    const at = ParamBlock.parse(encode(list.slice(1)), { maxPairs: MAX_PARAM_COUNT })!;
    assert.equal(at.overflow, false);
    assert.equal(at.size, MAX_PARAM_COUNT);
  });

  test("a stream ending inside a pair is malformed, unless only its start is read (partial)", () => {
    const bytes = encode([["REQUEST_METHOD", "GET"], ["REQUEST_URI", "/a"]]);
    const cut = bytes.subarray(0, bytes.length - 1);
    assert.equal(ParamBlock.parse(cut, { maxPairs: 10 }), null);
    const start = ParamBlock.parse(cut, { maxPairs: 10, partial: true })!;
    assert.deepEqual([...start], [["REQUEST_METHOD", "GET"]]);
    assert.equal(ParamBlock.parse(new Uint8Array([5]), { maxPairs: 10 }), null, "a lone length byte");
  });

  test("small and large blocks answer alike: repeated HTTP_* merged in order (cookies with '; '), other names last one wins", () => {
    const list: [string, string][] = [
      ["HTTP_COOKIE", "a=1"], ["SCRIPT_NAME", "/one"], ["HTTP_ACCEPT", "text/html"],
      ["HTTP_COOKIE", "b=2"], ["HTTP_ACCEPT", "application/json"], ["SCRIPT_NAME", "/two"],
    ];
    const expected = { HTTP_COOKIE: "a=1; b=2", HTTP_ACCEPT: "text/html, application/json", SCRIPT_NAME: "/two" };
    for (const filler of [0, 500]) {
      const block = ParamBlock.parse(encode([...headers(filler), ...list]), { maxPairs: 10_000 })!;
      for (const [name, value] of Object.entries(expected)) assert.equal(block.get(name), value, `${name} among ${filler}`);
      assert.equal(block.get("HTTP_MISSING"), undefined);
      const all = new Map(block);
      assert.equal(all.size, filler + 3, "each name once");
      for (const [name, value] of Object.entries(expected)) assert.equal(all.get(name), value);
      assert.equal(all.get("HTTP_X_H7"), filler ? "value-7" : undefined);
    }
  });

  test("reading every param of a large block is linear: names are not searched pair by pair (counted, not timed)", () => {
    // Names of one length sharing a long prefix: the costliest case for a search that
    // compares names character by character (about n²/2 comparisons of ~10 characters).
    const n = 1000;
    const list = Array.from({ length: n }, (_, i) => [`HTTP_X_${String(i).padStart(6, "0")}`, "v"] as [string, string]);
    const block = ParamBlock.parse(encode(list), { maxPairs: n })!;
    const proto = String.prototype;
    const { charCodeAt } = proto;
    let calls = 0;
    proto.charCodeAt = function (this: string, index: number) {
      calls++;
      return charCodeAt.call(this, index);
    };
    let seen = 0;
    try {
      for (const [name] of block) if (block.get(name) === "v") seen++;
    } finally {
      proto.charCodeAt = charCodeAt;
    }
    assert.equal(seen, n);
    assert.ok(calls < 40 * n, `${calls} character comparisons for ${n} params`);
  });
});
