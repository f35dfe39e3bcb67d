// FastCGI protocol over a real socket, with a hand-written client (tests/_gateway_peers.ts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { serveFastCgi, fastcgiAdapter } from "../adapters/fastcgi/mod.ts";
import type { Server } from "../adapters/adapter.ts";
import { abortCount, gatewayApp } from "./fixtures/gateway_app.ts";
import { begin, cat, FcgiClient, get, pairs, rec, request, T } from "./_gateway_peers.ts";
import { here, peer, runtimeCommand, tempDir } from "./_helpers.ts";

const logs: string[] = [];
let server: Server;
let port: number;
let pulls = 0; // chunks the back-pressure route has produced

const app = {
  fetch(req: Request, info?: { scriptName?: string; remoteAddr?: string }) {
    const path = new URL(req.url).pathname;
    if (path === "/pressure") {
      // 1000 chunks of 64 KiB = 64 MB if nobody pushed back.
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (pulls >= 1000) return c.close();
            pulls++;
            c.enqueue(new Uint8Array(65536).fill(pulls & 255));
          },
        }, { highWaterMark: 0 }),
      );
    }
    if (path === "/streamfail") {
      let n = 0;
      return new Response(new ReadableStream({
        pull(c) {
          if (n++ === 0) c.enqueue(new TextEncoder().encode("partial"));
          else c.error(new Error("stream broke"));
        },
      }));
    }
    return gatewayApp.fetch(req, info);
  },
};

before(async () => {
  server = await serveFastCgi({
    app,
    host: "127.0.0.1",
    port: 0,
    quiet: true,
    maxBodySize: Infinity,
    shutdownTimeout: 1000,
    log: (l) => logs.push(l),
  });
  port = Number(server.url.split(":").pop());
});
after(() => server.close());

