/**
 * WebSocket routes: {@linkcode websocket} turns a route into a WebSocket endpoint on
 * the `deno`, `bun`, `node` and `cluster` servers.
 *
 * The handler runs like any other: hooks, plugins, `req.params`, cookies, signed
 * cookies and `req.remoteAddr` are all there, and `abort(403)` refuses before anything
 * is accepted. What it returns is an answer that the server's adapter completes with
 * its own upgrade (each one's is in `adapters/websocket/`). Anywhere else (`app.fetch()`
 * called directly, a Worker, FastCGI, CGI) that answer is a plain `426 Upgrade Required`.
 *
 * This module is runtime-neutral: it checks the handshake headers and describes the
 * upgrade; the adapters (adapters/websocket/) do the rest.
 *
 * @example
 * ```ts
 * import { Carafe, run } from "../mod.ts";
 * import { websocket } from "./websocket.ts";
 * const app = new Carafe();
 * app.get("/echo", websocket({ message: (ws, data) => ws.send(data) }));
 * await run({ app, port: 8080 });
 * ```
 *
 * @module
 */
import { HTTPError } from "./errors.ts";
import type { CarafeRequest } from "./request.ts";
import type { CarafeResponse } from "./response.ts";

/** `readyState` values, as in the browser's `WebSocket`. */
export const WebSocketState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;

/**
 * One accepted WebSocket connection, the same object on every runtime.
 *
 * @example
 * ```ts
 * import type { CarafeWebSocket } from "./websocket.ts";
 * function greet(ws: CarafeWebSocket) {
 *   ws.send(`hello ${ws.req.remoteAddr}`);
 * }
 * ```
 */
export interface CarafeWebSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed ({@linkcode WebSocketState}). */
  readonly readyState: number;
  /** The request that opened the connection (params, headers, cookies, remoteAddr). */
  readonly req: CarafeRequest;
  /** The subprotocol agreed on (`""` when none). */
  readonly protocol: string;
  /** Bytes handed to `send()` and not yet written to the network. */
  readonly bufferedAmount: number;
  /**
   * Sends a text (string) or binary (bytes) message. Returns the bytes still buffered
   * afterwards (0: all of it went to the network), or `-1` when the socket is not open
   * and the message was dropped. Past `maxBufferedAmount` the socket is closed with
   * 1008, so a client that stops reading cannot make the server's memory grow;
   * `await ws.drained()` between sends to go at the client's pace instead.
   */
  send(data: string | Uint8Array | ArrayBuffer | ArrayBufferView): number;
  /** Resolves once the buffered data has been written (at once when nothing is buffered or the socket closed). */
  drained(): Promise<void>;
  /**
   * Starts the closing handshake. `code`: 1000 (the default) or 3000–4999 for the
   * app's own reasons; `reason`: at most 123 bytes of UTF-8.
   */
  close(code?: number, reason?: string): void;
}

/**
 * What happens on a connection. Every handler is optional; each may be `async`. An
 * exception in `open` or `message` goes to `error` (or the log) and closes the
 * connection with 1011.
 *
 * @example
 * ```ts
 * import type { WebSocketHandlers } from "./websocket.ts";
 * const echo: WebSocketHandlers = { message: (ws, data) => ws.send(data) };
 * ```
 */
export interface WebSocketHandlers {
  /** The connection is open: `ws.send()` works from here on. */
  open?(ws: CarafeWebSocket): unknown;
  /** A whole message: a string for text, bytes for binary. */
  message?(ws: CarafeWebSocket, data: string | Uint8Array): unknown;
  /**
   * The connection is closed: `code` and `reason` from the peer's close frame (1005
   * when it had none), or the code Carafe closed with on a fault (1002, 1007, 1008,
   * 1009, 1011), or 1006 when the connection dropped without a close frame.
   */
  close?(ws: CarafeWebSocket, code: number, reason: string): unknown;
  /** A fault: a handler threw, the peer broke the protocol, a limit was passed. */
  error?(ws: CarafeWebSocket, error: Error): unknown;
}

