/**
 * How a process serving with `run()` reacts to signals: SIGINT and SIGTERM close every
 * running server (in-flight requests finish, up to `shutdownTimeout`), wait for
 * `req.waitUntil` work, then exit 0; a second signal exits at once. A single-process
 * server logs SIGHUP and keeps serving (it has nothing to restart in place).
 *
 * @module
 */
import type { Server } from "./adapter.ts";
import { backgroundWork } from "../core/platform.ts";
import { exit, onSignal } from "../shims/runtime.ts";
import type { PassengerHost } from "./passenger.ts";

export interface Running {
  server: Server;
  /** How long the shutdown may take; `req.waitUntil` work gets as long after the last answer. */
  shutdownTimeout: number;
  closing?: Promise<void>;
}
export const running: Set<Running> = new Set<Running>();
let signalsInstalled = false;
let signalCount = 0;

export function installSignals(log: (line: string) => void, host: PassengerHost | undefined): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  const onStop = () => {
    signalCount++;
    if (signalCount > 1) {
      // The user insists: stop now, without waiting for in-flight requests.
      exit(0);
    }
    const servers = [...running];
    const all = servers.map((r) => (r.closing ??= r.server.close()));
    Promise.allSettled(all).then(async (results) => {
      for (const r of results) if (r.status === "rejected") log(`shutdown: ${String(r.reason)}`);
      // Work handlers gave to req.waitUntil (core/platform.ts) finishes before the exit.
      await backgroundWork(Math.max(0, ...servers.map((r) => r.shutdownTimeout)));
      exit(0);
    });
  };
  onSignal("SIGINT", onStop);
  onSignal("SIGTERM", onStop);
  // Passenger restarting or stopping the app: finish the requests in flight first
  // (without a listener its loader exits the process at once).
  host?.onStop(onStop);
}

/**
 * What a single-process server says when it gets SIGHUP (`systemctl reload`, `kill -HUP`):
 * it has no workers to restart one at a time, so it keeps serving instead of dying
 * (SIGHUP's default action), which would take the instance down for good under
 * `Restart=on-failure`.
 */
const SIGHUP_SINGLE_PROCESS =
  "SIGHUP: a single process has nothing to restart in place, so it keeps serving; for rolling restarts " +
  "run with --workers N (the cluster server restarts its workers one at a time on SIGHUP); restart it to load new code";

/** The adapters whose `run()` turns SIGHUP into that log line (CGI and the cluster are not among them). */
export const SINGLE_PROCESS_SERVERS: Set<string> = new Set(["deno", "bun", "node", "fastcgi"]);
/** Single-process servers running now, each with its log; SIGHUP is handled while there is one. */
const hupHolders = new Map<Running, (line: string) => void>();
let offHup: (() => void) | undefined;

/**
 * While `entry` runs, SIGHUP is logged (once, on the log of the oldest server still
 * running) rather than fatal. When the last such server has finished, the listener is
 * removed again, so the process gets SIGHUP's default behaviour back.
 */
export function holdSighup(entry: Running, log: (line: string) => void): void {
  hupHolders.set(entry, log);
  offHup ??= onSignal("SIGHUP", () => hupHolders.values().next().value?.(SIGHUP_SINGLE_PROCESS));
  const release = () => {
    hupHolders.delete(entry);
    if (hupHolders.size === 0) {
      offHup?.();
      offHup = undefined;
    }
  };
  entry.server.finished.then(release, release);
}
