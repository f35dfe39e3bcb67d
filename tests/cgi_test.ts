// The CGI adapter: spawned directly with an environment and stdin, and behind real
// servers (Apache mod_cgid, lighttpd mod_cgi, nginx + fcgiwrap) with a real HTTP client.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn, type ChildProcess } from "node:child_process";
import process from "node:process";
import { here, peer, runtimeCommand, stop, tempDir } from "./_helpers.ts";
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
  waitListening,
} from "./_gateway_peers.ts";
import { isCgiEnvironment } from "../adapters/cgi.ts";

const script = here("tests/fixtures/gateway_app.ts");

/** Runs the fixture as a CGI program with exactly `env` (plus PATH/HOME) and `stdin`. */
function cgi(env: Record<string, string>, stdin?: Uint8Array): Promise<{ code: number | null; out: Uint8Array; err: string; head: string; body: Uint8Array; text: string; status: number; epipe: boolean }> {
  const [cmd, args] = runtimeCommand(script, env.__NO_MODE ? [] : ["cgi"]);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", GATEWAY_INTERFACE: "CGI/1.1", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    let err = "", epipe = false;
    child.stdout.on("data", (c: Uint8Array) => out.push(c));
    child.stderr.on("data", (c) => (err += c));
    child.stdin.on("error", () => (epipe = true));
    child.on("close", (code) => {
      const all = new Uint8Array(Buffer.concat(out));
      const text = new TextDecoder().decode(all);
      const split = text.indexOf("\r\n\r\n");
      const headLen = split < 0 ? all.length : new TextEncoder().encode(text.slice(0, split + 4)).length;
      const head = text.slice(0, Math.max(0, split));
      const body = all.subarray(headLen);
      resolve({ code, out: all, err, head, body, text: new TextDecoder().decode(body), status: Number(head.match(/(?:^|\r\n)Status: (\d+)/)?.[1] ?? 0), epipe });
    });
    if (stdin) child.stdin.write(stdin);
    child.stdin.end();
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
    assert.match(r.head, /\r\nlocation: \/cgi-bin\/app.cgi\/hello\/redirected/);
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

  test("isCgiEnvironment() is false in the test process", () => {
    assert.equal(isCgiEnvironment(), false);
  });
});

function httpReq(port: number, path: string, o: { method?: string; body?: Uint8Array; chunked?: boolean; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Uint8Array; text: string }> {
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
    });
    req.on("error", reject);
    if (o.body) for (let i = 0; i < o.body.length; i += 1 << 20) req.write(o.body.subarray(i, i + (1 << 20)));
    req.end();
  });
}

/** The fixture's position-weighted checksum. */
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i] * ((i % 251) + 1)) >>> 0;
  return sum;
}

const UPLOAD = new Uint8Array(10 * 1024 * 1024).map((_, i) => (i * 13) % 256);

function peerChecks(get: () => number, o: { chunked: boolean; redirect?: number }) {
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

  test("redirect with Status, 404 and 500", async () => {
    const port = get();
    const r = await httpReq(port, "/cgi-bin/app.cgi/redirect");
    assert.equal(r.status, o.redirect ?? 303);
    assert.equal(r.headers.location, "/cgi-bin/app.cgi/hello/redirected");
    assert.equal((await httpReq(port, "/cgi-bin/app.cgi/nope")).status, 404);
    assert.equal((await httpReq(port, "/cgi-bin/app.cgi/fail")).status, 500);
  });

  test(`POST 10 MB with Content-Length${o.chunked ? " and chunked" : ""}; 1 MB response`, async () => {
    const port = get();
    const a = JSON.parse((await httpReq(port, "/cgi-bin/app.cgi/upload", { method: "POST", body: UPLOAD })).text);
    assert.equal(a.length, UPLOAD.length);
    assert.equal(a.sum, checksum(UPLOAD));
    if (o.chunked) {
      const b = JSON.parse((await httpReq(port, "/cgi-bin/app.cgi/upload", { method: "POST", body: UPLOAD.subarray(0, 2_000_000), chunked: true })).text);
      assert.equal(b.length, 2_000_000);
      assert.equal(b.sum, checksum(UPLOAD.subarray(0, 2_000_000)));
    }
    const big = await httpReq(port, "/cgi-bin/app.cgi/big?size=1100000");
    assert.equal(big.body.length, 1_100_000);
    assert.ok(big.body.every((x, i) => x === i % 251));
  });
}

const apachePeer = peer("apache2");
describe("Apache httpd mod_cgid", { skip: apachePeer.skip }, () => {
  const dir = tempDir("carafe-cgi-apache-");
  let web: ChildProcess, port = 0;
  before(async () => {
    port = await freePort();
    apacheConf(dir.path, { port, cgiScript: appWrapper(dir.path, "app.cgi", ["cgi"], { cgi: true }) });
    web = await startApache(apachePeer.path!, dir.path, port);
  });
  after(async () => {
    if (web) await stop(web);
    dir.remove();
  });
  peerChecks(() => port, { chunked: true });
});

const lighttpdPeer = peer("lighttpd");
describe("lighttpd mod_cgi", { skip: lighttpdPeer.skip }, () => {
  const dir = tempDir("carafe-cgi-lighttpd-");
  let web: ChildProcess, port = 0;
  before(async () => {
    port = await freePort();
    lighttpdConf(dir.path, { port, cgiScript: appWrapper(dir.path, "app.cgi", ["cgi"], { cgi: true }) });
    web = await startLighttpd(lighttpdPeer.path!, dir.path, port);
  });
  after(async () => {
    if (web) await stop(web);
    dir.remove();
  });
  peerChecks(() => port, { chunked: true });
});

const nginxPeer = peer("nginx");
const fcgiwrapPeer = peer("fcgiwrap");
describe("nginx + fcgiwrap", { skip: nginxPeer.skip ?? fcgiwrapPeer.skip }, () => {
  const dir = tempDir("carafe-cgi-nginx-");
  let web: ChildProcess, wrap: ChildProcess, port = 0;
  before(async () => {
    port = await freePort();
    const wrapPort = await freePort();
    const cgiScript = appWrapper(dir.path, "app.cgi", ["cgi"], { cgi: true });
    wrap = await startPeer(fcgiwrapPeer.path!, ["-f", "-c", "1", "-s", `tcp:127.0.0.1:${wrapPort}`] /* -c 1: no forked children to outlive the test */, () => waitListening(wrapPort));
    nginxConf(dir.path, { port, app: wrapPort, fcgiwrap: wrapPort, cgiScript });
    web = await startNginx(nginxPeer.path!, dir.path, port);
  });
  after(async () => {
    await Promise.all([web && stop(web), wrap && stop(wrap)]);
    dir.remove();
  });
  peerChecks(() => port, { chunked: true });
});
