/**
 * HTTP/2 in the node adapter: with `tls` under Node, one port speaks HTTP/2 and
 * HTTP/1.1 (ALPN) through `node:http2`'s compatibility API, whose request and response
 * look like node:http's to the handler. What differs is here: no `Connection` header
 * (node:http2 drops it with a warning), one socket carries many streams (so a stream is
 * cancelled, never its socket), and sessions close with a GOAWAY on shutdown or when
 * idle with no stream open.
 *
 * @example
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { run } from "../mod.ts";
 * const server = await run({ app: new Carafe().get("/", () => "hi"), server: "node", port: 0, quiet: true, tls: { cert: "cert.pem", key: "key.pem" } });
 * await server.close();
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ServeOptions } from "../adapter.ts";
import { readPem } from "../../shims/tls.ts";

/**
 * Whether a request or response is an HTTP/2 stream (node:http2's compatibility objects
 * carry their `stream`). HTTP/2 has no `Connection` header (node:http2 drops it with a
 * warning) and one socket carries many streams, so it is never closed for one of them.
 */
export const isH2 = (x: IncomingMessage | ServerResponse): boolean => "stream" in x;
/** `Connection: close` for HTTP/1, nothing for HTTP/2. */
export const closeAfter = (x: IncomingMessage | ServerResponse): { connection?: string } => isH2(x) ? {} : { connection: "close" };
/** NGHTTP2_CANCEL: the code for "this stream's remaining request body is not wanted". */
export const H2_CANCEL = 8;

/**
 * `http2.createSecureServer` with `allowHTTP1`: HTTP/2 and HTTP/1.1 on one port. Typed
 * as node:http's server, which it stands in for (listen, close, setTimeout, events).
 */
export async function createH2Server(
  tls: NonNullable<ServeOptions["tls"]>,
  maxHeaderSize: number | undefined,
  handler: (im: IncomingMessage, res: ServerResponse) => void,
): Promise<import("node:http").Server> {
  const http2 = await import("node:http2");
  const h2 = http2.createSecureServer({
    allowHTTP1: true,
    cert: await readPem(tls.cert),
    key: await readPem(tls.key),
    // The header block a client may send, advertised in SETTINGS (as maxHeaderSize is for HTTP/1).
    ...(maxHeaderSize ? { settings: { maxHeaderListSize: maxHeaderSize } } : {}),
  }, handler as never);
  return h2 as unknown as import("node:http").Server;
}

/** The parts of node:http2's session used here. */
interface H2Session {
  close(): void;
  destroy(): void;
  on(event: "stream", listener: (stream: { once(event: "close", listener: () => void): void }) => void): void;
  once(event: "close", listener: () => void): void;
}

/**
 * HTTP/2 sessions of a server made by node:http2 (none on the others): closing them
 * gracefully (GOAWAY) or at once, and the idle timeout. A session is idle when no stream
 * is open: `idle` ms later it gets a GOAWAY (a stream in progress, even a quiet event
 * stream, is never cut for idleness). node:http2's own timeout is not used for this: it
 * fires once and not again after the streams end.
 */
export function trackSessions(server: import("node:http").Server, idle: number): {
  owns(socket: Socket): boolean;
  closeAll(): void;
  destroyAll(): void;
} {
  const sessions = new Set<H2Session>();
  server.on("session", (session: H2Session) => {
    sessions.add(session);
    h2Sessions.add(session);
    let open = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      if (!idle) return;
      timer = setTimeout(() => open === 0 && session.close(), idle);
      (timer as unknown as { unref?: () => void }).unref?.();
    };
    arm();
    session.on("stream", (stream) => {
      open++;
      clearTimeout(timer);
      stream.once("close", () => {
        if (--open === 0) arm();
      });
    });
    session.once("close", () => {
      clearTimeout(timer);
      sessions.delete(session);
    });
  });
  return {
    // An HTTP/2 connection's socket is left to its session's GOAWAY.
    owns: (socket) => (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === "h2",
    closeAll: () => sessions.forEach((s) => s.close()),
    destroyAll: () => sessions.forEach((s) => s.destroy()),
  };
}

/** Every HTTP/2 session seen, to tell one from a socket. */
const h2Sessions = new WeakSet<object>();

/**
 * Whether the server-wide inactivity timeout is reporting an HTTP/2 session, whose
 * idleness {@linkcode trackSessions} handles itself (so the socket rules do not apply).
 */
export function isH2Session(target: Socket | object): boolean {
  return h2Sessions.has(target);
}
