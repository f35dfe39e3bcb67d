// run(), the adapter registry, `auto`, the banner, and toNodeHandler.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { Carafe, isClusterWorker, popDefaultApp, pushDefaultApp, toNodeHandler as lazyNodeHandler } from "../mod.ts";
import { autoServerName, getAdapter, registerAdapter, run, type ServeOptions, serverNames, VERSION } from "../adapters/mod.ts";
import { displayUrl } from "../adapters/common.ts";
import { toNodeHandler } from "../adapters/node/mod.ts";
import { collect, here, runtime, spawnScript, stop, tempDir, waitForOutput } from "./_helpers.ts";
import { startFixture, type Started } from "./_native_helpers.ts";
import { get as httpGet } from "./_cluster_helpers.ts";
import { FcgiClient, get as fcgiParams, request as fcgiRequest } from "./_gateway_peers.ts";

const native = runtime === "deno" ? "deno" : runtime === "bun" ? "bun" : "node";

function fakeAdapter(name: string, seen: ServeOptions[] = []) {
  return {
    name,
    label: `${name[0].toUpperCase()}${name.slice(1)}()`,
    serve(o: ServeOptions) {
      seen.push(o);
      return { url: "test://here/", close: async () => {}, finished: Promise.resolve() };
    },
  };
}

describe("registry", () => {
  test("serverNames lists every built-in adapter", () => {
    for (const n of ["deno", "bun", "node", "cluster", "fastcgi", "cgi", "auto"]) assert.ok(serverNames.includes(n), n);
  });

  test("unknown server: an error that lists the known names", async () => {
    await assert.rejects(getAdapter("tornado"), /Unknown server "tornado"\. Known servers: deno, bun, node, cluster, fastcgi, cgi, auto/);
    await assert.rejects(run({ app: new Carafe(), server: "tornado", handleSignals: false }), /Unknown server/);
  });

  test("auto is the runtime's native server here", async () => {
    assert.equal(await autoServerName(), native);
    assert.equal((await getAdapter("auto")).name, native);
    assert.equal((await getAdapter(native)).name, native);
  });

  test("auto picks cgi under a CGI environment, native otherwise (fresh process)", async () => {
    const cgi = await collect(spawnScript(here("tests/fixtures/native_auto.ts"), [], {
      env: { GATEWAY_INTERFACE: "CGI/1.1", REQUEST_METHOD: "GET" },
    }));
    assert.match(cgi.stdout, /auto=cgi/, cgi.stderr);
    const plain = await collect(spawnScript(here("tests/fixtures/native_auto.ts"), [], { env: { GATEWAY_INTERFACE: "" } }));
    assert.match(plain.stdout, new RegExp(`auto=${native}`), plain.stderr);
  });

  test("registerAdapter: a custom adapter is found by name and listed", async () => {
    const seen: ServeOptions[] = [];
    registerAdapter(fakeAdapter("custom", seen));
    assert.ok(serverNames.includes("custom"));
    const lines: string[] = [];
    const server = await run({ app: new Carafe(), server: "custom", log: (l) => lines.push(l), handleSignals: false });
    assert.equal(server.url, "test://here/");
    assert.equal(seen.length, 1);
    assert.throws(() => registerAdapter({ name: "" } as never), /non-empty `name`/);
    assert.throws(() => registerAdapter({ name: "x" } as never), /no serve\(\) function/);
  });
});

