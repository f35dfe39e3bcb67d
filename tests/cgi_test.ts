// The CGI adapter: spawned directly with an environment and stdin, and behind real
// servers (Apache mod_cgid, lighttpd mod_cgi, nginx + fcgiwrap) with a real HTTP client.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn, type ChildProcess } from "node:child_process";
import process from "node:process";
import { chmodSync, chownSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { here, peer, runtimeCommand, stop, tempDir, which } from "./_helpers.ts";
import {
  apacheConf,
  appWrapper,
  freePort,
  lighttpdConf,
  nginxConf,
  startApache,
  startLighttpd,
  startNginx,
  startPeer,
  childPids,
  stopPids,
  waitListening,
} from "./_gateway_peers.ts";
import { isCgiEnvironment } from "../adapters/cgi.ts";

const script = here("tests/fixtures/gateway_app.ts");
const intervalScript = here("tests/fixtures/cgi_interval_app.ts");

interface CgiRun {
  code: number | null;
  out: Uint8Array;
  err: string;
  head: string;
  body: Uint8Array;
  text: string;
  status: number;
  epipe: boolean;
  killed: boolean;
  /** Milliseconds from spawn to exit. */
  ms: number;
}

/**
 * Runs the fixture as a CGI program with exactly `env` (plus PATH/HOME) and `stdin`.
 * `likeModCgid`: write all of stdin before reading any output, as Apache's mod_cgid
 * does. A run that takes more than `timeout` ms (default 30 s) is killed (`killed`).
 * `program`: another fixture than gateway_app.ts (started with no mode argument).
 */
function cgi(env: Record<string, string>, stdin?: Uint8Array, o: { likeModCgid?: boolean; program?: string; timeout?: number } = {}): Promise<CgiRun> {
  const [cmd, args] = runtimeCommand(o.program ?? script, env.__NO_MODE || o.program ? [] : ["cgi"]);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", GATEWAY_INTERFACE: "CGI/1.1", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    let err = "", epipe = false, killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL"); // our own child, by PID
    }, o.timeout ?? 30000);
    if (o.likeModCgid) child.stdout.pause();
    child.stdout.on("data", (c: Uint8Array) => out.push(c));
    child.stderr.on("data", (c) => (err += c));
    child.stdin.on("error", () => (epipe = true));
    child.on("close", (code) => {
      clearTimeout(timer);
      const all = new Uint8Array(Buffer.concat(out));
      const text = new TextDecoder().decode(all);
      const split = text.indexOf("\r\n\r\n");
      const headLen = split < 0 ? all.length : new TextEncoder().encode(text.slice(0, split + 4)).length;
      const head = text.slice(0, Math.max(0, split));
      const body = all.subarray(headLen);
      resolve({ code, out: all, err, head, body, text: new TextDecoder().decode(body), status: Number(head.match(/(?:^|\r\n)Status: (\d+)/)?.[1] ?? 0), epipe, killed, ms: Date.now() - started });
    });
    if (stdin) child.stdin.write(stdin);
    child.stdin.end(() => {
      if (o.likeModCgid) child.stdout.resume();
    });
  });
}

const base = { REQUEST_METHOD: "GET", SCRIPT_NAME: "/cgi-bin/app.cgi", QUERY_STRING: "", SERVER_NAME: "localhost", SERVER_PORT: "80", SERVER_PROTOCOL: "HTTP/1.1", REMOTE_ADDR: "127.0.0.1" };

