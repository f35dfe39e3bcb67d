/**
 * Shared plumbing of the deployment-recipe suites (tests/deploy_*_test.ts): the recipe
 * files of examples/deploy/ with free ports in place of the fixed ones, Carafe
 * instances started with the `carafe` command under the runtime running the tests, a
 * bounded load that records every request, the SIGTERM/SIGKILL drills every balancer
 * goes through, and where to find Pound (built by scripts/install-peers.sh).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { here, inCI, peer, runtimeCommand, spawnScript, stop, waitForOutput } from "./_helpers.ts";
import { get, sleep, waitUntil } from "./_cluster_helpers.ts";

export { get, sleep, waitUntil };

/** examples/deploy/, also when the tests run from the npm build (the recipes are not compiled). */
export const deployDir = here("examples/deploy/nginx.conf").replace(/npm\/esm\/examples/, "examples").replace(/nginx\.conf$/, "");

/** The text of a recipe file under examples/deploy/. */
export function readDeploy(name: string): string {
  return readFileSync(join(deployDir, name), "utf8");
}

/** The deployment guide (docs/deployment.md), where every recipe is shown. */
export const deploymentGuide: string = readFileSync(join(deployDir, "..", "..", "docs", "deployment.md"), "utf8");

/** The fenced blocks of the deployment guide, to check that a recipe is shown verbatim. */
export function guideBlocks(): { lang: string; text: string }[] {
  return [...deploymentGuide.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
}

/** A TCP port nobody listens on right now (on `host`). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `text` with each `[from, to]` replaced once; fails when a `from` is missing, so that
 * a recipe that changed shape fails its test instead of being started half-substituted.
 */
export function substitute(name: string, text: string, pairs: [string, string][]): string {
  for (const [from, to] of pairs) {
    assert.ok(text.includes(from), `examples/deploy/${name} no longer contains ${JSON.stringify(from)}: update its test`);
    text = text.replace(from, to);
  }
  return text;
}

/** Pound: on PATH, or where scripts/install-peers.sh builds it; a skip reason otherwise (an error under CI=true). */
export function pound(): { path?: string; skip?: string } {
  const cache = process.env.CARAFE_PEERS_CACHE ?? "/var/cache/carafe-peers";
  const built = join(cache, "pound-4.23.90", "pound");
  if (existsSync(built)) return { path: built };
  const found = spawnSync("sh", ["-c", "command -v pound"], { encoding: "utf8" }).stdout.trim();
  if (found) return { path: found };
  const reason = `pound not built (scripts/install-peers.sh builds it into ${cache} from shared/peers/pound-4.23.90.tar.gz)`;
  if (inCI) throw new Error(`CI=true but ${reason}`);
  return { skip: reason };
}

export { peer };

/** A Carafe instance started as the recipes start one: `carafe --bind HOST:PORT examples/deploy/app.ts`. */
export interface Instance {
  child: ChildProcess;
  port: number;
  pid: number;
  /** Resolves when the process has exited, with the time it did. */
  exited: Promise<{ at: number; code: number | null; signal: string | null }>;
}

/**
 * Starts examples/deploy/app.ts with the `carafe` command on `port` under the runtime
 * running the tests, and waits for its banner. `extra` are more command-line options
 * (e.g. `-C trust_proxy=...`); `prefix` runs it through another program
 * (`ip netns exec NAME`).
 */
export async function startInstance(
  o: { port: number; host?: string; extra?: string[]; prefix?: string[]; log?: (text: string) => void },
): Promise<Instance> {
  const args = ["--bind", `${o.host ?? "127.0.0.1"}:${o.port}`, ...(o.extra ?? []), here("examples/deploy/app.ts")];
  let child: ChildProcess;
  if (o.prefix?.length) {
    // `ip netns exec` execs the runtime in place, so the child's pid is the instance's.
    const [cmd, argv] = runtimeCommand(here("cli.ts"), args);
    child = spawn(o.prefix[0], [...o.prefix.slice(1), cmd, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
  } else child = spawnScript(here("cli.ts"), args);
  child.stdout?.resume(); // nobody reads the access log: it must not fill a pipe
  child.stderr?.on("data", (d) => o.log?.(String(d)));
  const exited = new Promise<{ at: number; code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ at: Date.now(), code, signal }))
  );
  await waitForOutput(child, /Listening on /, 20_000);
  return { child, port: o.port, pid: child.pid!, exited };
}

/** One request of a {@linkcode drill}: when it started and ended, and how it went. */
export interface Shot {
  start: number;
  end: number;
  status: number;
  /** The pid of the instance that answered (from /whoami). */
  pid?: number;
  error?: string;
}

/**
 * Sends `total` GETs to `url` (a fresh connection each, `concurrency` at once, bounded
 * by `maxMs`), calling `at(done)` after each completion; every request is recorded.
 */
export async function shoot(
  url: string,
  o: { total: number; concurrency: number; maxMs?: number; at?: (done: number) => void },
): Promise<Shot[]> {
  const shots: Shot[] = [];
  const deadline = Date.now() + (o.maxMs ?? 60_000);
  let started = 0, done = 0;
  async function lane() {
    while (started < o.total && Date.now() < deadline) {
      started++;
      const shot: Shot = { start: Date.now(), end: 0, status: 0 };
      try {
        const hit = await get(url, 10_000);
        shot.status = hit.status;
        if (hit.status === 200) shot.pid = JSON.parse(hit.body).pid;
        else shot.error = `${hit.status} ${hit.body.slice(0, 80)}`;
      } catch (e) {
        shot.error = (e as Error).message;
      }
      shot.end = Date.now();
      shots.push(shot);
      o.at?.(++done);
    }
  }
  await Promise.all(Array.from({ length: o.concurrency }, lane));
  return shots;
}

