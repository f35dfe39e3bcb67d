/**
 * The cluster's primary: starts one worker per slot, respawns the ones that die (with
 * back-off), replaces a worker that asks to be recycled, restarts them all one at a
 * time on SIGHUP, and stops them on `close()`. It serves no requests itself (see "How
 * the cluster works" in `mod.ts`).
 *
 * @example
 * ```ts
 * import { servePrimary } from "./supervisor.ts";
 * const server = await servePrimary({
 *   app: { fetch: () => new Response("hi") }, host: "127.0.0.1", port: 0, workers: 2, quiet: true,
 *   maxBodySize: Infinity, shutdownTimeout: 5000, log: console.error,
 * });
 * await server.close();
 * ```
 *
 * @module
 */
import type { Server, ServeOptions } from "../adapter.ts";
import { freePort } from "../../shims/ports.ts";
import { onProcessExit } from "../../shims/processes.ts";
import { readProcFiles } from "../../shims/procfs.ts";
import { cpuCount, env, onSignal, pid, platform, runtime } from "../../shims/runtime.ts";
import { decodeToPrimary, message, type ToWorker, workerEnv } from "./protocol.ts";
import { type Spawn, workerSpawner } from "./spawner.ts";
import { backoffDelay, clusterTimings, DRAIN_GRACE_MS, respawnBackoff, type Timings, TIMINGS_ENV } from "./timings.ts";

