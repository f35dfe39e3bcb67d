/**
 * WebSockets on a node:http server (the `node` adapter, and `cluster` workers on
 * Node): the server's `upgrade` event. Such a request never takes node:http's
 * `request` path, so it is routed through the app here as a body-less GET; when the
 * route accepts (see core/websocket.ts) the handshake is completed on the socket,
 * otherwise the app's answer is written and the connection closed.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { Carafe } from "../../mod.ts";
 * import { websocket } from "../../core/websocket.ts";
 * import { attachWebSockets } from "./node.ts";
 * const app = new Carafe().get("/echo", websocket({ message: (ws, data) => ws.send(data) }));
 * const server = createServer();
 * const sockets = attachWebSockets(server, { app, log: console.error });
 * server.listen(8080);
 * ```
 *
 * @module
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import type { Socket } from "node:net";
import type { FetchApp, ServeInfo } from "../adapter.ts";
import { logError, MAX_URL_LENGTH } from "../common.ts";
import { replyToResponse } from "../../core/reply.ts";
import { upgradeOf } from "../../core/websocket.ts";
import { switchingProtocols, writePlainAnswer } from "./handshake.ts";
import { NodeTransport } from "./node_socket.ts";
import { SessionSet, WebSocketSession } from "./session.ts";
import type { FastPathApp } from "../../core/contract.ts";

/** Options of {@linkcode attachWebSockets}. */
export interface NodeWebSocketOptions {
  /** The app whose routes decide. */
  app: FetchApp;
  /** Where errors go. */
  log: (line: string) => void;
  /** `"https"` behind TLS (for `req.url`). Default `"http"`. */
  scheme?: "http" | "https";
}

/** What {@linkcode attachWebSockets} gives back: the open sockets, for shutdown. */
export interface NodeWebSockets {
  /** The open WebSocket connections. */
  sessions: SessionSet;
  /** Whether `socket` was taken over by the upgrade path (the HTTP server must leave it alone). */
  owns(socket: Socket): boolean;
}

/** The web `Request` of an upgrade: method, URL (path from the request line only) and headers. */
function requestOf(im: IncomingMessage, scheme: string): Request {
  let host = im.headers.host;
  if (!host || /[\s/?#@\\]/.test(host)) {
    const s = im.socket;
    const addr = s?.localAddress ?? "localhost";
    host = (addr.includes(":") ? `[${addr}]` : addr) + (s?.localPort ? `:${s.localPort}` : "");
  }
  let target = im.url ?? "/";
  if (target[0] !== "/") {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(target);
    target = m ? m[1] ?? "/" : "/";
  }
  const headers = new Headers();
  const raw = im.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    try {
      headers.append(raw[i], raw[i + 1]);
    } catch { /* a value Headers refuses */ }
  }
  return new Request(`${scheme}://${host}${target}`, { method: im.method ?? "GET", headers });
}

/** The app's answer as a `Response` (a Carafe app's reply, or a fetch app's own). */
async function answerOf(app: FetchApp, request: Request, info: ServeInfo): Promise<Response> {
  const handle = (app as Partial<FastPathApp>).handle;
  if (typeof handle !== "function") return await app.fetch(request, info);
  const reply = await handle.call(app, request, info);
  return reply.response ?? replyToResponse(reply);
}

/**
 * Listens for `upgrade` on `server`: WebSocket routes of `app` are accepted, anything
 * else gets the app's (or an error) answer and a closed connection.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { attachWebSockets } from "./node.ts";
 * const server = createServer();
 * const { sessions } = attachWebSockets(server, { app: { fetch: () => new Response("no") }, log: console.error });
 * ```
 */
export function attachWebSockets(server: HttpServer, options: NodeWebSocketOptions): NodeWebSockets {
  const sessions = new SessionSet();
  const taken = new WeakSet<Socket>();
  const scheme = options.scheme ?? "http";
  const { app, log } = options;
  server.on("upgrade", (im: IncomingMessage, socket: Socket, head: Uint8Array) => {
    taken.add(socket);
    socket.on("error", () => {}); // a reset while we work: "close" ends it
    if ((im.url?.length ?? 0) > MAX_URL_LENGTH) {
      socket.end("HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nURI Too Long");
      return;
    }
    const request = requestOf(im, scheme);
    answerOf(app, request, { remoteAddr: socket.remoteAddress })
      .then((response) => {
        if (socket.destroyed) return response.body?.cancel().catch(() => {});
        const upgrade = upgradeOf(response);
        if (upgrade === undefined) return writePlainAnswer(socket, response, im.method === "HEAD");
        response.body?.cancel().catch(() => {});
        const session = new WebSocketSession(upgrade, log);
        socket.write(switchingProtocols(upgrade, response.headers));
        session.attach(new NodeTransport(socket, head, session));
        sessions.add(session);
        session.opened();
      })
      .catch((err) => {
        logError(log, "Unhandled error while answering an upgrade request", err);
        if (!socket.destroyed) socket.end("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      });
  });
  return { sessions, owns: (socket) => taken.has(socket) };
}