/**
 * Limits and choices of one WebSocket route.
 *
 * @example
 * ```ts
 * import type { WebSocketOptions } from "./websocket.ts";
 * const options: WebSocketOptions = { maxMessageSize: 64 * 1024, idleTimeout: 30_000, protocols: ["chat.v1"] };
 * ```
 */
export interface WebSocketOptions {
  /** Largest message accepted, in bytes; a bigger one closes with 1009. Default 1 MiB. */
  maxMessageSize?: number;
  /**
   * How long a silent peer may take to prove it is alive: silent for half of it, it gets
   * a ping; still silent half of it later, it is dropped (after 1–1.5× this in all).
   * Milliseconds; default 60 000; `0` disables.
   */
  idleTimeout?: number;
  /** Most bytes waiting to be sent before the socket is closed with 1008 (a client that does not read). Default 4 MiB. */
  maxBufferedAmount?: number;
  /** Subprotocols the route speaks, preferred first; the first one the client offers is chosen. */
  protocols?: string[];
  /**
   * Origins allowed to connect (`"https://example.com"`); others get 403. Browsers send
   * cookies with a cross-site WebSocket, so set this when a cookie authenticates.
   */
  origins?: string[];
}

/** The options with their defaults. */
export type WebSocketLimits = Required<Omit<WebSocketOptions, "protocols" | "origins">>;

/** Defaults of {@linkcode WebSocketOptions}. */
export const WEBSOCKET_DEFAULTS: Readonly<WebSocketLimits> = Object.freeze({
  maxMessageSize: 1024 * 1024,
  idleTimeout: 60_000,
  maxBufferedAmount: 4 * 1024 * 1024,
});

/** A handshake the app accepted: what the adapter needs to finish it. */
export interface WebSocketUpgrade {
  /** The connection's handlers. */
  handlers: WebSocketHandlers;
  /** The request that asked. */
  req: CarafeRequest;
  /** The client's `Sec-WebSocket-Key`. */
  key: string;
  /** The subprotocol chosen, `""` for none. */
  protocol: string;
  /** The route's limits. */
  limits: WebSocketLimits;
}

/** The accepted handshakes, by the answer that carries them (see {@linkcode upgradeOf}). */
const accepted = new WeakMap<Response, WebSocketUpgrade>();

/** What has been declared in this process; adapters size their runtime's own limits from it. */
const declared = { routes: 0, maxMessageSize: 0, maxBufferedAmount: 0 };
/** Handlers made by {@linkcode websocket}, so `run()` can tell which routes they are. */
const routeHandlers = new WeakSet<object>();

/**
 * What WebSocket routes have been declared in this process: how many, and the largest
 * message and send buffer any of them allows. A server that has to fix these once for
 * all its sockets reads them when it starts.
 *
 * @example
 * ```ts
 * import { declaredWebSockets } from "./websocket.ts";
 * if (declaredWebSockets().routes > 0) console.log("this app speaks WebSocket");
 * ```
 */
export function declaredWebSockets(): Readonly<typeof declared> {
  return declared;
}

/**
 * Whether `handler` is a WebSocket route's handler (made by {@linkcode websocket}).
 *
 * @example
 * ```ts
 * import { isWebSocketHandler, websocket } from "./websocket.ts";
 * isWebSocketHandler(websocket({})); // true
 * ```
 */
export function isWebSocketHandler(handler: unknown): boolean {
  return typeof handler === "function" && routeHandlers.has(handler);
}

/**
 * The handshake an answer carries, if it is an accepted WebSocket upgrade: adapters
 * call this on the `Response` a request ended with. Only the very `Response` the route
 * returned counts, so an `after_request` hook that changes the status, or an error
 * page, is sent as it is.
 *
 * @example
 * ```ts
 * import { upgradeOf } from "./websocket.ts";
 * const upgrade = upgradeOf(new Response("x", { status: 426 })); // undefined
 * ```
 */
