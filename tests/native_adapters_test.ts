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
import { bytesOf, curlUpload, eventually, hasIpv6, rawExchange, request, type Started, startFixture } from "./_native_helpers.ts";

const servers = runtime === "node" ? ["node"] : [runtime, "node"];
const MB = 1024 * 1024;
const json = (b: Buffer) => JSON.parse(b.toString());
const curl = peer("curl");

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
      assert.ok(await eventually(async () => s.stderr().includes("boom on purpose")), s.stderr());
      assert.equal((await request(s.url, { path: "/" })).status, 200);
    });

    test("access log line in Common Log Format", async () => {
      await request(s.url, { path: "/user/7?name=log" });
      const ok = await eventually(async () =>
        /127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/user\/7\?name=log HTTP\/1\.1" 200 (\d+|-)/.test(s.stderr())
      );
      assert.ok(ok, s.stderr());
    });

    test("50 MiB download streams without buffering it all", async () => {
      const before = json((await request(s.url, { path: "/rss" })).body).rss;
      const r = await request(s.url, { path: "/big?mb=50", countOnly: true });
      assert.equal(r.status, 200);
      assert.equal(r.bytes, 50 * MB);
      const afterRss = json((await request(s.url, { path: "/rss" })).body).rss;
      assert.ok(afterRss - before < 40 * MB, `server RSS grew by ${((afterRss - before) / MB).toFixed(1)} MiB`);
    });

    test("50 MiB upload is read as a stream (server RSS stays low)", async () => {
      const before = json((await request(s.url, { path: "/rss" })).body).rss;
      const r = await request(s.url, {
        method: "POST",
        path: "/upload",
        headers: { "content-length": 50 * MB },
        body: bytesOf(50 * MB),
      });
      assert.equal(r.status, 200, r.body.toString());
      const out = json(r.body);
      assert.equal(out.bytes, 50 * MB);
      assert.ok(out.peakRss - before < 40 * MB, `server RSS grew by ${((out.peakRss - before) / MB).toFixed(1)} MiB`);
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

    test("oversized header block is refused (431/400 or closed), server survives", async () => {
      const port = Number(new URL(s.url).port);
      const big = "x".repeat(200 * 1024);
      const r = await rawExchange(port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\n\r\n`, 5000);
      const status = Number(r.text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
      assert.ok(status === 431 || status === 400 || status === 413 || (status === 0 && r.closed), `got ${r.text.slice(0, 80)}`);
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

    test("a URL over 8 KiB → 414 (or the runtime's own 431 first)", async () => {
      const ok = await request(s.url, { path: "/user/1?name=" + "a".repeat(7000) });
      assert.equal(ok.status, 200);
      const long = await request(s.url, { path: "/user/1?name=" + "a".repeat(10_000) });
      assert.ok(long.status === 414 || long.status === 431, `got ${long.status}`);
      assert.equal((await request(s.url, { path: "/" })).status, 200);
    });
  });

  describe(`${server} adapter under ${runtime}: limits, trustProxy on`, () => {
    let s: Started;
    const dir = tempDir();
    const bigFile = join(dir.path, "2mib.bin");
    before(async () => {
      writeFileSync(bigFile, new Uint8Array(2 * MB));
      s = await startFixture(server, { NA_MAX_BODY: String(MB), NA_IDLE: "1000", NA_TRUST: "loopback", NA_QUIET: "" });
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

    test("slowloris: a client that never finishes its headers is cut off", { skip: server === "deno" ? "Deno.serve has no header/idle timeout option" : undefined }, async () => {
      const port = Number(new URL(s.url).port);
      // node: headersTimeout = idleTimeout (1 s here). Bun.serve cuts unfinished headers on
      // its own clock (about 10–12 s, whatever idleTimeout says; measured on bun 1.4.5).
      const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 1\r\n", server === "bun" ? 16000 : 8000);
      assert.ok(r.closed, `connection still open after ${r.after} ms`);
    });
  });
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
