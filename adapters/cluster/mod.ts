/**
 * The `cluster` adapter: pre-forks one worker process per core (like gunicorn
 * in Bottle's deployment guide), supervises them, and restarts them without
 * dropping requests.
 *
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { run } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/", () => "hello from one of several processes");
 * run({ app, server: "cluster", workers: 4, port: 8080 });
 * ```
 *
 * ## How the processes share one port, per runtime
 *
 * | runtime | workers started with | port shared by |
 * |---|---|---|
 * | Node | `node:cluster` `fork()` | `node:cluster` handle sharing: the primary owns the listening socket and hands connections round-robin to workers. Node 20 has no `reusePort` (it arrived in 22.12), and round-robin spreads load evenly. |
 * | Bun | `node:cluster` `fork()` (Bun implements it, with IPC) | `SO_REUSEPORT`: every worker's `Bun.serve({ reusePort: true })` (or, with `worker: "node"`, Bun's `node:http`, which sets it itself in cluster workers) listens on the same port and the kernel spreads connections. Bun cannot pass sockets between processes. |
 * | Deno (worker `deno` only) | `node:child_process` `spawn()` of `deno run <the primary's flags> --unstable-net <entry> <args>` with an IPC channel | `SO_REUSEPORT`: `Deno.serve({ reusePort: true })`, which Deno only allows with `--unstable-net`; the adapter adds that flag to the workers itself (Deno's own `cluster.fork()` cannot add it). |
 *
 * `SO_REUSEPORT` is Linux (and BSD) only; on other systems use Node, or several
 * instances behind a proxy (see the README's "Deploying" section). Unix sockets
 * (`socket`) are not supported by the cluster; use host/port.
 *
 * Deno workers get the primary's own flags (permissions, `--config`, `--import-map`,
 * `--env-file`, `--no-lock`…; not `--inspect*` or `--watch*`), read from
 * `/proc/<pid>/cmdline` (see {@linkcode denoWorkerArgs}); only where that cannot be
 * read (not Linux) do they run with `-A`, as with Deno's own `cluster.fork()`.
 *
 * ## What runs where
 *
 * Workers re-run the entry module of the primary (same runtime, same script
 * and arguments) with the environment variable `CARAFE_WORKER=<n>` set
 * (1-based slot number). So module-level code (building the app, reading
 * configuration) runs in the primary *and* in every worker; the same
 * `run({ server: "cluster", ... })` call supervises in the primary and, in a
 * worker, starts the native adapter of the runtime (or `worker: "node"` etc.).
 * Guard code that must run once (migrations, a scheduler) with
 * {@linkcode isClusterWorker}. The primary serves no requests; it only
 * spawns, watches and restarts workers.
 *
 * ## Supervision
 *
 * - A worker that dies is logged (`exit code` or `signal`) and respawned after
 *   an exponential back-off (100 ms doubling to 10 s; reset once a worker has
 *   lived 10 s), so a crash loop does not spin.
 * - `SIGTERM`/`SIGINT` (handled by `run()`, which calls `close()`): every worker
 *   stops accepting, finishes its in-flight requests, exits; then the primary
 *   exits 0. However the primary ends before that (a second signal makes `run()`
 *   exit at once, an uncaught error, `process.exit()`), it kills its workers with
 *   `SIGKILL` on the way out. A primary killed with `SIGKILL` leaves orphans that
 *   notice and stop gracefully.
 * - `SIGHUP`: rolling restart, one worker at a time (below). Workers ignore
 *   `SIGHUP` themselves: a closing terminal sends it to the whole process group.
 * - `maxRequestsPerWorker`: a worker that has served that many requests is
 *   replaced the same way. If the replacement cannot start (it exits, or is not
 *   listening within 30 s, when it is stopped), the old worker keeps serving and
 *   asks again; the next try waits for the slot's back-off.
 * - A worker told to stop while it is still starting (a shutdown or a restart
 *   meanwhile) stops as soon as it is listening, without reporting ready.
 *
 * ## Rolling restarts
 *
 * For each slot the primary starts a new worker and waits until it listens. Then
 * it retires the old one in two steps it times itself:
 *
 * 1. `drain`: for a second (at most `shutdownTimeout`) the old worker keeps accepting but
 *    answers every request with `Connection: close`, so each keep-alive client
 *    moves to a new connection (most land on other workers) instead of having an
 *    idle connection closed while it sends its next request;
 * 2. `stop`: the old worker stops accepting, finishes its requests (up to
 *    `shutdownTimeout`) and exits. On Node it calls `cluster.worker.disconnect()`
 *    first: the primary stops handing it connections (one already on its way goes
 *    to another worker) and the worker serves the ones it has (Node's `close()`
 *    would cut those without a request yet). With `SO_REUSEPORT` (Bun, Deno) the
 *    connections still waiting in the old worker's accept queue move to another
 *    worker only if `net.ipv4.tcp_migrate_req` is 1 (Linux ≥ 5.14); else Linux
 *    resets them, and the primary warns about it at start-up. Deno's
 *    `server.shutdown()` moreover closes connections it has accepted but whose
 *    request it has not read yet, so on Deno a few new connections can be closed
 *    without an answer; clients may retry such requests (they never reached the app).
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import type { Adapter, FetchApp, Server, ServeInfo, ServeOptions, TlsOptions, TrustProxy } from "../adapter.ts";
import { delay } from "../common.ts";
import { cpuCount, env, exit, onSignal, runtime } from "../../shims/runtime.ts";
import { isClusterWorker, WORKER_ENV } from "./worker_id.ts";

export type { Adapter, FetchApp, Server, ServeInfo, ServeOptions, TlsOptions, TrustProxy };

export { clusterWorkerId, isClusterWorker, WORKER_ENV } from "./worker_id.ts";
const PORT_ENV = "CARAFE_CLUSTER_PORT";
const SERVER_ENV = "CARAFE_CLUSTER_SERVER";

/** The supervisor's clocks (see {@linkcode clusterTimings}). */
interface Timings {
  /** Back-off between respawns of a slot whose workers keep dying: this, doubling… */
  backoffFirstMs: number;
  /** … up to this. */
  backoffMaxMs: number;
  /** A worker that lived this long counts as healthy: its slot's back-off starts over. */
  healthyAfterMs: number;
  /** How long a new worker may take to start listening. */
  readyTimeoutMs: number;
}
const TIMINGS: Timings = { backoffFirstMs: 100, backoffMaxMs: 10_000, healthyAfterMs: 10_000, readyTimeoutMs: 30_000 };
/**
 * Internal, for Carafe's own tests only (not a supported setting): JSON that overrides
 * some {@linkcode Timings} fields, so the tests can watch the back-off cap and reset
 * without waiting 10 s and more.
 */
