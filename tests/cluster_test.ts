/**
 * The cluster adapter on the runtime running the tests, over real sockets:
 * several workers serve; a killed worker is replaced (clients retry the few
 * requests it took down with it); SIGHUP restarts every worker under load with
 * zero failed requests; SIGTERM and SIGINT let slow requests finish and exit 0; a
 * second signal takes the whole cluster down at once; a SIGHUP sent to the whole
 * process group (a closed terminal) does not kill workers; crash loops back off;
 * maxRequestsPerWorker recycles workers (and tries again when a replacement cannot
 * start); a stop sent to a worker still starting is honoured; the back-off caps and
 * starts over after a healthy worker (with the supervisor's clocks shortened through
 * an internal test-only variable); Deno workers keep the primary's flags.
 *
 * Rolling restarts are checked with two kinds of client at once, neither retrying:
 * keep-alive clients (one persistent connection each, like browsers and proxies)
 * and clients that open a new connection per request.
 *
 * - Keep-alive clients never see a failure on any runtime: a retiring worker first
 *   answers every request with `Connection: close` for a grace period, so each
 *   active client moves to a new connection (on another worker) before the worker
 *   closes anything.
 * - New-connection clients see none on Node (node:cluster: the primary owns the
 *   socket, and a retiring worker uses `cluster.worker.disconnect()`, which stops the
 *   hand-over of connections and serves the ones it has). With `SO_REUSEPORT` (Bun,
 *   Deno) each worker has its own accept queue: closing the retiring worker's
 *   listener resets the connections waiting in it unless the kernel migrates them
 *   (`net.ipv4.tcp_migrate_req=1`, Linux ≥ 5.14; {@linkcode freshConnectionLoss}
 *   reads it). With it, Bun loses nothing. Deno still does: `Deno.serve`'s
 *   `shutdown()` also closes connections it has accepted but whose request it has
 *   not read yet, and Deno has no way to stop accepting without that. Where a loss
 *   is possible the new-connection clients may retry (an idempotent GET whose
 *   connection closed before any response, RFC 9110 §9.2.2): every request must
 *   still succeed, and retries must stay rare.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { collect, here, runtime, runtimeCommand, spawnScript, stop, tempDir, waitForOutput } from "./_helpers.ts";
import { get, load, sleep, waitUntil } from "./_cluster_helpers.ts";
import { denoWorkerArgs, respawnBackoff } from "../adapters/cluster/mod.ts";
import { decodeToPrimary, decodeToWorker, message, readWorkerEnv, workerEnv } from "../adapters/cluster/protocol.ts";
import { clusterTimings } from "../adapters/cluster/timings.ts";
import { workerApp } from "../adapters/cluster/worker.ts";

const fixture = here("tests/fixtures/cluster_app.ts");
/** Workers that crash, hang or start slowly by a schedule (see the fixture). */
const scheduleFixture = here("tests/fixtures/cluster_schedule_app.ts");
/** The internal variable that shortens the supervisor's clocks for these tests (adapters/cluster/). */
const TIMINGS_ENV = "CARAFE_CLUSTER_TEST_TIMINGS";

interface Step {
  crashAfterMs?: number;
  hang?: boolean;
  slowStartMs?: number;
}

/** A cluster of the schedule fixture; `started(n)` is the pid of the n-th worker started, once it has. */
async function startScheduled(
  schedule: Step[],
  env: Record<string, string> = {},
): Promise<Cluster & { started(n: number): number | undefined; done(): void }> {
  const dir = tempDir("carafe-schedule-");
  const child = spawnScript(scheduleFixture, [], {
    env: { START_LOG: join(dir.path, "starts"), SCHEDULE: JSON.stringify(schedule), ...env },
  });
  const c = await startCluster({}, child);
  return {
    ...c,
    started: (n) => {
      const m = c.stderr().match(new RegExp(`worker start ${n} pid (\\d+)`));
      return m ? Number(m[1]) : undefined;
    },
    done: () => dir.remove(),
  };
}

