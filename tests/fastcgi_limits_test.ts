// FastCGI flow control and limits, with a raw client (tests/_gateway_peers.ts): what a
// slow, non-reading, greedy or hostile web server can and cannot make the adapter do.
// Every wait is bounded; nothing asserts a duration.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { RecordParser, serveFastCgi } from "../adapters/fastcgi/mod.ts";
import type { FastCgiLimits } from "../adapters/fastcgi/mod.ts";
import type { Server } from "../adapters/adapter.ts";
import { begin, cat, FcgiClient, get, pairs, rec, request, T } from "./_gateway_peers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `value()` stops changing for `quiet` ms (at most `ms`); returns it. */
async function settled(value: () => number, quiet = 400, ms = 8000): Promise<number> {
  const deadline = Date.now() + ms;
  let last = value(), since = Date.now();
  while (Date.now() < deadline && Date.now() - since < quiet) {
    await sleep(25);
    const now = value();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  return last;
}

/** The fixture's position-weighted checksum. */
function checksum(bytes: Uint8Array, offset = 0, sum = 0): number {
  for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i] * (((offset + i) % 251) + 1)) >>> 0;
  return sum;
}

let bigServed = 0;
const holds = new Map<string, () => void>();
/** Holds a request until `release(name)`. */
function held(name: string): Promise<void> {
  return new Promise((resolve) => holds.set(name, resolve));
}
function release(name: string): void {
  holds.get(name)?.();
  holds.delete(name);
}

const app = {
  async fetch(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const q = url.searchParams;
    if (url.pathname === "/big") {
      bigServed++;
      return new Response(new Uint8Array(Number(q.get("size") ?? 1 << 20)));
    }
    if (url.pathname === "/hold") {
      // Reads nothing until released, then the whole body (a slow reader).
      await held(q.get("name") ?? "");
      let length = 0, sum = 0;
      try {
        const reader = req.body!.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          sum = checksum(value, length, sum);
          length += value.length;
        }
      } catch (error) {
        return new Response(`failed: ${error}`, { status: 400 });
      }
      return Response.json({ length, sum });
    }
    if (url.pathname === "/slow") {
      await sleep(Number(q.get("ms") ?? 200));
      return new Response("slow done");
    }
    if (url.pathname === "/upload") {
      const bytes = new Uint8Array(await req.arrayBuffer());
      return Response.json({ length: bytes.length, sum: checksum(bytes), text: new TextDecoder().decode(bytes) });
    }
    if (url.pathname === "/garbage") return {} as Response; // a broken fetch app: not a Response
    return new Response(`Hello ${url.pathname}`);
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
after(async () => {
  for (const [name] of holds) release(name);
  await Promise.all(servers.map((s) => s.close()));
});

/** Params of a POST to `path` with `length` declared. */
function post(path: string, length?: number): [string, string][] {
  return [...get(path), ["REQUEST_METHOD", "POST"], ...(length === undefined ? [] : [["CONTENT_LENGTH", String(length)] as [string, string]])];
}

/** Writes `make(i)` batches without reading, waiting for drain, until `limit` bytes or a stall of `stallMs`. */
async function writeUntilStalled(socket: net.Socket, make: () => Uint8Array, limit: number, stallMs = 1500): Promise<{ written: number; stalled: boolean }> {
  let written = 0;
  while (written < limit) {
    const bytes = make();
    written += bytes.length;
    if (!socket.write(bytes)) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          socket.off("drain", onDrain);
          resolve(false);
        }, stallMs);
        const onDrain = () => {
          clearTimeout(timer);
          resolve(true);
        };
        socket.once("drain", onDrain);
      });
      if (!drained) return { written, stalled: true };
    }
  }
  return { written, stalled: false };
}