describe("CGI adapter, spawned directly", () => {
  test("GET: headers, Status line last, blank line, body; prefix and query mapped", async () => {
    const r = await cgi({ ...base, PATH_INFO: "/info", QUERY_STRING: "a=1&b=%20x", HTTP_COOKIE: "s=1; t=2", HTTP_X_TEST: "yes", REQUEST_URI: "/cgi-bin/app.cgi/info?a=1&b=%20x" });
    assert.equal(r.code, 0, r.err);
    assert.match(r.head, /^content-type: application\/json\r\nStatus: 200 OK$/);
    const info = JSON.parse(r.text);
    assert.equal(info.path, "/info");
    assert.equal(info.scriptName, "/cgi-bin/app.cgi");
    assert.deepEqual(info.query, { a: "1", b: " x" });
    assert.equal(info.cookie, "s=1; t=2");
    assert.equal(info.headers["x-test"], "yes");
    assert.equal(info.remoteAddr, "127.0.0.1");
    assert.equal(info.body, null);
  });

  test("POST reads exactly CONTENT_LENGTH bytes, never more", async () => {
    const r = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/info", CONTENT_LENGTH: "5", CONTENT_TYPE: "text/plain" }, new TextEncoder().encode("hello, and more that is not ours"));
    const info = JSON.parse(r.text);
    assert.equal(info.body, "hello");
    assert.equal(info.contentType, "text/plain");
  });

  test("no CONTENT_LENGTH with HTTP_TRANSFER_ENCODING (Apache chunked upload): stdin to EOF", async () => {
    const body = new Uint8Array(300_000).map((_, i) => i % 256);
    const r = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/upload", HTTP_TRANSFER_ENCODING: "chunked" }, body);
    assert.equal(JSON.parse(r.text).length, 300_000);
  });

  test("a POST without CONTENT_LENGTH: stdin to EOF", async () => {
    const body = new Uint8Array(200_000).map((_, i) => (i * 3) % 256);
    const r = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/upload" }, body);
    const out = JSON.parse(r.text);
    assert.equal(out.length, 200_000);
    assert.equal(out.sum, checksum(body));
  });

  test("a POST without CONTENT_LENGTH started from a terminal: no body, no wait for an EOF that never comes", { skip: !which("script") && "no script(1)" }, async () => {
    // script(1) gives the program a pseudo-terminal as stdin (and stdout).
    const [cmd, args] = runtimeCommand(script, ["cgi"]);
    const q = (x: string) => `'${x.replaceAll("'", "'\\''")}'`;
    const r = await new Promise<{ out: string; killed: boolean }>((resolve) => {
      const child = spawn("script", ["-qec", [cmd, ...args].map(q).join(" "), "/dev/null"], {
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", GATEWAY_INTERFACE: "CGI/1.1", ...base, REQUEST_METHOD: "POST", PATH_INFO: "/info" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "", killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, 30000);
      child.stdout.on("data", (d) => (out += d));
      child.on("close", () => {
        clearTimeout(timer);
        resolve({ out, killed });
      });
    });
    assert.equal(r.killed, false, "it waited for stdin");
    assert.match(r.out, /"body":null/);
  });

  test("empty CONTENT_LENGTH (nginx) means no body", async () => {
    const r = await cgi({ ...base, PATH_INFO: "/info", CONTENT_LENGTH: "", CONTENT_TYPE: "" });
    const info = JSON.parse(r.text);
    assert.equal(info.contentLength, null);
    assert.equal(info.contentType, null);
  });

  test("stdin shorter than CONTENT_LENGTH fails the body (400 from the app), not a silent truncation", async () => {
    const r = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/upload", CONTENT_LENGTH: "1000" }, new Uint8Array(10));
    assert.equal(r.status, 400);
  });

  test("an unread 3 MB body is drained: the writer gets no EPIPE", async () => {
    const r = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/hello/ignored", CONTENT_LENGTH: String(3 << 20) }, new Uint8Array(3 << 20));
    assert.equal(r.text, "Hello ignored!");
    assert.equal(r.epipe, false);
  });

  test("a large unread body and a large answer do not deadlock with a server that writes all the body first (mod_cgid)", async () => {
    const r = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/big", QUERY_STRING: "size=1000000", CONTENT_LENGTH: String(4 << 20) }, new Uint8Array(4 << 20), { likeModCgid: true });
    assert.equal(r.killed, false, "deadlocked: the program waited to write its answer, the server to write the body");
    assert.equal(r.body.length, 1_000_000);
    assert.ok(r.body.every((b, i) => b === i % 251));
    assert.equal(r.epipe, false);
  });

  test("a bad CONTENT_LENGTH: 400 through the shared header writer, exit code 1", async () => {
    const r = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/upload", CONTENT_LENGTH: "ten" });
    assert.equal(r.code, 1);
    assert.equal(r.head, "content-length: 12\r\ncontent-type: text/plain; charset=UTF-8\r\nStatus: 400 Bad Request");
    assert.equal(r.text, "Bad Request\n");
  });

  test("an answer that cannot be written (a fetch app returning garbage): 500, the error on stderr, exit code 1", async () => {
    const r = await cgi({ ...base, PATH_INFO: "/garbage" });
    assert.equal(r.status, 500);
    assert.equal(r.text, "Internal Server Error\n");
    assert.equal(r.code, 1);
    assert.match(r.err, /internal error/);
  });

  test("Transfer-Encoding set by the app is not passed on", async () => {
    const r = await cgi({ ...base, PATH_INFO: "/te" });
    assert.ok(!/transfer-encoding/i.test(r.head), r.head);
    assert.equal(r.text, "framed by the server");
  });

  test("binary-safe 1 MB response, and a streamed one", async () => {
    const r = await cgi({ ...base, PATH_INFO: "/big", QUERY_STRING: "size=1048576" });
    assert.equal(r.body.length, 1 << 20);
    assert.ok(r.body.every((b, i) => b === i % 251));
    const s = await cgi({ ...base, PATH_INFO: "/stream", QUERY_STRING: "chunks=50&size=10000" });
    assert.equal(s.body.length, 500_000);
    assert.ok(s.body.every((b, i) => b === i % 251));
  });

  test("redirect, 404, Set-Cookie lines kept separate; no Transfer-Encoding or Connection", async () => {
    const r = await cgi({ ...base, PATH_INFO: "/redirect" });
    assert.match(r.head, /\r\nStatus: 303 See Other$/);
    assert.match(r.head, /(^|\r\n)location: \/cgi-bin\/app.cgi\/hello\/redirected/);
    assert.equal((await cgi({ ...base, PATH_INFO: "/nope" })).status, 404);
    const c = await cgi({ ...base, PATH_INFO: "/cookies" });
    assert.deepEqual(c.head.split("\r\n").filter((l) => l.startsWith("set-cookie")), ["set-cookie: a=1; Path=/", "set-cookie: b=2; Path=/; HttpOnly"]);
    for (const x of [r, c]) assert.ok(!/transfer-encoding|connection/i.test(x.head));
  });

  test("an app error: 500 on stdout, the error on stderr", async () => {
    const r = await cgi({ ...base, PATH_INFO: "/fail" });
    assert.equal(r.status, 500);
    assert.match(r.err, /deliberate failure/);
  });

  test("an app that keeps the event loop alive (a module-level setInterval): the program exits once the answer is written", async () => {
    // Without the exit the program would run until killed: the web server's request would hang.
    const program = intervalScript;
    const hello = await cgi({ ...base, PATH_INFO: "/hello/interval" }, undefined, { program, timeout: 15000 });
    assert.equal(hello.killed, false, `still running after 15 s: ${hello.err}`);
    assert.equal(hello.code, 0, hello.err);
    assert.equal(hello.text, "Hello interval!");
    const body = new Uint8Array(1 << 20).fill(7);
    const post = await cgi({ ...base, REQUEST_METHOD: "POST", PATH_INFO: "/upload", CONTENT_LENGTH: String(body.length) }, body, { program, timeout: 15000 });
    assert.equal(post.killed, false);
    assert.equal(post.code, 0, post.err);
    assert.deepEqual(JSON.parse(post.text), { length: body.length });
    // "Promptly": about the runtime's own start, nowhere near the 1 s interval times many.
    for (const r of [hello, post]) assert.ok(r.ms < 8000, `took ${r.ms} ms`);
  });

  test("a Carafe app's error lines reach stderr exactly once (handler error: exit 0; failed stream: exit 1)", async () => {
    const program = intervalScript;
    const count = (text: string, re: RegExp) => text.match(re)?.length ?? 0;
    const fail = await cgi({ ...base, PATH_INFO: "/fail" }, undefined, { program, timeout: 15000 });
    assert.equal(fail.killed, false);
    assert.equal(fail.status, 500);
    assert.equal(fail.code, 0);
    assert.equal(count(fail.err, /carafe deliberate failure/g), 1, fail.err);
    const stream = await cgi({ ...base, PATH_INFO: "/streamfail" }, undefined, { program, timeout: 15000 });
    assert.equal(stream.killed, false);
    assert.equal(stream.text, "partial");
    assert.equal(stream.code, 1, "the answer could not be completed");
    assert.equal(count(stream.err, /carafe stream broke/g), 1, stream.err);
  });

  test("run outside a CGI environment: clear message, exit code 1, no stack trace", async () => {
    const [cmd, args] = runtimeCommand(script, ["cgi"]);
    const r = await new Promise<{ code: number | null; err: string; out: string }>((resolve) => {
      const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" }, stdio: ["ignore", "pipe", "pipe"] });
      let err = "", out = "";
      child.stderr.on("data", (d) => (err += d));
      child.stdout.on("data", (d) => (out += d));
      child.on("close", (code) => resolve({ code, err, out }));
    });
    assert.equal(r.code, 1);
    assert.match(r.err, /REQUEST_METHOD is not set/);
    assert.ok(!/\n\s+at /.test(r.err), "no stack trace");
    assert.equal(r.out, "");
  });

  test("run() with the default server (auto) recognises the CGI environment", async () => {
    const [cmd, args] = runtimeCommand(script, ["run"]);
    const r = await new Promise<string>((resolve) => {
      const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...base, GATEWAY_INTERFACE: "CGI/1.1", PATH_INFO: "/hello/auto" }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.on("close", () => resolve(out));
    });
    assert.equal(r, "content-type: text/plain\r\nStatus: 200 OK\r\n\r\nHello auto!");
  });

  test("isCgiEnvironment(): GATEWAY_INTERFACE CGI/1.x and REQUEST_METHOD, both needed", () => {
    const saved = { g: process.env.GATEWAY_INTERFACE, m: process.env.REQUEST_METHOD };
    const set = (g?: string, m?: string) => {
      if (g === undefined) delete process.env.GATEWAY_INTERFACE;
      else process.env.GATEWAY_INTERFACE = g;
      if (m === undefined) delete process.env.REQUEST_METHOD;
      else process.env.REQUEST_METHOD = m;
    };
    try {
      set("CGI/1.1", "GET");
      assert.equal(isCgiEnvironment(), true);
      set("CGI/1.1", undefined);
      assert.equal(isCgiEnvironment(), false);
      set(undefined, "GET");
      assert.equal(isCgiEnvironment(), false);
      set("FastCGI/1.0", "GET");
      assert.equal(isCgiEnvironment(), false);
    } finally {
      set(saved.g, saved.m);
    }
  });
});

/** One HTTP request; fails after `timeout` ms (default 60 s: a deadlock must fail the test, not hang it). */
function httpReq(port: number, path: string, o: { method?: string; body?: Uint8Array; chunked?: boolean; headers?: Record<string, string>; timeout?: number } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Uint8Array; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body && !o.chunked) headers["content-length"] = String(o.body.length);
    const req = http.request({ host: "127.0.0.1", port, path, method: o.method ?? "GET", headers, agent: false, timeout: o.timeout ?? 60000 }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c: Uint8Array) => chunks.push(c));
      res.on("end", () => {
        const body = new Uint8Array(Buffer.concat(chunks));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: new TextDecoder().decode(body) });
      });
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`no answer from ${path} in ${(o.timeout ?? 60000) / 1000} s`)));
    if (o.body) for (let i = 0; i < o.body.length; i += 1 << 20) req.write(o.body.subarray(i, i + (1 << 20)));
    req.end();
  });
}

