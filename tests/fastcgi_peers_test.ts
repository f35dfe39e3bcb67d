// The FastCGI adapter behind real web servers (nginx, Apache httpd, lighttpd, HAProxy,
// cgi-fcgi), checked with a real HTTP client. The app runs under the runtime running
// the tests (tests/fixtures/gateway_app.ts), each peer in a temp dir on 127.0.0.1.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { peer, sourceFile, tempDir, stop } from "./_helpers.ts";
import {
  appWrapper,
  apacheConf,
  deployRecipe,
  freePort,
  haproxyConf,
  lighttpdConf,
  nginxConf,
  RecordSpy,
  startApache,
  startFcgiApp,
  startHaproxy,
  startLighttpd,
  startNginx,
  T,
  waitListening,
} from "./_gateway_peers.ts";

interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Uint8Array;
  text: string;
}

/** One HTTP request with node:http (full control over Content-Length vs chunked). */
function httpReq(
  port: number,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: Uint8Array; chunked?: boolean } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body && !o.chunked) headers["content-length"] = String(o.body.length);
    const req = http.request({ host: "127.0.0.1", port, path, method: o.method ?? "GET", headers, agent: false }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c: Uint8Array) => chunks.push(c));
      res.on("end", () => {
        const body = new Uint8Array(Buffer.concat(chunks));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: new TextDecoder().decode(body) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (o.body) {
      // Several writes, so a chunked body really is several chunks.
      for (let i = 0; i < o.body.length; i += 1 << 20) req.write(o.body.subarray(i, i + (1 << 20)));
    }
    req.end();
  });
}

/** Sends a Content-Length upload but only part of it, then drops the connection. */
function abortedUpload(port: number, path: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers: { "content-length": "5000000" }, agent: false });
    req.on("error", () => resolve());
    req.on("response", () => resolve());
    req.write(new Uint8Array(200_000));
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 300);
  });
}

async function waitAborts(port: number, prefix: string, atLeast: number): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const n = JSON.parse((await httpReq(port, `${prefix}/aborts`)).text).aborts;
    if (n >= atLeast || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// 10 MB of a pattern, and the fixture's checksum over it.
const TEN_MB = new Uint8Array(10 * 1024 * 1024).map((_, i) => (i * 7) % 256);
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i] * ((i % 251) + 1)) >>> 0;
  return sum;
}
const TEN_MB_SUM = checksum(TEN_MB);

function checkBig(r: HttpResult, size: number): void {
  assert.equal(r.status, 200);
  assert.equal(r.body.length, size);
  for (let i = 0; i < size; i += 4099) assert.equal(r.body[i], i % 251);
}

/** Polls until `read()` matches `pattern` (bounded); returns what it read last. */
async function eventuallyMatches(read: () => string, pattern: RegExp, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  let text = read();
  while (!pattern.test(text) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    text = read();
  }
  return text;
}

interface CheckOptions {
  /** Whether the peer can forward a chunked 10 MB upload (HAProxy cannot). */
  chunked?: boolean;
  /** Mount for the chunked upload (nginx: an unbuffered location), default the prefix. */
  chunkedPrefix?: string;
  /** Mount for the client-abort check (a location that streams the body to the app); no check when undefined. */
  abortPrefix?: string;
  /** The peer's error log, where the app's STDERR must show up. */
  errorLog?: () => string;
}