describe("FastCGI limits and flow control", () => {
  test("FCGI_MAX_REQS is the per-connection limit; a request beyond it gets END_REQUEST(FCGI_OVERLOADED), the connection lives on", async () => {
    const p = await start({ maxRequestsPerConnection: 3, maxConns: 7 });
    const c = await FcgiClient.connect(p);
    c.send(rec(T.GET_VALUES, 0, pairs([["FCGI_MAX_CONNS", ""], ["FCGI_MAX_REQS", ""], ["FCGI_MPXS_CONNS", ""]])));
    await c.until((rs) => rs.some((r) => r.type === T.GET_VALUES_RESULT));
    const values = new Map<string, string>();
    const content = c.records.find((r) => r.type === T.GET_VALUES_RESULT)!.content;
    for (let o = 0; o < content.length;) {
      const n = content[o], v = content[o + 1];
      values.set(new TextDecoder().decode(content.subarray(o + 2, o + 2 + n)), new TextDecoder().decode(content.subarray(o + 2 + n, o + 2 + n + v)));
      o += 2 + n + v;
    }
    assert.deepEqual(Object.fromEntries(values), { FCGI_MAX_CONNS: "7", FCGI_MAX_REQS: "3", FCGI_MPXS_CONNS: "1" });
    // Five at once on one connection: three are served, two are turned away.
    c.send(cat(...[1, 2, 3, 4, 5].map((id) => request(id, get("/slow?ms=300"), undefined, true))));
    await c.ended(5, 5000);
    await c.ended(4, 5000);
    assert.deepEqual(c.end(4), [0, 2], "FCGI_OVERLOADED");
    assert.deepEqual(c.end(5), [0, 2], "FCGI_OVERLOADED");
    assert.equal(c.records.filter((r) => r.type === T.STDOUT && (r.id === 4 || r.id === 5)).length, 0);
    for (const id of [1, 2, 3]) {
      await c.ended(id, 5000);
      assert.equal(c.response(id).text, "slow done");
    }
    assert.equal(c.closed, false, "the connection was not closed");
    c.send(request(6, get("/hello/again"), undefined, true));
    await c.ended(6, 5000);
    assert.equal(c.response(6).text, "Hello /hello/again");
    c.close();
  });

  test("answers wait for a web server that does not read: the connection is not read meanwhile", async () => {
    bigServed = 0;
    const c = await FcgiClient.connect(port);
    c.socket.pause();
    // 100 requests for 1 MB each, in separate writes: 100 MB would pile up in memory
    // if the adapter kept reading new requests while its answers could not go out.
    for (let id = 1; id <= 100; id++) {
      c.send(request(id, get("/big?size=1000000"), undefined, true));
      await sleep(2);
    }
    const served = await settled(() => bigServed);
    assert.ok(served < 50, `${served} requests of 1 MB answered while nobody read (kernel buffers hold a few MB)`);
    c.socket.resume();
    await c.ended(100, 60000);
    assert.equal(bigServed, 100);
    assert.equal(c.response(100).body.length, 1_000_000);
    c.close();
  });

  test("management answers and refusals obey the same back-pressure (GET_VALUES/UNKNOWN_TYPE/unknown role flood, never read)", async () => {
    const socket = net.connect({ host: "127.0.0.1", port });
    await new Promise((r) => socket.once("connect", r));
    socket.pause();
    socket.on("error", () => {});
    const batch = cat(
      ...Array.from({ length: 400 }, (_, i) =>
        i % 3 === 0 ? rec(T.GET_VALUES, 0, pairs([["FCGI_MAX_CONNS", ""], ["FCGI_MPXS_CONNS", ""]])) : i % 3 === 1 ? rec(42, 0, "x") : begin(7, { role: 3, keep: true })),
    );
    const { written, stalled } = await writeUntilStalled(socket, () => batch, 64 << 20);
    socket.destroy();
    assert.ok(stalled, `the adapter kept reading: ${written >> 20} MB written without a stall`);
    assert.ok(written < 32 << 20, `${written >> 20} MB accepted before the writes blocked`);
  });

  test("request body back-pressure: a handler that reads slowly makes the web server's writes block; then every byte arrives", async () => {
    const size = 40 << 20;
    const c = await FcgiClient.connect(port);
    c.send(cat(begin(1), rec(T.PARAMS, 1, pairs(post("/hold?name=slow", size))), rec(T.PARAMS, 1)));
    const chunk = new Uint8Array(65528).map((_, i) => (i * 7) % 256);
    const piece = rec(T.STDIN, 1, chunk);
    const { written, stalled } = await writeUntilStalled(c.socket, () => piece, size);
    assert.ok(stalled, "the body was taken in full although nobody read it");
    assert.ok(written < 24 << 20, `${written >> 20} MB accepted before the writes blocked`);
    release("slow");
    // Now everything must get through: finish sending the body.
    let sent = Math.floor(written / piece.length) * chunk.length, expected = 0;
    for (let o = 0; o < sent; o += chunk.length) expected = checksum(chunk, o, expected);
    while (sent < size) {
      const n = Math.min(chunk.length, size - sent);
      const part = chunk.subarray(0, n);
      expected = checksum(part, sent, expected);
      sent += n;
      if (!c.socket.write(rec(T.STDIN, 1, part))) await new Promise((r) => c.socket.once("drain", r));
    }
    c.send(rec(T.STDIN, 1));
    await c.ended(1, 60000);
    assert.deepEqual(JSON.parse(c.response(1).text), { length: size, sum: expected });
    c.close();
  });

  test("one slow reader does not stall ABORT_REQUEST or the other requests on its connection", async () => {
    const c = await FcgiClient.connect(port);
    // Request 1 holds 900 KB of body unread (under the connection's 1 MiB), then is
    // aborted; the records arrive in separate reads.
    c.send(cat(begin(1, { keep: true }), rec(T.PARAMS, 1, pairs(post("/hold?name=stuck", 10_000_000))), rec(T.PARAMS, 1)));
    for (let i = 0; i < 15; i++) {
      c.send(rec(T.STDIN, 1, new Uint8Array(60000)));
      await sleep(5);
    }
    await sleep(50);
    c.send(cat(rec(T.ABORT, 1), request(2, get("/hello/other"), undefined, true)));
    await c.ended(2, 5000);
    assert.equal(c.response(2).text, "Hello /hello/other");
    await c.ended(1, 5000);
    assert.deepEqual(c.end(1), [0, 0]);
    assert.ok(holds.has("stuck"), "the slow handler had not read anything meanwhile");
    release("stuck");
    c.close();
  });

  test("STDIN longer than CONTENT_LENGTH: the app gets exactly CONTENT_LENGTH bytes, the excess is ignored", async () => {
    const c = await FcgiClient.connect(port);
    const body = new TextEncoder().encode("0123456789ABCDE");
    c.send(request(1, post("/upload", 10), body));
    await c.ended(1);
    assert.equal(c.response(1).status, 200);
    assert.deepEqual(JSON.parse(c.response(1).text), { length: 10, sum: checksum(body.subarray(0, 10)), text: "0123456789" });
    c.close();
  });

  test("unfinished PARAMS count per connection, across its requests", async () => {
    const n = logs.length;
    const c = await FcgiClient.connect(port);
    // Twenty requests, 60 KB of PARAMS each (under the 64 KiB of one request), none
    // finished: 1.2 MB > 1 MiB on one connection.
    for (let id = 1; id <= 20; id++) c.send(cat(begin(id, { keep: true }), rec(T.PARAMS, id, new Uint8Array(60000).fill(0x41))));
    assert.equal(await c.waitClosed(5000), true);
    assert.ok(logs.slice(n).some((l) => /PARAMS over/.test(l)), logs.slice(n).join("\n"));
  });

  test("maxConns: connections beyond it are closed at once, with a log line; the others are served", async () => {
    const p = await start({ maxConns: 2 });
    const n = logs.length;
    const [a, b] = [await FcgiClient.connect(p), await FcgiClient.connect(p)];
    a.send(request(1, get("/hello/a"), undefined, true));
    await a.ended(1);
    const extra = await FcgiClient.connect(p);
    assert.equal(await extra.waitClosed(5000), true, "the third connection is closed");
    assert.ok(logs.slice(n).some((l) => /maxConns = 2/.test(l)));
    b.send(request(1, get("/hello/b"), undefined, true));
    await b.ended(1);
    assert.equal(b.response(1).text, "Hello /hello/b");
    a.close();
    // Once the server has seen the close, a new connection is served again.
    let text = "";
    for (let i = 0; i < 50 && !text; i++) {
      const again = await FcgiClient.connect(p);
      again.send(request(1, get("/hello/again")));
      await again.ended(1, 5000).catch(() => {});
      text = again.response(1).text;
      again.close();
      if (!text) await sleep(50);
    }
    assert.equal(text, "Hello /hello/again");
    b.close();
  });

  test("idle timeout: a connection with a partial record and no request in the app is closed; a long request is not cut", async () => {
    const p = await start({ idleTimeout: 300 });
    const n = logs.length;
    const partial = await FcgiClient.connect(p);
    partial.send(new Uint8Array([1, 1, 0])); // 3 bytes of a header
    const idle = await FcgiClient.connect(p);
    const busy = await FcgiClient.connect(p);
    busy.send(request(1, get("/slow?ms=1500"), undefined, true));
    assert.equal(await partial.waitClosed(10000), true);
    assert.equal(await idle.waitClosed(10000), true);
    await busy.ended(1, 10000);
    assert.equal(busy.response(1).text, "slow done");
    assert.ok(logs.slice(n).some((l) => /no request for 300 ms/.test(l)));
    busy.close();
  });

  test("a bad CONTENT_LENGTH gets a 400 through the shared header writer; an answer we cannot write gets a 500 before END_REQUEST", async () => {
    const c = await FcgiClient.connect(port);
    c.send(request(1, [...get("/upload"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "ten"]], undefined, true));
    await c.ended(1);
    const r1 = c.response(1);
    assert.equal(r1.status, 400);
    assert.match(r1.head, /^content-length: 12\r\ncontent-type: text\/plain; charset=UTF-8\r\nStatus: 400 Bad Request$/);
    assert.equal(r1.text, "Bad Request\n");
    c.send(request(2, get("/garbage"), undefined, true));
    await c.ended(2);
    const r2 = c.response(2);
    assert.equal(r2.status, 500);
    assert.equal(r2.text, "Internal Server Error\n");
    assert.deepEqual(c.end(2), [1, 0]);
    const end = c.records.findIndex((r) => r.type === T.END && r.id === 2);
    assert.ok(c.records.findIndex((r) => r.type === T.STDOUT && r.id === 2) < end, "STDOUT before END_REQUEST");
    c.close();
  });
});

