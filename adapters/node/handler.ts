/**
 * The node:http request listener: {@linkcode toNodeHandler} for embedding an app in an
 * existing node:http server or framework, and the same listener the `node` server uses.
 * Per request: a lazy {@linkcode NodeRequest}, `app.handle()` for a Carafe app (its
 * `Reply` is written by ./reply.ts) or `app.fetch()` for any other, the access log line,
 * and the 414/500 answers no handler gives. Pipelined requests wait their turn
 * (./pipelining.ts).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FetchApp, ServeInfo } from "../adapter.ts";
import type { Reply } from "../../core/reply.ts";
import type { FastPathApp } from "../../core/contract.ts";
import { accessLine, CLIENT_CLOSED, logError, MAX_URL_LENGTH } from "../common.ts";
import { writeStderr } from "../../shims/runtime.ts";
import { waitForTurn } from "./pipelining.ts";
import { NodeRequest } from "./request.ts";
import { HostCheck } from "../host.ts";
import { cancelBody, type LogRecord, writeReply } from "./reply.ts";
import { closeAfter } from "./http2.ts";

/**
 * Options of {@linkcode toNodeHandler}.
 *
 * @example
 * ```ts
 * import type { NodeHandlerOptions } from "./handler.ts";
 * const options: NodeHandlerOptions = { scheme: "https", accessLog: true };
 * ```
 */
export interface NodeHandlerOptions {
  /** `"https"` when the server is TLS (used to build `req.url`). Default `"http"`. */
  scheme?: "http" | "https";
  /** Access-log / error line writer; access lines only when `accessLog`. Default: stderr. */
  log?: (line: string) => void;
  /** Write a Common Log Format line per request. Default `false`. */
  accessLog?: boolean;
  /**
   * Called when a request starts; the returned function when it is over (shutdown
   * bookkeeping), exactly once per request. Returning the same function every time
   * saves a closure per request.
   */
  track?: () => () => void;
  /** When true, every response carries `Connection: close` (graceful shutdown). */
  closing?: () => boolean;
}

type HandleApp = FetchApp & Partial<Pick<FastPathApp, "handle">>;

const byteLength = (s: string): number =>
  (globalThis as unknown as { Buffer: { byteLength(s: string): number } }).Buffer.byteLength(s);

/** The body of the 400 for a Host header that is not `host[:port]`. */
const BAD_HOST = "Bad Request: invalid Host header\n";

/**
 * Turns an app into a `(req, res)` listener for `node:http`/`node:https` (or Express,
 * Connect and friends, as the last handler): Bottle's mod_wsgi story.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { Carafe } from "../../mod.ts";
 * import { toNodeHandler } from "./handler.ts";
 * const app = new Carafe().get("/", () => "Hello from inside node:http");
 * createServer(toNodeHandler(app)).listen(3000);
 * ```
 */
export function toNodeHandler(
  app: FetchApp,
  options: NodeHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  return nodeHandlers(app, options).handle;
}


/**
 * The request listener of {@linkcode toNodeHandler}, and the early `413` answer the
 * node adapter gives to an `Expect: 100-continue` request whose declared body is too big.
 */
