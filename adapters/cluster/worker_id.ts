/**
 * Which cluster worker this process is, if any: the one place that reads
 * `CARAFE_WORKER`. `adapters/mod.ts` (and through it `import "carafe"`) and the
 * cluster adapter both use it; it imports nothing but `shims/runtime.ts`, so that
 * asking does not load the cluster adapter (a CGI program imports Carafe on every
 * request).
 *
 * @example
 * ```ts
 * import { clusterWorkerId, isClusterWorker } from "./worker_id.ts";
 * if (isClusterWorker()) console.log(`worker ${clusterWorkerId()}`);
 * ```
 *
 * @module
 */
import { env } from "../../shims/runtime.ts";

/** The environment variable that marks a cluster worker; its value is the worker's slot number (1…N). */
export const WORKER_ENV = "CARAFE_WORKER";

/**
 * The slot number (1…N) of this cluster worker, or `undefined` in the primary
 * or outside a cluster.
 *
 * @example
 * ```ts
 * import { clusterWorkerId } from "./worker_id.ts";
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
 * import { isClusterWorker } from "./worker_id.ts";
 * if (!isClusterWorker()) console.log("primary: runs once");
 * ```
 */
export function isClusterWorker(): boolean {
  return clusterWorkerId() !== undefined;
}
