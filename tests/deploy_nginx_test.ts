/**
 * The deployment guide's "several instances behind nginx" recipe, for real: two single-process
 * Carafe instances, started with the arguments of the systemd unit's `ExecStart`
 * (examples/deploy/carafe@.service), and nginx with examples/deploy/nginx.conf and
 * carafe.conf in front (only ports substituted). One instance is stopped in the middle
 * of a bounded load, once with SIGKILL (a crash) and once with SIGTERM (a graceful
 * stop, as `systemctl stop` or a deploy does); the client must see no failed response
 * either way, because nginx retries the other instance. Also: docs/deployment.md shows these
 * files verbatim, and the systemd unit passes `systemd-analyze verify`; the unit's
 * `ExecReload` (SIGHUP) leaves a single-process instance serving. And the guide's edge
 * recipe: examples/deploy/app.ts (`export default app`) served by `deno serve` or
 * `bun run`, without Carafe's run().
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { collect, here, peer, runtime, spawnScript, stop, tempDir, waitForOutput, which } from "./_helpers.ts";
import { get, load, waitUntil } from "./_cluster_helpers.ts";

// The configs live next to the sources, also when the tests run from the npm build.
const deployDir = here("examples/deploy/nginx.conf").replace(/npm\/esm\/examples/, "examples").replace(/nginx\.conf$/, "");
const readDeploy = (name: string) => readFileSync(join(deployDir, name), "utf8");
const guide = readFileSync(join(deployDir, "..", "..", "docs", "deployment.md"), "utf8");
const nginx = peer("nginx");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `carafe` arguments of the unit's ExecStart for instance `port`, serving examples/deploy/app.ts. */
function unitArgs(port: number): string[] {
  const exec = readDeploy("carafe@.service").match(/^ExecStart=(.*)$/m)![1].split(/\s+/);
  const args = exec.slice(exec.indexOf("carafe") + 1);
  assert.deepEqual(args, ["--bind", "127.0.0.1:%i", "app.js"], "the unit's ExecStart changed shape");
  return args.map((a) => a.replace("%i", String(port)).replace(/^app\.js$/, here("examples/deploy/app.ts")));
}