/** Sends a Content-Length upload but only part of it, then (once `ready()` resolves) drops the connection. */
function abortedUpload(port: number, path: string, ready: () => Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers: { "content-length": "5000000" }, agent: false });
    req.on("error", () => resolve());
    req.on("response", () => resolve());
    req.write(new Uint8Array(200_000));
    ready().then(() => {
      req.destroy();
      resolve();
    });
  });
}

/** Polls (every 100 ms, at most `ms`) until `check()`. */
async function until(check: () => boolean, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** Lines in the fixture's abort log (one per request body that failed). */
function abortLines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** The fixture's position-weighted checksum. */
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i] * ((i % 251) + 1)) >>> 0;
  return sum;
}

const UPLOAD = new Uint8Array(10 * 1024 * 1024).map((_, i) => (i * 13) % 256);

function peerChecks(get: () => number, o: { chunked: boolean; abortLog: () => string; killed: boolean }) {
  test("routing with the script prefix, query, cookies", async () => {
    const port = get();
    assert.equal((await httpReq(port, "/cgi-bin/app.cgi/hello/cgi")).text, "Hello cgi!");
    const info = JSON.parse((await httpReq(port, "/cgi-bin/app.cgi/info?q=1", { headers: { cookie: "k=v" } })).text);
    assert.equal(info.path, "/info");
    assert.equal(info.scriptName, "/cgi-bin/app.cgi");
    assert.deepEqual(info.query, { q: "1" });
    assert.equal(info.cookie, "k=v");
    const c = await httpReq(port, "/cgi-bin/app.cgi/cookies");
    assert.deepEqual(c.headers["set-cookie"], ["a=1; Path=/", "b=2; Path=/; HttpOnly"]);
  });

  test("redirects keep their status (303, 307, 308), 404 and 500; Transfer-Encoding from the app is not passed on", async () => {
    const port = get();
    for (const code of [303, 307, 308]) {
      const r = await httpReq(port, `/cgi-bin/app.cgi/redirect?code=${code}`);
      assert.equal(r.status, code);
      assert.equal(r.headers.location, "/cgi-bin/app.cgi/hello/redirected");
    }
    assert.equal((await httpReq(port, "/cgi-bin/app.cgi/te")).text, "framed by the server");
    assert.equal((await httpReq(port, "/cgi-bin/app.cgi/nope")).status, 404);
    assert.equal((await httpReq(port, "/cgi-bin/app.cgi/fail")).status, 500);
  });

  test(`POST 10 MB with Content-Length${o.chunked ? " and chunked" : ""}; 1 MB response`, async () => {
    const port = get();
    const a = JSON.parse((await httpReq(port, "/cgi-bin/app.cgi/upload", { method: "POST", body: UPLOAD })).text);
    assert.equal(a.length, UPLOAD.length);
    assert.equal(a.sum, checksum(UPLOAD));
    if (o.chunked) {
      const b = JSON.parse((await httpReq(port, "/cgi-bin/app.cgi/upload", { method: "POST", body: UPLOAD, chunked: true })).text);
      assert.equal(b.length, UPLOAD.length);
      assert.equal(b.sum, checksum(UPLOAD));
    }
    const big = await httpReq(port, "/cgi-bin/app.cgi/big?size=1100000");
    assert.equal(big.body.length, 1_100_000);
    assert.ok(big.body.every((x, i) => x === i % 251));
  });

  test("a 10 MB POST the app ignores, answered with 1 MB: no deadlock between the server's writes and ours", async () => {
    // A deadlock lasts until the server's own timeout (Apache: 60 s; it then delivers
    // the answer anyway), so a generous 30 s bound tells one from a slow machine.
    const r = await httpReq(get(), "/cgi-bin/app.cgi/big?size=1000000", { method: "POST", body: UPLOAD, timeout: 30000 });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 1_000_000);
    assert.ok(r.body.every((x, i) => x === i % 251));
  });

  test("8 concurrent requests (8 processes), really at the same time", async () => {
    const port = get();
    const all = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      i % 2 ? httpReq(port, `/cgi-bin/app.cgi/hello/c${i}`) : httpReq(port, "/cgi-bin/app.cgi/span?ms=400")));
    all.forEach((r, i) => (i % 2 ? assert.equal(r.text, `Hello c${i}!`) : assert.equal(r.status, 200)));
    // The four 400 ms requests: at least two were in their programs at once.
    const spans = all.filter((_, i) => i % 2 === 0).map((r) => JSON.parse(r.text) as { start: number; end: number });
    const overlapping = spans.some((a, i) => spans.some((b, j) => i !== j && a.start < b.end && b.start < a.end));
    assert.ok(overlapping, `the requests ran one after another: ${JSON.stringify(spans)}`);
  });

  test("client abort mid-upload: the program sees its body fail (or is killed by the server), never a short body as complete", async () => {
    const before = abortLines(o.abortLog()).length;
    const lines = () => abortLines(o.abortLog()).slice(before);
    // stream.cgi: the same script where the server streams the body (no buffering
    // first). The client goes away once the program is reading its body.
    await abortedUpload(get(), "/cgi-bin/stream.cgi/upload", () => until(() => lines().length > 0));
    await until(() => lines().length > 1);
    await new Promise((r) => setTimeout(r, 300)); // anything logged after the outcome
    assert.equal(lines()[0], "reading");
    const outcome = lines().slice(1);
    assert.ok(!outcome.some((l) => l.startsWith("complete")), `a short body passed as complete: ${outcome}`);
    // Every server closes the program's stdin early, so the body fails; Apache and
    // lighttpd also SIGTERM the program (it may die before or after it notices).
    assert.ok(outcome.every((l) => /truncated|^terminated$/.test(l)), String(outcome));
    if (!o.killed) assert.match(outcome[0], /truncated/);
  });
}