export function upgradeOf(response: Response | undefined): WebSocketUpgrade | undefined {
  return response !== undefined && response.status === 426 ? accepted.get(response) : undefined;
}

/** Headers of the tagged answer that are its own, not the app's (they are not copied to the 101). */
const OWN_HEADERS = new Set(["content-type", "content-length", "connection", "upgrade", "transfer-encoding", "keep-alive"]);

/**
 * The headers the app put on an accepted upgrade (`Set-Cookie`, its own `X-…`), to be
 * sent with `101 Switching Protocols`.
 *
 * @example
 * ```ts
 * import { upgradeHeaders } from "./websocket.ts";
 * upgradeHeaders(new Headers({ "set-cookie": "seen=1" })); // [["set-cookie", "seen=1"]]
 * ```
 */
export function upgradeHeaders(headers: Headers): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of headers) {
    if (!OWN_HEADERS.has(name) && !name.startsWith("sec-websocket-")) out.push([name, value]);
  }
  return out;
}

/** Limits on what a client's handshake may carry (every parse has a size and a count limit). */
const MAX_PROTOCOLS_HEADER = 1024;

/** A token list header (`Connection: keep-alive, Upgrade`) contains `token`, case-insensitively. */
function hasToken(value: string | null, token: string): boolean {
  if (value === null || value.length > 1024) return false;
  return value.split(",").some((part) => part.trim().toLowerCase() === token);
}

const BASE64_16 = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Checks the client's handshake (RFC 6455 §4.2.1). Returns its key, or throws the
 * HTTP error to answer: 426 for a plain request (no `Upgrade: websocket`) or another
 * protocol version, 400 for a malformed handshake, 403 for a refused origin.
 */
function checkHandshake(req: CarafeRequest, options: WebSocketOptions): string {
  const h = req.headers;
  const required = { upgrade: "websocket", "sec-websocket-version": "13" };
  if (!hasToken(h.get("upgrade"), "websocket")) {
    throw new HTTPError(426, "This address speaks WebSocket: connect with a WebSocket client (Upgrade: websocket).", { headers: required });
  }
  if (!hasToken(h.get("connection"), "upgrade")) {
    throw new HTTPError(400, "A WebSocket handshake needs `Connection: Upgrade`.");
  }
  if (h.get("sec-websocket-version")?.trim() !== "13") {
    throw new HTTPError(426, "Only WebSocket protocol version 13 (RFC 6455) is spoken here.", { headers: required });
  }
  const key = h.get("sec-websocket-key")?.trim() ?? "";
  if (!BASE64_16.test(key)) {
    throw new HTTPError(400, "A WebSocket handshake needs a Sec-WebSocket-Key of 16 base64-encoded bytes.");
  }
  if (options.origins !== undefined) {
    const origin = h.get("origin");
    if (origin === null || !options.origins.includes(origin)) {
      throw new HTTPError(403, "This WebSocket does not accept connections from that origin.");
    }
  }
  return key;
}

/** The first of the route's protocols that the client offers, `""` for none. */
function chooseProtocol(req: CarafeRequest, protocols: string[] | undefined): string {
  const offered = req.headers.get("sec-websocket-protocol");
  if (!protocols?.length || offered === null || offered.length > MAX_PROTOCOLS_HEADER) return "";
  const list = offered.split(",").slice(0, 32).map((p) => p.trim());
  return protocols.find((p) => list.includes(p)) ?? "";
}

function checkOptions(options: WebSocketOptions): WebSocketLimits {
  const limits = { ...WEBSOCKET_DEFAULTS };
  for (const name of ["maxMessageSize", "idleTimeout", "maxBufferedAmount"] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || Number.isNaN(value) || value < 0 || (value === 0 && name !== "idleTimeout")) {
      throw new RangeError(`websocket(): ${name} must be a number ${name === "idleTimeout" ? "≥ 0 (0 disables it)" : "> 0"}, got ${String(value)}`);
    }
    limits[name] = value;
  }
  return limits;
}