describe("FastCGI responder over TCP", () => {
  test("GET split into 1-byte writes: Status line, body, empty STDOUT, END_REQUEST, close (KEEP_CONN=0)", async () => {
    const c = await FcgiClient.connect(port);
    await c.sendSplit(request(1, get("/hello/world")), 1);
    await c.ended(1);
    const r = c.response(1);
    assert.equal(r.status, 200);
    assert.match(r.head, /\r\nStatus: 200 OK$/, "Status: last (HAProxy lets the later of Status and Location win)");
    assert.equal(r.text, "Hello world!");
    const stdout = c.records.filter((x) => x.type === T.STDOUT);
    assert.equal(stdout.at(-1)!.content.length, 0, "empty STDOUT ends the stream");
    assert.ok(c.records.findIndex((x) => x.type === T.END) > c.records.indexOf(stdout.at(-1)!));
    assert.deepEqual(c.end(1), [0, 0]);
    assert.ok(!/transfer-encoding/i.test(r.head));
    assert.equal(await c.waitClosed(), true, "closes after the request when KEEP_CONN is 0");
  });

  test("packed records, padding, 4-byte lengths, duplicates, empty CONTENT_* absent, prefix as scriptName", async () => {
    const c = await FcgiClient.connect(port);
    const params = pairs([
      ...get("/info?x=1&y=%C3%A9"),
      ["HTTP_COOKIE", "a=1"],
      ["HTTP_COOKIE", "b=2"],
      ["HTTP_ACCEPT", "text/html"],
      ["HTTP_ACCEPT", "application/json"],
      ["HTTP_X_LONG", "v".repeat(300)],
      ["CONTENT_LENGTH", ""],
      ["CONTENT_TYPE", ""],
      ["SCRIPT_NAME", "/app"], // nginx sends SCRIPT_NAME twice when a config overrides it
    ], true);
    // PARAMS split in the middle of a pair, with padding on every record, all in one write.
    const mid = 37;
    c.send(cat(
      begin(7),
      rec(T.PARAMS, 7, params.subarray(0, mid), 3),
      rec(T.PARAMS, 7, params.subarray(mid), 255),
      rec(T.PARAMS, 7, new Uint8Array(0), 5),
      rec(T.STDIN, 7, new Uint8Array(0), 7),
    ));
    await c.ended(7);
    const info = JSON.parse(c.response(7).text);
    assert.equal(info.path, "/info");
    assert.equal(info.scriptName, "/app");
    assert.deepEqual(info.query, { x: "1", y: "é" });
    assert.equal(info.cookie, "a=1; b=2");
    assert.equal(info.headers.accept, "text/html, application/json");
    assert.equal(info.headers["x-long"], "v".repeat(300));
    assert.equal(info.contentLength, null);
    assert.equal(info.contentType, null);
    assert.equal(info.remoteAddr, "127.0.0.1");
    assert.equal(info.url, "http://localhost/info?x=1&y=%C3%A9");
    c.close();
  });

  test("param values stay exact: thousands of distinct short values (the adapter caches repeated texts), UTF-8, repeats", async () => {
    const c = await FcgiClient.connect(port);
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const values: string[] = [];
    for (let i = 0; i < 1500; i++) {
      // Short values of the same length and alphabet, so they collide in a small cache.
      values.push(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => "abcXYZ019-_./"[Math.floor(rand() * 13)]).join(""));
    }
    values.push("x".repeat(49), "y".repeat(48), "");
    for (let i = 0; i < values.length; i += 50) {
      const batch = values.slice(i, i + 50);
      c.send(cat(...batch.map((v, k) => request(k + 1, get("/info", [["HTTP_X_V", v], ["HTTP_X_W", v], ["HTTP_X_W", "2"]]), undefined, true))));
      for (let k = 0; k < batch.length; k++) {
        await c.ended(k + 1);
        const info = JSON.parse(c.response(k + 1).text);
        assert.equal(info.headers["x-v"], batch[k]);
        assert.equal(info.headers["x-w"], `${batch[k]}, 2`);
      }
      c.records.length = 0;
    }
    // UTF-8 (decoded, never cached) between ASCII texts of the same length.
    for (const [id, name] of [[1, "é/ü—✓"], [2, "abcdefghij"], [3, "ÿ".repeat(5)], [4, "é/ü—✓"]] as [number, string][]) {
      c.send(request(id, get(`/hello/${name}`), undefined, true));
      await c.ended(id);
      assert.equal(c.response(id).text, `Hello ${name}!`);
    }
    c.close();
  });

  test("no PATH_INFO: whole REQUEST_URI path is routed, raw form kept", async () => {
    const c = await FcgiClient.connect(port);
    c.send(request(1, [["REQUEST_METHOD", "GET"], ["SCRIPT_NAME", "/hello/a b"], ["REQUEST_URI", "/hello/a%20b?q=1"], ["QUERY_STRING", "q=1"], ["HTTP_HOST", "example.org:8080"]]));
    await c.ended(1);
    assert.equal(c.response(1).text, "Hello a b!");
    c.close();
  });

  test("percent-encoded paths are never encoded twice: PATH_INFO decoded (nginx), decoded but %2F (lighttpd), or raw (the Apache recipe)", async () => {
    const c = await FcgiClient.connect(port);
    const cases: [string, string, string][] = [
      // [PATH_INFO as the server sends it, REQUEST_URI, the path the app must see]
      ["/p/a b", "/gapp/p/a%20b", "/p/a%20b"],
      ["/p/a%20b", "/gapp/p/a%20b", "/p/a%20b"],
      ["/uni/%E7%93%B6", "/gapp/uni/%E7%93%B6", "/uni/%E7%93%B6"],
      ["/uni/瓶", "/gapp/uni/%E7%93%B6", "/uni/%E7%93%B6"],
      ["/p/x/y", "/gapp/p/x%2Fy", "/p/x%2Fy"],
      ["/p/x%2Fy", "/gapp/p/x%2Fy", "/p/x%2Fy"],
      ["/p/a%2fb c", "/gapp/p/a%2fb%20c", "/p/a%2fb%20c"],
      ["/p/a b", "/elsewhere", "/p/a%20b"], // REQUEST_URI that does not match: PATH_INFO encoded once
    ];
    let id = 0;
    for (const [pathInfo, uri, expected] of cases) {
      id++;
      c.send(request(id, [["REQUEST_METHOD", "GET"], ["SCRIPT_NAME", "/gapp"], ["PATH_INFO", pathInfo], ["REQUEST_URI", uri], ["SERVER_NAME", "localhost"]], undefined, true));
      await c.ended(id);
      const out = JSON.parse(c.response(id).text);
      assert.equal(out.path, expected, `PATH_INFO ${pathInfo} with REQUEST_URI ${uri}`);
    }
    c.close();
  });

  test("multiplexing: interleaved ids, out-of-order completion, KEEP_CONN=1 keeps the connection", async () => {
    const c = await FcgiClient.connect(port);
    const slow = request(3, get("/slow?ms=300"), undefined, true);
    const fast = request(65535, get("/hello/fast"), undefined, true);
    // Interleave record by record: BEGIN 3, BEGIN 65535, PARAMS 3, PARAMS 65535…
    const split = (b: Uint8Array) => {
      const out: Uint8Array[] = [];
      for (let o = 0; o < b.length;) {
        const len = 8 + ((b[o + 4] << 8) | b[o + 5]) + b[o + 6];
        out.push(b.subarray(o, o + len));
        o += len;
      }
      return out;
    };
    const a = split(slow), b = split(fast);
    const mixed: Uint8Array[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) mixed.push(...(a[i] ? [a[i]] : []), ...(b[i] ? [b[i]] : []));
    c.send(cat(...mixed));
    await c.ended(65535);
    assert.equal(c.end(3), undefined, "the slow request is still running");
    await c.ended(3);
    assert.equal(c.response(65535).text, "Hello fast!");
    assert.equal(c.response(3).text, "slept 300");
    // The same connection serves another request, re-using id 3.
    c.records.length = 0;
    c.send(request(3, get("/hello/again"), undefined, true));
    await c.ended(3);
    assert.equal(c.response(3).text, "Hello again!");
    assert.equal(c.closed, false);
    c.close();
  });

  test("GET_VALUES answered with the three variables, unknown names omitted; UNKNOWN_TYPE for an unknown management type", async () => {
    const c = await FcgiClient.connect(port);
    c.send(rec(T.GET_VALUES, 0, pairs([["FCGI_MAX_CONNS", ""], ["FCGI_MAX_REQS", ""], ["FCGI_MPXS_CONNS", ""], ["NOPE", ""]])));
    c.send(rec(42, 0, "xyz"));
    await c.until((rs) => rs.length >= 2);
    const result = c.records.find((r) => r.type === T.GET_VALUES_RESULT)!;
    const text = new TextDecoder().decode(result.content);
    assert.match(text, /FCGI_MPXS_CONNS1/);
    assert.match(text, /FCGI_MAX_CONNS\d/);
    assert.match(text, /FCGI_MAX_REQS\d/);
    assert.ok(!text.includes("NOPE"));
    const unknown = c.records.find((r) => r.type === T.UNKNOWN_TYPE)!;
    assert.equal(unknown.id, 0);
    assert.equal(unknown.content[0], 42);
    assert.equal(unknown.content.length, 8);
    c.close();
  });

  test("unknown role (FILTER) → END_REQUEST(UNKNOWN_ROLE); AUTHORIZER answered right after PARAMS with no STDIN", async () => {
    const c = await FcgiClient.connect(port);
    c.send(cat(begin(1, { role: 3, keep: true }), rec(T.PARAMS, 1, pairs(get("/hello/x"))), rec(T.PARAMS, 1)));
    await c.ended(1);
    assert.deepEqual(c.end(1), [0, 3]);
    assert.equal(c.records.filter((r) => r.type === T.STDOUT).length, 0);
    // Apache's mod_authnz_fcgi sends no STDIN at all to an authorizer.
    c.send(cat(begin(2, { role: 2, keep: true }), rec(T.PARAMS, 2, pairs(get("/hello/auth"))), rec(T.PARAMS, 2)));
    await c.ended(2, 3000);
    assert.equal(c.response(2).status, 200);
    c.close();
  });

  test("POST without CONTENT_LENGTH: body ends at the empty STDIN (chunked upload behind Apache)", async () => {
    const c = await FcgiClient.connect(port);
    const body = new Uint8Array(200_000).map((_, i) => i % 251);
    const params = get("/upload").map(([k, v]) => (k === "REQUEST_METHOD" ? [k, "POST"] : [k, v]) as [string, string]);
    c.send(request(1, params, body));
    await c.ended(1);
    const out = JSON.parse(c.response(1).text);
    assert.equal(out.length, 200_000);
    assert.equal(out.declared, null);
    c.close();
  });

  test("ABORT_REQUEST mid-body: END_REQUEST promptly, request.signal aborted, body reader fails", async () => {
    const before = abortCount();
    const c = await FcgiClient.connect(port);
    const params = [...get("/upload"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "100000"]] as [string, string][];
    c.send(cat(begin(5, { keep: true }), rec(T.PARAMS, 5, pairs(params)), rec(T.PARAMS, 5), rec(T.STDIN, 5, new Uint8Array(1000))));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    c.send(rec(T.ABORT, 5));
    await c.ended(5, 2000);
    assert.ok(Date.now() - t0 < 1000);
    assert.deepEqual(c.end(5), [0, 0]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(abortCount(), before + 1);
    assert.equal(c.closed, false, "KEEP_CONN=1: still open after an abort");
    c.close();
  });

  test("EOF before the end of STDIN aborts the request (nginx/Apache abort by closing)", async () => {
    const before = abortCount();
    const c = await FcgiClient.connect(port);
    const params = [...get("/upload"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "100000"]] as [string, string][];
    c.send(cat(begin(1), rec(T.PARAMS, 1, pairs(params)), rec(T.PARAMS, 1), rec(T.STDIN, 1, new Uint8Array(5000))));
    await new Promise((r) => setTimeout(r, 50));
    c.socket.end();
    const deadline = Date.now() + 3000;
    while (abortCount() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(abortCount(), before + 1);
  });

  test("STDIN shorter than CONTENT_LENGTH fails the body instead of passing a truncated one", async () => {
    const c = await FcgiClient.connect(port);
    const params = [...get("/upload"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "100"]] as [string, string][];
    c.send(request(1, params, new Uint8Array(60)));
    await c.ended(1);
    assert.equal(c.response(1).status, 400);
    c.close();
  });

  test("a 1 MB response is split into records of at most 65535 bytes, bytes intact", async () => {
    const c = await FcgiClient.connect(port);
    c.send(request(1, get("/big?size=1000000")));
    await c.ended(1);
    const stdout = c.records.filter((r) => r.type === T.STDOUT);
    assert.ok(stdout.length > 15);
    assert.ok(stdout.every((r) => r.content.length <= 65535));
    const { body, headers } = c.response(1);
    assert.equal(headers.get("content-length")?.[0], "1000000");
    assert.equal(body.length, 1_000_000);
    assert.ok(body.every((b, i) => b === i % 251));
    c.close();
  });

  test("streamed response: back-pressure stops the producer while the web server does not read", async () => {
    pulls = 0;
    const c = await FcgiClient.connect(port);
    c.socket.pause();
    c.send(request(1, get("/pressure")));
    await new Promise((r) => setTimeout(r, 500));
    const whilePaused = pulls;
    assert.ok(whilePaused < 200, `producer ran ahead: ${whilePaused} chunks of 64 KiB while the reader was paused`);
    c.socket.resume();
    await c.ended(1, 30000);
    assert.equal(pulls, 1000);
    assert.equal(c.response(1).body.length, 1000 * 65536);
    c.close();
  });

  test("app errors: 500 page; a stream that fails mid-body goes to STDERR and the log, END_REQUEST appStatus 1", async () => {
    const c = await FcgiClient.connect(port);
    c.send(request(1, get("/fail"), undefined, true));
    await c.ended(1);
    assert.equal(c.response(1).status, 500);
    const n = logs.length;
    c.send(request(2, get("/streamfail"), undefined, true));
    await c.ended(2);
    assert.equal(c.response(2).text, "partial");
    assert.equal(c.end(2)![0], 1);
    const err = new TextDecoder().decode(cat(...c.records.filter((r) => r.type === T.STDERR && r.id === 2).map((r) => r.content)));
    assert.match(err, /stream broke/);
    assert.ok(logs.slice(n).some((l) => /stream broke/.test(l)));
    c.close();
  });

  test("protocol violations close only that connection: version 2, BEGIN for an active id, PARAMS over the limit", async () => {
    for (const bad of [
      rec(T.BEGIN, 1, new Uint8Array(8), 0, 2),
      cat(begin(1, { keep: true }), begin(1, { keep: true })),
      cat(begin(1), ...Array.from({ length: 20 }, () => rec(T.PARAMS, 1, new Uint8Array(65535)))),
      cat(rec(T.BEGIN, 1, new Uint8Array(3))),
    ]) {
      const c = await FcgiClient.connect(port);
      c.send(bad);
      assert.equal(await c.waitClosed(3000), true);
    }
    const ok = await FcgiClient.connect(port);
    ok.send(request(1, get("/hello/still")));
    await ok.ended(1);
    assert.equal(ok.response(1).text, "Hello still!");
    ok.close();
  });

  test("records for inactive ids are ignored: after END_REQUEST (as nginx sends late STDIN), and ids never begun", async () => {
    const c = await FcgiClient.connect(port);
    c.send(request(1, get("/hello/one"), undefined, true));
    await c.ended(1);
    // Id 1 is inactive now (its END_REQUEST went out); id 9 was never begun. Nothing of
    // this may be answered, fail, or reach a later request with the same id.
    c.records.length = 0;
    c.send(cat(
      rec(T.STDIN, 1, "late body"),
      rec(T.STDIN, 1),
      rec(T.PARAMS, 1, pairs(get("/hello/ghost"))),
      rec(T.PARAMS, 1),
      rec(T.ABORT, 1),
      rec(T.STDIN, 9, "never begun"),
      rec(T.PARAMS, 9),
      rec(T.ABORT, 9),
      rec(T.DATA, 9, "x"),
    ));
    const echo = [...get("/upload"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "4"]] as [string, string][];
    c.send(request(1, echo, new TextEncoder().encode("mine"), true));
    await c.ended(1);
    assert.deepEqual(c.records.map((r) => r.id).filter((id) => id !== 1), [], "nothing answered for id 9");
    assert.equal(c.records.filter((r) => r.type === T.END).length, 1, "one END_REQUEST: the new request's");
    const out = JSON.parse(c.response(1).text);
    assert.equal(out.length, 4, "the late STDIN did not leak into the new request");
    assert.equal(c.closed, false);
    c.close();
  });
});

describe("FastCGI listeners", () => {
  test("Unix socket with the requested mode, not taken over by a second server; removed on close", async () => {
    const dir = tempDir();
    const path = `${dir.path}/app.sock`;
    const s = await fastcgiAdapter.serve({
      app, host: "127.0.0.1", port: 0, socket: path, socketMode: 0o600, quiet: true,
      maxBodySize: Infinity, shutdownTimeout: 1000, log: () => {},
    });
    try {
      assert.equal(s.url, `unix:${path}`);
      const { statSync, existsSync } = await import("node:fs");
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const c = await FcgiClient.connect(path);
      c.send(request(1, get("/hello/unix")));
      await c.ended(1);
      assert.equal(c.response(1).text, "Hello unix!");
      // A second server on the same path is refused instead of taking the live socket.
      await assert.rejects(
        async () => await fastcgiAdapter.serve({
          app, host: "127.0.0.1", port: 0, socket: path, quiet: true,
          maxBodySize: Infinity, shutdownTimeout: 1000, log: () => {},
        }),
        /already listening/,
      );
      const again = await FcgiClient.connect(path);
      again.send(request(1, get("/hello/still")));
      await again.ended(1);
      assert.equal(again.response(1).text, "Hello still!");
      again.close();
      await s.close();
      assert.equal(existsSync(path), false);
    } finally {
      await s.close();
      dir.remove();
    }
  });

  test("isFastCgiListener(): false when fd 0 is a pipe, a file or a connected socket; true for a listening socket", async () => {
    const probe = (stdin: "pipe" | "ignore" | number | net.Socket, wrap?: string[]) =>
      new Promise<string>((resolve) => {
        const [cmd, args] = runtimeCommand(here("tests/fixtures/gateway_app.ts"), ["probe"]);
        const [c, a] = wrap ? [wrap[0], [...wrap.slice(1), cmd, ...args]] : [cmd, args];
        const child = spawn(c, a, { stdio: [stdin, "ignore", "pipe"] });
        let err = "";
        child.stderr!.on("data", (d) => (err += d));
        child.on("close", () => resolve(err.match(/isFastCgiListener=(\w+)/)?.[1] ?? err));
      });
    assert.equal(await probe("pipe"), "false");
    assert.equal(await probe("ignore"), "false"); // /dev/null
    const dir = tempDir();
    const { openSync, writeFileSync, closeSync } = await import("node:fs");
    writeFileSync(`${dir.path}/f`, "x");
    const fd = openSync(`${dir.path}/f`, "r");
    try {
      assert.equal(await probe(fd), "false");
    } finally {
      closeSync(fd);
      dir.remove();
    }
    // A connected socket (inetd style) is not a listener.
    const listener = net.createServer((s) => s.on("error", () => {}));
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const socket = net.connect((listener.address() as net.AddressInfo).port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    try {
      assert.equal(await probe(socket), "false");
    } finally {
      socket.destroy();
      listener.close();
    }
    // A listening socket, passed the way spawn-fcgi passes it (-n: it execs the program itself).
    const spawnFcgi = peer("spawn-fcgi");
    if (spawnFcgi.path) {
      const free = await new Promise<number>((r) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => r(p));
        });
      });
      assert.equal(await probe("ignore", [spawnFcgi.path, "-n", "-a", "127.0.0.1", "-p", String(free), "--"]), "true");
    }
  });

  test("close() lets an in-flight request finish, then resolves", async () => {
    const s = await serveFastCgi({
      app, host: "127.0.0.1", port: 0, quiet: true,
      maxBodySize: Infinity, shutdownTimeout: 3000, log: () => {},
    });
    const c = await FcgiClient.connect(Number(s.url.split(":").pop()));
    c.send(request(1, get("/slow?ms=300"), undefined, true));
    await new Promise((r) => setTimeout(r, 50));
    const closed = s.close();
    await c.ended(1, 3000);
    await closed;
    assert.equal(c.response(1).text, "slept 300");
    // No new connections after close().
    await assert.rejects(FcgiClient.connect(Number(s.url.split(":").pop())));
    c.close();
  });
});