/** A world-writable abort log in `dir`; owned by nobody when we are root (Apache runs CGI programs as nobody, and Deno's appendFile chmods). */
function abortLogIn(dir: string): string {
  const path = join(dir, "aborts.log");
  writeFileSync(path, "");
  chmodSync(path, 0o666);
  if (process.getuid?.() === 0) chownSync(path, 65534, 65534);
  return path;
}

const apachePeer = peer("apache2");
describe("Apache httpd mod_cgid", { skip: apachePeer.skip }, () => {
  const dir = tempDir("carafe-cgi-apache-");
  let web: ChildProcess, port = 0;
  before(async () => {
    port = await freePort();
    // Apache runs CGI programs as nobody: asNobody makes sure nobody can reach them.
    apacheConf(dir.path, { port, cgiScript: appWrapper(dir.path, "app.cgi", ["cgi"], { cgi: true, asNobody: true, env: { FIXTURE_ABORT_LOG: abortLogIn(dir.path) } }) });
    web = await startApache(apachePeer.path!, dir.path, port);
  });
  after(async () => {
    if (web) await stop(web);
    dir.remove();
  });
  peerChecks(() => port, { chunked: true, abortLog: () => join(dir.path, "aborts.log"), killed: true });
});

const lighttpdPeer = peer("lighttpd");
describe("lighttpd mod_cgi", { skip: lighttpdPeer.skip }, () => {
  const dir = tempDir("carafe-cgi-lighttpd-");
  let web: ChildProcess, port = 0;
  before(async () => {
    port = await freePort();
    lighttpdConf(dir.path, { port, cgiScript: appWrapper(dir.path, "app.cgi", ["cgi"], { cgi: true, env: { FIXTURE_ABORT_LOG: abortLogIn(dir.path) } }) });
    web = await startLighttpd(lighttpdPeer.path!, dir.path, port);
  });
  after(async () => {
    if (web) await stop(web);
    dir.remove();
  });
  peerChecks(() => port, { chunked: true, abortLog: () => join(dir.path, "aborts.log"), killed: true });
});

