/**
 * The `node` server: `node:http` (or, with `tls` under Node, `node:http2` serving
 * HTTP/2 and HTTP/1.1, see ./http2.ts) with Carafe's timeouts, header limit, `Expect:
 * 100-continue` refusal, WebSocket upgrades, and a graceful drain on close.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Adapter, ServeOptions, Server } from "../adapter.ts";
import { chmodSocket, closeOnce, delay, displayUrl, idleTimeoutOf, InFlight, logError, removeStaleSocket, unlinkQuietly } from "../common.ts";
import { readPem } from "../../shims/tls.ts";
import { runtime } from "../../shims/runtime.ts";
import { attachWebSockets } from "../websocket/node.ts";
import { nodeHandlers } from "./handler.ts";
import { createH2Server, isH2Session, trackSessions } from "./http2.ts";

/**
 * Serves with `node:http` (or `node:https` with `tls`). Works under Node, and under
 * Bun and Deno through their node:http compatibility (slower there than their native
 * servers, which `auto` picks instead).
 *
 * @example
 * ```ts
 * import { nodeAdapter } from "./server.ts";
 * import { run } from "../mod.ts";
 * import { Carafe } from "../../mod.ts";
 * await run({ app: new Carafe(), server: nodeAdapter, port: 0 });
 * ```
 */
export const nodeAdapter: Adapter = {
  name: "node",
  label: "NodeServer()",
  async serve(o: ServeOptions): Promise<Server> {
    const idle = idleTimeoutOf(o);
    const inflight = new InFlight();
    const endRequest = () => inflight.end();
    const state = { closing: false };
    const { handle: handler, tooLarge } = nodeHandlers(o.app, {
      scheme: o.tls ? "https" : "http",
      log: o.log,
      accessLog: !o.quiet,
      track: () => {
        inflight.start();
        return endRequest;
      },
      closing: () => state.closing,
    });
    const server = await createNodeServer(o, idle, handler);
    // WebSocket routes (adapters/websocket/): the upgrade event, and its sockets on shutdown.
    const webSockets = attachWebSockets(server, { app: o.app, log: o.log, scheme: o.tls ? "https" : "http" });
    // Inactivity: no byte either way for idleTimeout while it is the client's turn (an
    // announced body that stops arriving, a response the client stops reading) closes
    // the connection. The app's turn is not idleness: a handler still working on a fully
    // received request (a long poll) or a stream waiting for its next chunk (quiet SSE)
    // is never cut.
    if (idle) server.setTimeout(idle, onInactive);
    // Expect: 100-continue: refuse a declared body over maxBodySize before the client
    // sends it (without a listener Node sends 100 Continue unasked).
    if (Number.isFinite(o.maxBodySize)) {
      server.on("checkContinue", (im: IncomingMessage, res: ServerResponse) => {
        if (Number(im.headers["content-length"]) > o.maxBodySize) return tooLarge(im, res, o.maxBodySize);
        res.writeContinue();
        handler(im, res);
      });
    }
    const sockets = trackSockets(server, !!o.tls);
    const h2 = trackSessions(server, idle);
    server.on("clientError", answerClientError);
    const url = await listenNode(server, o);
    return closeOnce(url, async () => {
      // Graceful drain. From now on every answer carries Connection: close.
      state.closing = true;
      const socketsClosed = webSockets.sessions.closeAll(1001, "server shutting down", o.shutdownTimeout);
      const stopped = new Promise<void>((r) => stopListening(server, () => r()));
      // Connections without a request in flight (just accepted, or kept alive) get a
      // short grace to send one: it is answered, then the connection closes.
      const grace = Math.min(DRAIN_GRACE, o.shutdownTimeout);
      if (sockets.open.size > 0) await Promise.race([delay(grace), sockets.allGone()]);
      for (const s of sockets.open) if (!responding(s) && !webSockets.owns(s) && !h2.owns(s)) s.destroy();
      // HTTP/2: GOAWAY; the streams in flight finish, then each session closes its socket.
      h2.closeAll();
      // In-flight requests and WebSocket closing handshakes finish, up to shutdownTimeout; then everything is cut.
      await Promise.race([Promise.all([inflight.idle(), socketsClosed]), delay(Math.max(0, o.shutdownTimeout - grace))]);
      server.closeAllConnections?.();
      h2.destroyAll();
      for (const s of sockets.open) s.destroy();
      await Promise.race([stopped, delay(1000)]);
      if (o.socket) await unlinkQuietly(o.socket);
    });
  },
};