describe("run()", () => {
  test("defaults handed to the adapter", async () => {
    const seen: ServeOptions[] = [];
    await run({ app: new Carafe(), server: fakeAdapter("probe", seen), quiet: true, handleSignals: false });
    const o = seen[0];
    assert.equal(o.host, "127.0.0.1");
    assert.equal(o.port, 8080);
    assert.equal(o.maxBodySize, 100 * 1024 * 1024);
    assert.equal(o.shutdownTimeout, 10_000);
    assert.equal(o.quiet, true);
    // Settings travel one way: debug and trustProxy are the app's (its config), never the server's.
    assert.equal("debug" in o, false);
    assert.equal("trustProxy" in o, false);
  });

  test("banner: exact lines, on the log, suppressed by quiet", async () => {
    const lines: string[] = [];
    await run({ app: new Carafe(), server: fakeAdapter("banner"), log: (l) => lines.push(l), handleSignals: false });
    assert.equal(lines.join("\n"), `Carafe v${VERSION} server starting up (using Banner())...\nListening on test://here/\nHit Ctrl-C to quit.\n`);
    const quiet: string[] = [];
    await run({ app: new Carafe(), server: fakeAdapter("banner"), quiet: true, log: (l) => quiet.push(l), handleSignals: false });
    assert.deepEqual(quiet, []);
  });

  test("debug/maxBodySize/trustProxy are copied to a Carafe app only when given", async () => {
    const app = new Carafe({ maxBodySize: 1234 });
    const seen: ServeOptions[] = [];
    await run({ app, server: fakeAdapter("cfg", seen), quiet: true, handleSignals: false });
    assert.equal(app.config.maxBodySize, 1234);
    assert.equal(seen[0].maxBodySize, 1234);
    await run({ app, server: fakeAdapter("cfg", seen), quiet: true, debug: true, trustProxy: "loopback", maxBodySize: 99, handleSignals: false });
    assert.equal(app.config.debug, true);
    assert.equal(app.config.trustProxy, "loopback");
    assert.equal(app.config.maxBodySize, 99);
  });

  test("bad arguments: actionable errors", async () => {
    await assert.rejects(run({ app: {} as never, handleSignals: false }), /must have a fetch\(request\) method/);
    await assert.rejects(run({ app: new Carafe(), port: 70000, handleSignals: false }), /port must be an integer from 0 to 65535/);
    const probe = fakeAdapter("limits");
    await assert.rejects(run({ app: new Carafe(), server: probe, idleTimeout: -1, handleSignals: false }), /idleTimeout must be a number of milliseconds ≥ 0 \(0 or Infinity disables it\), got -1/);
    await assert.rejects(run({ app: new Carafe(), server: probe, idleTimeout: NaN, handleSignals: false }), /idleTimeout/);
    await assert.rejects(run({ app: new Carafe(), server: probe, maxHeaderSize: 0, handleSignals: false }), /maxHeaderSize must be a number of bytes > 0, got 0/);
    await assert.rejects(run({ app: new Carafe(), server: probe, shutdownTimeout: "5" as never, handleSignals: false }), /shutdownTimeout must be a number of milliseconds ≥ 0, got 5/);
    // 0 and Infinity are valid: "disabled".
    await run({ app: new Carafe(), server: probe, idleTimeout: 0, quiet: true, handleSignals: false });
    await run({ app: new Carafe(), server: probe, idleTimeout: Infinity, quiet: true, handleSignals: false });
  });

  test("IPv6 hosts print in brackets", () => {
    assert.equal(displayUrl("http", "::1", 8080), "http://[::1]:8080/");
    assert.equal(displayUrl("https", "0.0.0.0", 443), "https://0.0.0.0:443/");
  });

  for (const server of runtime === "node" ? ["auto"] : ["auto", "node"]) {
    test(`port 0 on ${server}: real socket, url reports the port, close() ends it`, async () => {
      const app = new Carafe().get("/", () => "in-process");
      const s = await run({ app, server, port: 0, quiet: true, handleSignals: false });
      const port = Number(new URL(s.url).port);
      assert.ok(port > 0 && port !== 8080, s.url);
      const res = await fetch(s.url);
      assert.equal(await res.text(), "in-process");
      await s.close();
      await s.finished;
      await assert.rejects(fetch(s.url));
    });
  }

  test("no app: serves the default app", async () => {
    pushDefaultApp(new Carafe().get("/", () => "default app"));
    try {
      const s = await run({ port: 0, quiet: true, handleSignals: false });
      try {
        assert.equal(await (await fetch(s.url)).text(), "default app");
      } finally {
        await s.close();
      }
    } finally {
      popDefaultApp();
    }
  });
});