/** The checks every front server must pass, given where the app is mounted on it. */
function commonChecks(get: () => { port: number; prefix: string }, o: CheckOptions = {}) {
  test("routing under the prefix, query, cookies in and out", async () => {
    const { port, prefix } = get();
    const hello = await httpReq(port, `${prefix}/hello/world`);
    assert.equal(hello.status, 200);
    assert.equal(hello.text, "Hello world!");
    const info = JSON.parse((await httpReq(port, `${prefix}/info?x=1&y=a%20b`, { headers: { cookie: "a=1; b=2" } })).text);
    assert.equal(info.path, "/info");
    assert.equal(info.scriptName, prefix);
    assert.deepEqual(info.query, { x: "1", y: "a b" });
    assert.equal(info.cookie, "a=1; b=2");
    assert.equal(info.remoteAddr, "127.0.0.1");
    const cookies = await httpReq(port, `${prefix}/cookies`);
    assert.deepEqual(cookies.headers["set-cookie"], ["a=1; Path=/", "b=2; Path=/; HttpOnly"]);
  });

  test("percent-encoded paths reach the app the same way: a space, a non-ASCII segment, an encoded slash", async () => {
    const { port, prefix } = get();
    const cases: [string, string[]][] = [
      ["/p/a%20b", ["p", "a b"]],
      ["/uni/%E7%93%B6", ["uni", "瓶"]],
      ["/p/x%2Fy", ["p", "x/y"]],
      ["/p/a%2Fb%20c%25d/%C3%A9", ["p", "a/b c%d", "é"]],
    ];
    for (const [path, segments] of cases) {
      const r = await httpReq(port, prefix + path);
      assert.equal(r.status, 200, `${prefix}${path}: ${r.status} ${r.text}`);
      const out = JSON.parse(r.text);
      assert.equal(out.path, path, `${prefix}${path} arrived as ${out.path}`);
      assert.deepEqual(out.segments, segments);
    }
  });

  test("redirects keep their status (303, 307, 308) and Location; 404 and 500 pass through; app errors reach the error log", async () => {
    const { port, prefix } = get();
    for (const code of [303, 307, 308]) {
      const r = await httpReq(port, `${prefix}/redirect?code=${code}`);
      assert.equal(r.status, code);
      assert.equal(r.headers.location, `${prefix}/hello/redirected`);
    }
    assert.equal((await httpReq(port, `${prefix}/nope`)).status, 404);
    assert.equal((await httpReq(port, `${prefix}/fail`)).status, 500);
    if (o.errorLog) assert.match(await eventuallyMatches(o.errorLog, /deliberate failure/), /deliberate failure/, "STDERR reached the web server's log");
  });

  test("an app that sets Transfer-Encoding itself: the body reaches the client once, unchunked", async () => {
    const { port, prefix } = get();
    const r = await httpReq(port, `${prefix}/te`);
    assert.equal(r.status, 200);
    assert.equal(r.text, "framed by the server");
  });

  test("POST of 10 MB with Content-Length arrives intact", async () => {
    const { port, prefix } = get();
    const r = await httpReq(port, `${prefix}/upload`, { method: "POST", body: TEN_MB });
    const out = JSON.parse(r.text);
    assert.equal(out.length, TEN_MB.length);
    assert.equal(out.sum, TEN_MB_SUM);
  });

  if (o.chunked !== false) {
    test("POST of 10 MB chunked (no Content-Length) arrives intact", async () => {
      const { port, prefix } = get();
      const r = await httpReq(port, `${o.chunkedPrefix ?? prefix}/upload`, { method: "POST", body: TEN_MB, chunked: true });
      const out = JSON.parse(r.text);
      assert.equal(out.length, TEN_MB.length);
      assert.equal(out.sum, TEN_MB_SUM);
    });
  }

  test("responses of 3 MB (bytes) and 2 MB (streamed) arrive intact", async () => {
    const { port, prefix } = get();
    checkBig(await httpReq(port, `${prefix}/big?size=3000000`), 3_000_000);
    const s = await httpReq(port, `${prefix}/stream?chunks=100&size=20000`);
    assert.equal(s.body.length, 2_000_000);
    assert.ok(s.body.every((b, i) => b === i % 251));
  });

  test("40 concurrent requests", async () => {
    const { port, prefix } = get();
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      i % 4 === 0 ? httpReq(port, `${prefix}/slow?ms=100`) : httpReq(port, `${prefix}/hello/n${i}`)));
    all.forEach((r, i) => assert.equal(r.text, i % 4 === 0 ? "slept 100" : `Hello n${i}!`));
  });

  if (o.abortPrefix !== undefined) {
    test("client abort mid-upload aborts the request in the app", async () => {
      const { port, prefix } = get();
      const before = JSON.parse((await httpReq(port, `${prefix}/aborts`)).text).aborts;
      await abortedUpload(port, `${o.abortPrefix}/upload`);
      assert.equal(await waitAborts(port, prefix, before + 1), before + 1);
    });
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

const nginxPeer = peer("nginx");
test("the deployment guide shows the FastCGI recipes exactly as examples/deploy/ has them (the files these tests start)", () => {
  const guide = readFileSync(sourceFile("docs/deployment.md"), "utf8");
  const section = guide.slice(guide.indexOf("## FastCGI behind"), guide.indexOf("## CGI on plain hosting"));
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => m[2]);
  for (const name of ["fastcgi-nginx.conf", "fastcgi-apache.conf", "fastcgi-lighttpd.conf"] as const) {
    const file = deployRecipe(name, 9000);
    assert.ok(blocks.includes(file), `docs/deployment.md: a block must be examples/deploy/${name} verbatim`);
  }
});