/** Two instances and nginx in front, as the recipe says; `url` is nginx's `/whoami`. */
async function startRecipe(dir: string): Promise<{ url: string; instances: ChildProcess[]; pids: number[]; web: ChildProcess; log: () => string }> {
  const [front, a, b] = [await freePort(), await freePort(), await freePort()];
  const recipe = readDeploy("carafe.conf");
  const conf = recipe
    .replace("listen 80;", `listen ${front};`)
    .replace("server 127.0.0.1:8080 ", `server 127.0.0.1:${a} `)
    .replace("server 127.0.0.1:8081 ", `server 127.0.0.1:${b} `);
  assert.equal(conf.split("\n").filter((l, i) => l !== recipe.split("\n")[i]).length, 3, "the example config changed shape");
  writeFileSync(join(dir, "carafe.conf"), conf);
  writeFileSync(join(dir, "nginx.conf"), readDeploy("nginx.conf"));
  mkdirSync(join(dir, "tmp"));
  let log = "";
  const instances = [a, b].map((port) => {
    const child = spawnScript(here("cli.ts"), unitArgs(port));
    // The access log (the unit would send it to the journal) must not fill a pipe nobody reads.
    child.stdout?.resume();
    child.stderr?.on("data", (d) => (log += d));
    return child;
  });
  // Listening before nginx starts: a connection refused now would make nginx skip that
  // instance for fail_timeout (in that nginx worker process), as the recipe intends.
  await Promise.all(instances.map((i) => waitForOutput(i, /Listening on /, 20_000)));
  const web = spawn(nginx.path!, ["-p", dir, "-c", "nginx.conf", "-g", "daemon off;"], { stdio: ["ignore", "pipe", "pipe"] });
  web.stderr?.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${front}/whoami`;
  // Both instances answer through nginx.
  const pids = new Set<number>();
  await waitUntil(async () => {
    try {
      const r = await get(url);
      if (r.status === 200) pids.add(JSON.parse(r.body).pid);
    } catch { /* not up yet */ }
    return pids.size === 2;
  }, 20_000, `both instances behind nginx (log: ${log})`);
  return { url, instances, pids: instances.map((i) => i.pid!), web, log: () => log };
}

describe(`deploy: instances behind nginx (${runtime})`, { concurrency: false }, () => {
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    test(`one instance stopped mid-load with ${signal}: zero failed responses through nginx`, { skip: nginx.skip }, async () => {
      const dir = tempDir("carafe-nginx-");
      let recipe: Awaited<ReturnType<typeof startRecipe>> | undefined;
      try {
        recipe = await startRecipe(dir.path);
        const { url, instances, pids } = recipe;
        const [victim, survivor] = [instances[0], pids[1]];
        const exited = new Promise<{ at: number; code: number | null; signal: string | null }>((resolve) =>
          victim.once("exit", (code, sig) => resolve({ at: Date.now(), code, signal: sig }))
        );
        let stoppedAt = 0;
        const result = await load(url, {
          total: 600,
          concurrency: 8,
          retries: 0, // nginx must hide the failure; the client does not retry
          onProgress: (done) => {
            if (done === 150 && !stoppedAt) {
              stoppedAt = Date.now();
              process.kill(victim.pid!, signal); // an instance we started, by PID
            }
          },
        });
        assert.ok(stoppedAt, "the instance was stopped");
        assert.deepEqual(result.errors, [], recipe.log());
        assert.deepEqual(result.badStatus, [], recipe.log());
        assert.equal(result.ok, 600);
        const end = await exited;
        if (signal === "SIGTERM") assert.deepEqual([end.code, end.signal], [0, null], "a graceful stop exits 0");
        const pidOf = (r: { body?: string }) => JSON.parse(r.body!).pid as number;
        // Before the stop nginx balanced over both; once the victim was gone, only the survivor answered.
        const before = new Set(result.records.filter((r) => r.end < stoppedAt).map(pidOf));
        assert.deepEqual([...before].sort(), [...pids].sort(), "both instances served before the stop");
        const after = result.records.filter((r) => r.start > end.at);
        assert.ok(after.length > 0, "the load went on after the instance was gone");
        assert.deepEqual(new Set(after.map(pidOf)), new Set([survivor]));
      } finally {
        if (recipe) {
          await stop(recipe.web);
          for (const i of recipe.instances) await stop(i);
        }
        dir.remove();
      }
    });
  }

  test("the deployment guide shows carafe.conf and carafe@.service exactly as the tests use them", () => {
    const blocks = [...guide.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
    assert.ok(blocks.some((b) => b.lang === "nginx" && b.text === readDeploy("carafe.conf")), "docs/deployment.md: the nginx block must be examples/deploy/carafe.conf");
    assert.ok(blocks.some((b) => b.lang === "ini" && b.text === readDeploy("carafe@.service")), "docs/deployment.md: the unit block must be examples/deploy/carafe@.service");
  });

  test("systemctl reload (the unit's ExecReload) leaves a single-process instance serving; its KillSignal then exits 0", async () => {
    const unit = readDeploy("carafe@.service");
    const reload = unit.match(/^ExecReload=\/bin\/kill -(\w+) \$MAINPID$/m);
    assert.ok(reload, "ExecReload changed shape");
    const kill = unit.match(/^KillSignal=(\w+)$/m)![1];
    const port = await freePort();
    const instance = spawnScript(here("cli.ts"), unitArgs(port));
    instance.stdout?.resume();
    const done = collect(instance);
    try {
      await waitForOutput(instance, /Listening on /, 20_000);
      const url = `http://127.0.0.1:${port}/`;
      assert.equal((await get(url)).body, "Hello from Carafe!\n");
      process.kill(instance.pid!, `SIG${reload[1]}` as NodeJS.Signals); // an instance we started, by PID
      await waitForOutput(instance, /SIGHUP: a single process has nothing to restart in place.*--workers/, 5_000);
      assert.equal((await get(url)).body, "Hello from Carafe!\n");
      process.kill(instance.pid!, kill as NodeJS.Signals);
      const end = await done;
      // Deno's node:child_process may report the signal it delivered instead of the exit code.
      if (runtime !== "deno") assert.deepEqual([end.code, end.signal], [0, null], end.stderr);
      else assert.ok(end.code === 0 || end.signal === kill, `${end.code} ${end.signal}: ${end.stderr}`);
    } finally {
      await stop(instance);
    }
  });

  test("the systemd unit passes systemd-analyze verify, with nothing to report", (t) => {
    const tool = peer("systemd-analyze");
    if (tool.skip) return t.skip(tool.skip);
    const dir = tempDir("carafe-unit-");
    try {
      // verify checks that ExecStart's program exists: point it at this machine's npx
      // (the unit's /usr/bin/npx elsewhere) or, without one, at the runtime running the
      // tests, so that nothing needs tolerating.
      const unit = readDeploy("carafe@.service");
      const program = which("npx") ?? process.execPath;
      writeFileSync(join(dir.path, "carafe@.service"), unit.replace("ExecStart=/usr/bin/npx ", `ExecStart=${program} `));
      // verify needs an instance name for a template unit.
      symlinkSync(join(dir.path, "carafe@.service"), join(dir.path, "carafe@8080.service"));
      const r = spawnSync(tool.path!, ["verify", join(dir.path, "carafe@8080.service")], { encoding: "utf8", env: { ...process.env, SYSTEMD_LOG_LEVEL: "info" } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, "");
    } finally {
      dir.remove();
    }
  });
});