/** One supervised worker process. */
interface WorkerProcess {
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

/** What a {@linkcode Supervisor} needs, resolved by {@linkcode servePrimary}. */
interface SupervisorSettings {
  options: ServeOptions;
  count: number;
  port: number;
  workerName: string;
  timings: Timings;
  spawn: Spawn;
}

/** The primary's state: the workers in their slots, each slot's failures, and whether it is closing. */
class Supervisor {
  readonly #s: SupervisorSettings;
  readonly #log: (line: string) => void;
  readonly #slots: (WorkerProcess | undefined)[];
  /** Every live worker process, including replacements still starting and retired ones still draining. */
  readonly #all = new Set<WorkerProcess>();
  readonly #failures: number[];
  /** Per slot: when a recycle may be tried again after a replacement that failed to start (back-off). */
  readonly #recycleNotBefore: number[];
  #closing = false;
  #rolling: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #offHup: () => void = () => {};
  #markFinished!: () => void;
  /** Resolves once {@linkcode close} has stopped every worker. */
  readonly finished: Promise<void> = new Promise<void>((r) => (this.#markFinished = r));

  constructor(settings: SupervisorSettings) {
    this.#s = settings;
    this.#log = settings.options.log;
    this.#slots = new Array(settings.count).fill(undefined);
    this.#failures = new Array(settings.count).fill(0);
    this.#recycleNotBefore = new Array(settings.count).fill(0);
    // However the primary ends (a second SIGINT/SIGTERM makes run() exit at once, an
    // uncaught error, process.exit()), its workers end with it, at once.
    onProcessExit(() => {
      for (const w of this.#all) w.kill("SIGKILL");
    });
  }

  /** Starts every slot; fails fast (and cleans up) if a worker cannot start. Then SIGHUP restarts them. */
  async startAll(): Promise<void> {
    const first = Array.from({ length: this.#s.count }, (_, i) => (this.#slots[i] = this.#start(i)));
    try {
      await Promise.all(first.map((w) => w.ready));
    } catch (e) {
      this.#closing = true;
      for (const w of first) w.kill("SIGTERM");
      await Promise.all(first.map((w) => w.exited));
      throw e;
    }
    this.#offHup = onSignal("SIGHUP", () => {
      if (this.#closing) return;
      this.#rolling ??= this.#rollingRestart().finally(() => (this.#rolling = undefined));
    });
  }

  /** Stops every worker (each finishes its in-flight requests within its own shutdownTimeout; a stuck one is killed). */
  close(): Promise<void> {
    return (this.#closed ??= (async () => {
      this.#closing = true;
      this.#offHup();
      const live = [...this.#all];
      for (const w of live) {
        w.retiring = true;
        w.send(message.stop());
      }
      await Promise.all(live.map((w) => this.#stopped(w)));
      this.#log(`cluster: all workers stopped`);
      this.#markFinished();
    })());
  }

  #start(slot: number): WorkerProcess {
    const child = this.#s.spawn(workerEnv({ slot, port: this.#s.port, server: this.#s.workerName }));
    let markReady!: () => void, markFailed!: (e: Error) => void, markExited!: () => void;
    const worker: WorkerProcess = {
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
    this.#all.add(worker);
    const timer = setTimeout(() => this.#notReadyInTime(worker, markFailed), this.#s.timings.readyTimeoutMs);
    child.onMessage((m) => {
      const msg = decodeToPrimary(m);
      if (msg?.carafe === "ready") {
        clearTimeout(timer);
        markReady();
      } else if (msg?.carafe === "recycle") this.#onRecycle(worker);
    });
    child.onExit((code, signal) => {
      clearTimeout(timer);
      markFailed(new Error(`cluster: worker ${slot + 1} (pid ${worker.pid}) exited (${describeExit(code, signal)}) before it was listening; see its errors above`));
      markExited();
      this.#onExit(worker, describeExit(code, signal));
    });
    return worker;
  }

  /** A worker that is not listening within `readyTimeoutMs` has failed; it is not left hanging. */
  #notReadyInTime(worker: WorkerProcess, markFailed: (e: Error) => void): void {
    const ms = this.#s.timings.readyTimeoutMs;
    markFailed(new Error(`cluster: worker ${worker.slot + 1} (pid ${worker.pid}) did not start listening within ${ms} ms; stopping it`));
    // Asked to stop (it may be stuck before it listens for that), then killed. A slot's
    // own worker (respawned after a crash) counts as having died.
    worker.send(message.stop());
    worker.kill("SIGTERM");
    const force = setTimeout(() => worker.kill("SIGKILL"), 2_000);
    worker.exited.then(() => clearTimeout(force));
  }

  /**
   * The worker repeats its request while it keeps serving past its maximum, so one that
   * is being replaced (or restarted by SIGHUP), or whose last replacement failed less
   * than a back-off ago, is asked again later rather than twice at once.
   */
  #onRecycle(worker: WorkerProcess): void {
    const slot = worker.slot;
    if (worker.retiring || worker.recycling || this.#closing || this.#rolling || this.#slots[slot] !== worker) return;
    if (Date.now() < this.#recycleNotBefore[slot]) return;
    worker.recycling = true;
    this.#log(`cluster: worker ${slot + 1} (pid ${worker.pid}) reached maxRequestsPerWorker=${this.#s.options.maxRequestsPerWorker}; replacing it`);
    this.#replace(slot).catch((e) => {
      worker.recycling = false;
      let next = "";
      if (this.#slots[slot] === worker && !this.#closing) {
        // It keeps serving; it asks again, and is replaced once the slot's back-off has passed.
        this.#failures[slot]++;
        const wait = backoffDelay(this.#failures[slot], this.#s.timings);
        this.#recycleNotBefore[slot] = Date.now() + wait;
        next = `; it keeps serving, next try in ${wait} ms or later`;
      }
      this.#log(`cluster: replacing worker ${slot + 1} failed: ${e?.message ?? e}${next}`);
    });
  }

  #onExit(worker: WorkerProcess, how: string): void {
    const slot = worker.slot;
    this.#all.delete(worker);
    // A worker not (or no longer) in its slot is a replacement that failed or a retired one.
    if (this.#slots[slot] !== worker) return;
    this.#slots[slot] = undefined;
    if (this.#closing || worker.retiring) return;
    const { failures, delayMs } = respawnBackoff(this.#failures[slot], Date.now() - worker.startedAt, this.#s.timings);
    this.#failures[slot] = failures;
    this.#respawnLater(slot, `worker ${slot + 1} (pid ${worker.pid}) died (${how})`, delayMs);
  }

  /** Respawns the worker of an empty slot after the slot's back-off delay. */
  #respawnLater(slot: number, why: string, delay = backoffDelay(this.#failures[slot], this.#s.timings)): void {
    this.#log(`cluster: ${why}; respawning in ${delay} ms`);
    setTimeout(() => {
      if (this.#closing || this.#slots[slot]) return;
      // Counted as the slot's worker from the start, so that its death (even before it listens) backs off again.
      this.#slots[slot] = this.#start(slot);
    }, delay);
  }

  /**
   * Retires a worker whose replacement is listening: first it answers every request
   * with `Connection: close` for a grace period (keep-alive clients move to other
   * workers), then it stops accepting, finishes what is in flight and exits.
   */
  async #retire(w: WorkerProcess): Promise<void> {
    w.retiring = true;
    w.send(message.drain());
    await Promise.race([w.exited, sleep(Math.min(DRAIN_GRACE_MS, this.#s.options.shutdownTimeout))]);
    w.send(message.stop());
    await this.#stopped(w);
  }

  /** Waits for a worker that was told to stop; one that outlives its shutdownTimeout is killed. */
  async #stopped(w: WorkerProcess): Promise<void> {
    const force = setTimeout(() => w.kill("SIGKILL"), this.#s.options.shutdownTimeout + 2_000);
    await w.exited;
    clearTimeout(force);
  }

  /** Starts a new worker for `slot`, waits until it listens, then retires the old one. */
  async #replace(slot: number): Promise<void> {
    const fresh = this.#start(slot);
    try {
      await fresh.ready;
    } catch (e) {
      // Shutting down: close() told it to stop, and it did so before it was listening.
      if (this.#closing) return;
      // The new worker failed to start: the old one (if still alive) keeps serving.
      if (!this.#slots[slot]) {
        this.#failures[slot]++;
        this.#respawnLater(slot, `replacement for worker ${slot + 1} failed`);
      }
      throw e;
    }
    if (this.#closing) {
      fresh.kill("SIGTERM");
      return;
    }
    const old = this.#slots[slot];
    this.#slots[slot] = fresh;
    if (old) await this.#retire(old);
  }

  async #rollingRestart(): Promise<void> {
    this.#log(`cluster: SIGHUP: restarting ${this.#s.count} workers one at a time`);
    for (let slot = 0; slot < this.#s.count && !this.#closing; slot++) {
      try {
        await this.#replace(slot);
      } catch (e) {
        this.#log(`cluster: rolling restart stopped at worker ${slot + 1}: ${(e as Error).message}`);
        return;
      }
    }
    this.#log("cluster: rolling restart done");
  }
}

/** The worker count and adapter of a cluster, checked; throws an error that says what to change. */
function checkedOptions(options: ServeOptions): { count: number; workerName: string } {
  const count = options.workers ?? cpuCount();
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`cluster: workers must be a whole number ≥ 1, got ${options.workers}`);
  const workerName = options.worker ?? runtime;
  if (!["deno", "bun", "node"].includes(workerName)) {
    throw new Error(`cluster: option "worker" must be "deno", "bun" or "node" (the server each worker runs), got "${workerName}"`);
  }
  if (runtime === "deno" && workerName !== "deno") {
    // Deno's node:http cannot share a port between processes (no reusePort, no handle passing).
    throw new Error(`cluster: on Deno the workers must run the "deno" adapter (got worker "${workerName}")`);
  }
  if (options.socket) {
    // Each worker's native adapter replaces a stale socket file before it listens, which
    // would unlink the file of the socket the other workers share.
    throw new Error("cluster: Unix sockets are not supported; listen on host/port (e.g. 127.0.0.1) behind the proxy instead");
  }
  return { count, workerName };
}

/**
 * Runs the primary: checks the options, picks the shared port, warns when rolling
 * restarts may reset connections, starts every worker and supervises them until
 * `close()`.
 */
export async function servePrimary(options: ServeOptions): Promise<Server> {
  const { count, workerName } = checkedOptions(options);
  const port = options.port === 0 ? await freePort(options.host) : options.port;
  const log = options.log;
  const timings = clusterTimings(env(TIMINGS_ENV));
  // The sysctl (Bun, Deno) and the primary's command line (Deno) in one go: on Deno that may take a child process.
  const [migrateReq, cmdline] = await readProcFiles(runtime === "deno" ? [MIGRATE_REQ, `/proc/${pid()}/cmdline`] : [MIGRATE_REQ]);
  if (runtime !== "node") {
    const warning = reusePortWarning(migrateReq, platform() === "linux");
    if (warning) log(warning);
  }
  const spawn = await workerSpawner({ log, cmdline: cmdline?.split("\0") });
  const supervisor = new Supervisor({ options, count, port, workerName, timings, spawn });
  await supervisor.startAll();
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${port}/`,
    close: () => supervisor.close(),
    finished: supervisor.finished,
  };
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The file that tells whether Linux hands a closed listener's queued connections to the other `SO_REUSEPORT` listeners. */
const MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";

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
