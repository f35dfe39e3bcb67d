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
 * ## How the cluster works
 *
 * 1. **One entry point, two roles.** `run({ server: "cluster" })` runs in the primary and,
 *    again, in every worker (each re-runs the primary's entry module). The environment
 *    variable `CARAFE_WORKER` tells them apart (`worker_id.ts`): set, {@linkcode clusterAdapter}
 *    serves as a worker; unset, it supervises.
 * 2. **Start** (`supervisor.ts`). The primary checks its options, resolves `port: 0` to
 *    one free port for all, and spawns one worker per slot (`spawner.ts`: `node:cluster`
 *    on Node and Bun, a child process on Deno) with the slot, port and adapter in its
 *    environment (`protocol.ts`).
 * 3. **Serve** (`worker.ts`). A worker loads the native adapter by name, wraps the app
 *    (request count, `Connection: close` while draining), listens on the shared port and
 *    reports `ready` over the IPC channel. The primary waits for every first worker:
 *    one that exits or does not listen in time fails `run()`.
 * 4. **Supervise** (`supervisor.ts`, a `Supervisor` per primary). A worker that dies is
 *    respawned after its slot's back-off (`timings.ts`); one that reports `recycle` is
 *    replaced; SIGHUP replaces them all, one at a time. Replacing means: start the new
 *    worker, wait for `ready`, then tell the old one `drain` and, a grace period later,
 *    `stop`.
 * 5. **Stop.** `close()` tells every worker `stop`, waits for each to finish its
 *    requests and exit (killing one that outlives `shutdownTimeout`), then resolves
 *    `finished`. Workers stop on their own when the primary disappears.
 *
 * Process access (forking, IPC, the parent watch, the exit hook, `/proc`, a free port)
 * goes through `shims/processes.ts`, `shims/procfs.ts` and `shims/ports.ts`; the
 * files here only ask `shims/runtime.ts` which runtime they are on.
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
 * instances behind a proxy (see docs/deployment.md). Unix sockets
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
import type { Adapter, FetchApp, Server, ServeInfo, ServeOptions, TlsOptions, TrustProxy } from "../adapter.ts";
import { servePrimary } from "./supervisor.ts";
import { serveWorker } from "./worker.ts";
import { isClusterWorker } from "./worker_id.ts";

export type { Adapter, FetchApp, Server, ServeInfo, ServeOptions, TlsOptions, TrustProxy };
export type { ClusterOptions } from "./worker.ts";
export { clusterWorkerId, isClusterWorker, WORKER_ENV } from "./worker_id.ts";
export { respawnBackoff } from "./timings.ts";
export { denoWorkerArgs } from "./spawner.ts";

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