const nginxPeer = peer("nginx");
const fcgiwrapPeer = peer("fcgiwrap");
describe("nginx + fcgiwrap", { skip: nginxPeer.skip ?? fcgiwrapPeer.skip }, () => {
  const dir = tempDir("carafe-cgi-nginx-");
  let web: ChildProcess, wrap: ChildProcess, port = 0;
  before(async () => {
    port = await freePort();
    const wrapPort = await freePort();
    const cgiScript = appWrapper(dir.path, "app.cgi", ["cgi"], { cgi: true, env: { FIXTURE_ABORT_LOG: abortLogIn(dir.path) } });
    // -c 4: four forked children, so concurrent requests really run at once (one child serves one at a time).
    wrap = await startPeer(fcgiwrapPeer.path!, ["-f", "-c", "4", "-s", `tcp:127.0.0.1:${wrapPort}`], () => waitListening(wrapPort));
    nginxConf(dir.path, { port, app: wrapPort, fcgiwrap: wrapPort, cgiScript });
    web = await startNginx(nginxPeer.path!, dir.path, port);
  });
  after(async () => {
    // fcgiwrap's children outlive their parent: stop them too, by their PIDs.
    const children = wrap?.pid ? childPids(wrap.pid) : [];
    await Promise.all([web && stop(web), wrap && stop(wrap)]);
    await stopPids(children);
    dir.remove();
  });
  peerChecks(() => port, { chunked: true, abortLog: () => join(dir.path, "aborts.log"), killed: false });
});
