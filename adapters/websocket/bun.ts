/**
 * WebSockets on `Bun.serve` (the `bun` adapter, and cluster workers on Bun): an
 * accepted upgrade (core/websocket.ts) is completed with `server.upgrade`, and Bun's
 * `websocket` handlers report to the app's {@linkcode WebSocketSession}.
 *
 * Bun fixes its limits per server: `maxPayloadLength` is the largest
 * `maxMessageSize` of the routes declared when the server starts (each route's own
 * limit is checked too), and its back-pressure limit is twice the largest
 * `maxBufferedAmount`, so Carafe's own check (close 1008) comes first. Pings and the
 * idle timeout are Carafe's, per route.
 *
 * @example
 * ```ts
 * import { bunWebSockets } from "./bun.ts";
 * const webSockets = bunWebSockets(console.error);
 * // Bun.serve({ fetch: webSockets.wrap(fetch), websocket: webSockets.handlers() });
 * ```
 *
 * @module
 */
import { declaredWebSockets, upgradeHeaders, upgradeOf, WEBSOCKET_DEFAULTS } from "../../core/websocket.ts";
import { SessionSet, type Transport, WebSocketSession } from "./session.ts";

// The type-checker runs with Node's types only; Bun's API is reached through globalThis.
// deno-lint-ignore no-explicit-any
type Any = any;

/** A Bun fetch handler (request, server) → answer; `undefined` once upgraded. */
type BunFetch = (req: Request, server: Any) => Response | Promise<Response> | undefined | Promise<Response | undefined>;

/** Per connection: the session and whoever waits for Bun's `drain`. */
interface Connection {
  session: WebSocketSession;
  drainWaiters: Array<() => void>;
}

/** Bun's ServerWebSocket as a {@linkcode Transport}. */
function bunTransport(ws: Any, conn: Connection): Transport {
  return {
    // Bun's answer: bytes written (all of it), -1 queued behind back-pressure, 0 dropped.
    send: (data) => ws.send(data) > 0 ? 0 : ws.getBufferedAmount(),
    get bufferedAmount() {
      return ws.getBufferedAmount() as number;
    },
    drained: () => ws.getBufferedAmount() === 0 || ws.readyState !== 1 ? Promise.resolve() : new Promise((r) => conn.drainWaiters.push(r)),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    ping: () => void ws.ping(),
  };
}

const wake = (conn: Connection) => {
  for (const w of conn.drainWaiters.splice(0)) w();
};

/**
 * The bun adapter's WebSocket support: `wrap` a fetch handler so accepted upgrades
 * are completed, `handlers()` for `Bun.serve`'s `websocket` option, `sessions` for
 * shutdown.
 *
 * @example
 * ```ts
 * import { bunWebSockets } from "./bun.ts";
 * const { wrap, handlers, sessions } = bunWebSockets((line) => console.error(line));
 * ```
 */
export function bunWebSockets(log: (line: string) => void): { wrap(fetch: BunFetch): BunFetch; handlers(): Any; sessions: SessionSet } {
  const sessions = new SessionSet();
  const declared = declaredWebSockets();
  const wrap = (fetch: BunFetch): BunFetch => (req, server) => {
    const res = fetch(req, server);
    if (declared.routes === 0) return res;
    const check = (r: Response | undefined) => {
      const upgrade = upgradeOf(r);
      if (upgrade === undefined) return r;
      const conn: Connection = { session: new WebSocketSession(upgrade, log), drainWaiters: [] };
      const headers = upgradeHeaders(r!.headers);
      if (upgrade.protocol) headers.push(["sec-websocket-protocol", upgrade.protocol]);
      if (server.upgrade(req, { data: conn, headers })) return undefined;
      return new Response("This connection cannot be upgraded to a WebSocket.", { status: 400, headers: { "content-type": "text/plain; charset=UTF-8" } });
    };
    return res instanceof Promise ? res.then(check) : check(res);
  };
  const handlers = () => ({
    maxPayloadLength: declared.maxMessageSize || WEBSOCKET_DEFAULTS.maxMessageSize,
    backpressureLimit: 2 * (declared.maxBufferedAmount || WEBSOCKET_DEFAULTS.maxBufferedAmount),
    closeOnBackpressureLimit: false,
    idleTimeout: 0, // Carafe pings and times out per route (session.ts)
    sendPings: false,
    open(ws: Any) {
      const conn = ws.data as Connection;
      conn.session.attach(bunTransport(ws, conn));
      sessions.add(conn.session);
      conn.session.opened();
    },
    message(ws: Any, message: string | Uint8Array) {
      const data = typeof message === "string" ? message : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
      (ws.data as Connection).session.received(data);
    },
    close(ws: Any, code: number, reason: string) {
      const conn = ws.data as Connection;
      wake(conn);
      conn.session.closed(code || 1006, reason ?? "");
    },
    drain(ws: Any) {
      wake(ws.data as Connection);
    },
    ping(ws: Any) {
      (ws.data as Connection).session.seen();
    },
    pong(ws: Any) {
      (ws.data as Connection).session.seen();
    },
  });
  return { wrap, handlers, sessions };
}