/** `net.ipv4.tcp_migrate_req` of this network namespace ("0", "1"), or undefined where there is none. */
function migrateReq(): string | undefined {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * Why a rolling restart may close a new connection without an answer on this runtime
 * (see the module doc), or undefined where it cannot.
 */
const freshConnectionLoss: string | undefined = (() => {
  if (runtime === "node") return undefined;
  const reasons: string[] = [];
  if (migrateReq() !== "1") {
    reasons.push("net.ipv4.tcp_migrate_req is not 1: Linux resets the connections waiting in a retiring worker's SO_REUSEPORT accept queue");
  }
  if (runtime === "deno") {
    reasons.push("Deno.serve's shutdown() closes connections it accepted but has not read a request from yet");
  }
  return reasons.length ? reasons.join("; ") : undefined;
})();

interface Cluster {
  child: ChildProcess;
  url: string;
  /** Everything the primary and its workers wrote to stderr so far. */
  stderr: () => string;
}

async function startCluster(env: Record<string, string> = {}, child?: ChildProcess): Promise<Cluster> {
  child ??= spawnScript(fixture, [], { env: { WORKERS: "2", ...env } });
  let err = "";
  child.stderr?.on("data", (d) => (err += d));
  const m = await waitForOutput(child, /Listening on (http:\/\/\S+)/, 30_000);
  return { child, url: m[1], stderr: () => err };
}

/** Distinct worker pids answering `url` over `n` fresh connections. */
async function pidsOf(url: string, n = 40): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add((await get(url)).body);
  return seen;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch {
    return false;
  }
}