describe("FastCGI access log", () => {
  test("one Common Log Format line per request unless quiet: client address, raw URI, status, body bytes; 414/431 and 499 too", async () => {
    const lines: string[] = [];
    const s = await serveFastCgi({
      app, host: "127.0.0.1", port: 0, quiet: false,
      maxBodySize: Infinity, shutdownTimeout: 1000, log: (l) => lines.push(l),
    });
    const c = await FcgiClient.connect(Number(s.url.split(":").pop()));
    const stamp = String.raw`\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\]`;
    /** The last log line once request `id` is answered. */
    const ask = async (id: number, params: [string, string][]) => {
      c.send(request(id, params, undefined, true));
      await c.ended(id);
      return lines.at(-1) ?? "";
    };
    try {
      const ok = await ask(1, get("/hello/world", [["REMOTE_ADDR", "203.0.113.9"], ["SERVER_PROTOCOL", "HTTP/1.0"]]));
      assert.match(ok, new RegExp(`^203\\.0\\.113\\.9 - - ${stamp} "GET /app/hello/world HTTP/1\\.0" 200 12$`));
      const head = await ask(2, get("/hello/x", [["REQUEST_METHOD", "HEAD"]]));
      assert.match(head, new RegExp(`^127\\.0\\.0\\.1 - - ${stamp} "HEAD /app/hello/x HTTP/1\\.1" 200 -$`));
      // A quote in the request line is escaped: a client cannot forge a log entry.
      const quoted = await ask(3, get('/hello/q?a="b"'));
      assert.ok(quoted.endsWith(String.raw`"GET /app/hello/q?a=\x22b\x22 HTTP/1.1" 200 8`), quoted);
      const long = await ask(4, get(`/hello/${"q".repeat(9000)}`));
      assert.match(long, /^127\.0\.0\.1 - - .* "GET \/app\/hello\/q{9000} HTTP\/1\.1" 414 13$/);
      const many = await ask(5, get("/hello/many", Array.from({ length: 300 }, (_, i) => [`HTTP_X_${i}`, "1"] as [string, string])));
      assert.match(many, /"GET \/app\/hello\/many HTTP\/1\.1" 431 32$/);
      // The web server gives up while the app waits for the body: 499, no bytes.
      const post = [...get("/upload"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "100"]] as [string, string][];
      c.send(cat(begin(6, { keep: true }), rec(T.PARAMS, 6, pairs(post)), rec(T.PARAMS, 6), rec(T.STDIN, 6, "x")));
      await new Promise((r) => setTimeout(r, 50));
      c.send(rec(T.ABORT, 6));
      await c.ended(6);
      assert.match(lines.at(-1) ?? "", /"POST \/app\/upload HTTP\/1\.1" 499 -$/);
      assert.equal(lines.length, 6, lines.join("\n"));
    } finally {
      c.close();
      await s.close();
    }
    assert.ok(!logs.some((l) => l.includes('"GET /app/')), "the quiet server wrote no access line");
  });
});