const TIMINGS_ENV = "CARAFE_CLUSTER_TEST_TIMINGS";

/** The defaults, with the fields of `json` (a {@linkcode TIMINGS_ENV} value) that are numbers > 0 instead. */
function clusterTimings(json: string | undefined): Timings {
  if (!json) return TIMINGS;
  let given: Record<string, unknown>;
  try {
    given = JSON.parse(json);
  } catch {
    return TIMINGS;
  }
  const t = { ...TIMINGS };
  for (const key of Object.keys(t) as (keyof Timings)[]) {
    const v = given?.[key];
    if (typeof v === "number" && v > 0) t[key] = v;
  }
  return t;
}

/**
 * Back-off of a slot whose worker just died: the slot's failure count (back to 1 when
 * the worker had lived `healthyAfterMs`, so an old crash does not slow down the next
 * respawn) and the delay before its respawn (`backoffFirstMs` doubling per failure, at
 * most `backoffMaxMs`).
 *
 * @example
 * ```ts
 * import { respawnBackoff } from "./mod.ts";
 * respawnBackoff(3, 500);      // { failures: 4, delayMs: 800 }
 * respawnBackoff(9, 60_000);   // { failures: 1, delayMs: 100 }: it had been healthy
 * ```
 */
export function respawnBackoff(
  failures: number,
  livedMs: number,
  t: Pick<Timings, "backoffFirstMs" | "backoffMaxMs" | "healthyAfterMs"> = TIMINGS,
): { failures: number; delayMs: number } {
  const next = livedMs >= t.healthyAfterMs ? 1 : failures + 1;
  return { failures: next, delayMs: backoffDelay(next, t) };
}

/** The back-off delay after `failures` failures in a row (≥ 1). */
function backoffDelay(failures: number, t: Pick<Timings, "backoffFirstMs" | "backoffMaxMs">): number {
  return Math.min(t.backoffMaxMs, t.backoffFirstMs * 2 ** Math.max(0, failures - 1));
}