describe("RecordParser", () => {
  test("bytes arriving one at a time are copied a bounded number of times (no re-joining per read)", () => {
    const records = cat(...Array.from({ length: 10 }, (_, i) => rec(T.STDIN, 1, new Uint8Array(8192).fill(i), 3)));
    let copied = 0;
    const proto = Uint8Array.prototype;
    const { set, slice, copyWithin } = proto;
    proto.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
      copied += source.length;
      return set.call(this, source, offset);
    };
    proto.slice = function (this: Uint8Array, start?: number, end?: number) {
      const out = slice.call(this, start, end);
      copied += out.length;
      return out;
    } as typeof slice;
    proto.copyWithin = function (this: Uint8Array, target: number, start: number, end?: number) {
      copied += (end ?? this.length) - start;
      return copyWithin.call(this, target, start, end);
    } as typeof copyWithin;
    const parser = new RecordParser();
    let got = 0, bytes = 0;
    try {
      for (let i = 0; i < records.length; i++) {
        for (const r of parser.push(records.subarray(i, i + 1))) {
          got++;
          bytes += r.content.length;
          assert.ok(r.content.every((b) => b === got - 1));
        }
      }
    } finally {
      proto.set = set;
      proto.slice = slice;
      proto.copyWithin = copyWithin;
    }
    assert.equal(got, 10);
    assert.equal(bytes, 81920);
    assert.equal(parser.pending, 0);
    // Re-joining on every read would copy ~10 × 8192² / 2 = 335 MB here.
    assert.ok(copied < 8 * records.length, `${copied} bytes copied for ${records.length} bytes received`);
  });

  test("records packed in one chunk are read in place, and a pending tail survives the caller reusing its buffer", () => {
    const parser = new RecordParser();
    const two = cat(rec(T.STDIN, 1, "abc"), rec(T.STDIN, 2, "defg", 5));
    const chunk = cat(two, two.subarray(0, 10));
    parser.append(chunk);
    const a = parser.next()!, b = parser.next()!;
    assert.equal(a.content.buffer, chunk.buffer, "no copy");
    assert.deepEqual([a.requestId, new TextDecoder().decode(a.content), b.requestId, new TextDecoder().decode(b.content)], [1, "abc", 2, "defg"]);
    assert.equal(parser.next(), null);
    parser.detach();
    chunk.fill(0); // the caller reuses its read buffer
    parser.append(two.subarray(10));
    assert.equal(new TextDecoder().decode(parser.next()!.content), "abc");
    assert.throws(() => {
      parser.append(rec(T.STDIN, 1, "x", 0, 2));
      while (parser.next());
    }, /version 2/);
  });
});
