/**
 * The `cluster` adapter: pre-forks one worker process per core (like gunicorn
 * in Bottle's deployment guide), supervises them, and restarts them without
 * dropping requests.
 *
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
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
 * | Deno (worker `deno` only) | `node:child_process` `spawn()` of `deno run -A --unstable-net <entry> <args>` with an IPC channel | `SO_REUSEPORT`: `Deno.serve({ reusePort: true })`, which Deno only allows with `--unstable-net`; the adapter adds that flag to the workers itself (Deno's own `cluster.fork()` cannot add it). Like Deno's `cluster.fork()`, workers run with `-A`. |
 *
 * `SO_REUSEPORT` is Linux (and BSD) only; on other systems use Node, or several
 * instances behind a proxy (see the README's "Deploying" section). Unix sockets
 * (`socket`) are not supported by the cluster; use host/port.
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
 *   exits 0.
 * - `SIGHUP`: rolling restart, one worker at a time; the new worker is
 *   listening before the old one is asked to drain, so no request fails.
 * - `maxRequestsPerWorker`: a worker that has served that many requests is
 *   replaced the same way (a new one first, then the old one drains).
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import type { Adapter, FetchApp, Server, ServeInfo, ServeOptions, TlsOptions, TrustProxy } from "./adapter.ts";
import { cpuCount, env, onSignal, runtime } from "../shims/runtime.ts";

export type { Adapter, FetchApp, Server, ServeInfo, ServeOptions, TlsOptions, TrustProxy };

/** The environment variable that marks a cluster worker; its value is the worker's slot number (1…N). */
export const WORKER_ENV = "CARAFE_WORKER";
const PORT_ENV = "CARAFE_CLUSTER_PORT";
const SERVER_ENV = "CARAFE_CLUSTER_SERVER";

/** Back-off between respawns of a slot whose workers keep dying: 100 ms doubling to 10 s. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A worker that lived this long counts as healthy: its slot's back-off starts over. */
const HEALTHY_AFTER_MS = 10_000;
/** How long a new worker may take to start listening. */
const READY_TIMEOUT_MS = 30_000;

/** Messages between primary and workers over the IPC channel. */
type ToPrimary = { carafe: "ready"; url: string } | { carafe: "recycle" };
type ToWorker = { carafe: "stop" };

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/**
 * The slot number (1…N) of this cluster worker, or `undefined` in the primary
 * or outside a cluster.
 *
 * @example
 * ```ts
 * import { clusterWorkerId } from "./cluster.ts";
 * console.log(`serving from worker ${clusterWorkerId() ?? "primary"}`);
 * ```
 */
export function clusterWorkerId(): number | undefined {
  const v = env(WORKER_ENV);
  return v ? Number(v) : undefined;
}

/**
 * True inside a cluster worker. Use it to run once-only start-up code
 * (migrations, schedulers) in the primary only.
 *
 * @example
 * ```ts
 * import { isClusterWorker } from "./cluster.ts";
 * if (!isClusterWorker()) console.log("primary: runs once");
 * ```
 */
export function isClusterWorker(): boolean {
  return clusterWorkerId() !== undefined;
}

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
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
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
  const registry = await import("./mod.ts");
  return await registry.getAdapter(name);
}

/**
 * Runs `start` (a native adapter's `serve()`) with `Deno.serve` / `Bun.serve` asked
 * for `reusePort: true`, so that every worker can bind the shared port. The native
 * adapters' options have no `reusePort` field (yet), and a cluster worker is a process
 * of its own, so wrapping the runtime's `serve` while the adapter starts is contained.
 */
async function withReusePort<T>(start: () => T | Promise<T>): Promise<T> {
  const ns = runtime === "deno" ? g.Deno : runtime === "bun" ? g.Bun : undefined;
  if (!ns || typeof ns.serve !== "function") return await start();
  const original = ns.serve;
  ns.serve = function (this: unknown, first: unknown, ...rest: unknown[]) {
    const opts = first && typeof first === "object" ? { ...first, reusePort: true } : first;
    return original.call(this, opts, ...rest);
  };
  try {
    return await start();
  } finally {
    ns.serve = original;
  }
}

function send(message: ToPrimary): void {
  g.process?.send?.(message);
}

async function serveWorker(options: ServeOptions): Promise<Server> {
  const name = env(SERVER_ENV) ?? options.worker ?? runtime;
  const port = Number(env(PORT_ENV) ?? options.port);
  const adapter = await loadAdapter(name);
  const app = options.maxRequestsPerWorker ? countRequests(options.app, options.maxRequestsPerWorker) : options.app;
  const workerOptions: ClusterOptions = { ...options, app, port, reusePort: runtime !== "node", workers: undefined };
  const server = workerOptions.reusePort ? await withReusePort(() => adapter.serve(workerOptions)) : await adapter.serve(workerOptions);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= server.close().finally(() => g.process?.exit?.(0)));
  const proc = g.process;
  proc?.on?.("message", (m: ToWorker) => {
    if (m && m.carafe === "stop") stop();
  });
  // The primary is gone (killed with SIGKILL): do not linger as an orphan. The IPC
  // "disconnect" event does not fire on every runtime (Deno), so also watch for being
  // re-parented.
  proc?.on?.("disconnect", () => stop());
  const parent = proc?.ppid;
  if (parent) {
    const { setInterval, clearInterval } = await import("node:timers");
    const watch = setInterval(() => {
      if (proc.ppid !== parent) {
        clearInterval(watch);
        stop();
      }
    }, 500);
    watch.unref();
  }
  send({ carafe: "ready", url: server.url });
  return server;
}