/**
 * How often a worker past `maxRequestsPerWorker` repeats its request to be recycled
 * while it keeps serving (its replacement failed to start, or the primary was busy).
 */
const RECYCLE_RESEND_MS = 1_000;
/**
 * Rolling restart: how long a retiring worker keeps serving with `Connection: close`
 * on every response before it stops accepting (see "Rolling restarts" in the module doc).
 */
const DRAIN_GRACE_MS = 1_000;

/** Messages between primary and workers over the IPC channel. */
type ToPrimary = { carafe: "ready"; url: string } | { carafe: "recycle" };
/** `drain`: answer every request with `Connection: close` from now on; `stop`: close the server and exit. */
type ToWorker = { carafe: "drain" } | { carafe: "stop" };

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Options the cluster adapter understands besides the common ones. */
export interface ClusterOptions extends ServeOptions {
  /** Ask the native adapter for `SO_REUSEPORT` (set by the cluster in Deno and Bun workers). */
  reusePort?: boolean;
}

/**
 * Pre-forks `workers` processes (default: the number of cores) that each run
 * the runtime's native adapter (or `worker`), and supervises them.
 *
 * @example
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { run } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/", () => "hi");
 * run({ app, server: "cluster", workers: 2, maxRequestsPerWorker: 100_000 });
 * ```
 */
export const clusterAdapter: Adapter = {
  name: "cluster",
  label: "ClusterServer()",
  // The banner is printed once, by the primary: workers start quietly.
  get silent(): boolean {
    return isClusterWorker();
  },
  serve(options: ServeOptions): Promise<Server> {
    return isClusterWorker() ? serveWorker(options) : servePrimary(options);
  },
};

// ---------------------------------------------------------------- worker side

/** Loads a native adapter by name from the registry in `./mod.ts`. */
async function loadAdapter(name: string): Promise<Adapter> {
  if (name === "cluster") throw new Error('cluster: worker cannot be "cluster"; use "deno", "bun" or "node"');
  const registry = await import("../mod.ts");
  return await registry.getAdapter(name);
}

function send(message: ToPrimary): void {
  try {
    g.process?.send?.(message);
  } catch { /* the primary is gone: the orphan watch below stops this worker */ }
}

async function serveWorker(options: ServeOptions): Promise<Server> {
  const name = env(SERVER_ENV) ?? options.worker ?? runtime;
  const port = Number(env(PORT_ENV) ?? options.port);
  const proc = g.process;
  let draining = false;
  // The primary may tell a worker to stop while it is still starting (a shutdown or a
  // restart during its start-up): listen from the start, and act on it once the server
  // is up (there is nothing to close before).
  const stopper: { close?: () => Promise<void>; early: boolean } = { early: false };
  const requestStop = () => (stopper.close ? void stopper.close() : void (stopper.early = true));
  proc?.on?.("message", (m: ToWorker) => {
    if (m?.carafe === "drain") draining = true;
    else if (m?.carafe === "stop") requestStop();
  });
  // The primary is gone (killed with SIGKILL): do not linger as an orphan. The IPC
  // "disconnect" event does not fire on every runtime (Deno), so also watch for being
  // re-parented (below).
  proc?.on?.("disconnect", requestStop);
  // The primary orchestrates restarts. A SIGHUP that reaches the whole process group
  // (the terminal closed) must not kill the workers, whose default action it would be.
  onSignal("SIGHUP", () => {});
  const adapter = await loadAdapter(name);
  const app = workerApp(options.app, {
    max: options.maxRequestsPerWorker,
    onMax: () => send({ carafe: "recycle" }),
    draining: () => draining,
  });
  // Deno.serve and Bun.serve (and Bun's node:http in a cluster worker) bind the shared
  // port with SO_REUSEPORT; on Node the primary owns the socket (node:cluster).
  const workerOptions: ClusterOptions = { ...options, app, port, reusePort: runtime !== "node", workers: undefined };
  const server = await adapter.serve(workerOptions);
  const nodeCluster = runtime === "node" ? (await import("node:cluster")).default : undefined;
  let stopping: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (stopping ??= (async () => {
      draining = true;
      const worker = nodeCluster?.worker;
      if (worker?.isConnected()) {
        // node:cluster: disconnect() closes this worker's servers, so the primary stops
        // handing it connections (one already on its way is handed to another worker), and
        // waits until the connections it has are served and closed (idle keep-alive ones
        // are closed at once, busy ones after their response, which says Connection: close);
        // then it disconnects the IPC channel. The native close() afterwards finds nothing
        // left to cut short, unless shutdownTimeout ran out first.
        const disconnected = new Promise<void>((r) => worker.once("disconnect", () => r()));
        worker.disconnect();
        await Promise.race([disconnected, delay(options.shutdownTimeout)]);
      }
      await server.close();
    })().finally(() => exit(0)));
  stopper.close = close;
  if (stopper.early) {
    // Told to stop before it was listening: it never reports ready (it is not needed any more).
    void close();
    return { url: server.url, finished: server.finished, close };
  }
  const parent = proc?.ppid;
  if (parent) {
    const { setInterval, clearInterval } = await import("node:timers");
    const watch = setInterval(() => {
      if (proc.ppid !== parent) {
        clearInterval(watch);
        void close();
      }
    }, 500);
    watch.unref();
  }
  send({ carafe: "ready", url: server.url });
  return { url: server.url, finished: server.finished, close };
}

