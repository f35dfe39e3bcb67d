/**
 * The README's "several instances behind nginx" recipe, for real: two single-process
 * Carafe instances (started with the command line, as the systemd unit does) and
 * nginx with examples/deploy/nginx.conf (only its ports replaced by free ones) in
 * front. One instance is killed in the middle of a bounded load; the client must see
 * no failed response, because nginx retries the other instance. Also checks the
 * systemd unit with `systemd-analyze verify`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { spawn, spawnSync } from "node:child_process";
import { here, peer, runtime, spawnScript, stop, tempDir } from "./_helpers.ts";
import { get, load, waitUntil } from "./_cluster_helpers.ts";

// The configs live next to the sources, also when the tests run from the npm build.
const deployDir = here("examples/deploy/nginx.conf").replace(/npm\/esm\/examples/, "examples").replace(/nginx\.conf$/, "");
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

describe(`deploy: instances behind nginx (${runtime})`, { concurrency: false }, () => {
  test("killing one instance mid-load: zero failed responses through nginx", { skip: nginx.skip }, async () => {
    const dir = tempDir("carafe-nginx-");
    const [front, a, b] = [await freePort(), await freePort(), await freePort()];
    const conf = readFileSync(join(deployDir, "nginx.conf"), "utf8")
      .replace("listen 127.0.0.1:8000;", `listen 127.0.0.1:${front};`)
      .replace("server 127.0.0.1:8080 ", `server 127.0.0.1:${a} `)
      .replace("server 127.0.0.1:8081 ", `server 127.0.0.1:${b} `)
      .replace("worker_processes auto;", "worker_processes 1;"); // 2 cores, shared with the test
    assert.ok(conf.includes(`:${front};`) && conf.includes(`:${a} `) && conf.includes(`:${b} `), "the example config changed shape");
    writeFileSync(join(dir.path, "nginx.conf"), conf);
    mkdirSync(join(dir.path, "tmp"));
    const app = here("examples/deploy/app.ts");
    const cli = here("cli.ts");
    const instances = [a, b].map((port) => spawnScript(cli, ["--quiet", "-b", `127.0.0.1:${port}`, app]));
    const web = spawn(nginx.path!, ["-p", dir.path, "-c", "nginx.conf", "-g", "daemon off;"], { stdio: ["ignore", "pipe", "pipe"] });
    let webLog = "";
    web.stderr?.on("data", (d) => (webLog += d));
    try {
      const url = `http://127.0.0.1:${front}/whoami`;
      // Both instances answer through nginx.
      const pids = new Set<number>();
      await waitUntil(async () => {
        try {
          const r = await get(url);
          if (r.status === 200) pids.add(JSON.parse(r.body).pid);
        } catch { /* not up yet */ }
        return pids.size === 2;
      }, 20_000, `both instances behind nginx (nginx said: ${webLog})`);

      let killed = false;
      const result = await load(url, {
        total: 600,
        concurrency: 8,
        retries: 0, // nginx must hide the failure; the client does not retry
        onProgress: (done) => {
          if (done === 150 && !killed) {
            killed = true;
            instances[0].kill("SIGKILL"); // an instance we started, by PID
          }
        },
      });
      assert.ok(killed);
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.badStatus, []);
      assert.equal(result.ok, 600);
      // After the kill, everything came from the survivor.
      const survivor = [...pids].find((p) => p !== instances[0].pid);
      assert.ok(result.bodies.size >= 1);
      const last = JSON.parse((await get(url)).body);
      assert.equal(last.pid, survivor);
    } finally {
      await stop(web);
      for (const i of instances) await stop(i);
      dir.remove();
    }
  });

  test("the systemd unit passes systemd-analyze verify", (t) => {
    const tool = peer("systemd-analyze");
    if (tool.skip) return t.skip(tool.skip);
    const dir = tempDir("carafe-unit-");
    try {
      // verify needs an instance name for a template unit.
      writeFileSync(join(dir.path, "carafe@.service"), readFileSync(join(deployDir, "carafe@.service")));
      symlinkSync(join(dir.path, "carafe@.service"), join(dir.path, "carafe@8080.service"));
      const r = spawnSync(tool.path!, ["verify", join(dir.path, "carafe@8080.service")], { encoding: "utf8", env: { ...process.env, SYSTEMD_LOG_LEVEL: "warning" } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.replace(/.*(No such file|Cannot add dependency).*\n?/g, ""), "");
    } finally {
      dir.remove();
    }
  });
});
