/**
 * What the cluster's primary and its workers tell each other, and nothing else:
 *
 * - **at spawn**, the worker's environment: {@linkcode WORKER_ENV} (its slot, 1…N),
 *   {@linkcode PORT_ENV} (the shared port, already resolved when `port: 0`) and
 *   {@linkcode SERVER_ENV} (the adapter it runs);
 * - **over the IPC channel**, small objects tagged `carafe`: the worker says `ready`
 *   (it listens) and `recycle` (it has served `maxRequestsPerWorker`); the primary says
 *   `drain` (answer with `Connection: close` from now on) and `stop` (close and exit).
 *
 * Decoding is strict: anything else on the channel (another library's messages, a
 * `null`) is `undefined` and ignored. Pure: no process, no channel.
 *
 * @example
 * ```ts
 * import { decodeToPrimary, message } from "./protocol.ts";
 * decodeToPrimary(message.ready("http://127.0.0.1:8080/")); // { carafe: "ready", url: "http://127.0.0.1:8080/" }
 * decodeToPrimary({ cmd: "something else" });              // undefined
 * ```
 *
 * @module
 */
import { WORKER_ENV } from "./worker_id.ts";

export { WORKER_ENV };
/** The port every worker listens on (the primary resolves `port: 0` to a free one first). */
export const PORT_ENV = "CARAFE_CLUSTER_PORT";
/** The adapter a worker runs (`deno`, `bun`, `node` or a registered one). */
export const SERVER_ENV = "CARAFE_CLUSTER_SERVER";

/** From a worker: `ready` once it listens; `recycle` when it has served `maxRequestsPerWorker`. */
export type ToPrimary = { carafe: "ready"; url: string } | { carafe: "recycle" };
/** From the primary: `drain`: answer every request with `Connection: close` from now on; `stop`: close the server and exit. */
export type ToWorker = { carafe: "drain" } | { carafe: "stop" };

/**
 * The messages, built the one way the decoders accept.
 *
 * @example
 * ```ts
 * import { message } from "./protocol.ts";
 * const order = message.stop(); // { carafe: "stop" }
 * ```
 */
export const message = {
  ready: (url: string): ToPrimary => ({ carafe: "ready", url }),
  recycle: (): ToPrimary => ({ carafe: "recycle" }),
  drain: (): ToWorker => ({ carafe: "drain" }),
  stop: (): ToWorker => ({ carafe: "stop" }),
} as const;

function tag(value: unknown): unknown {
  return value !== null && typeof value === "object" ? (value as { carafe?: unknown }).carafe : undefined;
}

/**
 * A worker's message as the primary reads it, or `undefined` for anything that is not one.
 *
 * @example
 * ```ts
 * import { decodeToPrimary } from "./protocol.ts";
 * decodeToPrimary({ carafe: "recycle" }); // { carafe: "recycle" }
 * decodeToPrimary("ready");               // undefined
 * ```
 */
export function decodeToPrimary(value: unknown): ToPrimary | undefined {
  const kind = tag(value);
  if (kind === "ready") {
    const url = (value as { url?: unknown }).url;
    return { carafe: "ready", url: typeof url === "string" ? url : "" };
  }
  if (kind === "recycle") return { carafe: "recycle" };
  return undefined;
}

/**
 * The primary's order as a worker reads it, or `undefined` for anything that is not one.
 *
 * @example
 * ```ts
 * import { decodeToWorker } from "./protocol.ts";
 * decodeToWorker({ carafe: "drain" }); // { carafe: "drain" }
 * decodeToWorker(null);                // undefined
 * ```
 */
export function decodeToWorker(value: unknown): ToWorker | undefined {
  const kind = tag(value);
  if (kind === "drain" || kind === "stop") return { carafe: kind };
  return undefined;
}

/** What a worker learns from its environment (see {@linkcode workerEnv}). */
export interface WorkerSettings {
  /** The shared port; `undefined` outside a cluster worker. */
  port?: number;
  /** The adapter to run; `undefined` outside a cluster worker. */
  server?: string;
}

/**
 * The environment a worker is spawned with, on top of the primary's own.
 *
 * @example
 * ```ts
 * import { workerEnv } from "./protocol.ts";
 * workerEnv({ slot: 0, port: 8080, server: "node" });
 * // { CARAFE_WORKER: "1", CARAFE_CLUSTER_PORT: "8080", CARAFE_CLUSTER_SERVER: "node" }
 * ```
 */
export function workerEnv(o: { slot: number; port: number; server: string }): Record<string, string> {
  return { [WORKER_ENV]: String(o.slot + 1), [PORT_ENV]: String(o.port), [SERVER_ENV]: o.server };
}

/**
 * Reads back what {@linkcode workerEnv} set, through `get` (an environment lookup).
 *
 * @example
 * ```ts
 * import { readWorkerEnv } from "./protocol.ts";
 * import { env } from "../../shims/runtime.ts";
 * const { port, server } = readWorkerEnv(env);
 * ```
 */
export function readWorkerEnv(get: (name: string) => string | undefined): WorkerSettings {
  const port = get(PORT_ENV);
  return { port: port === undefined ? undefined : Number(port), server: get(SERVER_ENV) };
}