type Answer<T> = (request: Request, info?: ServeInfo) => T | Promise<T>;

/**
 * The app as a worker serves it: counts requests for `maxRequestsPerWorker`, and while
 * the worker drains adds `Connection: close` to every response, so that keep-alive
 * clients finish their current exchange and open their next connection to another
 * worker instead of having an idle connection closed under them.
 *
 * Whichever entry point the native adapter uses (`fetch`, or a Carafe app's `respond`
 * or `handle`) is wrapped; everything else is the app's own (a proxy, so that methods
 * still run on the app itself and its private fields).
 */
function workerApp(app: FetchApp, o: { max?: number; onMax: () => void; draining: () => boolean }): FetchApp {
  let served = 0;
  let askedAt = 0;
  const max = o.max;
  const draining = o.draining;
  // Past `max`, the request to be recycled is repeated (at most every RECYCLE_RESEND_MS)
  // for as long as the worker keeps serving: a replacement that failed to start is
  // tried again. The primary ignores the repeats while a replacement is on its way.
  const count = () => {
    if (max && ++served >= max) {
      const now = Date.now();
      if (now - askedAt < RECYCLE_RESEND_MS) return;
      askedAt = now;
      o.onMax();
    }
  };
  const own = app as FetchApp & { respond?: Answer<Response>; handle?: Answer<{ headers: Headers }> };
  const wrapped = new Map<PropertyKey, unknown>();
  for (const name of ["fetch", "respond"] as const) {
    const answer = own[name];
    if (typeof answer !== "function") continue;
    wrapped.set(name, (request: Request, info?: ServeInfo) => {
      count();
      const res = answer.call(app, request, info);
      if (!draining()) return res;
      return res instanceof Response ? closeResponse(res) : Promise.resolve(res).then(closeResponse);
    });
  }
  const handle = own.handle;
  if (typeof handle === "function") {
    wrapped.set("handle", (request: Request, info?: ServeInfo) => {
      count();
      const reply = handle.call(app, request, info);
      if (!draining()) return reply;
      return reply instanceof Promise ? reply.then(closeReply) : closeReply(reply);
    });
  }
  return new Proxy(app, {
    get(target, prop) {
      if (wrapped.has(prop)) return wrapped.get(prop);
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function closeResponse(res: Response): Response {
  if (res.status === 101) return res; // a protocol switch keeps its connection
  try {
    res.headers.set("connection", "close");
    return res;
  } catch {
    // Immutable headers (a Response passed through from fetch()).
    const headers = new Headers(res.headers);
    headers.set("connection", "close");
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  }
}

function closeReply<R extends { headers: Headers }>(reply: R): R {
  try {
    reply.headers.set("connection", "close");
  } catch { /* immutable headers: the connection stays open; the worker closes it when it stops */ }
  return reply;
}

// ---------------------------------------------------------------- primary side

/** One supervised worker process. */
interface Worker {
  slot: number;
  pid: number;
  startedAt: number;
  /** Set when we asked it to stop (rolling restart, recycle, shutdown): its exit is not a crash. */
  retiring: boolean;
  /** Its replacement (it asked to be recycled) is starting: further requests are ignored meanwhile. */
  recycling: boolean;
  ready: Promise<void>;
  exited: Promise<void>;
  send(message: ToWorker): void;
  kill(signal: string): void;
}

/** Picks a free TCP port, so that every worker (each binding with `reusePort`) uses the same one. */
async function freePort(host: string): Promise<number> {
  const net = await import("node:net");
  return await new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The file that tells whether Linux hands a closed listener's queued connections to the other `SO_REUSEPORT` listeners. */
const MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";

/**
 * Reads small files under `/proc` (Linux), `undefined` for each one that cannot be read.
 * Deno lets a program read `/proc` only with `--allow-all`; with narrower permissions a
 * `deno eval` child (which has all permissions, and which the primary may start since
 * it starts its workers with the same executable) reads them for it.
 */
async function readProcFiles(paths: string[]): Promise<(string | undefined)[]> {
  const { default: process } = await import("node:process");
  if (process.platform !== "linux") return paths.map(() => undefined);
  if (runtime !== "deno") {
    const { readFile } = await import("node:fs/promises");
    return await Promise.all(paths.map((p) => readFile(p, "utf8").catch(() => undefined)));
  }
  const read = (p: string) => {
    try {
      return new TextDecoder().decode(g.Deno.readFileSync(p));
    } catch {
      return undefined;
    }
  };
  const names = ["read", "write", "net", "env", "run", "ffi", "sys", "import"];
  try {
    if (names.every((name) => g.Deno.permissions.querySync({ name }).state === "granted")) return paths.map(read);
    const { spawnSync } = await import("node:child_process");
    const code = `const read = (p) => { try { return new TextDecoder().decode(Deno.readFileSync(p)); } catch { return null; } };
      console.log(JSON.stringify(${JSON.stringify(paths)}.map(read)));`;
    const r = spawnSync(process.execPath, ["eval", "--no-config", "-q", code], { encoding: "utf8", timeout: 10_000 });
    if (r.status !== 0) return paths.map(() => undefined);
    return (JSON.parse(r.stdout) as (string | null)[]).map((v) => v ?? undefined);
  } catch {
    return paths.map(() => undefined); // not even allowed to run it
  }
}

/**
 * With `SO_REUSEPORT` each worker has its own accept queue, and on Linux a worker that
 * stops listening resets the connections still waiting in it, unless
 * `net.ipv4.tcp_migrate_req` is 1 (Linux 5.14 and later): then the kernel moves them to
 * another worker's queue. Returns the start-up warning to print, if any.
 */
function reusePortWarning(value: string | undefined, linux: boolean): string | undefined {
  if (!linux) return undefined;
  if (value === undefined) {
    return `cluster: warning: cannot read ${MIGRATE_REQ} (Linux < 5.14?): during a rolling restart (SIGHUP, maxRequestsPerWorker) connections waiting in a stopping worker's accept queue may be reset`;
  }
  if (value.trim() !== "0") return undefined;
  return "cluster: warning: net.ipv4.tcp_migrate_req is 0, so a rolling restart (SIGHUP, maxRequestsPerWorker) resets connections waiting in a stopping worker's accept queue. " +
    "Set it to 1 to have the kernel hand them to the other workers: sysctl -w net.ipv4.tcp_migrate_req=1 (persist it in /etc/sysctl.d/)";
}

/** Calls `fn` synchronously when the process exits, however it exits (Deno: the `unload` event). */
function onProcessExit(fn: () => void): void {
  if (runtime === "deno") g.addEventListener?.("unload", fn);
  else g.process?.on?.("exit", fn);
}

async function servePrimary(options: ServeOptions): Promise<Server> {
  const count = options.workers ?? cpuCount();
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`cluster: workers must be a whole number ≥ 1, got ${options.workers}`);
  const workerName = options.worker ?? runtime;
  if (workerName === "cluster") throw new Error('cluster: option "worker" cannot be "cluster"; use "deno", "bun" or "node"');
  if (runtime === "deno" && workerName !== "deno") {
    // Deno's node:http cannot share a port between processes (no reusePort, no handle passing).
    throw new Error(`cluster: on Deno the workers must run the "deno" adapter (got worker "${workerName}")`);
  }
  if (options.socket) {
    // Each worker's native adapter replaces a stale socket file before it listens, which
    // would unlink the file of the socket the other workers share.
    throw new Error("cluster: Unix sockets are not supported; listen on host/port (e.g. 127.0.0.1) behind the proxy instead");
  }
  const port = options.port === 0 ? await freePort(options.host) : options.port;
  const log = options.log;
  const timings = clusterTimings(env(TIMINGS_ENV));
  const { default: process } = await import("node:process");
  // The sysctl (Bun, Deno) and the primary's command line (Deno) in one go: on Deno that may take a child process.
  const [migrateReq, cmdline] = await readProcFiles(runtime === "deno" ? [MIGRATE_REQ, `/proc/${process.pid}/cmdline`] : [MIGRATE_REQ]);
  if (runtime !== "node") {
    const warning = reusePortWarning(migrateReq, process.platform === "linux");
    if (warning) log(warning);
  }
  const spawnProcess = await processSpawner(log, cmdline?.split("\0"));

  const slots: (Worker | undefined)[] = new Array(count).fill(undefined);
  /** Every live worker process, including replacements still starting and retired ones still draining. */
  const all = new Set<Worker>();
  const failures: number[] = new Array(count).fill(0);
  /** Per slot: when a recycle may be tried again after a replacement that failed to start (back-off). */
  const recycleNotBefore: number[] = new Array(count).fill(0);
  let closing = false;
  let rolling: Promise<void> | undefined;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => (resolveFinished = r));

  // However the primary ends (a second SIGINT/SIGTERM makes run() exit at once, an
  // uncaught error, process.exit()), its workers end with it, at once.
  onProcessExit(() => {
    for (const w of all) w.kill("SIGKILL");
  });

  function start(slot: number): Worker {
    const childEnv: Record<string, string> = {
      [WORKER_ENV]: String(slot + 1),
      [PORT_ENV]: String(port),
      [SERVER_ENV]: workerName,
    };
    const child = spawnProcess(childEnv);
    let markReady!: () => void, markFailed!: (e: Error) => void, markExited!: () => void;
    const worker: Worker = {
      slot,
      pid: child.pid,
      startedAt: Date.now(),
      retiring: false,
      recycling: false,
      ready: new Promise<void>((res, rej) => ((markReady = res), (markFailed = rej))),
      exited: new Promise<void>((res) => (markExited = res)),
      send: (m) => child.send(m),
      kill: (s) => child.kill(s),
    };
    worker.ready.catch(() => {}); // observed by whoever waits for it
    all.add(worker);
    const timer = setTimeout(() => {
      markFailed(new Error(`cluster: worker ${slot + 1} (pid ${worker.pid}) did not start listening within ${timings.readyTimeoutMs} ms; stopping it`));
      // Not left hanging: asked to stop (it may be stuck before it listens for that), then
      // killed. A slot's own worker (respawned after a crash) counts as having died.
      worker.send({ carafe: "stop" });
      worker.kill("SIGTERM");
      const force = setTimeout(() => worker.kill("SIGKILL"), 2_000);
      worker.exited.then(() => clearTimeout(force));
    }, timings.readyTimeoutMs);
    child.onMessage((m) => {
      const msg = m as ToPrimary;
      if (!msg || typeof msg !== "object") return;
      if (msg.carafe === "ready") {
        clearTimeout(timer);
        markReady();
      } else if (msg.carafe === "recycle") {
        // The worker repeats this while it keeps serving past its maximum, so one that is
        // being replaced (or restarted by SIGHUP), or whose last replacement failed less
        // than a back-off ago, is asked again later rather than twice at once.
        if (worker.retiring || worker.recycling || closing || rolling || slots[slot] !== worker) return;
        if (Date.now() < recycleNotBefore[slot]) return;
        worker.recycling = true;
        log(`cluster: worker ${slot + 1} (pid ${worker.pid}) reached maxRequestsPerWorker=${options.maxRequestsPerWorker}; replacing it`);
        replace(slot).catch((e) => {
          worker.recycling = false;
          let next = "";
          if (slots[slot] === worker && !closing) {
            // It keeps serving; it asks again, and is replaced once the slot's back-off has passed.
            failures[slot]++;
            const wait = backoffDelay(failures[slot], timings);
            recycleNotBefore[slot] = Date.now() + wait;
            next = `; it keeps serving, next try in ${wait} ms or later`;
          }
          log(`cluster: replacing worker ${slot + 1} failed: ${e?.message ?? e}${next}`);
        });
      }
    });
    child.onExit((code, signal) => {
      clearTimeout(timer);
      markFailed(new Error(`cluster: worker ${slot + 1} (pid ${worker.pid}) exited (${describeExit(code, signal)}) before it was listening; see its errors above`));
      markExited();
      all.delete(worker);
      // A worker not (or no longer) in its slot is a replacement that failed or a retired one.
      if (slots[slot] !== worker) return;
      slots[slot] = undefined;
      if (closing || worker.retiring) return;
      const { failures: n, delayMs } = respawnBackoff(failures[slot], Date.now() - worker.startedAt, timings);
      failures[slot] = n;
      respawnLater(slot, `worker ${slot + 1} (pid ${worker.pid}) died (${describeExit(code, signal)})`, delayMs);
    });
    return worker;
  }

  /** Respawns the worker of an empty slot after the slot's back-off delay. */
  function respawnLater(slot: number, why: string, delay = backoffDelay(failures[slot], timings)): void {
    log(`cluster: ${why}; respawning in ${delay} ms`);
    setTimeout(() => {
      if (closing || slots[slot]) return;
      const w = start(slot);
      // Counted as the slot's worker from the start, so that its death (even before it listens) backs off again.
      slots[slot] = w;
    }, delay);
  }

  /**
   * Retires a worker whose replacement is listening: first it answers every request
   * with `Connection: close` for a grace period (keep-alive clients move to other
   * workers), then it stops accepting, finishes what is in flight and exits.
   */
  async function retire(w: Worker): Promise<void> {
    w.retiring = true;
    w.send({ carafe: "drain" });
    await Promise.race([w.exited, sleep(Math.min(DRAIN_GRACE_MS, options.shutdownTimeout))]);
    w.send({ carafe: "stop" });
    await stopped(w);
  }

  /** Waits for a worker that was told to stop; one that outlives its shutdownTimeout is killed. */
  async function stopped(w: Worker): Promise<void> {
    const force = setTimeout(() => w.kill("SIGKILL"), options.shutdownTimeout + 2_000);
    await w.exited;
    clearTimeout(force);
  }

  /** Starts a new worker for `slot`, waits until it listens, then retires the old one. */
  async function replace(slot: number): Promise<void> {
    const fresh = start(slot);
    try {
      await fresh.ready;
    } catch (e) {
      // Shutting down: close() told it to stop, and it did so before it was listening.
      if (closing) return;
      // The new worker failed to start: the old one (if still alive) keeps serving.
      if (!slots[slot]) {
        failures[slot]++;
        respawnLater(slot, `replacement for worker ${slot + 1} failed`);
      }
      throw e;
    }
    if (closing) {
      fresh.kill("SIGTERM");
      return;
    }
    const old = slots[slot];
    slots[slot] = fresh;
    if (old) await retire(old);
  }

  async function rollingRestart(): Promise<void> {
    log(`cluster: SIGHUP: restarting ${count} workers one at a time`);
    for (let slot = 0; slot < count && !closing; slot++) {
      try {
        await replace(slot);
      } catch (e) {
        log(`cluster: rolling restart stopped at worker ${slot + 1}: ${(e as Error).message}`);
        return;
      }
    }
    log("cluster: rolling restart done");
  }

  // Start everything; fail fast (and clean up) if a worker cannot start.
  const first = Array.from({ length: count }, (_, i) => (slots[i] = start(i)));
  try {
    await Promise.all(first.map((w) => w.ready));
  } catch (e) {
    closing = true;
    for (const w of first) w.kill("SIGTERM");
    await Promise.all(first.map((w) => w.exited));
    throw e;
  }

  const offHup = onSignal("SIGHUP", () => {
    if (closing) return;
    rolling ??= rollingRestart().finally(() => (rolling = undefined));
  });

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      offHup();
      const live = [...all];
      for (const w of live) {
        w.retiring = true;
        w.send({ carafe: "stop" });
      }
      // Workers finish in-flight requests within their own shutdownTimeout; a stuck one is killed.
      await Promise.all(live.map(stopped));
      log(`cluster: all workers stopped`);
      resolveFinished();
    })());

  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${port}/`,
    close,
    finished,
  };
}

/** A started worker process, whichever way it was started. */
interface Child {
  pid: number;
  send(message: ToWorker): void;
  kill(signal: string): void;
  onMessage(fn: (message: unknown) => void): void;
  onExit(fn: (code: number | null, signal: string | null) => void): void;
}

/**
 * The Deno command line of a worker: the primary's own flags (permissions, `--config`,
 * `--import-map`, `--env-file`, `--no-lock`…, read from `/proc/<pid>/cmdline`) plus
 * `--unstable-net` for `reusePort`, without `--inspect*` (one debugger port per process)
 * and `--watch*` (the primary restarts, not each worker). Where the command line cannot
 * be read (not Linux): `-A --unstable-net`, as Deno's own `cluster.fork()` does.
 */
export function denoWorkerArgs(cmdline: string[] | undefined, script: string, args: string[]): { argv: string[]; reused: boolean } {
  const fallback = { argv: ["run", "-A", "--unstable-net", script, ...args], reused: false };
  if (!cmdline) return fallback;
  const parts = cmdline.at(-1) === "" ? cmdline.slice(0, -1) : cmdline;
  const at = parts.length - 1 - args.length; // the script's position: the arguments follow it
  if (at < 1 || args.some((a, i) => parts[at + 1 + i] !== a)) return fallback;
  // `deno run [flags] script` or `deno [flags] script`; any other subcommand: fall back.
  const flags: string[] = [];
  let sawRun = false;
  for (let i = 1; i < at; i++) {
    const f = parts[i];
    if (f.startsWith("-")) {
      if (!/^--(inspect|inspect-brk|inspect-wait|watch|watch-hmr|watch-exclude)(=|$)/.test(f)) flags.push(f);
      if (VALUE_FLAGS.test(f) && i + 1 < at) flags.push(parts[++i]);
    } else if (f === "run" && !sawRun) sawRun = true;
    else return fallback;
  }
  if (!flags.includes("--unstable-net")) flags.push("--unstable-net");
  return { argv: ["run", ...flags, script, ...args], reused: true };
}

/** Deno flags that take their value as the next argument. */
const VALUE_FLAGS = /^(-c|-L|--config|--import-map|--cert|--location|--seed|--preload|--require|--ext|--log-level|--conditions|--minimum-dependency-age)$/;

/** How this runtime starts a worker: `node:cluster` on Node and Bun, `child_process` on Deno (see the module doc). */
async function processSpawner(log: (line: string) => void, cmdline: string[] | undefined): Promise<(env: Record<string, string>) => Child> {
  if (runtime === "deno") {
    const { spawn } = await import("node:child_process");
    const { default: process } = await import("node:process");
    const { argv, reused } = denoWorkerArgs(cmdline, process.argv[1], process.argv.slice(2));
    if (!reused) log(`cluster: could not read the primary's Deno flags (/proc/<pid>/cmdline); workers run with: deno ${argv.slice(0, 3).join(" ")}`);
    return (extra) =>
      fromChildProcess(
        spawn(process.execPath, argv, { stdio: ["inherit", "inherit", "inherit", "ipc"], env: { ...process.env, ...extra } }),
        (pid, signal) => process.kill(pid, signal),
      );
  }
  const { default: cluster } = await import("node:cluster");
  return (extra) => {
    const worker = cluster.fork(extra);
    return {
      pid: worker.process.pid ?? 0,
      send: (m) => {
        try {
          worker.send(m);
        } catch { /* already gone: its exit handler takes over */ }
      },
      kill: (s) => {
        try {
          worker.process.kill(s as NodeJS.Signals);
        } catch { /* already gone */ }
      },
      onMessage: (fn) => worker.on("message", fn),
      onExit: (fn) => worker.on("exit", (code, signal) => fn(code, signal)),
    };
  };
}

function fromChildProcess(child: ChildProcess, killPid: (pid: number, signal: string) => void): Child {
  const pid = child.pid ?? 0;
  return {
    pid,
    send: (m) => {
      try {
        if (child.connected) child.send(m);
      } catch { /* already gone */ }
    },
    kill: (s) => {
      // process.kill rather than child.kill: Deno's ChildProcess reports a signal sent
      // with child.kill() as the cause of exit even when the worker exited with a code.
      try {
        if (child.exitCode === null && child.signalCode === null) killPid(pid, s);
      } catch { /* already gone */ }
    },
    onMessage: (fn) => child.on("message", fn),
    onExit: (fn) => child.on("exit", (code, signal) => fn(code, signal)),
  };
}
