// The native adapters on real sockets: each runtime's own server, and `node` under
// every runtime (Node, and the node:http compatibility of Bun and Deno).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import http from "node:http";
import process from "node:process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { collect, here, peer, runtime, spawnScript, stop, tempDir } from "./_helpers.ts";
import {
  bytesOf,
  curlUpload,
  eventually,
  hasIpv6,
  rawConnect,
  rawExchange,
  request,
  sleep,
  type Started,
  startFixture,
  statuses,
  within,
} from "./_native_helpers.ts";

const servers = runtime === "node" ? ["node"] : [runtime, "node"];
const MB = 1024 * 1024;
const json = (b: Buffer) => JSON.parse(b.toString());
const curl = peer("curl");
const portOf = (url: string) => Number(new URL(url).port);
/** The access-log line for `needle` (a unique request target) in `log`, once it is there. */
async function logLine(s: Started, needle: string): Promise<string> {
  let line: string | undefined;
  await eventually(() => (line = s.stderr().split("\n").find((l) => l.includes(needle))) !== undefined);
  assert.ok(line, `no access-log line for ${needle} in:\n${s.stderr().slice(-2000)}`);
  return line;
}

for (const server of servers) {
  describe(`${server} adapter under ${runtime}`, () => {
    let s: Started;
    before(async () => {
      s = await startFixture(server);
    });
    after(async () => {
      await stop(s.child);
    });

    test("banner names the adapter and the URL", () => {
      const label = { deno: "DenoServer()", bun: "BunServer()", node: "NodeServer()" }[server];
      assert.match(s.stderr(), new RegExp(`^Carafe v\\d+\\.\\d+\\.\\d+ server starting up \\(using ${label!.replace(/[()]/g, "\\$&")}\\)\\.\\.\\.\\nListening on http://127\\.0\\.0\\.1:\\d+/\\nHit Ctrl-C to quit\\.\\n\\n`));
    });

    test("routing: text, params + query, JSON, POST echo, 404, 405", async () => {
      const hello = await request(s.url, { path: "/" });
      assert.equal(hello.status, 200);
      assert.equal(hello.body.toString(), "Hello, World!");
      assert.equal(hello.headers["content-length"], "13");
      assert.deepEqual(json((await request(s.url, { path: "/user/42?name=x" })).body), { id: 42, name: "x" });
      assert.deepEqual(json((await request(s.url, { path: "/json" })).body), { hello: "world" });
      const echo = await request(s.url, {
        method: "POST",
        path: "/json",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ a: [1, "ü"] }),
      });
      assert.equal(echo.status, 200);
      assert.deepEqual(json(echo.body), { a: [1, "ü"] });
      assert.equal((await request(s.url, { path: "/nope" })).status, 404);
      const wrong = await request(s.url, { method: "DELETE", path: "/json" });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.allow, "GET,HEAD,POST");
    });

    test("HEAD: same headers as GET, no body", async () => {
      const r = await request(s.url, { method: "HEAD", path: "/" });
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-length"], "13");
      assert.equal(r.bytes, 0);
    });

    test("streamed response arrives in order, chunked", async () => {
      const r = await request(s.url, { path: "/stream" });
      assert.equal(r.body.toString(), "chunk0;chunk1;chunk2;chunk3;chunk4;");
      assert.equal(r.headers["content-length"], undefined);
    });

    test("handler exception → 500, logged, server keeps serving", async () => {
      const r = await request(s.url, { path: "/boom" });
      assert.equal(r.status, 500);
      assert.ok(await eventually(() => s.stderr().includes("boom on purpose")), s.stderr());
      assert.equal((await request(s.url, { path: "/" })).status, 200);
    });

    test("a request target with a '..' segment: 403 where the server passes it on as sent, never past the route table", async () => {
      const r = await request(s.url, { path: "/user/../json" });
      // node and Deno.serve pass the target as sent (Carafe answers 403); a server that
      // normalises it first would serve /json.
      if (r.status !== 403) assert.deepEqual([r.status, json(r.body)], [200, { hello: "world" }]);
      if (server === "node" || server === "deno") assert.equal(r.status, 403);
    });

    test("a mounted fetch app gets a POST with its body", async () => {
      const r = await request(s.url, { method: "POST", path: "/foreign/echo", headers: { "content-type": "text/plain" }, body: "hello" });
      assert.deepEqual([r.status, r.body.toString()], [200, "/echo hello"]);
    });

    test("a returned Response keeps the length and type its runtime gives it, with res headers merged", async () => {
      const r = await request(s.url, { path: "/own-response" });
      assert.deepEqual([r.status, r.body.toString(), r.headers["x-res"]], [200, "hello, own", "1"]);
      // Deno.serve and Bun.serve frame a string Response with its length; node:http writes a stream chunked.
      if (server !== "node") assert.equal(r.headers["content-length"], "10");
      if (server !== "node") assert.match(String(r.headers["content-type"]), /^text\/plain;charset=utf-8$/i);
    });

    test("a header value with a control character on a returned Response → 500 and the server goes on (Deno.serve would panic on it)", async () => {
      const r = await request(s.url, { path: "/bad-header" });
      assert.equal(r.status, 500);
      assert.equal(r.headers["x-bad"], undefined);
      assert.equal((await request(s.url, { path: "/" })).status, 200);
    });

    test("access log line in Common Log Format", async () => {
      await request(s.url, { path: "/user/7?name=log" });
      const ok = await eventually(() =>
        /127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/user\/7\?name=log HTTP\/1\.1" 200 21\n/.test(s.stderr())
      );
      assert.ok(ok, s.stderr());
    });

    const shorten = (line: string) => line.replace(/a{20,}/, "a…");
    test("access log: body bytes sent (HEAD -), 414, HTTP version, streams, client aborts", async () => {
      await request(s.url, { method: "HEAD", path: "/?log=head" });
      assert.match(await logLine(s, "/?log=head"), /"HEAD \/\?log=head HTTP\/1\.1" 200 -$/);
      const long = "/user/1?log=long&name=" + "a".repeat(9000);
      assert.equal((await request(s.url, { path: long })).status, 414);
      assert.match(shorten(await logLine(s, "?log=long")), /"GET \/user\/1\?log=long&name=a… HTTP\/1\.1" 414 12$/);
      // HTTP/1.0: node:http tells us the version; Deno.serve and Bun.serve do not (logged as 1.1).
      await rawExchange(portOf(s.url), "GET /?log=v10 HTTP/1.0\r\nHost: a\r\n\r\n", 5000);
      assert.match(await logLine(s, "/?log=v10"), new RegExp(`"GET /\\?log=v10 HTTP/${server === "node" ? "1\\.0" : "1\\.1"}" 200 13$`));
      // A stream: node counts what it wrote; Deno.serve and Bun.serve send it without telling us.
      await request(s.url, { path: "/stream?log=s" });
      assert.match(await logLine(s, "/stream?log=s"), server === "node" ? / 200 35$/ : / 200 -$/);
      // The client leaves before the answer: 499, as nginx logs it. Deno.serve does not tell
      // (its `completed` promise resolves): the answer the app gave is logged.
      const u = new URL(s.url);
      const gone = http.get({ host: u.hostname, port: Number(u.port), path: "/hang?log=abort", agent: false });
      gone.on("error", () => {});
      await sleep(300);
      gone.destroy();
      assert.match(await logLine(s, "/hang?log=abort"), server === "deno" ? / 200 7$/ : / 499 -$/);
      // The client leaves during a body: node logs the bytes it wrote; Deno.serve (whose
      // `completed` resolves here too) and Bun.serve do not tell: the answer as handed over.
      const c = await rawConnect(portOf(s.url), { keepText: false, pauseAfter: MB });
      c.socket.write("GET /big?mb=200&log=cut HTTP/1.1\r\nHost: a\r\n\r\n");
      await eventually(() => c.received() > MB);
      c.socket.destroy();
      const cut = await logLine(s, "/big?mb=200&log=cut");
      if (server === "node") {
        const bytes = Number(cut.match(/ 200 (\d+)$/)?.[1]);
        assert.ok(bytes > 0 && bytes < 200 * MB, cut);
      } else assert.match(cut, / 200 -$/);
    });

    test("50 MiB download streams without buffering it all (RSS peak during the transfer)", async () => {
      const before = json((await request(s.url, { path: "/rss" })).body).rss;
      const r = await request(s.url, { path: "/big?mb=50", countOnly: true });
      assert.equal(r.status, 200);
      assert.equal(r.bytes, 50 * MB);
      // Sampled by the server every MiB while it produced the body, not after.
      const peak = json((await request(s.url, { path: "/bigpeak" })).body).peak;
      assert.ok(peak - before < 40 * MB, `server RSS peaked ${((peak - before) / MB).toFixed(1)} MiB above the start`);
    });

    test("back-pressure: a generator does not run ahead of a client that stops reading; resumes when it reads", async () => {
      const c = await rawConnect(portOf(s.url), { keepText: false, pauseAfter: MB });
      try {
        c.socket.write("GET /gen HTTP/1.1\r\nHost: a\r\n\r\n");
        assert.ok(await eventually(() => c.received() > MB), "no data arrived");
        // The client reads nothing more: let every buffer on the way fill up, then the
        // producer must stand still.
        const produced = async () => json((await request(s.url, { path: "/produced" })).body).produced as number;
        let last = -1, now = await produced();
        for (let i = 0; i < 40 && now !== last; i++) {
          await sleep(250);
          [last, now] = [now, await produced()];
        }
        assert.equal(now, last, "the generator kept producing while the client read nothing");
        // 64 KiB chunks. What may be ahead of the client is what the sockets on the way
        // buffer (a few MiB; Linux allows up to 32 MiB receiving + 4 MiB sending here). An
        // unbounded producer would run to its end: 512 MiB.
        const ahead = now * 64 * 1024 - c.received();
        assert.ok(ahead <= 36 * MB, `${(ahead / MB).toFixed(1)} MiB produced ahead of a client that read ${(c.received() / MB).toFixed(1)} MiB`);
        c.socket.resume();
        assert.ok(await eventually(async () => (await produced()) > now + 64), "the generator did not resume when the client read again");
      } finally {
        c.socket.destroy();
      }
    });

    test("96 MiB upload is read as a stream (server RSS grows well below the body's size)", async () => {
      // 96 MiB: under the default maxBodySize, and far enough above the garbage V8 lets
      // pile up before it collects chunks (external memory: up to ~64 MiB on Deno) that
      // "streamed" and "buffered" cannot be confused.
      const size = 96 * MB;
      const before = json((await request(s.url, { path: "/rss" })).body).rss;
      const r = await request(s.url, {
        method: "POST",
        path: "/upload",
        headers: { "content-length": size },
        body: bytesOf(size),
      });
      assert.equal(r.status, 200, r.body.toString());
      const out = json(r.body);
      assert.equal(out.bytes, size);
      assert.ok(out.peakRss - before < 80 * MB, `server RSS grew by ${((out.peakRss - before) / MB).toFixed(1)} MiB`);
    });

    test("chunked upload without Content-Length", async () => {
      const r = await request(s.url, { method: "POST", path: "/upload", body: bytesOf(3 * MB + 17) });
      assert.equal(r.status, 200);
      assert.equal(json(r.body).bytes, 3 * MB + 17);
    });

    test("client disconnect aborts req.signal", async () => {
      const start = json((await request(s.url, { path: "/aborted" })).body).aborted;
      const u = new URL(s.url);
      const req = http.get({ host: u.hostname, port: Number(u.port), path: "/hang", agent: false });
      req.on("error", () => {});
      await new Promise((r) => setTimeout(r, 300));
      req.destroy();
      const ok = await eventually(async () => json((await request(s.url, { path: "/aborted" })).body).aborted > start);
      assert.ok(ok, "req.signal was not aborted after the client left");
    });

    test("trustProxy off (default): X-Forwarded-* ignored", async () => {
      const r = await request(s.url, {
        path: "/ip",
        headers: { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", "x-forwarded-host": "example.com" },
      });
      const out = json(r.body);
      assert.equal(out.remoteAddr, "127.0.0.1");
      assert.match(out.url, /^http:\/\/127\.0\.0\.1:\d+\/ip$/);
    });

    // node answers 431 itself (its clientError handler) under every runtime, Bun.serve
    // answers 431, Deno.serve (hyper) answers 400 to a header block over its limit.
    const headerStatus = server === "deno" ? 400 : 431;
    test(`oversized header block → exactly ${headerStatus}, server survives`, async () => {
      const big = "x".repeat(200 * 1024);
      const r = await rawExchange(portOf(s.url), `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\n\r\n`, 5000);
      assert.deepEqual(statuses(r.text), [headerStatus], r.text.slice(0, 120));
      assert.equal((await request(s.url, { path: "/" })).status, 200);
    });
  });

  describe(`${server} adapter under ${runtime}: URL limit`, () => {
    let s: Started;
    before(async () => {
      s = await startFixture(server, { NA_QUIET: "1" });
    });
    after(async () => {
      await stop(s.child);
    });

    test("a URL over 8 KiB → exactly 414", async () => {
      const ok = await request(s.url, { path: "/user/1?name=" + "a".repeat(7000) });
      assert.equal(ok.status, 200);
      // 10 000 bytes: under every runtime's header limit, so the adapter's own check answers.
      const long = await request(s.url, { path: "/user/1?name=" + "a".repeat(10_000 - 13) });
      assert.equal(long.status, 414);
      assert.equal(long.body.toString(), "URI Too Long");
      assert.equal((await request(s.url, { path: "/" })).status, 200);
    });
  });

  describe(`${server} adapter under ${runtime}: limits, trustProxy on`, () => {
    let s: Started;
    const dir = tempDir();
    const bigFile = join(dir.path, "2mib.bin");
    before(async () => {
      writeFileSync(bigFile, new Uint8Array(2 * MB));
      // NA_MAX_HEADER is node's own default: no change there, but deno and bun must say they ignore it.
      s = await startFixture(server, { NA_MAX_BODY: String(MB), NA_IDLE: "1000", NA_TRUST: "loopback", NA_QUIET: "", NA_MAX_HEADER: "16384" });
    });
    after(async () => {
      await stop(s.child);
      dir.remove();
    });

    test("413 for a declared Content-Length over maxBodySize", { skip: curl.skip }, async () => {
      assert.equal(await curlUpload(curl.path!, s.url + "buffered", bigFile, false), 413);
      assert.equal(await curlUpload(curl.path!, s.url + "upload", bigFile, false), 413);
    });

    test("413 for a streamed (chunked) body over maxBodySize", { skip: curl.skip }, async () => {
      assert.equal(await curlUpload(curl.path!, s.url + "buffered", bigFile, true), 413);
      assert.equal(await curlUpload(curl.path!, s.url + "upload", bigFile, true), 413);
      assert.equal((await request(s.url, { method: "POST", path: "/buffered", body: "small" })).status, 200);
    });

    test("trustProxy loopback: X-Forwarded-For/Proto/Host believed from 127.0.0.1", async () => {
      const r = await request(s.url, {
        path: "/ip",
        headers: { "x-forwarded-for": "198.51.100.1, 203.0.113.9", "x-forwarded-proto": "https", "x-forwarded-host": "example.com" },
      });
      const out = json(r.body);
      assert.equal(out.remoteAddr, "203.0.113.9");
      assert.equal(out.url, "https://example.com/ip");
    });

    test("Expect: 100-continue: a declared body over maxBodySize is refused before it is sent", async () => {
      const port = portOf(s.url);
      const big = await rawExchange(port, `POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${2 * MB}\r\nExpect: 100-continue\r\n\r\n`, 3000);
      if (server === "node") {
        // node: our checkContinue listener answers 413 and closes; no 100 Continue invites the body.
        assert.deepEqual(statuses(big.text), [413], big.text.slice(0, 200));
        assert.ok(big.closed, "the connection should close after the 413");
      } else {
        // Deno.serve and Bun.serve send 100 Continue themselves before the app sees the request.
        assert.deepEqual(statuses(big.text), [100, 413], big.text.slice(0, 200));
      }
      // Under the limit: 100 Continue, then the body is read.
      const c = await rawConnect(port);
      try {
        c.socket.write("POST /buffered HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        assert.ok(await eventually(() => statuses(c.text()).includes(100)), `no 100 Continue: ${c.text()}`);
        c.socket.write("hello");
        assert.ok(await eventually(() => statuses(c.text()).includes(200)), c.text());
        assert.match(c.text(), /\{"bytes":5\}/);
      } finally {
        c.socket.destroy();
      }
    });

    test("trustProxy loopback: a hop from outside the trusted set stops the walk", async () => {
      const r = await request(s.url, { path: "/ip", headers: { "x-forwarded-for": "203.0.113.9, 10.0.0.1" } });
      // 10.0.0.1 is not loopback: it is the client as far as we can tell.
      assert.equal(json(r.body).remoteAddr, "10.0.0.1");
    });

    const noTimeouts = server === "deno" ? "Deno.serve (Deno 2.9.6) has no header-read or idle timeout: idleTimeout is not applied (the adapter warns)" : undefined;
    test("slowloris: a client that never finishes its headers is cut off", { skip: noTimeouts }, async () => {
      // node: headersTimeout = idleTimeout (1 s here). Bun.serve cuts unfinished headers on
      // its own clock (about 10–12 s, whatever idleTimeout says; measured on bun 1.4.5).
      const r = await rawExchange(portOf(s.url), "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 1\r\n", server === "bun" ? 16000 : 8000);
      assert.ok(r.closed, `connection still open after ${r.after} ms`);
    });

    test("idleTimeout: the app's own time is not idleness (a 5 s long poll, a stream quiet for 5 s)", async () => {
      // idleTimeout is 1 s here. Bun counts a handler's wait as idle: the adapter lifts its timer.
      const [poll, quiet] = await Promise.all([
        request(s.url, { path: "/slow?ms=5000" }),
        request(s.url, { path: "/quiet?ms=5000" }),
      ]);
      assert.equal(poll.body.toString(), "slow done");
      assert.equal(quiet.body.toString(), "ab");
    });

    test("idleTimeout: a client that stops sending its announced body is cut", { skip: noTimeouts }, async () => {
      // node: the socket timeout (1 s); Bun: its idle timer, in 4 s steps.
      const r = await rawExchange(portOf(s.url), "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nabc", 12000);
      assert.ok(r.closed, `connection still open after ${r.after} ms`);
    });

    test("idleTimeout: a client that stops reading a response is cut", {
      skip: noTimeouts ?? (server === "bun" ? "Bun.serve's idle timer does not run while a write waits for the client (bun 1.4.5)" : undefined),
    }, async () => {
      const c = await rawConnect(portOf(s.url), { keepText: false });
      try {
        c.socket.write("GET /big?mb=200 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert.ok(await eventually(() => c.received() > MB), "no data arrived");
        c.socket.pause();
        await sleep(4000); // idleTimeout is 1 s: the server gives up on us meanwhile
        c.socket.resume();
        assert.ok(await within(c.closed, 20_000), "the connection was not closed");
        assert.ok(c.received() < 100 * MB, `the client still got ${(c.received() / MB).toFixed(0)} MiB`);
      } finally {
        c.socket.destroy();
      }
    });

    test("settings the runtime cannot apply are named in one warning", () => {
      const warnings = s.stderr().split("\n").filter((l) => l.startsWith("Carafe warning:"));
      if (server === "node") assert.deepEqual(warnings, []);
      else if (server === "deno") {
        assert.equal(warnings.length, 1, s.stderr());
        assert.match(warnings[0], /idleTimeout and maxHeaderSize are not applied.*reverse proxy.*server: "node"/);
      } else {
        assert.equal(warnings.length, 1, s.stderr());
        assert.match(warnings[0], /maxHeaderSize is not applied/);
      }
    });
  });

  describe(`${server} adapter under ${runtime}: idleTimeout 0 disables it`, () => {
    let s: Started;
    before(async () => {
      s = await startFixture(server, { NA_IDLE: "0", NA_QUIET: "1" });
    });
    after(async () => {
      await stop(s.child);
    });

    test("a connection with nothing to say stays open; a slow POST handler is not cut", {
      skip: server === "deno" ? "Deno.serve has no timeouts to disable" : undefined,
    }, async () => {
      const slow = request(s.url, { method: "POST", path: "/slow?ms=5000", body: "x" });
      const r = await rawExchange(portOf(s.url), "", 3500);
      assert.equal(r.closed, false, `closed after ${r.after} ms`);
      assert.equal((await slow).body.toString(), "slow done");
    });
  });

  for (const [name, trust, forwarded, expected] of [
    ["true: every hop is believed", "true", "198.51.100.1, 203.0.113.9", "198.51.100.1"],
    ["an address list: the walk stops at the first hop not listed", "10.0.0.1,127.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.1", "203.0.113.9"],
  ] as const) {
    describe(`${server} adapter under ${runtime}: trustProxy ${trust}`, () => {
      let s: Started;
      before(async () => {
        s = await startFixture(server, { NA_TRUST: trust, NA_QUIET: "1" });
      });
      after(async () => {
        await stop(s.child);
      });

      test(`trustProxy ${name}`, async () => {
        const r = await request(s.url, {
          path: "/ip",
          headers: { "x-forwarded-for": forwarded, "x-forwarded-proto": "https", "x-forwarded-host": "example.com" },
        });
        const out = json(r.body);
        assert.equal(out.remoteAddr, expected);
        assert.equal(out.url, "https://example.com/ip");
        assert.deepEqual(out.route.at(-1), "127.0.0.1");
        // Without the header the socket peer is the client.
        assert.equal(json((await request(s.url, { path: "/ip" })).body).remoteAddr, "127.0.0.1");
      });
    });
  }
}

for (const server of servers) {
  describe(`${server} adapter under ${runtime}: lifecycle, sockets, TLS, IPv6`, () => {
    test("SIGTERM: in-flight requests complete, new connections refused, exit 0", async () => {
      const s = await startFixture(server, { NA_QUIET: "1" });
      const inflight = [1, 2, 3].map(() => request(s.url, { path: "/slow?ms=900" }));
      await new Promise((r) => setTimeout(r, 300));
      s.child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 150));
      const late = await request(s.url, { path: "/" }).then((r) => r.status, () => "refused");
      const done = await Promise.all(inflight);
      for (const r of done) {
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), "slow done");
      }
      assert.equal(late, "refused");
      const { code, signal } = await s.exited;
      assert.equal(signal, null);
      assert.equal(code, 0);
    });

    test("shutdownTimeout: a request that outlasts it is cut, exit 0", async () => {
      const s = await startFixture(server, { NA_QUIET: "1", NA_SHUTDOWN: "300" });
      const slow = request(s.url, { path: "/slow?ms=8000" }).then((r) => r.status, () => "cut");
      await new Promise((r) => setTimeout(r, 250));
      const t0 = Date.now();
      s.child.kill("SIGTERM");
      const { code } = await s.exited;
      const took = Date.now() - t0;
      assert.equal(code, 0);
      assert.ok(took >= 250 && took < 4000, `exit took ${took} ms`);
      assert.equal(await slow, "cut");
    });

    test("a second signal forces exit at once", async () => {
      const s = await startFixture(server, { NA_QUIET: "1", NA_SHUTDOWN: "30000" });
      const slow = request(s.url, { path: "/slow?ms=8000" }).then((r) => r.status, () => "cut");
      await new Promise((r) => setTimeout(r, 250));
      const t0 = Date.now();
      // process.kill: Deno's ChildProcess.kill() sends nothing once it has sent a signal.
      process.kill(s.child.pid!, "SIGTERM");
      await new Promise((r) => setTimeout(r, 300));
      process.kill(s.child.pid!, "SIGINT");
      const { code } = await s.exited;
      assert.equal(code, 0);
      assert.ok(Date.now() - t0 < 3000, `exit took ${Date.now() - t0} ms`);
      assert.equal(await slow, "cut");
    });

    test("Unix socket with a file mode; removed at shutdown", async () => {
      const dir = tempDir();
      const path = join(dir.path, "app.sock");
      try {
        const s = await startFixture(server, { NA_SOCKET: path, NA_SOCKET_MODE: "600" });
        assert.equal(s.url, `unix:${path}`);
        assert.match(s.stderr(), new RegExp(`Listening on unix:${path.replace(/[.]/g, "\\.")}\\n`));
        assert.equal(statSync(path).mode & 0o777, 0o600);
        const r = await request(s.url, { path: "/user/5?name=u" });
        assert.deepEqual(json(r.body), { id: 5, name: "u" });
        await stop(s.child);
        assert.throws(() => statSync(path), /ENOENT/);
      } finally {
        dir.remove();
      }
    });

    test("Unix socket: a second server refuses a path that is in use; a stale socket is replaced", async () => {
      const dir = tempDir();
      const path = join(dir.path, "app.sock");
      try {
        const first = await startFixture(server, { NA_SOCKET: path, NA_QUIET: "1" });
        try {
          const child = spawnScript(here("tests/fixtures/native_app.ts"), [], { env: { NA_SERVER: server, NA_SOCKET: path, NA_QUIET: "1" } });
          const killer = setTimeout(() => child.kill("SIGKILL"), 20_000); // it must not start serving
          const second = await collect(child);
          clearTimeout(killer);
          assert.notEqual(second.code, 0);
          assert.match(second.stderr, /a server is already listening on ".*app\.sock"/);
          // The first server still owns its socket.
          assert.deepEqual(json((await request(first.url, { path: "/user/1?name=still" })).body), { id: 1, name: "still" });
        } finally {
          first.child.kill("SIGKILL"); // leaves the socket file behind: stale
          await first.exited;
        }
        assert.ok(statSync(path).isSocket());
        const third = await startFixture(server, { NA_SOCKET: path, NA_QUIET: "1" });
        try {
          assert.equal((await request(third.url, { path: "/" })).status, 200);
        } finally {
          await stop(third.child);
        }
      } finally {
        dir.remove();
      }
    });

    // Connections without a request in flight when close() starts: node keeps them for a
    // grace period; the native servers close them at once themselves (measured).
    const drainSkip = server === "deno"
      ? "Deno.serve's shutdown() closes connections without a request in flight at once (Deno 2.9.6)"
      : server === "bun"
      ? "Bun.serve's stop(false) closes connections without a request in flight at once (bun 1.4.5)"
      : runtime === "bun"
      ? "Bun's node:http server.close() resets connections without a request in flight (bun 1.4.5)"
      : undefined;
    test("graceful drain: requests sent just after SIGTERM on open connections are answered, Connection: close", { skip: drainSkip }, async () => {
      const s = await startFixture(server, { NA_QUIET: "1" });
      const port = portOf(s.url);
      const fresh = await rawConnect(port); // accepted, no request yet
      const kept = await rawConnect(port); // kept alive after one answer
      kept.socket.write("GET /?n=1 HTTP/1.1\r\nHost: a\r\n\r\n");
      assert.ok(await eventually(() => statuses(kept.text()).length === 1), kept.text());
      const busy = request(s.url, { path: "/slow?ms=1500" }); // keeps the drain going
      await sleep(200);
      process.kill(s.child.pid!, "SIGTERM");
      await sleep(300);
      fresh.socket.write("GET /user/1?name=late HTTP/1.1\r\nHost: a\r\n\r\n");
      kept.socket.write("GET /user/2?name=again HTTP/1.1\r\nHost: a\r\n\r\n");
      assert.ok(await within(Promise.all([fresh.closed, kept.closed]), 10_000), "the connections were not closed after their answer");
      assert.deepEqual(statuses(fresh.text()), [200], fresh.text());
      assert.match(fresh.text(), /\r\nconnection: close\r\n/i);
      assert.match(fresh.text(), /\{"id":1,"name":"late"\}$/);
      assert.deepEqual(statuses(kept.text()), [200, 200], kept.text());
      assert.match(kept.text(), /\{"id":2,"name":"again"\}$/);
      assert.equal((await busy).body.toString(), "slow done");
      assert.equal((await s.exited).code, 0);
    });

    test("graceful drain: an idle connection that sends nothing is closed after the grace period", { skip: drainSkip }, async () => {
      const s = await startFixture(server, { NA_QUIET: "1" });
      const idle = await rawConnect(portOf(s.url));
      const t0 = Date.now();
      process.kill(s.child.pid!, "SIGTERM");
      assert.ok(await within(idle.closed, 8000), "the idle connection was kept open");
      assert.equal((await s.exited).code, 0);
      assert.ok(Date.now() - t0 < 8000);
    });

    const openssl = peer("openssl");
    test("TLS from a cert path and key PEM text", { skip: openssl.skip }, async () => {
      const dir = tempDir();
      try {
        const cert = join(dir.path, "cert.pem"), key = join(dir.path, "key.pem");
        const gen = spawnSync(openssl.path!, [
          "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ]);
        assert.equal(gen.status, 0, String(gen.stderr));
        const s = await startFixture(server, { NA_CERT: cert, NA_KEY: readFileSync(key, "utf8"), NA_QUIET: "1" });
        try {
          assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
          const r = await request(s.url, { path: "/ip" });
          assert.equal(r.status, 200);
          assert.match(json(r.body).url, /^https:\/\/127\.0\.0\.1:\d+\/ip$/);
        } finally {
          await stop(s.child);
        }
      } finally {
        dir.remove();
      }
    });

    test("IPv6 loopback: bracketed URL, ::1 as remote address", async (t) => {
      if (!(await hasIpv6())) return t.skip("no IPv6 loopback on this machine");
      const s = await startFixture(server, { NA_HOST: "::1" });
      try {
        assert.match(s.url, /^http:\/\/\[::1\]:\d+\/$/);
        const r = await request(s.url, { path: "/ip" });
        assert.equal(json(r.body).remoteAddr, "::1");
      } finally {
        await stop(s.child);
      }
    });
  });
}