/** 30 sequential then 20 concurrent requests through `prefix` (relayed by `spy`): nginx must reuse its connections to the app. */
async function checkKeepalive(port: number, prefix: string, spy: RecordSpy): Promise<void> {
  const before = spy.connections;
  const seen = spy.seen.length;
  for (let i = 0; i < 30; i++) assert.equal((await httpReq(port, `${prefix}/hello/k${i}`)).text, `Hello k${i}!`);
  const sequential = spy.connections - before;
  await Promise.all(Array.from({ length: 20 }, (_, i) => httpReq(port, `${prefix}/hello/c${i}`)));
  const begins = spy.seen.slice(seen).filter((r) => r.dir === "in" && r.type === T.BEGIN);
  assert.equal(begins.length, 50);
  assert.ok(begins.every((r) => r.flags === 1), "every BEGIN_REQUEST has FCGI_KEEP_CONN");
  assert.ok(sequential <= 2, `${sequential} connections for 30 sequential requests`);
  assert.ok(spy.connections - before <= 20, `${spy.connections - before} connections for 50 requests (upstream keepalive 16)`);
}

describe("nginx fastcgi_pass (TCP and Unix socket, keepalive)", { skip: nginxPeer.skip }, () => {
  const dir = tempDir("carafe-nginx-");
  let web: ChildProcess & { output(): string }, tcpApp: ChildProcess, unixApp: ChildProcess, carafeApp: ChildProcess, port = 0;
  let spy: RecordSpy, unixSpy: RecordSpy;
  before(async () => {
    const appPort = await freePort();
    const carafePort = await freePort();
    port = await freePort();
    const socket = `${dir.path}/app.sock`;
    [tcpApp, unixApp, carafeApp] = await Promise.all([
      startFcgiApp({ port: appPort }).then((a) => a.child),
      startFcgiApp({ socket }).then((a) => a.child),
      startFcgiApp({ port: carafePort }, { FIXTURE_APP: "carafe" }).then((a) => a.child),
    ]);
    spy = new RecordSpy(appPort);
    await spy.listen();
    // nginx -> Unix socket (the spy's) -> Unix socket (the app's).
    unixSpy = new RecordSpy(socket);
    await unixSpy.listen(`${dir.path}/spy.sock`);
    nginxConf(dir.path, { port, app: appPort, socket, spy: spy.port, unixSpy: `${dir.path}/spy.sock`, carafe: carafePort });
    web = await startNginx(nginxPeer.path!, dir.path, port);
  });
  after(async () => {
    spy?.close();
    unixSpy?.close();
    await Promise.all([web && stop(web), tcpApp && stop(tcpApp), unixApp && stop(unixApp), carafeApp && stop(carafeApp)]);
    dir.remove();
  });
  describe("over TCP", () => {
    commonChecks(() => ({ port, prefix: "/app" }), { chunkedPrefix: "/stream", abortPrefix: "/stream", errorLog: () => web.output() });
  });
  describe("over the Unix socket", () => {
    commonChecks(() => ({ port, prefix: "/unix" }), { chunkedPrefix: "/ustream", abortPrefix: "/ustream" });
  });

  test("keepalive over TCP: nginx reuses its connections to the app (KEEP_CONN=1, far fewer connections than requests)", async () => {
    await checkKeepalive(port, "/ka", spy);
  });

  test("keepalive over the Unix socket: the same reuse", async () => {
    await checkKeepalive(port, "/uka", unixSpy);
  });

  test("a Carafe app's error lines go out as STDERR and show in nginx's error log", async () => {
    assert.equal((await httpReq(port, "/capp/hello/nginx")).text, "Hello nginx from Carafe!");
    const r = await httpReq(port, "/capp/fail");
    assert.equal(r.status, 500);
    const log = await eventuallyMatches(() => web.output(), /carafe deliberate failure/);
    assert.match(log, /FastCGI sent in stderr: "[^"]*carafe deliberate failure/);
  });

  test("HTTPS, SERVER_NAME and SERVER_PORT make the URL when there is no Host header", async () => {
    const info = JSON.parse((await httpReq(port, "/tls/info?q=1")).text);
    assert.equal(info.url, "https://www.example.test:8443/info?q=1");
    assert.equal(info.scriptName, "/tls");
  });

  test("without PATH_INFO (plain fastcgi_params, KEEP_CONN off) the app routes the full path", async () => {
    const r = await httpReq(port, "/noka/info");
    assert.equal(r.status, 404);
    assert.equal(r.text, "Not found: /noka/info");
  });
});

