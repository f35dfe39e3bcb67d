/**
 * A cluster worker's side: serve the app with the native adapter on the shared port,
 * count requests for `maxRequestsPerWorker`, and obey the primary's `drain` and `stop`
 * (see "How the cluster works" in `mod.ts`).
 *
 * @example
 * ```ts
 * import { serveWorker } from "./worker.ts";
 * import { isClusterWorker } from "./worker_id.ts";
 * if (isClusterWorker()) {
 *   await serveWorker({
 *     app: { fetch: () => new Response("hi") }, host: "127.0.0.1", port: 8080, quiet: true,
 *     maxBodySize: Infinity, shutdownTimeout: 5000, log: console.error,
 *   });
 * }
 * ```
 *
 * @module
 */
import type { Adapter, FetchApp, Server, ServeInfo, ServeOptions } from "../adapter.ts";
import { DEFAULT_SHUTDOWN_TIMEOUT } from "../common.ts";
import { backgroundWork } from "../../core/platform.ts";
import { nodeClusterMember, type ParentChannel, parentChannel, watchParent } from "../../shims/processes.ts";
import { env, exit, onSignal, runtime } from "../../shims/runtime.ts";
import { decodeToWorker, message, readWorkerEnv } from "./protocol.ts";
import { RECYCLE_RESEND_MS } from "./timings.ts";

/** Options the cluster adapter understands besides the common ones. */
export interface ClusterOptions extends ServeOptions {
  /** Ask the native adapter for `SO_REUSEPORT` (set by the cluster in Deno and Bun workers). */
  reusePort?: boolean;
}

/**
 * The adapters a worker may run, loaded by name. Not through the registry in
 * `../mod.ts`: it loads this module (for the "cluster" adapter), and a worker loading it
 * back would close an import circle.
 */
const WORKER_ADAPTERS: Record<string, () => Promise<Adapter>> = {
  deno: async () => (await import("../deno.ts")).denoAdapter,
  bun: async () => (await import("../bun.ts")).bunAdapter,
  node: async () => (await import("../node/mod.ts")).nodeAdapter,
};

/** Loads the native adapter a worker runs. */
async function loadAdapter(name: string): Promise<Adapter> {
  const load = WORKER_ADAPTERS[name];
  if (!load) throw new Error(`cluster: a worker runs "deno", "bun" or "node", not "${name}"`);
  return await load();
}

/**
 * The primary's orders as they arrive. The primary may tell a worker to stop while it
 * is still starting (a shutdown or a restart during its start-up): the order is kept
 * and acted on once the server is up (there is nothing to close before).
 */
class Orders {
  /** Told to drain (or stopping): every response says `Connection: close`. */
  draining = false;
  #close?: () => Promise<void>;
  #stopEarly = false;

  constructor(parent: ParentChannel) {
    parent.onMessage((m) => {
      const order = decodeToWorker(m);
      if (order?.carafe === "drain") this.draining = true;
      else if (order?.carafe === "stop") this.stop();
    });
    // The primary is gone (killed with SIGKILL): do not linger as an orphan. The IPC
    // "disconnect" event does not fire on every runtime (Deno), so the worker also
    // watches for being re-parented (see serveWorker).
    parent.onDisconnect(() => this.stop());
  }

  stop(): void {
    if (this.#close) void this.#close();
    else this.#stopEarly = true;
  }

  /** From now on a stop calls `close`; true when one came before (the caller closes at once). */
  listening(close: () => Promise<void>): boolean {
    this.#close = close;
    return this.#stopEarly;
  }
}

/**
 * Serves in a cluster worker: the native adapter named by the primary, on the shared
 * port, with {@linkcode workerApp} around the app. Reports `ready` once it listens.
 */
export async function serveWorker(options: ServeOptions): Promise<Server> {
  const settings = readWorkerEnv(env);
  const name = settings.server ?? options.worker ?? runtime;
  const port = settings.port ?? Number(options.port);
  const parent = parentChannel();
  const orders = new Orders(parent);
  // The primary orchestrates restarts. A SIGHUP that reaches the whole process group
  // (the terminal closed) must not kill the workers, whose default action it would be.
  onSignal("SIGHUP", () => {});
  const adapter = await loadAdapter(name);
  const app = workerApp(options.app, {
    max: options.maxRequestsPerWorker,
    onMax: () => parent.send(message.recycle()),
    draining: () => orders.draining,
  });
  // Deno.serve and Bun.serve (and Bun's node:http in a cluster worker) bind the shared
  // port with SO_REUSEPORT; on Node the primary owns the socket (node:cluster).
  const workerOptions: ClusterOptions = { ...options, app, port, reusePort: runtime !== "node", workers: undefined };
  const server = await adapter.serve(workerOptions);
  const member = runtime === "node" ? await nodeClusterMember() : undefined;
  let stopping: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (stopping ??= (async () => {
      orders.draining = true;
      // node:cluster: leaving the cluster closes this worker's servers, so the primary
      // stops handing it connections (one already on its way is handed to another
      // worker), and waits until the connections it has are served and closed (idle
      // keep-alive ones are closed at once, busy ones after their response, which says
      // Connection: close). The native close() afterwards finds nothing left to cut
      // short, unless shutdownTimeout ran out first.
      await member?.leave(options.shutdownTimeout);
      await server.close();
      // Work handlers gave to req.waitUntil (core/platform.ts) finishes before the exit.
      await backgroundWork(options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT);
    })().finally(() => exit(0)));
  const result = { url: server.url, finished: server.finished, close };
  if (orders.listening(close)) {
    // Told to stop before it was listening: it never reports ready (it is not needed any more).
    void close();
    return result;
  }
  await watchParent(() => void close());
  parent.send(message.ready(server.url));
  return result;
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
 *
 * @example
 * ```ts
 * import { workerApp } from "./worker.ts";
 * const app = workerApp({ fetch: () => new Response("hi") }, { max: 1000, onMax: () => {}, draining: () => false });
 * ```
 */
export function workerApp(app: FetchApp, o: { max?: number; onMax: () => void; draining: () => boolean }): FetchApp {
  const count = requestCounter(o.max, o.onMax);
  const draining = o.draining;
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

/**
 * Counts requests; past `max`, calls `onMax` again at most every RECYCLE_RESEND_MS for
 * as long as the worker keeps serving, so that a replacement that failed to start is
 * tried again. The primary ignores the repeats while a replacement is on its way.
 */
function requestCounter(max: number | undefined, onMax: () => void): () => void {
  let served = 0;
  let askedAt = 0;
  return () => {
    if (max && ++served >= max) {
      const now = Date.now();
      if (now - askedAt < RECYCLE_RESEND_MS) return;
      askedAt = now;
      onMax();
    }
  };
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
