/**
 * The cluster supervisor's clocks: how long a worker may take to start, how the
 * respawns of a crashing slot back off, and how a retiring worker drains. Pure: no
 * process, no timer.
 *
 * @example
 * ```ts
 * import { clusterTimings, respawnBackoff } from "./timings.ts";
 * const t = clusterTimings(undefined); // the defaults
 * respawnBackoff(2, 500, t);           // { failures: 3, delayMs: 400 }
 * ```
 *
 * @module
 */

/** The supervisor's clocks (see {@linkcode clusterTimings}). */
export interface Timings {
  /** Back-off between respawns of a slot whose workers keep dying: this, doubling… */
  backoffFirstMs: number;
  /** … up to this. */
  backoffMaxMs: number;
  /** A worker that lived this long counts as healthy: its slot's back-off starts over. */
  healthyAfterMs: number;
  /** How long a new worker may take to start listening. */
  readyTimeoutMs: number;
}

/** The documented defaults: 100 ms doubling to 10 s, reset after 10 s; 30 s to start listening. */
export const TIMINGS: Timings = { backoffFirstMs: 100, backoffMaxMs: 10_000, healthyAfterMs: 10_000, readyTimeoutMs: 30_000 };

/**
 * Internal, for Carafe's own tests only (not a supported setting): JSON that overrides
 * some {@linkcode Timings} fields, so the tests can watch the back-off cap and reset
 * without waiting 10 s and more.
 */
export const TIMINGS_ENV = "CARAFE_CLUSTER_TEST_TIMINGS";

/**
 * The defaults, with the fields of `json` (a {@linkcode TIMINGS_ENV} value) that are
 * numbers > 0 instead; anything else in it (or JSON that does not parse) is ignored.
 *
 * @example
 * ```ts
 * import { clusterTimings } from "./timings.ts";
 * clusterTimings('{"backoffMaxMs": 400}').backoffMaxMs; // 400
 * clusterTimings("not json").backoffMaxMs;              // 10000
 * ```
 */
export function clusterTimings(json: string | undefined): Timings {
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
 * import { respawnBackoff } from "./timings.ts";
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

/**
 * The back-off delay after `failures` failures in a row (≥ 1).
 *
 * @example
 * ```ts
 * import { backoffDelay, TIMINGS } from "./timings.ts";
 * backoffDelay(3, TIMINGS); // 400
 * ```
 */
export function backoffDelay(failures: number, t: Pick<Timings, "backoffFirstMs" | "backoffMaxMs">): number {
  return Math.min(t.backoffMaxMs, t.backoffFirstMs * 2 ** Math.max(0, failures - 1));
}

/**
 * How often a worker past `maxRequestsPerWorker` repeats its request to be recycled
 * while it keeps serving (its replacement failed to start, or the primary was busy).
 */
export const RECYCLE_RESEND_MS = 1_000;

/**
 * Rolling restart: how long a retiring worker keeps serving with `Connection: close`
 * on every response before it stops accepting (see "Rolling restarts" in `mod.ts`).
 */
export const DRAIN_GRACE_MS = 1_000;