/** What one drill saw, for the printed figures. */
export interface DrillResult {
  requests: number;
  failed: Shot[];
  /**
   * Requests exposed to the signal: sent before the instance had exited and not yet
   * answered when the signal was sent (a SIGKILL may cost at most these).
   */
  exposed: number;
  /** When the drain (or else the signal) began, when the signal was sent and when the instance had exited. */
  firstActionAt: number;
  /** The instance was taken out of rotation before the signal. */
  drained: boolean;
  signalledAt: number;
  exitedAt: number;
  shots: Shot[];
}

/**
 * The balancer drill: a bounded load through `url` (a balancer's `/whoami`), and
 * `signal` sent to `victim` once a quarter of it is done. With `drain`, that is called
 * first (take the instance out of rotation, as a recipe says to) and the signal follows
 * 64 requests later. Returns every request and the figures; the caller asserts what its
 * balancer promises.
 */
export async function drill(
  url: string,
  victim: Instance,
  signal: "SIGTERM" | "SIGKILL",
  o: { total?: number; concurrency?: number; drain?: () => void } = {},
): Promise<DrillResult> {
  const total = o.total ?? 2000;
  let signalledAt = 0, drainedAt = 0;
  const signalAfter = total / 4 + (o.drain ? 64 : 0);
  const shots = await shoot(url, {
    total,
    concurrency: o.concurrency ?? 16,
    at: (done) => {
      if (o.drain && done >= total / 4 && !drainedAt) {
        drainedAt = Date.now();
        o.drain();
      }
      if (done >= signalAfter && !signalledAt) {
        signalledAt = Date.now();
        process.kill(victim.pid, signal); // an instance we started, by PID
      }
    },
  });
  assert.ok(signalledAt, "the signal was sent during the load");
  const exitedAt = (await victim.exited).at;
  const exposed = shots.filter((s) => s.start <= exitedAt && s.end >= signalledAt).length;
  return {
    requests: shots.length,
    failed: shots.filter((s) => s.error),
    exposed,
    firstActionAt: drainedAt || signalledAt,
    drained: !!drainedAt,
    signalledAt,
    exitedAt,
    shots,
  };
}

/**
 * What every balancer recipe promises under load: both instances served before the
 * signal; a SIGTERM costs no request; a SIGKILL costs at most the requests exposed to
 * it (in flight between the signal and the exit) and none that started after the
 * instance was gone; the survivor alone answers once it is gone (once it was signalled,
 * when it had been taken out of rotation before: it may take a while to exit then, with
 * a balancer's idle connections open to it). Prints the figures.
 */
export function checkDrill(
  o: { name: string; signal: "SIGTERM" | "SIGKILL"; pids: number[]; log: () => string },
  r: DrillResult,
): void {
  const { name, signal, pids, log } = o;
  const [victim, survivor] = pids;
  const bounded = signal === "SIGKILL";
  console.log(
    `${name}: ${signal} of one instance during ${r.requests} GETs (16 at once): ${r.failed.length} failed` +
      (bounded ? ` (${r.exposed} were in flight between the signal and the exit)` : ""),
  );
  const before = new Set(r.shots.filter((s) => s.end < r.firstActionAt && s.pid).map((s) => s.pid));
  assert.deepEqual([...before].sort(), [...pids].sort(), `both instances served before the ${signal}`);
  const detail = () => `${JSON.stringify(r.failed.slice(0, 3))}\n${log().slice(-3000)}`;
  if (!bounded) assert.deepEqual(r.failed, [], `a graceful stop costs no request: ${detail()}`);
  else {
    const late = r.failed.filter((s) => s.start > r.exitedAt);
    assert.deepEqual(late, [], `no request that started after the instance was gone failed: ${detail()}`);
    assert.ok(r.failed.length <= r.exposed, `at most the ${r.exposed} requests in flight failed: ${detail()}`);
  }
  const gone = r.drained ? r.signalledAt : r.exitedAt + 100;
  const after = r.shots.filter((s) => s.start > gone && s.pid);
  assert.ok(after.length > 0, "the load went on after the instance was gone");
  assert.deepEqual(new Set(after.map((s) => s.pid)), new Set([survivor]), `only the survivor answers once ${victim} is gone`);
}

/**
 * Starts the instance on `port` again and measures how long until the balancer at
 * `url` sends it requests: GETs, one at a time, until the new pid answers. Returns the
 * milliseconds from the instance's banner to its first answer through the balancer.
 */
export async function backInRotation(url: string, start: () => Promise<Instance>, withinMs: number): Promise<{ instance: Instance; ms: number }> {
  const instance = await start();
  const listening = Date.now();
  await waitUntil(async () => {
    const hit = await get(url, 5_000).catch(() => undefined);
    return hit?.status === 200 && JSON.parse(hit.body).pid === instance.pid;
  }, withinMs, `the restarted instance back in rotation within ${withinMs} ms`);
  return { instance, ms: Date.now() - listening };
}

/** Stops what a test started (instances and peers), in order, whatever state they are in. */
export async function stopAll(children: (ChildProcess | undefined)[]): Promise<void> {
  for (const c of children) if (c) await stop(c);
}