describe("SIGHUP on a single-process server (systemctl reload sends it)", () => {
  /** GET / over HTTP, or over FastCGI for the fastcgi server; the body. */
  async function hello(server: string, url: string): Promise<string> {
    if (server !== "fastcgi") return (await httpGet(url)).body;
    const client = await FcgiClient.connect(Number(new URL(url).port));
    try {
      client.send(fcgiRequest(1, fcgiParams("/")));
      await client.ended(1);
      return client.response(1).text;
    } finally {
      client.close();
    }
  }
  /** Waits until the server's stderr matches `pattern` `count` times; fails at once if it exited. */
  async function logged(s: Started, pattern: RegExp, count: number): Promise<void> {
    let gone: unknown;
    s.exited.then((e) => (gone = e));
    const end = Date.now() + 10_000;
    while ((s.stderr().match(pattern) ?? []).length < count) {
      if (gone) assert.fail(`the server exited (${JSON.stringify(gone)}) instead of logging ${pattern}:\n${s.stderr()}`);
      if (Date.now() > end) assert.fail(`no ${pattern} (x${count}) in:\n${s.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // The native server of this runtime, node:http where the runtime also has it, and
  // FastCGI on its own port (not on fd 0: that one belongs to the web server).
  for (const server of [native, ...(runtime === "node" ? [] : ["node"]), "fastcgi"]) {
    test(`${server}: SIGHUP is logged, the server keeps serving; SIGTERM then exits 0`, async () => {
      const s = await startFixture(server);
      try {
        assert.equal(await hello(server, s.url), "Hello, World!");
        const line = /^SIGHUP: a single process has nothing to restart in place, so it keeps serving; for rolling restarts run with --workers N \(the cluster server.*$/gm;
        for (let n = 1; n <= 2; n++) {
          process.kill(s.child.pid!, "SIGHUP"); // a server we started, by PID
          await logged(s, line, n);
          assert.equal(await hello(server, s.url), "Hello, World!", `after SIGHUP #${n}`);
        }
        process.kill(s.child.pid!, "SIGTERM");
        assert.deepEqual(await s.exited, { code: 0, signal: null }, s.stderr());
        assert.equal(s.stderr().match(line)?.length, 2, "one line per SIGHUP");
      } finally {
        await stop(s.child);
      }
    });
  }
});

describe("run({ reloader: true })", () => {
  test("the calling process watches; the program restarts when its file changes", async () => {
    const dir = tempDir("carafe-reloader-");
    const file = join(dir.path, "app.mjs");
    const source = (text: string) =>
      `import { Carafe, run } from ${JSON.stringify(pathToFileURL(here("mod.ts")).href)};\n` +
      `await run({ app: new Carafe().get("/", () => ${JSON.stringify(text)}), port: 0, reloader: true });\n`;
    writeFileSync(file, source("v1"));
    const child = spawnScript(file, [], { cwd: dir.path });
    try {
      const m = await waitForOutput(child, /Listening on (http:\/\/\S+)/, 30_000);
      assert.equal(await (await fetch(m[1])).text(), "v1");
      await new Promise((r) => setTimeout(r, 1100)); // let the mtime tick on coarse file systems
      writeFileSync(file, source("v2"));
      const m2 = await waitForOutput(child, /reloading[\s\S]*Listening on (http:\/\/\S+)/, 30_000);
      assert.equal(await (await fetch(m2[1])).text(), "v2");
      // The watcher itself never served: the old URL is gone (the old child stopped).
      if (m2[1] !== m[1]) await assert.rejects(fetch(m[1]));
    } finally {
      const exited = collect(child);
      await stop(child);
      // SIGTERM: the watcher stops its child and exits 0 (Deno's node:child_process reports
      // the signal we sent instead of the exit code of a child that handled it).
      if (runtime !== "deno") assert.equal((await exited).code, 0);
      dir.remove();
    }
  });
});

