/**
 * The command line (cli.ts) under the runtime running the tests: argument and
 * config parsing as units, then the real program: help, version, missing module,
 * serving default and named exports, config values reaching the app, --workers,
 * --reload restarting on a file change.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { collect, here, runtime, spawnScript, stop, tempDir, waitForOutput } from "./_helpers.ts";
import { get, sleep, waitUntil } from "./_cluster_helpers.ts";
import { freePort } from "./_deploy_helpers.ts";
import { CliError, parseArgs, parseBind, parseConfig } from "../cli.ts";

const cli = here("cli.ts");
const fixture = here("tests/fixtures/cluster_cli_app.ts");

async function serve(args: string[], cwd?: string) {
  const child = spawnScript(cli, args, { cwd });
  const m = await waitForOutput(child, /Listening on (http:\/\/\S+)/, 30_000);
  return { child, url: m[1] };
}

describe("cli: parsing", () => {
  test("--bind follows Bottle's rules, plus unix: sockets", () => {
    assert.deepEqual(parseBind("0.0.0.0:80"), { host: "0.0.0.0", port: 80 });
    assert.deepEqual(parseBind("example.com"), { host: "example.com", port: 8080 });
    assert.deepEqual(parseBind("[::1]"), { host: "::1", port: 8080 });
    assert.deepEqual(parseBind("[::1]:9000"), { host: "::1", port: 9000 });
    assert.deepEqual(parseBind(":9000"), { host: "127.0.0.1", port: 9000 });
    assert.deepEqual(parseBind("unix:/tmp/x.sock"), { socket: "/tmp/x.sock" });
    assert.throws(() => parseBind("::1"), /brackets/);
    assert.throws(() => parseBind("host:http"), /not a port/);
    assert.throws(() => parseBind("host:70000"), /not a port/);
  });

  test("flags, -C params and -c files combine; flags win, unknown keys go to app config", () => {
    const files: Record<string, string> = {
      "a.json": JSON.stringify({ port: 7000, workers: 3, db: { url: "sqlite:x" }, greeting: "json" }),
      "b.ini": "# comment\nmax_body_size = 1024\n[db]\nurl = postgres://h/db\n",
    };
    const o = parseArgs(["-c", "a.json", "--conf=b.ini", "-C", "greeting=hi", "-C", "flag", "-b", ":9000", "--debug", "app.ts:api"], (p) => files[p]);
    assert.equal(o.target, "app.ts:api");
    assert.equal(o.run.port, 9000); // the flag beats the file
    assert.equal(o.run.host, "127.0.0.1");
    assert.equal(o.run.workers, 3);
    assert.equal(o.run.server, "cluster"); // workers imply the cluster adapter
    assert.equal(o.run.maxBodySize, 1024);
    assert.equal(o.run.debug, true);
    assert.deepEqual(o.config, { "db.url": "postgres://h/db", greeting: "hi", flag: true });
  });

  test("-C trust_proxy takes loopback, true, false or a comma list of addresses", () => {
    assert.deepEqual(parseArgs(["-C", "trust_proxy=10.0.0.1, 10.0.0.0/8", "a.ts"]).run.trustProxy, ["10.0.0.1", "10.0.0.0/8"]);
    assert.deepEqual(parseArgs(["-C", "trust_proxy=127.0.0.1", "a.ts"]).run.trustProxy, ["127.0.0.1"]);
    assert.equal(parseArgs(["-C", "trust_proxy=loopback", "a.ts"]).run.trustProxy, "loopback");
    assert.equal(parseArgs(["-C", "trust_proxy=true", "a.ts"]).run.trustProxy, true);
    assert.deepEqual(parseArgs(["-c", "t.json", "a.ts"], () => '{"trust_proxy": ["::1"]}').run.trustProxy, ["::1"]);
  });

  test("-w selects the cluster; a native -s names what the workers run", () => {
    assert.deepEqual([parseArgs(["-w", "2", "a.ts"]).run.server, parseArgs(["-w", "2", "a.ts"]).run.worker], ["cluster", undefined]);
    const o = parseArgs(["-s", "node", "-w", "2", "a.ts"]);
    assert.equal(o.run.server, "cluster");
    assert.equal(o.run.worker, "node");
    assert.equal(parseArgs(["-s", "node", "a.ts"]).run.server, "node");
  });

  test("mistakes are CliErrors with a clear message", () => {
    assert.throws(() => parseArgs(["--nope"]), (e) => e instanceof CliError && /unknown option --nope/.test(e.message));
    assert.throws(() => parseArgs(["-w", "0", "a.ts"]), /whole number/);
    assert.throws(() => parseArgs(["a.ts", "b.ts"]), /one module only/);
    assert.throws(() => parseArgs(["-b"]), /-b needs a value/);
    assert.throws(() => parseArgs(["-c", "missing.json", "a.ts"], () => { throw new Error("ENOENT"); }), /cannot read config file missing.json/);
    assert.throws(() => parseConfig("{", "x.json"), /invalid JSON/);
    assert.throws(() => parseConfig("just words", "x.ini"), /x.ini:1: expected "key = value"/);
  });
});

describe(`cli: the program (${runtime})`, { concurrency: false }, () => {
  test("--version and --help exit 0", async () => {
    const v = await collect(spawnScript(cli, ["--version"]));
    assert.equal(v.code, 0);
    assert.match(v.stdout, new RegExp(`^Carafe \\d+\\.\\d+\\.\\d+ \\(${runtime} \\d`));
    const h = await collect(spawnScript(cli, ["--help"]));
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage: carafe \[options\] module\[:export\]/);
    assert.match(h.stdout, /--workers/);
  });

  test("a usage mistake: one line saying what is wrong and where help is, exit 2", async () => {
    const none = await collect(spawnScript(cli, []));
    assert.equal(none.code, 2);
    assert.equal(none.stderr, 'carafe: no application given: carafe [options] module[:export]\nRun "carafe --help" for the options.\n');
    const bad = await collect(spawnScript(cli, ["--workers", "lots", fixture]));
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split("\n").length, 2, bad.stderr);
    assert.match(bad.stderr, /^carafe: .*workers.*\nRun "carafe --help" for the options\.\n$/);
  });

  test("a syntax error in the app: its file and line, no runtime internals, exit 1", async () => {
    const dir = tempDir("carafe-cli-syntax-");
    try {
      const file = join(dir.path, "broken.mjs");
      writeFileSync(file, 'const app = { fetch: () => new Response("x") };\nfunction open() {\n  return 1;\n\nexport default app;\n');
      const r = await collect(spawnScript(cli, [file]));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^carafe: cannot load ".*broken\.mjs": /);
      assert.match(r.stderr, /broken\.mjs:\d+/, "the file and line");
      assert.doesNotMatch(r.stderr, /node:internal|ext:|ModuleLoader|compileSourceTextModule/);
      // Under --reload the same report, and the watcher waits for the fix instead of exiting.
      const watched = spawnScript(cli, ["--reload", file]);
      let stderr = "";
      watched.stderr?.on("data", (d) => (stderr += d));
      try {
        await waitUntil(() => /carafe: cannot load ".*broken\.mjs": .*broken\.mjs:\d+/s.test(stderr), 20_000, "the syntax error report");
        assert.doesNotMatch(stderr, /node:internal|ModuleLoader|compileSourceTextModule/);
        assert.equal(watched.exitCode, null, "the reloader keeps watching");
      } finally {
        await stop(watched);
      }
    } finally {
      dir.remove();
    }
  });

  test("a port in use: one line naming it and what to do, exit 1", async () => {
    const first = await serve(["-b", "127.0.0.1:0", fixture]);
    try {
      const port = new URL(first.url).port;
      const r = await collect(spawnScript(cli, ["-b", `127.0.0.1:${port}`, fixture]));
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split("\n").filter((l) => !/starting up|^$/.test(l));
      assert.deepEqual(lines, [`carafe: 127.0.0.1:${port} is already in use: choose another with --bind, or stop the server listening there.`]);
    } finally {
      await stop(first.child);
    }
  });

  test("Deno without permissions: says a permission was denied and to add -A", { skip: runtime !== "deno" && "Deno's permissions" }, async () => {
    const deno = process.execPath;
    const r = await collect(spawn(deno, ["run", "--no-lock", "--allow-env", cli, fixture], { stdio: ["ignore", "pipe", "pipe"] }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^carafe: Deno denied a permission while loading ".*cluster_cli_app\.ts" \(--allow-read\): run Deno with -A/);
  });

  test("bad export or module: a clear error, exit 1", async () => {
    const a = await collect(spawnScript(cli, [`${fixture}:nope`]));
    assert.equal(a.code, 1);
    assert.match(a.stderr, /has no export "nope" \(exports with fetch\(\): default, plain\)/);
    const b = await collect(spawnScript(cli, [`${fixture}:notAnApp`]));
    assert.equal(b.code, 1);
    assert.match(b.stderr, /is not an app: it has no fetch\(request\) method/);
    const c = await collect(spawnScript(cli, ["does/not/exist.js"]));
    assert.equal(c.code, 1);
    assert.match(c.stderr, /cannot find module "does\/not\/exist.js"/);
  });

  test("serves the default export with the banner; config values reach the app", async () => {
    const { child, url } = await serve(["-b", "127.0.0.1:0", "--debug", "-C", "greeting=hi", "-C", "max_body_size=2048", fixture]);
    try {
      assert.equal((await get(url)).body, "hello from the default export");
      const cfg = JSON.parse((await get(`${url}config`)).body);
      assert.deepEqual(cfg, { debug: true, maxBodySize: 2048, greeting: "hi" });
    } finally {
      await stop(child);
    }
  });

  test("a module that calls run() itself: its run() steps aside and says so; one server, the command's", async () => {
    const ownPort = await freePort();
    const child = spawnScript(cli, ["-b", "127.0.0.1:0", here("tests/fixtures/cli_double_app.ts")], { env: { DOUBLE_PORT: String(ownPort) } });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr += d));
    try {
      const url = (await waitForOutput(child, /Listening on (http:\/\/\S+)/, 30_000))[1];
      assert.equal((await get(url)).body, "served once");
      assert.match(stderr, /run\(\): not starting a second server: the carafe command serves this module's exported app/);
      await assert.rejects(fetch(`http://127.0.0.1:${ownPort}/`), "nothing may listen on the module's own port");
      assert.equal(stderr.match(/Listening on /g)?.length, 1);
    } finally {
      await stop(child);
    }
  });

  test("serves a named plain { fetch } export", async () => {
    const s = await serve(["--bind=127.0.0.1:0", `${fixture}:plain`]);
    try {
      assert.equal((await get(s.url)).body, "hello from plain");
    } finally {
      await stop(s.child);
    }
  });

  test("-w 2 serves from two worker processes", async () => {
    const { child, url } = await serve(["-b", "127.0.0.1:0", "-w", "2", fixture]);
    try {
      const pids = new Set<string>();
      await waitUntil(async () => {
        pids.add((await get(`${url}pid`)).body);
        return pids.size === 2;
      }, 10_000, "two worker pids");
      assert.ok(!pids.has(String(child.pid)));
    } finally {
      await stop(child);
    }
  });

  test("--reload restarts the server when the module changes", async () => {
    const dir = tempDir("carafe-cli-");
    const file = join(dir.path, "app.js");
    writeFileSync(file, `export default { fetch: () => new Response("v1") };\n`);
    const child = spawnScript(cli, ["-b", "127.0.0.1:0", "--reload", file]);
    try {
      const m = await waitForOutput(child, /Listening on (http:\/\/\S+)/, 30_000);
      assert.equal((await get(m[1])).body, "v1");
      await sleep(1100); // let the mtime tick on coarse file systems
      writeFileSync(file, `export default { fetch: () => new Response("v2") };\n`);
      const m2 = await waitForOutput(child, /reloading[\s\S]*Listening on (http:\/\/\S+)/, 30_000);
      assert.equal((await get(m2[1])).body, "v2");
    } finally {
      await stop(child);
      dir.remove();
    }
  });
});