describe(`cluster adapter (${runtime})`, { concurrency: false }, () => {
  test("two workers serve on one port, in processes other than the primary", async () => {
    const c = await startCluster();
    try {
      const pids = await pidsOf(c.url);
      assert.equal(pids.size, 2, `expected 2 worker pids, saw ${[...pids]}`);
      assert.ok(!pids.has(String(c.child.pid)), "the primary must not serve requests");
    } finally {
      await stop(c.child);
    }
  });

  test("a worker killed mid-load: retried GETs all succeed, retries are rare, the worker comes back", async () => {
    const c = await startCluster();
    try {
      const before = await pidsOf(c.url);
      const victim = [...before][0];
      let killed = false;
      const concurrency = 8;
      const result = await load(c.url, {
        total: 400,
        concurrency,
        retries: 3,
        onProgress: (done) => {
          if (done === 100 && !killed) {
            killed = true;
            process.kill(Number(victim), "SIGKILL"); // a worker of the cluster we started
          }
        },
      });
      assert.ok(killed);
      assert.deepEqual(result.errors, [], `failed after retries: ${result.errors.slice(0, 5)}`);
      assert.deepEqual(result.badStatus, []);
      assert.equal(result.ok, 400);
      // Only requests the dead worker held (in flight or in its accept queue) needed a retry.
      // (On Node one of them may only be retried after the client's 10 s timeout:
      // node:cluster's primary keeps its copy of a connection it hands over until the
      // worker acknowledges it, and one handed to a worker that is killed meanwhile stays
      // open and unanswered.)
      assert.ok(result.retries <= 2 * concurrency, `${result.retries} retries for one dead worker`);
      await waitUntil(() => /worker \d \(pid \d+\) died \(signal SIGKILL\); respawning in \d+ ms/.test(c.stderr()), 5_000, "the death to be logged");
      // The replacement serves: two workers again, one of them new.
      let now = new Set<string>();
      await waitUntil(async () => (now = await pidsOf(c.url, 20)).size === 2 && !now.has(victim), 10_000, "a replacement worker");
      assert.ok([...now].some((p) => !before.has(p)), "a new worker pid");
    } finally {
      await stop(c.child);
    }
  });

  test("SIGHUP under load: rolling restart, zero failed requests (keep-alive and new-connection clients)", async (t) => {
    const c = await startCluster();
    try {
      const before = await pidsOf(c.url);
      let hupped = false;
      const restarted = () => /rolling restart done/.test(c.stderr());
      const bounds = { total: 20_000, maxMs: 30_000, until: restarted };
      if (freshConnectionLoss) t.diagnostic(`new-connection clients may retry here: ${freshConnectionLoss}`);
      const [keepAlive, fresh] = await Promise.all([
        load(c.url, { ...bounds, concurrency: 3, keepAlive: true, retries: 0 }),
        load(c.url, {
          ...bounds,
          concurrency: 3,
          retries: freshConnectionLoss ? 2 : 0,
          onProgress: (done) => {
            if (done === 50 && !hupped) {
              hupped = true;
              c.child.kill("SIGHUP");
            }
          },
        }),
      ]);
      assert.match(c.stderr(), /rolling restart done/);
      assert.doesNotMatch(c.stderr(), /died/);
      for (const [kind, r] of [["keep-alive", keepAlive], ["new-connection", fresh]] as const) {
        assert.deepEqual(r.errors, [], `${kind} clients: ${r.errors.length} failed requests: ${r.errors.slice(0, 5)}`);
        assert.deepEqual(r.badStatus, [], `${kind} clients`);
        assert.ok(r.ok > 100, `only ${r.ok} ${kind} requests ran during the restart`);
      }
      assert.equal(keepAlive.retries, 0);
      // Every retiring worker told its keep-alive clients to reconnect (Connection: close).
      assert.ok(keepAlive.connections > 3, `keep-alive clients opened only ${keepAlive.connections} connections`);
      // Connection-level retries (requests that never reached a handler) stay rare.
      assert.ok(fresh.retries <= Math.max(10, fresh.ok / 100), `${fresh.retries} retries for ${fresh.ok} requests`);
      t.diagnostic(`keep-alive: ${keepAlive.ok} requests on ${keepAlive.connections} connections; new-connection: ${fresh.ok} requests, ${fresh.retries} retried`);
      const after = await pidsOf(c.url);
      assert.equal(after.size, 2);
      for (const p of after) assert.ok(!before.has(p), `worker ${p} was not restarted`);
    } finally {
      await stop(c.child);
    }
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} with slow requests in flight: they finish, then the primary exits 0`, async () => {
      const c = await startCluster();
      const done = collect(c.child);
      const slow = Array.from({ length: 4 }, () => get(`${c.url}slow?ms=1500`, 15_000));
      await sleep(400);
      // process.kill, not child.kill: Deno's ChildProcess reports a signal sent with
      // child.kill() as the cause of exit even when the process exited with a code.
      process.kill(c.child.pid!, signal);
      const hits = await Promise.all(slow);
      for (const h of hits) assert.equal(h.status, 200);
      const { code, signal: killedBy, stderr } = await done;
      assert.match(stderr, /cluster: all workers stopped/);
      assert.equal(killedBy, null);
      assert.equal(code, 0);
      // Nothing listens any more.
      await assert.rejects(get(c.url, 2_000));
    });
  }

  test("a second SIGTERM takes the whole cluster down at once, workers too", async () => {
    // The slow requests would keep draining workers alive for 20 s (shutdownTimeout 30 s).
    const c = await startCluster({ SHUTDOWN_TIMEOUT: "30000" });
    const pids = [...(await pidsOf(c.url))].map(Number);
    assert.equal(pids.length, 2);
    const done = collect(c.child);
    const slow = Array.from({ length: 4 }, () => get(`${c.url}slow?ms=20000`, 25_000).then((h) => `answered ${h.status}`, () => "failed"));
    try {
      await sleep(400);
      process.kill(c.child.pid!, "SIGTERM");
      await sleep(300);
      process.kill(c.child.pid!, "SIGTERM");
      const { code } = await done;
      assert.equal(code, 0);
      await waitUntil(() => !pids.some(alive), 10_000, "the workers to be gone");
      // Had the workers kept draining, the slow requests would have been answered.
      assert.deepEqual(await Promise.all(slow), ["failed", "failed", "failed", "failed"]);
    } finally {
      for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL"); // ours, by PID
    }
  });

  test("SIGHUP to the whole process group (a closed terminal): workers survive it, the primary restarts them", async () => {
    // A process group of its own (detached), so that the group signal reaches only this cluster.
    const [cmd, argv] = runtimeCommand(fixture);
    const child = spawn(cmd, argv, { detached: true, env: { ...process.env, WORKERS: "2" }, stdio: ["ignore", "pipe", "pipe"] });
    const c = await startCluster({}, child);
    try {
      const before = await pidsOf(c.url);
      process.kill(-child.pid!, "SIGHUP"); // the group we created
      await waitUntil(() => /rolling restart done/.test(c.stderr()), 30_000, "the rolling restart");
      assert.doesNotMatch(c.stderr(), /died/, "a worker was killed by the SIGHUP");
      const after = await pidsOf(c.url);
      assert.equal(after.size, 2);
      for (const p of after) assert.ok(!before.has(p), `worker ${p} was not restarted`);
    } finally {
      await stop(c.child);
    }
  });

  test("a crash loop backs off exponentially and logs each death", async () => {
    // 150 ms: long enough that the worker's "ready" message is handled before its exit
    // (Deno does not order IPC messages before the exit event).
    const c = await startCluster({ WORKERS: "1", CRASH_AFTER_MS: "150" });
    try {
      await sleep(3_000);
      const delays = [...c.stderr().matchAll(/died \(exit code 3\); respawning in (\d+) ms/g)].map((m) => Number(m[1]));
      assert.ok(delays.length >= 3, `expected several deaths, saw ${delays.length}:\n${c.stderr()}`);
      // The delays double (checked below); without back-off there would also be more deaths.
      assert.ok(delays.length <= 8, `too many restarts (${delays.length}): back-off missing`);
      assert.deepEqual(delays.slice(0, 4), [100, 200, 400, 800].slice(0, Math.min(4, delays.length)));
    } finally {
      await stop(c.child);
    }
  });

  test("workers that cannot start: the primary fails with a clear error", async () => {
    const child = spawnScript(fixture, [], { env: { WORKERS: "2", CRASH: "1" } });
    const { code, stderr } = await collect(child);
    assert.notEqual(code, 0);
    assert.match(stderr, /worker \d \(pid \d+\) exited \(exit code 1\) before it was listening/);
  });

  test('worker: "node" (node:http in the workers)', async () => {
    if (runtime === "deno") {
      const r = await collect(spawnScript(fixture, [], { env: { WORKERS: "2", WORKER_SERVER: "node" } }));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /on Deno the workers must run the "deno" adapter/);
      return;
    }
    const c = await startCluster({ WORKER_SERVER: "node" });
    try {
      assert.equal((await pidsOf(c.url)).size, 2);
    } finally {
      await stop(c.child);
    }
  });

  test("the primary killed with SIGKILL: its workers exit on their own", async () => {
    const c = await startCluster();
    const pids = [...(await pidsOf(c.url))].map(Number);
    assert.equal(pids.length, 2);
    c.child.kill("SIGKILL");
    try {
      await waitUntil(() => !pids.some(alive), 5_000, "orphaned workers to exit");
    } finally {
      for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL"); // ours, by PID
    }
  });

  test("maxRequestsPerWorker recycles a worker without failing requests", async (t) => {
    const c = await startCluster({ WORKERS: "1", MAX_REQUESTS: "30" });
    if (freshConnectionLoss) t.diagnostic(`new-connection clients may retry here: ${freshConnectionLoss}`);
    try {
      // Requests keep coming while the replacement starts (it may take a second to boot).
      const pids = new Set<string>();
      let total = 0;
      const end = Date.now() + 15_000;
      while (pids.size < 2 && Date.now() < end) {
        const result = await load(c.url, { total: 20, concurrency: 2, retries: freshConnectionLoss ? 2 : 0 });
        assert.deepEqual(result.errors, []);
        assert.equal(result.ok, 20);
        for (const pid of result.bodies.keys()) pids.add(pid);
        total += 20;
      }
      assert.ok(pids.size >= 2, `expected the worker to be replaced after 30 requests; saw pids ${[...pids]} in ${total}`);
      assert.match(c.stderr(), /reached maxRequestsPerWorker=30; replacing it/);
    } finally {
      await stop(c.child);
    }
  });

  test("the tcp_migrate_req warning appears exactly when SO_REUSEPORT workers need it", async () => {
    const c = await startCluster({ WORKERS: "1" });
    try {
      const warned = /net\.ipv4\.tcp_migrate_req is 0.*sysctl -w net\.ipv4\.tcp_migrate_req=1/.test(c.stderr());
      assert.equal(warned, runtime !== "node" && migrateReq() === "0", c.stderr());
    } finally {
      await stop(c.child);
    }
  });
});

describe(`cluster supervisor: recycling retries, stop during start-up, back-off (${runtime})`, { concurrency: false }, () => {
  test("maxRequestsPerWorker: a replacement that never gets ready is stopped, and the recycle is tried again", async (t) => {
    if (freshConnectionLoss) t.diagnostic(`new-connection clients may retry here: ${freshConnectionLoss}`);
    // Worker 2, the first replacement, hangs before it listens; worker 3 is fine.
    const c = await startScheduled([{}, { hang: true }], { MAX_REQUESTS: "20", [TIMINGS_ENV]: JSON.stringify({ readyTimeoutMs: 1500 }) });
    try {
      const first = c.started(1)!;
      const pids = new Set<string>();
      const end = Date.now() + 20_000;
      while (!pids.has(String(c.started(3) ?? -1)) && Date.now() < end) {
        const result = await load(c.url, { total: 20, concurrency: 2, retries: freshConnectionLoss ? 2 : 0 });
        assert.deepEqual(result.errors, []);
        assert.equal(result.ok, 20);
        for (const pid of result.bodies.keys()) pids.add(pid);
        await sleep(50);
      }
      const hung = c.started(2);
      assert.ok(hung, `no replacement was started:\n${c.stderr()}`);
      assert.match(c.stderr(), /did not start listening within 1500 ms; stopping it/);
      assert.match(c.stderr(), /replacing worker 1 failed: .*; it keeps serving, next try in \d+ ms or later/);
      assert.equal(c.stderr().match(/reached maxRequestsPerWorker=20; replacing it/g)?.length, 2, c.stderr());
      assert.ok(pids.has(String(first)), "the old worker served while its replacement hung");
      assert.ok(pids.has(String(c.started(3))), `the second replacement never served; saw ${[...pids]}:\n${c.stderr()}`);
      assert.ok(!pids.has(String(hung)));
      await waitUntil(() => !alive(hung) && !alive(first), 10_000, "the hung replacement and the recycled worker to be gone");
      assert.doesNotMatch(c.stderr(), /died/);
    } finally {
      await stop(c.child);
      c.done();
    }
  });

  test("a stop sent to a worker still starting is honoured: shutdown does not wait for the force-kill", async () => {
    // Worker 1 crashes; its respawn (worker 2) takes 1.5 s to listen, and SIGTERM reaches
    // the primary meanwhile. Lost, the stop would leave worker 2 serving until the
    // primary kills it after shutdownTimeout + 2 s (7 s here).
    const c = await startScheduled([{ crashAfterMs: 300 }, { slowStartMs: 1500 }], { SHUTDOWN_TIMEOUT: "5000" });
    try {
      const done = collect(c.child);
      await waitUntil(() => c.started(2) !== undefined, 10_000, "the respawned worker to start");
      await sleep(300); // inside its slow start, after the cluster set it up
      const respawned = c.started(2)!;
      assert.ok(alive(respawned));
      const t0 = Date.now();
      process.kill(c.child.pid!, "SIGTERM"); // the primary we started
      const { code, signal } = await done;
      const took = Date.now() - t0;
      assert.deepEqual([code, signal], [0, null]);
      assert.match(c.stderr(), /cluster: all workers stopped/);
      assert.ok(took < 4_000, `shutdown took ${took} ms: the starting worker missed its stop`);
      await waitUntil(() => !alive(respawned), 5_000, "the respawned worker to be gone");
      assert.doesNotMatch(c.stderr(), /rolling restart stopped|before it was listening/);
    } finally {
      await stop(c.child);
      c.done();
    }
  });

  test("back-off: capped at its maximum, and back to the first delay after a worker that lived long enough", async () => {
    // Clocks shortened: 100 ms doubling up to 400 ms; healthy after 1.5 s.
    const timings = { backoffFirstMs: 100, backoffMaxMs: 400, healthyAfterMs: 1500 };
    const short = { crashAfterMs: 150 };
    const c = await startScheduled([short, short, short, short, short, { crashAfterMs: 1800 }, short], { [TIMINGS_ENV]: JSON.stringify(timings) });
    try {
      const delays = () => [...c.stderr().matchAll(/died \(exit code 3\); respawning in (\d+) ms/g)].map((m) => Number(m[1]));
      await waitUntil(() => delays().length >= 7 && c.started(8) !== undefined, 30_000, `seven deaths and a respawn (so far: ${delays()})`);
      assert.deepEqual(delays(), [100, 200, 400, 400, 400, 100, 200]);
      // Worker 8 follows no schedule: it serves.
      await waitUntil(async () => (await get(c.url).catch(() => ({ body: "" }))).body === String(c.started(8)), 10_000, "worker 8 to serve");
    } finally {
      await stop(c.child);
      c.done();
    }
  });

  test("respawnBackoff: doubling, the cap, and the reset after a healthy worker", () => {
    const t = { backoffFirstMs: 100, backoffMaxMs: 10_000, healthyAfterMs: 10_000 };
    let failures = 0;
    const seen: number[] = [];
    for (let i = 0; i < 9; i++) {
      const next = respawnBackoff(failures, 50, t);
      failures = next.failures;
      seen.push(next.delayMs);
    }
    assert.deepEqual(seen, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    assert.deepEqual(respawnBackoff(failures, 10_000, t), { failures: 1, delayMs: 100 });
    assert.deepEqual(respawnBackoff(failures, 9_999, t), { failures: 10, delayMs: 10_000 });
    // The defaults are the documented ones: 100 ms doubling to 10 s, reset after 10 s.
    assert.deepEqual(respawnBackoff(0, 0), { failures: 1, delayMs: 100 });
    assert.deepEqual(respawnBackoff(20, 0), { failures: 21, delayMs: 10_000 });
    assert.deepEqual(respawnBackoff(20, 10_000), { failures: 1, delayMs: 100 });
  });
});

describe("cluster: Deno workers keep the primary's flags", () => {
  test("denoWorkerArgs: the flags between `run` and the script, plus --unstable-net", () => {
    const cmd = (...a: string[]) => ["/usr/bin/deno", ...a, ""]; // /proc/self/cmdline ends with a NUL
    assert.deepEqual(
      denoWorkerArgs(cmd("run", "--allow-net", "--config", "deno.json", "--no-lock", "app.ts", "-p", "1"), "/srv/app.ts", ["-p", "1"]),
      { argv: ["run", "--allow-net", "--config", "deno.json", "--no-lock", "--unstable-net", "/srv/app.ts", "-p", "1"], reused: true },
    );
    // `deno app.ts` (no subcommand); --unstable-net not doubled; --inspect and --watch dropped.
    assert.deepEqual(
      denoWorkerArgs(cmd("-A", "--unstable-net", "--inspect=127.0.0.1:9229", "--watch", "app.ts"), "/srv/app.ts", []),
      { argv: ["run", "-A", "--unstable-net", "/srv/app.ts"], reused: true },
    );
    // Unreadable, another subcommand, or arguments that do not match: -A, as Deno's cluster.fork() does.
    const fallback = { argv: ["run", "-A", "--unstable-net", "/srv/app.ts"], reused: false };
    assert.deepEqual(denoWorkerArgs(undefined, "/srv/app.ts", []), fallback);
    assert.deepEqual(denoWorkerArgs(cmd("task", "start"), "/srv/app.ts", []), fallback);
    assert.deepEqual(denoWorkerArgs(cmd("run", "-A", "app.ts", "x"), "/srv/app.ts", ["y"]), { ...fallback, argv: [...fallback.argv, "y"] });
  });

  test("a Deno primary with narrow permissions: workers get the same flags, not -A", { skip: runtime !== "deno" && "Deno only" }, async () => {
    const flags = ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-run", "--no-lock"];
    const child = spawn(process.execPath, [...flags, fixture], { env: { ...process.env, WORKERS: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    const c = await startCluster({}, child);
    try {
      assert.doesNotMatch(c.stderr(), /could not read the primary's Deno flags/);
      // The sysctl was read too (through the same helper process).
      assert.equal(/tcp_migrate_req is 0/.test(c.stderr()), migrateReq() === "0", c.stderr());
      // The worker may not read /proc itself (Deno wants --allow-all for that); the test may.
      const worker = (await get(c.url)).body;
      const cmdline = readFileSync(`/proc/${worker}/cmdline`, "utf8").split("\0");
      assert.deepEqual(cmdline.slice(1, flags.length + 2), [...flags, "--unstable-net"]);
      assert.equal(cmdline[flags.length + 2], fixture);
      assert.equal((await get(`${c.url}permission?name=write`)).body, "prompt");
      assert.equal((await get(`${c.url}permission?name=net`)).body, "granted");
    } finally {
      await stop(c.child);
    }
  });
});

describe("cluster: the pure pieces (protocol, timings, the worker's app wrapper)", () => {
  test("protocol: every message survives the IPC channel's JSON and decodes to itself", () => {
    const toPrimary = [message.ready("http://127.0.0.1:8080/"), message.recycle()];
    const toWorker = [message.drain(), message.stop()];
    for (const m of toPrimary) assert.deepEqual(decodeToPrimary(JSON.parse(JSON.stringify(m))), m);
    for (const m of toWorker) assert.deepEqual(decodeToWorker(JSON.parse(JSON.stringify(m))), m);
    // Each side hears only its own kind.
    for (const m of toWorker) assert.equal(decodeToPrimary(m), undefined);
    for (const m of toPrimary) assert.equal(decodeToWorker(m), undefined);
  });

  test("protocol: anything else on the channel is ignored, not thrown on", () => {
    const foreign = [null, undefined, 0, "stop", ["stop"], {}, { carafe: "STOP" }, { cmd: "NODE_CLUSTER", carafe: 1 }, { type: "ready" }];
    for (const m of foreign) {
      assert.equal(decodeToPrimary(m), undefined, JSON.stringify(m));
      assert.equal(decodeToWorker(m), undefined, JSON.stringify(m));
    }
    // A ready without a usable URL still means "listening" (the primary does not use the URL).
    assert.deepEqual(decodeToPrimary({ carafe: "ready", url: 42 }), { carafe: "ready", url: "" });
  });

  test("protocol: a worker reads back the slot, port and adapter it was spawned with", () => {
    const spawned = workerEnv({ slot: 2, port: 8080, server: "node" });
    assert.deepEqual(readWorkerEnv((name) => spawned[name]), { port: 8080, server: "node" });
    assert.deepEqual(spawned, { CARAFE_WORKER: "3", CARAFE_CLUSTER_PORT: "8080", CARAFE_CLUSTER_SERVER: "node" });
    // Outside a cluster: nothing, so the options' own port and adapter apply.
    assert.deepEqual(readWorkerEnv(() => undefined), { port: undefined, server: undefined });
  });

  test("timings: the test-only override takes numbers > 0 and ignores the rest", () => {
    const defaults = { backoffFirstMs: 100, backoffMaxMs: 10_000, healthyAfterMs: 10_000, readyTimeoutMs: 30_000 };
    assert.deepEqual(clusterTimings(undefined), defaults);
    assert.deepEqual(clusterTimings("not json"), defaults);
    assert.deepEqual(clusterTimings("null"), defaults);
    assert.deepEqual(
      clusterTimings(JSON.stringify({ backoffMaxMs: 400, healthyAfterMs: 0, readyTimeoutMs: "5", other: 1 })),
      { ...defaults, backoffMaxMs: 400 },
    );
  });

  test("workerApp: asks to be recycled past the maximum (not again at once), and drains with Connection: close", async () => {
    let asked = 0;
    let draining = false;
    const app = workerApp(
      { fetch: (req: Request) => (new URL(req.url).pathname === "/gone" ? Response.redirect("http://x/", 302) : new Response("ok")) },
      { max: 2, onMax: () => asked++, draining: () => draining },
    );
    const hit = async (path = "/") => await app.fetch(new Request(`http://x${path}`));
    assert.equal((await hit()).headers.get("connection"), null);
    assert.equal(asked, 0);
    await hit();
    await hit();
    assert.equal(asked, 1, "asked once at the maximum; repeats wait RECYCLE_RESEND_MS");
    draining = true;
    const res = await hit();
    assert.equal(res.headers.get("connection"), "close");
    assert.equal(await res.text(), "ok");
    // Response.redirect's headers are immutable: the answer is copied, status and body kept.
    const moved = await hit("/gone");
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.get("location"), "http://x/");
    assert.equal(moved.headers.get("connection"), "close");
  });
});