describe("FastCGI with a Carafe app (the app.handle() path, lazy request)", () => {
  test("the app's error lines go out as STDERR records of their request, ended at once; once each", async () => {
    const { Carafe } = await import("../mod.ts");
    const appLog: string[] = [], adapterLog: string[] = [];
    const carafe = new Carafe({ logger: (m) => appLog.push(m) })
      .get("/fail", () => {
        throw new Error("carafe deliberate failure");
      })
      .get("/streamfail", function* () {
        yield "partial";
        throw new Error("carafe stream broke");
      })
      .get("/fine", () => "fine");
    const s = await serveFastCgi({
      app: carafe, host: "127.0.0.1", port: 0, quiet: true,
      maxBodySize: 1 << 20, shutdownTimeout: 1000, log: (l) => adapterLog.push(l),
    });
    try {
      const c = await FcgiClient.connect(Number(s.url.split(":").pop()));
      // Two requests at once on one connection: only the failing one gets STDERR.
      c.send(cat(request(1, get("/fail"), undefined, true), request(2, get("/fine"), undefined, true)));
      await c.ended(1);
      await c.ended(2);
      assert.equal(c.response(1).status, 500);
      assert.equal(c.response(2).text, "fine");
      const stderrOf = (id: number) => c.records.filter((r) => r.type === T.STDERR && r.id === id);
      const text = (id: number) => new TextDecoder().decode(cat(...stderrOf(id).map((r) => r.content)));
      assert.match(text(1), /GET \/app\/fail: .*carafe deliberate failure/);
      assert.equal(text(1).match(/carafe deliberate failure/g)?.length, 1);
      assert.equal(stderrOf(2).length, 0, "no STDERR for the request that did not fail");
      const idx = (pred: (r: (typeof c.records)[number]) => boolean) => c.records.findIndex(pred);
      const lastErr = c.records.findLastIndex((r) => r.type === T.STDERR && r.id === 1);
      assert.equal(c.records[lastErr].content.length, 0, "an empty STDERR record ends the stream");
      assert.equal(stderrOf(1).filter((r) => r.content.length === 0).length, 1, "ended once");
      assert.ok(lastErr < idx((r) => r.type === T.END && r.id === 1), "STDERR before END_REQUEST");
      // An error logged before the answer: its STDERR stream is ended before STDOUT starts
      // (the order HAProxy 2.6 has been tested with; see #stderr in adapters/fastcgi/mod.ts).
      assert.ok(lastErr < idx((r) => r.type === T.STDOUT && r.id === 1), "STDERR ended before STDOUT starts");
      assert.ok(appLog.some((l) => /carafe deliberate failure/.test(l)), "the app's logger still gets the line");

      // A stream that fails mid-body: Carafe logs it, then fails the stream; one line, not two.
      c.send(request(3, get("/streamfail"), undefined, true));
      await c.ended(3);
      assert.equal(c.response(3).text, "partial");
      assert.equal(c.end(3)![0], 1);
      assert.equal(text(3).match(/carafe stream broke/g)?.length, 1, text(3));
      assert.ok(!adapterLog.some((l) => /carafe stream broke/.test(l)), "the adapter does not repeat what the app logged");
      c.close();
    } finally {
      await s.close();
    }
  });

  test("routes, params, query, cookies, JSON body, redirect, errors, mount, signal", async () => {
    const { Carafe, redirect, abort } = await import("../mod.ts");
    let aborted = false;
    const child = { fetch: (r: Request) => new Response(`child saw ${new URL(r.url).pathname} ${r.method}`) };
    const carafe = new Carafe()
      .get("/hello/<name>", (req) => `Hello ${req.params.name} under ${req.scriptName} (${req.path}) q=${req.query.get("q")}`)
      .post("/echo", async (req, res) => {
        res.setCookie("seen", "1", { httpOnly: true });
        res.setCookie("other", "2");
        return { got: await req.json(), cookie: req.cookies.a, type: req.contentType };
      })
      .get("/go", () => redirect("/hello/target"))
      .get("/teapot", () => abort(418, "short and stout"))
      .post("/wait", async (req) => {
        req.signal.addEventListener("abort", () => (aborted = true));
        await req.bytes().catch(() => {});
        return "done";
      })
      .mount("/sub", child);
    const s = await serveFastCgi({
      app: carafe, host: "127.0.0.1", port: 0, quiet: true,
      maxBodySize: 1 << 20, shutdownTimeout: 1000, log: () => {},
    });
    const p = Number(s.url.split(":").pop());
    try {
      const c = await FcgiClient.connect(p);
      c.send(request(1, get("/hello/ana?q=z"), undefined, true));
      await c.ended(1);
      assert.equal(c.response(1).text, "Hello ana under /app/ (/hello/ana) q=z");

      const json = new TextEncoder().encode(JSON.stringify({ x: [1, 2] }));
      const post = [...get("/echo"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", String(json.length)], ["CONTENT_TYPE", "application/json"], ["HTTP_COOKIE", "a=b"]] as [string, string][];
      c.send(request(2, post, json, true));
      await c.ended(2);
      const r2 = c.response(2);
      assert.deepEqual(JSON.parse(r2.text), { got: { x: [1, 2] }, cookie: "b", type: "application/json" });
      assert.equal(r2.headers.get("set-cookie")?.length, 2, "each Set-Cookie on its own line");

      c.send(request(3, get("/go"), undefined, true));
      await c.ended(3);
      assert.equal(c.response(3).status, 303);
      // Resolved against the full request path (prefix included), like Bottle: an absolute path stays
      // absolute, and is sent without scheme or host.
      assert.equal(c.response(3).headers.get("location")?.[0], "/hello/target");

      c.send(request(4, get("/teapot"), undefined, true));
      await c.ended(4);
      assert.match(c.response(4).head, /\r\nStatus: 418 /);

      c.send(request(5, get("/sub/deeper"), undefined, true));
      await c.ended(5);
      assert.equal(c.response(5).text, "child saw /deeper GET");

      c.send(request(6, get("/nothing"), undefined, true));
      await c.ended(6);
      assert.equal(c.response(6).status, 404);

      const waitParams = [...get("/wait"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "1000"]] as [string, string][];
      c.send(cat(begin(7, { keep: true }), rec(T.PARAMS, 7, pairs(waitParams)), rec(T.PARAMS, 7), rec(T.STDIN, 7, new Uint8Array(10))));
      await new Promise((r) => setTimeout(r, 50));
      c.send(rec(T.ABORT, 7));
      await c.ended(7);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(aborted, true, "ABORT_REQUEST aborts req.signal");
      c.close();
    } finally {
      await s.close();
    }
  });
});
