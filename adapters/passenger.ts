/**
 * Phusion Passenger hosting the app inside Apache or nginx (Bottle's mod_wsgi story):
 * how `run()` knows it is there and what Passenger expects of it.
 *
 * Passenger starts Node with its own loader (`helper-scripts/node-loader.js`), which
 * `require()`s the app's startup file, defines a global `PhusionPassenger` event
 * emitter, and replaces `http.Server.prototype.listen` so that the first server to
 * listen gets a Unix socket of Passenger's choosing, whatever host and port it asked
 * for. It sends the whole path (`/app/x` under `PassengerBaseURI /app`) and says the
 * base URI in `PASSENGER_BASE_URI`; it asks the app to stop by closing its stdin and
 * emitting `exit` on `PhusionPassenger` (or exits the process itself when nobody
 * listens to that).
 *
 * This module reads globals only; it loads nothing.
 *
 * @example
 * ```ts
 * import { passengerHost } from "./passenger.ts";
 * const host = passengerHost();
 * if (host) console.log(`inside Phusion Passenger, at ${host.baseUri}`);
 * ```
 *
 * @module
 */
import { env } from "../shims/runtime.ts";

/** What Passenger tells the app it hosts. */
export interface PassengerHost {
  /** The `PassengerBaseURI` the app is served under: `"/"`, or a prefix like `"/app"` (no trailing `/`). */
  baseUri: string;
  /** Calls `stop` when Passenger asks the app to stop (restart, idle shutdown, Apache stopping). */
  onStop(stop: () => void): void;
}

interface PassengerGlobal {
  on(event: "exit", listener: () => void): unknown;
}

/**
 * Passenger's view of this process, or `undefined` when Passenger did not start it
 * (its node loader defines the global `PhusionPassenger`).
 *
 * @example
 * ```ts
 * import { passengerHost } from "./passenger.ts";
 * passengerHost()?.onStop(() => console.log("Passenger asked us to stop"));
 * ```
 */
export function passengerHost(): PassengerHost | undefined {
  const loader = (globalThis as { PhusionPassenger?: PassengerGlobal }).PhusionPassenger;
  if (!loader || typeof loader.on !== "function") return undefined;
  const base = (env("PASSENGER_BASE_URI") ?? "").replace(/\/+$/, "");
  return {
    baseUri: base.startsWith("/") ? base : "/",
    onStop: (stop) => void loader.on("exit", stop),
  };
}