export function nodeHandlers(app: FetchApp, options: NodeHandlerOptions): {
  handle: (im: IncomingMessage, res: ServerResponse) => void;
  tooLarge: (im: IncomingMessage, res: ServerResponse, limit: number) => void;
} {
  const scheme = options.scheme ?? "http";
  const hosts = new HostCheck();
  const log = options.log ?? ((line: string) => writeStderr(line + "\n"));
  const accessLog = options.accessLog ?? false;
  const track = options.track;
  const closing = options.closing;
  const handle = typeof (app as HandleApp).handle === "function"
    ? (app as Required<HandleApp>).handle.bind(app)
    : undefined;

  const fail = (res: ServerResponse, err: unknown) => {
    logError(log, "Unhandled error while serving a request", err);
    if (!res.headersSent) {
      res.writeHead(500, { "content-type": "text/plain", "content-length": "21", ...closeAfter(res) });
      res.end("Internal Server Error");
    } else res.destroy();
  };

  /**
   * Writes the access line once the exchange is over (answered, or the client left):
   * stamped with the arrival time, body bytes as sent (`-` for HEAD and bodyless
   * answers), 499 when the client left before the answer started.
   */
  const logWhenDone = (im: IncomingMessage, res: ServerResponse): LogRecord => {
    const start = Date.now();
    const remote = im.socket?.remoteAddress;
    const rec: LogRecord = {};
    res.once("close", () => {
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
      log(accessLine(remote, im.method ?? "-", im.url ?? "/", im.httpVersion, status, rec.bytes, new Date(start)));
    });
    return rec;
  };

  function carafeNodeHandler(im: IncomingMessage, res: ServerResponse): void {
    // A pipelined request starts once the answers ahead of it are sent (node_pipelining.ts).
    if (res.socket === null) return waitForTurn(im, res, carafeNodeHandler);
    const done = track?.();
    if (done) res.on("close", done); // a response closes once: no once() wrapper needed
    const rec = accessLog ? logWhenDone(im, res) : undefined;
    if ((im.url?.length ?? 0) > MAX_URL_LENGTH) {
      res.writeHead(414, { "content-type": "text/plain", "content-length": "12", ...closeAfter(res) });
      res.end("URI Too Long");
      if (rec) rec.bytes = 12;
      return;
    }
    const req = new NodeRequest(im, res, scheme);
    const host = req.hostHeader;
    if (host !== undefined && host !== "" && !hosts.ok(host)) {
      // Not host[:port]: 400 (RFC 9112 §3.2), as nginx and the other servers answer.
      res.writeHead(400, { "content-type": "text/plain; charset=UTF-8", "content-length": String(BAD_HOST.length), ...closeAfter(res) });
      res.end(BAD_HOST);
      if (rec) rec.bytes = BAD_HOST.length;
      return;
    }
    const info = new PeerInfo(im);
    let pending: Reply | Promise<Reply>;
    try {
      pending = handle
        ? handle(req, info)
        : Promise.resolve(app.fetch(req.toRequest(), info)).then(responseToReply);
    } catch (err) {
      return fail(res, err);
    }
    // A Carafe app answers synchronously when nothing had to wait: write at once.
    if (!(pending instanceof Promise)) return send(im, res, req, pending, rec);
    pending.then((reply) => send(im, res, req, reply, rec), (err) => fail(res, err));
  }

  function send(im: IncomingMessage, res: ServerResponse, req: NodeRequest, reply: Reply, rec: LogRecord | undefined): void {
    if (res.destroyed) {
      cancelBody(reply);
      return;
    }
    try {
      writeReply(im, res, req, reply, closing?.() ?? false, fail, rec);
    } catch (err) {
      // A header node:http refuses (it is stricter than Headers): never an uncaught exception.
      cancelBody(reply);
      fail(res, err);
    }
  }

  function tooLarge(im: IncomingMessage, res: ServerResponse, limit: number): void {
    const done = track?.();
    if (done) res.on("close", done); // a response closes once: no once() wrapper needed
    const rec = accessLog ? logWhenDone(im, res) : undefined;
    const text = `Request body is larger than the limit of ${limit} bytes.`;
    const length = byteLength(text);
    // The client has not sent the body (it waits for 100 Continue): close after answering.
    res.writeHead(413, { "content-type": "text/plain; charset=UTF-8", "content-length": String(length), ...closeAfter(res) });
    res.end(text);
    if (rec) rec.bytes = length;
  }

  return { handle: carafeNodeHandler, tooLarge };
}

/**
 * `ServeInfo` that asks the socket for the peer's address only when someone reads it:
 * `socket.remoteAddress` is a call into the runtime (getpeername) on every read.
 */
class PeerInfo implements ServeInfo {
  #im: IncomingMessage;
  constructor(im: IncomingMessage) {
    this.#im = im;
  }
  get remoteAddr(): string | undefined {
    return this.#im.socket?.remoteAddress;
  }
}

function responseToReply(r: Response): Reply {
  return { status: r.status, headers: r.headers, body: r.body };
}