describe("mod.ts loads no adapter it does not need", () => {
  test("importing mod.ts loads neither adapters/node nor adapters/cluster (node: module-load hooks)", {
    skip: runtime === "node" ? undefined : "module-load hooks (module.register) are Node's",
  }, async () => {
    const dir = tempDir("carafe-loads-");
    try {
      const hooks = join(dir.path, "hooks.mjs");
      writeFileSync(hooks, `import { register } from "node:module";\nregister("data:text/javascript," + encodeURIComponent(` +
        "`export async function load(url, context, next) { if (url.startsWith('file:')) console.error('LOADED ' + url); return next(url, context); }`" +
        `));\n`);
      const { spawn } = await import("node:child_process");
      const child = spawn(process.execPath, ["--import", pathToFileURL(hooks).href, "--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(here("mod.ts")).href)});`], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const out = await collect(child);
      assert.equal(out.code, 0, out.stderr);
      const loaded = [...out.stderr.matchAll(/LOADED (\S+)/g)].map((m) => m[1]);
      assert.ok(loaded.some((u) => /\/adapters\/mod\.js$/.test(u)), out.stderr);
      assert.deepEqual(loaded.filter((u) => /\/adapters\/((node|fastcgi|cgi|deno|bun)\.js|cluster\/(?!worker_id\.js$).*)$/.test(u)), []);
    } finally {
      dir.remove();
    }
  });

  test("mod.ts's toNodeHandler loads the node adapter on first use and serves", async () => {
    const app = new Carafe().get("/hi/<name>", (req) => `hi ${req.params.name}`);
    const srv = createServer(lazyNodeHandler(app));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      // Several at once, before the module has loaded: they wait for it.
      const answers = await Promise.all([1, 2, 3].map((n) => fetch(`${base}/hi/${n}`).then((r) => r.text())));
      assert.deepEqual(answers, ["hi 1", "hi 2", "hi 3"]);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  test("isClusterWorker()/clusterWorkerId() outside a cluster", () => {
    assert.equal(isClusterWorker(), false);
  });
});

describe("toNodeHandler", () => {
  test("embeds an app in an existing node:http server", async () => {
    const app = new Carafe();
    app.get("/hi/<name>", (req) => `hi ${req.params.name}`);
    app.post("/echo", async (req) => ({ got: await req.json(), ip: req.remoteAddr }));
    app.post("/raw", async (req) => ({ n: (await req.raw.arrayBuffer()).byteLength, t: await req.raw.text().catch(() => "used") }));
    app.get("/cookie", (_req, res) => {
      res.setCookie("a", "1");
      res.setCookie("b", "2");
      return "ok";
    });
    const srv = createServer(toNodeHandler(app));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      const hi = await fetch(`${base}/hi/there`);
      assert.equal(await hi.text(), "hi there");
      assert.equal(hi.headers.get("content-length"), "8");
      const echo = await fetch(`${base}/echo`, { method: "POST", body: JSON.stringify([1, 2]), headers: { "content-type": "application/json" } });
      assert.deepEqual(await echo.json(), { got: [1, 2], ip: "127.0.0.1" });
      const raw = await fetch(`${base}/raw`, { method: "POST", body: "x".repeat(100_000) });
      assert.deepEqual(await raw.json(), { n: 100_000, t: "used" });
      const c = await fetch(`${base}/cookie`);
      assert.deepEqual(c.headers.getSetCookie().map((v) => v.split(";")[0]), ["a=1", "b=2"]);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  test("a plain fetch app (no handle()) works too", async () => {
    const srv = createServer(toNodeHandler({ fetch: (req: Request) => new Response(`${req.method} ${new URL(req.url).pathname}`) }));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      assert.equal(await (await fetch(`${base}/x/y?z`)).text(), "GET /x/y");
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