/** Wraps the app so that the worker asks to be recycled after `max` requests. */
function countRequests(app: FetchApp, max: number): FetchApp {
  let served = 0;
  const tick = () => {
    if (++served === max) send({ carafe: "recycle" });
  };
  // Keep the app's prototype (and its `handle()` fast path, if it has one).
  const wrapped = Object.create(app);
  wrapped.fetch = (req: Request, info?: unknown) => {
    tick();
    return (app.fetch as (r: Request, i?: unknown) => Promise<Response>).call(app, req, info);
  };
  const handle = (app as { handle?: (r: Request, i?: unknown) => unknown }).handle;
  if (typeof handle === "function") {
    wrapped.handle = (req: Request, info?: unknown) => {
      tick();
      return handle.call(app, req, info);
    };
  }
  return wrapped;
}

// ---------------------------------------------------------------- primary side

/** One supervised worker process. */
interface Worker {
  slot: number;
  pid: number;
  startedAt: number;
  /** Set when we asked it to stop (rolling restart, recycle, shutdown): its exit is not a crash. */
  retiring: boolean;
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
  const spawnProcess = await processSpawner();

  const slots: (Worker | undefined)[] = new Array(count).fill(undefined);
  /** Every live worker process, including replacements still starting and retired ones still draining. */
  const all = new Set<Worker>();
  const failures: number[] = new Array(count).fill(0);
  let closing = false;
  let rolling: Promise<void> | undefined;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => (resolveFinished = r));

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
      ready: new Promise<void>((res, rej) => ((markReady = res), (markFailed = rej))),
      exited: new Promise<void>((res) => (markExited = res)),
      send: (m) => child.send(m),
      kill: (s) => child.kill(s),
    };
    worker.ready.catch(() => {}); // observed by whoever waits for it
    all.add(worker);
    const timer = setTimeout(() => markFailed(new Error(`cluster: worker ${slot + 1} (pid ${worker.pid}) did not start listening within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.onMessage((m) => {
      const msg = m as ToPrimary;
      if (!msg || typeof msg !== "object") return;
      if (msg.carafe === "ready") {
        clearTimeout(timer);
        markReady();
      } else if (msg.carafe === "recycle" && !worker.retiring && !closing) {
        log(`cluster: worker ${slot + 1} (pid ${worker.pid}) reached maxRequestsPerWorker=${options.maxRequestsPerWorker}; replacing it`);
        replace(slot).catch((e) => log(`cluster: replacing worker ${slot + 1} failed: ${e?.message ?? e}`));
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
      const lived = Date.now() - worker.startedAt;
      failures[slot] = lived >= HEALTHY_AFTER_MS ? 1 : failures[slot] + 1;
      respawnLater(slot, `worker ${slot + 1} (pid ${worker.pid}) died (${describeExit(code, signal)})`);
    });
    return worker;
  }

  /** Respawns the worker of an empty slot after the slot's back-off delay. */
  function respawnLater(slot: number, why: string): void {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failures[slot] - 1));
    log(`cluster: ${why}; respawning in ${delay} ms`);
    setTimeout(() => {
      if (closing || slots[slot]) return;
      const w = start(slot);
      // Counted as the slot's worker from the start, so that its death (even before it listens) backs off again.
      slots[slot] = w;
    }, delay);
  }

  /** Starts a new worker for `slot`, waits until it listens, then lets the old one drain. */
  async function replace(slot: number): Promise<void> {
    const fresh = start(slot);
    try {
      await fresh.ready;
    } catch (e) {
      // The new worker failed to start: the old one (if still alive) keeps serving.
      if (!slots[slot] && !closing) {
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
    if (old) {
      old.retiring = true;
      old.send({ carafe: "stop" });
      await old.exited;
    }
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
      const force = setTimeout(() => live.forEach((w) => w.kill("SIGKILL")), options.shutdownTimeout + 2_000);
      await Promise.all(live.map((w) => w.exited));
      clearTimeout(force);
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

/** How this runtime starts a worker: `node:cluster` on Node and Bun, `child_process` on Deno (see the module doc). */
async function processSpawner(): Promise<(env: Record<string, string>) => Child> {
  if (runtime === "deno") {
    const { spawn } = await import("node:child_process");
    const { default: process } = await import("node:process");
    // The entry script and its arguments, as Deno's own fork() would pass them, plus --unstable-net for reusePort.
    const argv = ["run", "-A", "--unstable-net", process.argv[1], ...process.argv.slice(2)];
    return (extra) => fromChildProcess(spawn(process.execPath, argv, {
      stdio: ["inherit", "inherit", "inherit", "ipc"],
      env: { ...process.env, ...extra },
    }));
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

function fromChildProcess(child: ChildProcess): Child {
  return {
    pid: child.pid ?? 0,
    send: (m) => {
      try {
        if (child.connected) child.send(m);
      } catch { /* already gone */ }
    },
    kill: (s) => {
      try {
        child.kill(s as NodeJS.Signals);
      } catch { /* already gone */ }
    },
    onMessage: (fn) => child.on("message", fn),
    onExit: (fn) => child.on("exit", (code, signal) => fn(code, signal)),
  };
}
