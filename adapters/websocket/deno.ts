/**
 * WebSockets on `Deno.serve` (the `deno` adapter, and cluster workers on Deno): an
 * accepted upgrade (core/websocket.ts) is completed with `Deno.upgradeWebSocket`, and
 * Deno's socket is wrapped into the app's {@linkcode WebSocketSession}.
 *
 * Deno frames and pings itself: `idleTimeout` is handed to it (whole seconds), and
 * `maxMessageSize` is checked once Deno has read a message (it buffers up to its own
 * 64 MiB first). Deno's framing accepts unmasked client frames and drops some invalid
 * frames without a close code (docs/reference.md: WebSockets).
 *
 * @example
 * ```ts
 * import { denoWebSockets } from "./deno.ts";
 * const webSockets = denoWebSockets(console.error);
 * // Deno.serve({ handler: webSockets.wrap(handler) }); on shutdown: webSockets.sessions.closeAll(...)
 * ```
 *
 * @module
 */
import { declaredWebSockets, upgradeHeaders, upgradeOf, type WebSocketUpgrade } from "../../core/websocket.ts";
import { SessionSet, type Transport, WebSocketSession } from "./session.ts";

// The type-checker runs with Node's types only; Deno's API is reached through globalThis.
// deno-lint-ignore no-explicit-any
type Any = any;

/** How often `drained()` looks at Deno's `bufferedAmount` (Deno has no drain event). */
const DRAIN_POLL_MS = 10;

/** Bytes sent between two looks at Deno's `bufferedAmount`. */
const DENO_CHECK_EVERY = 64 * 1024;

/** A Deno server handler (request, info) → answer. */
type DenoHandler = (req: Request, info: Any) => Response | Promise<Response>;

/** Deno's WebSocket as a {@linkcode Transport}. */
function denoTransport(socket: Any): Transport {
  let sent = 0;
  let buffered = 0;
  return {
    send: (data) => {
      socket.send(data);
      // Deno's bufferedAmount is a call into the runtime: asked only after each 64 KiB
      // sent (or while something is buffered), so the limit may be passed by that much.
      sent += typeof data === "string" ? data.length * 3 : data.byteLength;
      if (sent < DENO_CHECK_EVERY && buffered === 0) return 0;
      sent = 0;
      return (buffered = socket.bufferedAmount as number);
    },
    get bufferedAmount() {
      return socket.bufferedAmount as number;
    },
    drained: async () => {
      while (socket.bufferedAmount > 0 && socket.readyState === 1) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    },
    close: (code, reason) => socket.close(code, reason),
    // Deno has no way to drop a WebSocket's connection without the handshake; close() is what there is.
    terminate: () => socket.close(),
  };
}

/** Completes an accepted upgrade with Deno; the 101 answer to return. */
function accept(req: Request, tagged: Response, upgrade: WebSocketUpgrade, sessions: SessionSet, log: (line: string) => void): Response {
  const Deno = (globalThis as Any).Deno;
  const idle = upgrade.limits.idleTimeout;
  let socket: Any, response: Response;
  try {
    ({ socket, response } = Deno.upgradeWebSocket(req, {
      protocol: upgrade.protocol || undefined,
      idleTimeout: idle > 0 ? Math.max(1, Math.ceil(idle / 1000)) : 0,
    }));
  } catch (err) {
    // Not an upgradable connection (HTTP/2, say): say so instead of a 500.
    return new Response(`This connection cannot be upgraded to a WebSocket: ${(err as Error).message}`, {
      status: 400,
      headers: { "content-type": "text/plain; charset=UTF-8" },
    });
  }
  for (const [name, value] of upgradeHeaders(tagged.headers)) response.headers.append(name, value);
  const session = new WebSocketSession(upgrade, log);
  socket.binaryType = "arraybuffer";
  session.attach(denoTransport(socket));
  socket.onopen = () => {
    sessions.add(session);
    session.opened();
  };
  socket.onmessage = (e: MessageEvent) => session.received(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
  socket.onclose = (e: CloseEvent) => session.closed(e.code || 1006, e.reason ?? "");
  socket.onerror = () => {}; // a close event follows
  return response;
}

/**
 * The deno adapter's WebSocket support: `wrap` a `Deno.serve` handler so accepted
 * upgrades are completed; `sessions` are the open sockets, for shutdown.
 *
 * @example
 * ```ts
 * import { denoWebSockets } from "./deno.ts";
 * const { wrap, sessions } = denoWebSockets((line) => console.error(line));
 * ```
 */
export function denoWebSockets(log: (line: string) => void): { wrap(handler: DenoHandler): DenoHandler; sessions: SessionSet } {
  const sessions = new SessionSet();
  const declared = declaredWebSockets();
  const wrap = (handler: DenoHandler): DenoHandler => (req, info) => {
    const res = handler(req, info);
    // No WebSocket route in this process: nothing to look for (no cost per request).
    if (declared.routes === 0) return res;
    const check = (r: Response) => {
      const upgrade = upgradeOf(r);
      return upgrade === undefined ? r : accept(req, r, upgrade, sessions, log);
    };
    return res instanceof Promise ? res.then(check) : check(res);
  };
  return { wrap, sessions };
}