/** The setup of a WebSocket route: its handlers, or a function that makes them per request. */
export type WebSocketSetup<P> =
  | WebSocketHandlers
  | ((req: CarafeRequest<P>, res: CarafeResponse) => WebSocketHandlers | Promise<WebSocketHandlers>);

/**
 * Makes a route handler that accepts WebSocket connections. Give it the handlers, or
 * a function of the request that returns them: it runs before the connection is
 * accepted, so it can check a cookie and `abort(403)`, pick a room from `req.params`,
 * or set a cookie on the `101` answer through `res`.
 *
 * A request that is not a WebSocket handshake gets `426 Upgrade Required` with
 * `Upgrade: websocket`; a malformed handshake 400. Register it with `app.get()`.
 *
 * @example
 * ```ts
 * import { abort, Carafe } from "../mod.ts";
 * import { type CarafeWebSocket, websocket } from "./websocket.ts";
 * const app = new Carafe();
 * const room = new Set<CarafeWebSocket>();
 * app.get("/chat/<name>", websocket((req) => {
 *   const user = req.getSignedCookie("user", "s3cret");
 *   if (!user) abort(403, "Log in first.");
 *   return {
 *     open: (ws) => void room.add(ws),
 *     message: (_ws, text) => room.forEach((peer) => peer.send(`${user}: ${text}`)),
 *     close: (ws) => void room.delete(ws),
 *   };
 * }, { maxMessageSize: 16 * 1024 }));
 * ```
 */
export function websocket<P = Record<string, unknown>>(
  setup: WebSocketSetup<P>,
  options: WebSocketOptions = {},
): (req: CarafeRequest<P>, res: CarafeResponse) => Response | Promise<Response> {
  if (setup === null || (typeof setup !== "object" && typeof setup !== "function")) {
    throw new TypeError("websocket() needs the handlers ({ open, message, close, error }) or a function of the request returning them.");
  }
  const limits = checkOptions(options);
  declared.routes++;
  // The mark run() looks for before it loads anything about WebSockets (adapters/mod.ts).
  (globalThis as Record<symbol, unknown>)[Symbol.for("carafe.websocket")] = true;
  declared.maxMessageSize = Math.max(declared.maxMessageSize, limits.maxMessageSize);
  declared.maxBufferedAmount = Math.max(declared.maxBufferedAmount, limits.maxBufferedAmount);
  const accept = (req: CarafeRequest<P>, key: string, handlers: WebSocketHandlers): Response => {
    if (handlers === null || typeof handlers !== "object") {
      throw new TypeError(`The WebSocket setup for ${req.path} returned ${String(handlers)}; return the handlers ({ open, message, close, error }).`);
    }
    const response = new Response(
      "This WebSocket was accepted, but this server cannot upgrade the connection: serve the app with run() on deno, bun, node or cluster.",
      { status: 426, headers: { "content-type": "text/plain; charset=UTF-8", upgrade: "websocket" } },
    );
    // Resolved now, while the request is live: a server may not say who the peer was
    // once the connection is upgraded, and the socket keeps `req`.
    void req.remoteAddr;
    const protocol = chooseProtocol(req as CarafeRequest, options.protocols);
    accepted.set(response, { handlers, req: req as CarafeRequest, key, protocol, limits });
    return response;
  };
  const handler = (req: CarafeRequest<P>, res: CarafeResponse): Response | Promise<Response> => {
    const key = checkHandshake(req as CarafeRequest, options);
    if (typeof setup !== "function") return accept(req, key, setup);
    const handlers = setup(req, res);
    return handlers instanceof Promise ? handlers.then((h) => accept(req, key, h)) : accept(req, key, handlers);
  };
  routeHandlers.add(handler);
  return handler;
}