/** `node:http`'s server (or `node:https`'s with `tls`) with Carafe's timeouts and header limit. */
async function createNodeServer(
  o: ServeOptions,
  idle: number,
  handler: (im: IncomingMessage, res: ServerResponse) => void,
): Promise<import("node:http").Server> {
  const serverOptions: Record<string, unknown> = idle
    ? {
      // The whole header block must arrive within idleTimeout, and a kept-alive
      // connection may wait that long for its next request.
      headersTimeout: idle,
      keepAliveTimeout: idle,
      connectionsCheckingInterval: Math.min(1_000, idle),
      // No deadline for a whole request (Node's 300 s default fails a big upload on a
      // slow link with 408): the inactivity timeout cuts a client that stops sending.
      requestTimeout: 0,
    }
    : { headersTimeout: 0, keepAliveTimeout: 0, requestTimeout: 0 };
  if (o.maxHeaderSize) serverOptions.maxHeaderSize = o.maxHeaderSize;
  if (o.tls && runtime === "node") return await createH2Server(o.tls, o.maxHeaderSize, handler);
  if (o.tls) {
    const https = await import("node:https");
    return https.createServer({ ...serverOptions, cert: await readPem(o.tls.cert), key: await readPem(o.tls.key) }, handler);
  }
  const http = await import("node:http");
  return http.createServer(serverOptions, handler);
}

/**
 * The server's open connections, and a promise for when the last one closed. With TLS
 * they are the TLS sockets (node:http's parser and its `_httpMessage` live on those).
 */
function trackSockets(server: import("node:http").Server, tls: boolean): { open: Set<Socket>; allGone(): Promise<void> } {
  const open = new Set<Socket>();
  let gone: (() => void) | undefined;
  server.on(tls ? "secureConnection" : "connection", (s: Socket) => {
    open.add(s);
    s.once("close", () => {
      open.delete(s);
      if (open.size === 0) gone?.();
    });
  });
  return { open, allGone: () => new Promise<void>((r) => (gone = r)) };
}

/** A request Node could not parse: 431 / 408 / 400 and close, never a throw. */
function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable || (err.code === "ECONNRESET")) return void socket.destroy();
  const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large"
    : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Listens on `o.socket` or `o.host:o.port`; resolves with the URL to show. */
async function listenNode(server: import("node:http").Server, o: ServeOptions): Promise<string> {
  if (o.socket) await removeStaleSocket(o.socket);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const ok = () => {
      server.off("error", reject);
      resolve();
    };
    if (o.socket) server.listen(o.socket, ok);
    else server.listen(o.port, o.host, ok);
  });
  server.on("error", (err) => logError(o.log, "server error", err));
  if (o.socket) {
    await chmodSocket(o.socket, o.socketMode);
    return `unix:${o.socket}`;
  }
  // A string when a host (Phusion Passenger) made node:http listen on its Unix socket.
  const addr = server.address() as { port: number } | string;
  return typeof addr === "string" ? `unix:${addr}` : displayUrl(o.tls ? "https" : "http", o.host, addr.port);
}

/** How long connections without a request in flight may still send one after `close()` (at most shutdownTimeout). */
const DRAIN_GRACE = 1000;

/** Is a response in progress on this connection? (node:http keeps it in `socket._httpMessage`.) */
function responding(socket: Socket): boolean {
  return !!(socket as Socket & { _httpMessage?: unknown })._httpMessage;
}

/** The server-wide socket timeout: cut the connection unless it is the app's turn. */
function onInactive(socket: Socket): void {
  // node:http2 reports an HTTP/2 session: its idleness is trackSessions' business.
  if (isH2Session(socket)) return;
  const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (res && !res.writableEnded) {
    // Headers not sent: the handler is working, fine once the request has fully arrived.
    // Headers sent: a streamed body; fine unless writes wait for the client to read.
    const appsTurn = res.headersSent ? !res.writableNeedDrain : res.req?.complete !== false;
    if (appsTurn) return;
  }
  socket.destroy();
}

/**
 * Stops accepting connections without closing the open ones: Node ≥ 19's
 * `server.close()` also destroys every idle keep-alive connection at once, which
 * would reset a client that is sending its next request right now; the drain in
 * `close()` gives those a grace period instead.
 */
function stopListening(server: import("node:http").Server, onClosed: () => void): void {
  const s = server as unknown as { closeIdleConnections?: () => void };
  const own = Object.hasOwn(s, "closeIdleConnections");
  const original = s.closeIdleConnections;
  s.closeIdleConnections = () => {};
  try {
    server.close(() => onClosed());
  } finally {
    if (own) s.closeIdleConnections = original;
    else delete s.closeIdleConnections;
  }
}