describe(`deploy: edge, \`export default app\` (${runtime})`, () => {
  // docs/deployment.md "Edge and serverless": `export default app;` served by the platform, here
  // `deno serve` and `bun run app.ts` (the app module of the recipes, which never calls run()).
  const app = join(deployDir, "app.ts");
  const recipes = [
    { name: "deno serve", on: "deno", argv: (port: number) => ["serve", "--host", "127.0.0.1", "--port", String(port), app], env: {} },
    { name: "bun run", on: "bun", argv: () => ["run", app], env: (port: number) => ({ PORT: String(port) }) },
  ] as const;
  for (const r of recipes) {
    test(`${r.name} app.ts: the default export answers`, { skip: runtime !== r.on && `the ${r.name} recipe runs under ${r.on}` }, async () => {
      const port = await freePort();
      const env = typeof r.env === "function" ? r.env(port) : r.env;
      const child = spawn(process.execPath, r.argv(port), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout?.on("data", (d) => (output += d));
      child.stderr?.on("data", (d) => (output += d));
      try {
        const url = `http://127.0.0.1:${port}`;
        await waitUntil(async () => {
          if (child.exitCode !== null) assert.fail(`${r.name} exited (${child.exitCode}): ${output}`);
          return await get(`${url}/`).then(() => true, () => false);
        }, 20_000, `${r.name} to listen (output: ${output})`);
        const hello = await get(`${url}/`);
        assert.deepEqual([hello.status, hello.body], [200, "Hello from Carafe!\n"], output);
        const who = await get(`${url}/whoami`);
        assert.equal(who.status, 200, output);
        assert.equal(JSON.parse(who.body).pid, child.pid, "served by the process the recipe started");
        // The runtime calls app.fetch itself, with its own second argument: the address still reads right.
        assert.match(JSON.parse(who.body).remote, /^(::ffff:)?127\.0\.0\.1$/, who.body);
        assert.equal((await get(`${url}/nowhere`)).status, 404);
      } finally {
        await stop(child);
      }
    });
  }
});