const apachePeer = peer("apache2");
describe("Apache httpd mod_proxy_fcgi (enablereuse)", { skip: apachePeer.skip }, () => {
  const dir = tempDir("carafe-apache-");
  let web: ChildProcess, app: ChildProcess, port = 0;
  before(async () => {
    const appPort = await freePort();
    port = await freePort();
    app = (await startFcgiApp({ port: appPort })).child;
    apacheConf(dir.path, { port, app: appPort });
    web = await startApache(apachePeer.path!, dir.path, port);
  });
  after(async () => {
    await Promise.all([web && stop(web), app && stop(app)]);
    dir.remove();
  });
  commonChecks(() => ({ port, prefix: "/gapp" }), { abortPrefix: "/gapp", errorLog: () => readLog(`${dir.path}/error.log`) });
});

const lighttpdPeer = peer("lighttpd");
describe("lighttpd mod_fastcgi (TCP, and bin-path spawning the app on fd 0)", { skip: lighttpdPeer.skip }, () => {
  const dir = tempDir("carafe-lighttpd-");
  let web: ChildProcess, app: ChildProcess, port = 0;
  before(async () => {
    const appPort = await freePort();
    port = await freePort();
    app = (await startFcgiApp({ port: appPort })).child;
    // Mode "run": run() with server "auto" must notice by itself that fd 0 is a listening socket.
    const wrapper = appWrapper(dir.path, "spawn.sh", ["run"]);
    lighttpdConf(dir.path, { port, app: appPort, spawnWrapper: wrapper });
    web = await startLighttpd(lighttpdPeer.path!, dir.path, port);
  });
  after(async () => {
    await Promise.all([web && stop(web), app && stop(app)]);
    dir.remove();
  });
  describe("over TCP (/sapp streams request bodies, so a client abort reaches the app)", () => {
    commonChecks(() => ({ port, prefix: "/app" }), { abortPrefix: "/sapp", errorLog: () => readLog(`${dir.path}/lighttpd-error.log`) });
  });

  describe("bin-path: lighttpd starts the app with its listening socket on fd 0", () => {
    before(async () => {
      // The spawned runtime may still be starting: lighttpd answers 503 until it accepts.
      const deadline = Date.now() + 30000;
      let r: HttpResult | undefined;
      while (Date.now() < deadline) {
        r = await httpReq(port, "/spawn/hello/fd0");
        if (r.status === 200) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(r?.text, "Hello fd0!", readLog(`${dir.path}/spawn.sh.log`));
    });
    test("run() chose FastCGI on fd 0 by itself", () => {
      assert.match(readLog(`${dir.path}/spawn.sh.log`), /FCGI READY fcgi:\/\/fd0/);
    });
    commonChecks(() => ({ port, prefix: "/spawn" }));
  });
});

const haproxyPeer = peer("haproxy");
describe("HAProxy FastCGI backend (get-values, mpxs-conns, abortonclose)", { skip: haproxyPeer.skip }, () => {
  const dir = tempDir("carafe-haproxy-");
  let web: ChildProcess & { output(): string }, app: ChildProcess, port = 0, spy: RecordSpy;
  before(async () => {
    const appPort = await freePort();
    port = await freePort();
    // At most 8 requests per connection: HAProxy (max-reqs 2 until it knows better)
    // learns it from GET_VALUES and then multiplexes up to 8 on each connection.
    app = (await startFcgiApp({ port: appPort }, { FIXTURE_MAX_REQS: "8" })).child;
    spy = new RecordSpy(appPort);
    await spy.listen();
    haproxyConf(dir.path, { port, app: spy.port });
    web = await startHaproxy(haproxyPeer.path!, dir.path, port);
  });
  after(async () => {
    spy?.close();
    // HAProxy 2.6.12 is known to crash now and then with FastCGI (haproxy#2150): say so
    // when it is gone before we stop it, with what it printed and what the spy saw.
    if (web && (web.exitCode !== null || web.signalCode !== null)) {
      console.error(`HAProxy exited on its own (${web.exitCode ?? web.signalCode}); its output:\n${web.output()}\nspy errors: ${spy?.errors.join("; ")}`);
    }
    await Promise.all([web && stop(web), app && stop(app)]);
    dir.remove();
  });
  // `path-info ^(/app)(/.*)?$` splits the mount into SCRIPT_NAME and PATH_INFO.
  commonChecks(() => ({ port, prefix: "/app" }), { chunked: false, abortPrefix: "/app" });

  test("chunked uploads: forwarded when they fit HAProxy's buffer, else refused by HAProxy itself (never truncated)", async () => {
    // HAProxy must send CONTENT_LENGTH before the body, so it forwards a chunked body
    // only when http-buffer-request got all of it (tune.bufsize, 16 KB by default);
    // larger ones get its own 400. (A tune.bufsize over 64 KB makes HAProxy 2.6 write
    // malformed records, which the adapter refuses: it is no way around.)
    const small = TEN_MB.subarray(0, 8000);
    const r = JSON.parse((await httpReq(port, "/app/upload", { method: "POST", body: small, chunked: true })).text);
    assert.deepEqual([r.length, r.sum], [8000, checksum(small)]);
    // HAProxy answers 400 and closes while the client is still sending (EPIPE/ECONNRESET).
    const big = await httpReq(port, "/app/upload", { method: "POST", body: TEN_MB, chunked: true }).catch(() => undefined);
    if (big && big.status !== 400) {
      const out = JSON.parse(big.text);
      assert.deepEqual([out.length, out.sum], [TEN_MB.length, TEN_MB_SUM]);
    }
  });

  test("GET_VALUES answered truthfully: HAProxy takes FCGI_MAX_REQS as its per-connection limit, and every request succeeds", async () => {
    const start = spy.seen.length;
    // Two waves of 60 slow requests: the first opens connections (2 streams each, the
    // configured max-reqs, until GET_VALUES_RESULT arrives); the second reuses them
    // with the app's limit (8).
    for (let wave = 0; wave < 2; wave++) {
      spy.maxInFlightOnOneConn = 0;
      const all = await Promise.all(Array.from({ length: 60 }, () => httpReq(port, "/app/slow?ms=300")));
      assert.deepEqual(all.map((r) => r.status), all.map(() => 200));
      assert.ok(all.every((r) => r.text === "slept 300"));
      assert.ok(spy.maxInFlightOnOneConn <= 8, `${spy.maxInFlightOnOneConn} requests in flight on one connection`);
    }
    assert.ok(spy.maxInFlightOnOneConn > 2, `HAProxy kept to ${spy.maxInFlightOnOneConn} per connection: it did not use FCGI_MAX_REQS`);
    assert.ok(spy.seen.some((r) => r.dir === "in" && r.type === T.GET_VALUES));
    const results = spy.seen.filter((r) => r.dir === "out" && r.type === T.GET_VALUES_RESULT);
    assert.ok(results.length > 0);
    // HAProxy asks for FCGI_MAX_REQS and FCGI_MPXS_CONNS only.
    for (const r of results) assert.deepEqual(r.values, { FCGI_MAX_REQS: "8", FCGI_MPXS_CONNS: "1" });
    assert.ok(!spy.seen.slice(start).some((r) => r.type === T.END && r.protocolStatus !== 0), "no request turned away");
    assert.ok(spy.seen.some((r) => r.type === T.BEGIN && r.id !== 1), "HAProxy uses ids other than 1");
  });

  test("client abort reaches the app as ABORT_REQUEST, answered on the same connection by END_REQUEST", async () => {
    const start = spy.seen.length;
    await abortedUpload(port, "/app/upload");
    const later = () => spy.seen.slice(start);
    const deadline = Date.now() + 10000;
    while (!later().some((r) => r.type === T.ABORT) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const abort = later().find((r) => r.type === T.ABORT);
    assert.ok(abort, "HAProxy sent ABORT_REQUEST");
    const answered = () => later().find((r) => r.dir === "out" && r.type === T.END && r.id === abort.id && r.conn === abort.conn && r.at >= abort.at);
    while (!answered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const end = answered();
    assert.ok(end, JSON.stringify(later()) + spy.errors.join());
    // The upload never completes, so only the abort can have ended it; "promptly" with a generous bound.
    assert.ok(end.at - abort.at < 5000, `END_REQUEST ${end.at - abort.at} ms after ABORT_REQUEST`);
    assert.equal(end.protocolStatus, 0);
  });
});

const cgiFcgiPeer = peer("cgi-fcgi");
const spawnFcgiPeer = peer("spawn-fcgi");
describe("cgi-fcgi (libfcgi): -bind to a running app, -start and spawn-fcgi passing the app a listening fd 0", { skip: cgiFcgiPeer.skip }, () => {
  const dir = tempDir("carafe-cgifcgi-");
  let app: ChildProcess, appPort = 0;
  before(async () => {
    appPort = await freePort();
    app = (await startFcgiApp({ port: appPort })).child;
  });
  after(async () => {
    await stop(app);
    for (const name of ["fd0.sh", "tcp0.sh"]) {
      try {
        const pid = Number(readFileSync(`${dir.path}/${name}.pid`, "utf8"));
        if (pid) process.kill(pid, "SIGTERM"); // the app we had started, by its PID
      } catch { /* never started */ }
    }
    dir.remove();
  });

  function cgiFcgi(args: string[], env: Record<string, string>, body?: Uint8Array): Promise<{ code: number | null; out: Uint8Array; err: string }> {
    return new Promise((resolve) => {
      // cgi-fcgi forwards its whole environment as params: start it with exactly the CGI variables.
      const child = spawn(cgiFcgiPeer.path!, args, { env, stdio: ["pipe", "pipe", "pipe"] });
      const chunks: Uint8Array[] = [];
      let err = "";
      child.stdout.on("data", (c: Uint8Array) => chunks.push(c));
      child.stderr.on("data", (c) => (err += c));
      child.stdin.on("error", () => {});
      child.on("close", (code) => resolve({ code, out: new Uint8Array(Buffer.concat(chunks)), err }));
      child.stdin.end(body ?? new Uint8Array(0));
    });
  }
  /** Splits cgi-fcgi's stdout (the app's STDOUT, verbatim) into head and body. */
  function parse(out: Uint8Array): { head: string; body: Uint8Array; text: string } {
    const text = new TextDecoder().decode(out);
    const i = text.indexOf("\r\n\r\n");
    const head = text.slice(0, i);
    const body = out.subarray(new TextEncoder().encode(text.slice(0, i + 4)).length);
    return { head, body, text: new TextDecoder().decode(body) };
  }
  const base = { REQUEST_METHOD: "GET", SCRIPT_NAME: "/x", PATH_INFO: "/hello/libfcgi", QUERY_STRING: "", SERVER_NAME: "localhost", SERVER_PORT: "80", REMOTE_ADDR: "127.0.0.1" };
  const bind = () => ["-bind", "-connect", `127.0.0.1:${appPort}`];

  test("-bind: routing with SCRIPT_NAME, query, cookies", async () => {
    const g = await cgiFcgi(bind(), base);
    assert.equal(g.code, 0);
    const r = parse(g.out);
    assert.match(r.head, /(^|\r\n)Status: 200 OK$/);
    assert.equal(r.text, "Hello libfcgi!");
    const i = await cgiFcgi(bind(), { ...base, SCRIPT_NAME: "/mount", PATH_INFO: "/info", QUERY_STRING: "a=1&b=%20c", REQUEST_URI: "/mount/info?a=1&b=%20c", HTTP_COOKIE: "s=1; t=2", HTTP_HOST: "h.test" });
    const info = JSON.parse(parse(i.out).text);
    assert.equal(info.scriptName, "/mount");
    assert.equal(info.path, "/info");
    assert.deepEqual(info.query, { a: "1", b: " c" });
    assert.equal(info.cookie, "s=1; t=2");
    assert.equal(info.url, "http://h.test/info?a=1&b=%20c");
  });

  test("-bind: HTTPS, SERVER_NAME and SERVER_PORT make the URL without a Host header", async () => {
    const at = async (env: Record<string, string>) => JSON.parse(parse((await cgiFcgi(bind(), { ...base, PATH_INFO: "/info", ...env })).out).text).url;
    assert.equal(await at({ HTTPS: "on", SERVER_NAME: "example.test", SERVER_PORT: "8443" }), "https://example.test:8443/info");
    assert.equal(await at({ HTTPS: "on", SERVER_NAME: "example.test", SERVER_PORT: "443" }), "https://example.test/info");
    assert.equal(await at({ SERVER_NAME: "example.test", SERVER_PORT: "8080" }), "http://example.test:8080/info");
    assert.equal(await at({ REQUEST_SCHEME: "https", SERVER_NAME: "example.test", SERVER_PORT: "443" }), "https://example.test/info");
  });

  test("-bind: POST of 10 MB", async () => {
    const p = await cgiFcgi(bind(), { ...base, REQUEST_METHOD: "POST", PATH_INFO: "/upload", CONTENT_LENGTH: String(TEN_MB.length), CONTENT_TYPE: "application/octet-stream" }, TEN_MB);
    const json = JSON.parse(parse(p.out).text);
    assert.deepEqual([json.length, json.sum], [TEN_MB.length, TEN_MB_SUM]);
  });

  test("-bind: a 1.5 MB response (bytes) and a 1.2 MB streamed one arrive intact; a redirect with its Status; a 404", async () => {
    const big = parse((await cgiFcgi(bind(), { ...base, PATH_INFO: "/big", QUERY_STRING: "size=1500000" })).out);
    assert.match(big.head, /(^|\r\n)Status: 200 OK$/);
    assert.equal(big.body.length, 1_500_000);
    assert.ok(big.body.every((b, i) => b === i % 251));
    const streamed = parse((await cgiFcgi(bind(), { ...base, PATH_INFO: "/stream", QUERY_STRING: "chunks=60&size=20000" })).out);
    assert.equal(streamed.body.length, 1_200_000);
    assert.ok(streamed.body.every((b, i) => b === i % 251));
    for (const [code, text] of [[303, "See Other"], [307, "Temporary Redirect"], [308, "Permanent Redirect"]] as const) {
      const r = parse((await cgiFcgi(bind(), { ...base, PATH_INFO: "/redirect", QUERY_STRING: `code=${code}` })).out);
      assert.match(r.head, new RegExp(`(^|\r\n)Status: ${code} ${text}$`));
      assert.match(r.head, /(^|\r\n)location: \/x\/hello\/redirected(\r\n|$)/);
    }
    const missing = parse((await cgiFcgi(bind(), { ...base, PATH_INFO: "/nope" })).out);
    assert.match(missing.head, /(^|\r\n)Status: 404 Not Found$/);
    assert.equal(missing.text, "Not found: /nope");
  });

  test("-bind: 20 concurrent cgi-fcgi clients, each its own connection, served at the same time", async () => {
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      cgiFcgi(bind(), { ...base, PATH_INFO: i % 2 ? `/hello/c${i}` : "/span", QUERY_STRING: i % 2 ? "" : "ms=300" })));
    assert.deepEqual(all.map((r) => r.code), all.map(() => 0));
    all.forEach((r, i) => i % 2 && assert.equal(parse(r.out).text, `Hello c${i}!`));
    const spans = all.filter((_, i) => i % 2 === 0).map((r) => JSON.parse(parse(r.out).text) as { start: number; end: number });
    // Ten 300 ms requests: one at a time would take 3 s; at least half of them were in the app at once.
    const edges = spans.flatMap((s) => [[s.start, 1], [s.end, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0, most = 0;
    for (const [, step] of edges) most = Math.max(most, (now += step));
    assert.ok(most >= 5, `at most ${most} in the app at once: ${JSON.stringify(spans)}`);
  });

  test("-bind: an app error is a 500 on STDOUT and the error on STDERR", async () => {
    const f = await cgiFcgi(bind(), { ...base, PATH_INFO: "/fail" });
    assert.match(parse(f.out).head, /Status: 500 /);
    assert.match(f.err, /deliberate failure/);
  });

  test("-bind: Transfer-Encoding set by the app never reaches STDOUT, nor chunked framing", async () => {
    const t = parse((await cgiFcgi(bind(), { ...base, PATH_INFO: "/te" })).out);
    assert.ok(!/transfer-encoding/i.test(t.head), t.head);
    assert.equal(t.text, "framed by the server");
  });

  test("-start: cgi-fcgi spawns the app with a listening Unix socket on fd 0; run() picks FastCGI by itself", async () => {
    const sock = `${dir.path}/fd0.sock`;
    // Mode "run": the fixture calls run({ app }) with the default server "auto".
    const wrapper = appWrapper(dir.path, "fd0.sh", ["run"]);
    const s = await cgiFcgi(["-start", "-connect", sock, wrapper], { PATH: process.env.PATH ?? "" });
    assert.equal(s.code, 0);
    await waitListening(sock, 20000);
    // The socket accepts as soon as it exists; the runtime may still be loading: retry briefly.
    const deadline = Date.now() + 20000;
    let text = "";
    while (Date.now() < deadline) {
      const r = await cgiFcgi(["-bind", "-connect", sock], { REQUEST_METHOD: "GET", SCRIPT_NAME: "", PATH_INFO: "/hello/spawned", SERVER_NAME: "localhost", SERVER_PORT: "80" });
      text = new TextDecoder().decode(r.out);
      if (text.includes("Hello")) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.ok(text.endsWith("Hello spawned!"), text + readLog(`${dir.path}/fd0.sh.log`));
    assert.match(readLog(`${dir.path}/fd0.sh.log`), /FCGI READY fcgi:\/\/fd0/);
  });

  test("spawn-fcgi with a TCP socket on fd 0: run() picks FastCGI by itself and serves", { skip: spawnFcgiPeer.skip }, async () => {
    const tcpPort = await freePort();
    const wrapper = appWrapper(dir.path, "tcp0.sh", ["run"]);
    const r = spawnSync(spawnFcgiPeer.path!, ["-a", "127.0.0.1", "-p", String(tcpPort), "--", wrapper], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const deadline = Date.now() + 20000;
    let text = "";
    while (Date.now() < deadline) {
      const g = await cgiFcgi(["-bind", "-connect", `127.0.0.1:${tcpPort}`], { ...base, PATH_INFO: "/hello/tcp0" });
      text = new TextDecoder().decode(g.out);
      if (text.includes("Hello")) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.ok(text.endsWith("Hello tcp0!"), text + readLog(`${dir.path}/tcp0.sh.log`));
    assert.match(readLog(`${dir.path}/tcp0.sh.log`), /FCGI READY fcgi:\/\/fd0/);
    const body = TEN_MB.subarray(0, 500_000);
    const p = await cgiFcgi(["-bind", "-connect", `127.0.0.1:${tcpPort}`], { ...base, REQUEST_METHOD: "POST", PATH_INFO: "/upload", CONTENT_LENGTH: String(body.length) }, body);
    const json = JSON.parse(parse(p.out).text);
    assert.deepEqual([json.length, json.sum], [body.length, checksum(body)]);
  });
});
