/**
 * The `node` adapter (`node:http`/`node:https`) and {@linkcode toNodeHandler} for
 * embedding an app in an existing node:http server or framework.
 *
 * Per request it builds no web `Request` and no `Response` when the app is a Carafe
 * app: the app gets a lazy {@linkcode NodeRequest} (URL, `Headers` and body stream are
 * made only when read) and `app.handle()` returns a `Reply` that is written with one
 * `writeHead`; strings and bytes carry a computed `Content-Length`, streams are piped
 * with back-pressure. Client disconnects abort `req.signal`; unread request bodies are
 * drained when small, else the connection is closed after the response. Pipelined
 * requests are handled one after the other, each when the answer ahead of it is sent.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
 * await run({ app: new Carafe().get("/", () => "hi"), server: "node", port: 0 });
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Adapter, FetchApp, ServeInfo, ServeOptions, Server } from "./adapter.ts";
import { TypedReply, type Reply } from "../core/reply.ts";
import {
  accessLine,
  chmodSocket,
  CLIENT_CLOSED,
  delay,
  displayUrl,
  idleTimeoutOf,
  InFlight,
  isBodyless,
  logError,
  MAX_URL_LENGTH,
  removeStaleSocket,
  unlinkQuietly,
} from "./common.ts";
import { waitForTurn } from "./node_pipelining.ts";
import { readPem } from "../shims/tls.ts";
import { attachWebSockets } from "./websocket/node.ts";
import { runtime, writeStderr } from "../shims/runtime.ts";

/** Unread request bodies up to this many bytes are drained to keep the connection; bigger ones close it. */
const DRAIN_LIMIT = 256 * 1024;

const utf8 = new TextDecoder();
const CLIENT_LEFT = "The client closed the connection before sending the whole body.";
const asIs = (body: Uint8Array) => body;
const decodeUtf8 = (body: Uint8Array) => utf8.decode(body);
const parseUtf8Json = (body: Uint8Array): unknown => JSON.parse(utf8.decode(body));

/**
 * Whether a request or response is an HTTP/2 stream (node:http2's compatibility objects
 * carry their `stream`). HTTP/2 has no `Connection` header (node:http2 drops it with a
 * warning) and one socket carries many streams, so it is never closed for one of them.
 */
const isH2 = (x: IncomingMessage | ServerResponse): boolean => "stream" in x;
/** `Connection: close` for HTTP/1, nothing for HTTP/2. */
const closeAfter = (x: IncomingMessage | ServerResponse): { connection?: string } => isH2(x) ? {} : { connection: "close" };
/** NGHTTP2_CANCEL: the code for "this stream's remaining request body is not wanted". */
const H2_CANCEL = 8;


/**
 * The `Request`-compatible object the node adapter hands to the app: `method`, `url`,
 * `headers`, `body` and `signal` are made on first access from the `IncomingMessage`.
 * The body methods (`text()`, `json()`…) and {@linkcode NodeRequest.toRequest} build a
 * real web `Request` for code that needs one.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { NodeRequest } from "./node.ts";
 * createServer((im, res) => {
 *   const req = new NodeRequest(im, res, "http");
 *   res.end(req.url);
 * });
 * ```
 */
export class NodeRequest {
  #im: IncomingMessage;
  #res: ServerResponse;
  #scheme: string;
  #url?: string;
  #headers?: Headers;
  #body?: ReadableStream<Uint8Array> | null;
  #ac?: AbortController;
  #request?: Request;
  /** Declared Content-Length (-1 unknown / chunked, 0 none). */
  declaredLength = 0;
  /** Whether a body is expected at all. */
  hasBody = false;
  /** Bytes of body read so far through {@linkcode NodeRequest.body}. */
  received = 0;
  #host?: string;
  #consumed = false;

  /**
   * Wraps a node:http request; nothing but a scan of the raw header names happens here.
   *
   * @param im the node:http request
   * @param res its response (its `close` aborts {@linkcode NodeRequest.signal})
   * @param scheme "http" or "https"
   */
  constructor(im: IncomingMessage, res: ServerResponse, scheme: string) {
    this.#im = im;
    this.#res = res;
    this.#scheme = scheme;
    // One pass over the raw header list finds what every request needs.
    const raw = im.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const n = name.length;
      if (n === 4 && this.#host === undefined && name.toLowerCase() === "host") this.#host = raw[i + 1];
      else if (n === 10 && this.#host === undefined && name === ":authority") this.#host = raw[i + 1]; // HTTP/2's Host
      else if (n === 14 && name.toLowerCase() === "content-length") {
        const v = Number(raw[i + 1]);
        this.declaredLength = Number.isInteger(v) && v >= 0 ? v : -1;
        this.hasBody = v !== 0;
      } else if (n === 17 && name.toLowerCase() === "transfer-encoding") {
        this.declaredLength = -1;
        this.hasBody = true;
      }
    }
  }

  /** The request method (`GET`, `POST`…). */
  get method(): string {
    return this.#im.method ?? "GET";
  }

  /** The absolute request URL, built from the scheme, `Host` and the request target. */
  get url(): string {
    if (this.#url !== undefined) return this.#url;
    let host = this.#host;
    if (!host || /[\s/?#@]/.test(host)) {
      // HTTP/1.0 without Host (or a Host that would change the URL's meaning): use the socket's address.
      const s = this.#im.socket;
      const addr = s?.localAddress ?? "localhost";
      host = (addr.includes(":") ? `[${addr}]` : addr) + (s?.localPort ? `:${s.localPort}` : "");
    }
    let target = this.#im.url ?? "/";
    if (target[0] !== "/") {
      // Absolute-form (proxy style) or `*`: keep only the path.
      const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(target);
      target = m ? m[1] ?? "/" : "/";
    }
    return (this.#url = `${this.#scheme}://${host}${target}`);
  }

  /** Request headers as a web `Headers`, built on first access. */
  get headers(): Headers {
    if (this.#headers) return this.#headers;
    const h = new Headers();
    const raw = this.#im.rawHeaders;
    let authority: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      // HTTP/2's pseudo-headers (:method, :path…) are not headers; :authority is Host.
      if (raw[i][0] === ":") {
        if (raw[i] === ":authority") authority = raw[i + 1];
        continue;
      }
      try {
        h.append(raw[i], raw[i + 1]);
      } catch { /* a value Headers rejects (node:http is laxer); skip it */ }
    }
    if (authority !== undefined && !h.has("host")) {
      try {
        h.set("host", authority);
      } catch { /* not a valid value: left out, as above */ }
    }
    return (this.#headers = h);
  }

  /** The body as a byte stream that reads from the socket only as fast as it is consumed. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body !== undefined) return this.#body;
    if (!this.hasBody) return (this.#body = null);
    const im = this.#im;
    // deno-lint-ignore no-this-alias
    const self = this;
    const gone = this.#gone();
    return (this.#body = new ReadableStream<Uint8Array>({
      start(c) {
        // The socket closed before anyone read: its events have fired already.
        if (gone) return c.error(new Error(CLIENT_LEFT));
        im.on("data", (chunk: Uint8Array) => {
          self.received += chunk.byteLength;
          try {
            c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          } catch { /* cancelled */ }
          if ((c.desiredSize ?? 0) <= 0) im.pause();
        });
        im.once("end", () => {
          try {
            c.close();
          } catch { /* cancelled */ }
        });
        im.once("error", (err) => {
          try {
            c.error(err);
          } catch { /* cancelled */ }
        });
        im.once("close", () => {
          if (!im.complete) {
            try {
              c.error(new Error(CLIENT_LEFT));
            } catch { /* closed already */ }
          }
        });
      },
      pull() {
        im.resume();
      },
      cancel() {
        im.pause();
      },
    }, { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength }));
  }

  /** Aborts when the client disconnects before the response is complete. */
  get signal(): AbortSignal {
    if (this.#ac) return this.#ac.signal;
    const ac = (this.#ac = new AbortController());
    const res = this.#res;
    // node:http2's response reports writableFinished once its stream closed, even when
    // the client reset it first: there, an answer never ended is the sign.
    const unfinished = isH2(res) ? () => !res.writableEnded : () => !res.writableFinished;
    if (res.destroyed && unfinished()) ac.abort();
    else {
      res.once("close", () => {
        if (unfinished()) ac.abort(new Error("The client disconnected."));
      });
    }
    return ac.signal;
  }

  /**
   * `"half"`: what `new Request(url, thisRequest)` needs to take the body stream along
   * (a mounted fetch app gets its request that way).
   */
  readonly duplex = "half";

  /** The client left before the body was complete: a read started now would wait forever. */
  #gone(): boolean {
    return this.#im.destroyed && !this.#im.complete;
  }

  /** Whether the body stream was created (someone started reading it). */
  get bodyUsed(): boolean {
    return this.#body !== undefined && this.#body !== null && this.#body.locked;
  }

  /** A real web `Request` with the same method, URL, headers, body and signal. */
  toRequest(): Request {
    if (this.#request) return this.#request;
    const body = this.body;
    const init: RequestInit & { duplex?: string } = { method: this.method, headers: this.headers, signal: this.signal };
    if (body) {
      init.body = body;
      init.duplex = "half";
    }
    return (this.#request = new Request(this.url, init));
  }

  /**
   * The whole body as bytes, collected straight from the socket (no web stream: several
   * times cheaper on Node). Falls back to the stream once {@linkcode NodeRequest.body}
   * was touched. Does not check a size limit: callers check the declared length first.
   */
  bytes(): Promise<Uint8Array> {
    return this.#collect(asIs);
  }

  /**
   * Reads the whole body from the socket and hands it to `finish` in the same tick as
   * its last chunk, so that `text()` and `json()` cost one promise, not one per layer.
   */
  #collect<T>(finish: (body: Uint8Array) => T): Promise<T> {
    if (this.#consumed) return Promise.reject(new TypeError("The request body has already been read."));
    if (this.#body !== undefined || this.#request) return this.toRequest().arrayBuffer().then((b) => finish(new Uint8Array(b)));
    if (this.hasBody && this.#gone()) return Promise.reject(new Error(CLIENT_LEFT));
    if (!this.hasBody) {
      this.#body = null;
      return new Promise((resolve) => resolve(finish(new Uint8Array(0))));
    }
    this.#body = null; // the stream is no longer available
    this.#consumed = true;
    const im = this.#im;
    return new Promise((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      // `on`, not `once`: each listener runs at most once anyway, and once() wraps it.
      im.on("data", (c: Uint8Array) => {
        this.received += c.byteLength;
        chunks.push(c);
      });
      im.on("end", () => {
        let body = chunks[0] ?? new Uint8Array(0);
        if (chunks.length > 1) {
          body = new Uint8Array(this.received);
          let at = 0;
          for (const c of chunks) {
            body.set(c, at);
            at += c.byteLength;
          }
        }
        try {
          resolve(finish(body));
        } catch (err) {
          reject(err);
        }
      });
      im.on("error", reject);
      im.on("close", () => {
        if (!im.complete) reject(new Error(CLIENT_LEFT));
      });
    });
  }
  /** The body as text. */
  text(): Promise<string> {
    return this.#collect(decodeUtf8);
  }
  /** The body parsed as JSON. */
  json(): Promise<unknown> {
    return this.#collect(parseUtf8Json);
  }
  /** The body as an `ArrayBuffer`. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
      ? b.buffer as ArrayBuffer
      : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  /** The body as a `Blob`. */
  blob(): Promise<Blob> {
    return this.toRequest().blob();
  }
  /** The body parsed as form data. */
  formData(): Promise<FormData> {
    return this.toRequest().formData() as Promise<FormData>;
  }
}

/**
 * Options of {@linkcode toNodeHandler}.
 *
 * @example
 * ```ts
 * import type { NodeHandlerOptions } from "./node.ts";
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

type HandleApp = FetchApp & { handle?: (request: Request, info?: ServeInfo) => Reply | Promise<Reply> };

const byteLength = (s: string): number =>
  (globalThis as unknown as { Buffer: { byteLength(s: string): number } }).Buffer.byteLength(s);

/**
 * Turns an app into a `(req, res)` listener for `node:http`/`node:https` (or Express,
 * Connect and friends, as the last handler): Bottle's mod_wsgi story.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { Carafe } from "../mod.ts";
 * import { toNodeHandler } from "./node.ts";
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

/** What the access log needs to know about one exchange (made only when logging). */
interface LogRecord {
  /** Body bytes written (for a stream: so far); undefined when none are sent. */
  bytes?: number;
}

/**
 * The request listener of {@linkcode toNodeHandler}, and the early `413` answer the
 * node adapter gives to an `Expect: 100-continue` request whose declared body is too big.
 */
function nodeHandlers(app: FetchApp, options: NodeHandlerOptions): {
  handle: (im: IncomingMessage, res: ServerResponse) => void;
  tooLarge: (im: IncomingMessage, res: ServerResponse, limit: number) => void;
} {
  const scheme = options.scheme ?? "http";
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
    const info = new PeerInfo(im);
    let pending: Reply | Promise<Reply>;
    try {
      pending = handle
        ? handle(req as unknown as Request, info)
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

function cancelBody(reply: Reply): void {
  const b = reply.body;
  if (b && typeof b === "object" && "getReader" in b) b.cancel().catch(() => {});
}

function writeReply(
  im: IncomingMessage,
  res: ServerResponse,
  req: NodeRequest,
  reply: Reply,
  closing: boolean,
  fail: (res: ServerResponse, err: unknown) => void,
  rec: LogRecord | undefined,
): void {
  const headers: Record<string, string | string[]> = {};
  let cookies: string[] | undefined;
  let hasLength = false;
  if (reply instanceof TypedReply && !reply.headersMaterialised) {
    // The common case (a string or JSON body, nothing set on res): no Headers object at all.
    headers["content-type"] = reply.contentType;
  } else {
    for (const [name, value] of reply.headers) {
      if (name === "set-cookie") (cookies ??= []).push(value);
      else {
        if (name === "content-length") hasLength = true;
        headers[name] = value;
      }
    }
  }
  if (cookies) headers["set-cookie"] = cookies;
  const h2 = isH2(im);
  if (closing && !h2) headers.connection = "close";
  // An unread request body: drain it when small, else close the connection after the
  // response instead of reading (possibly) gigabytes nobody wants.
  if (req.hasBody && !im.complete) {
    const remaining = req.declaredLength < 0 ? Infinity : req.declaredLength - req.received;
    if (remaining > DRAIN_LIMIT && h2) {
      // HTTP/2: refuse the rest of this stream's body; the connection carries on.
      res.once("finish", () => (im as IncomingMessage & { stream: { close(code: number): void } }).stream.close(H2_CANCEL));
    } else if (remaining > DRAIN_LIMIT) {
      headers.connection = "close";
      res.once("finish", () => {
        // Keep reading briefly so that the client sees the response rather than a reset.
        im.removeAllListeners("data");
        im.resume();
        const t = setTimeout(() => im.socket?.destroy(), 1000);
        (t as unknown as { unref?: () => void }).unref?.();
      });
    } else {
      res.once("finish", () => {
        im.removeAllListeners("data");
        im.resume();
      });
    }
  }
  const body = reply.body;
  const head = im.method === "HEAD";
  if (body === null || typeof body === "string" || body instanceof Uint8Array) {
    if (!hasLength && !isBodyless(reply.status)) {
      headers["content-length"] = String(body === null ? 0 : typeof body === "string" ? byteLength(body) : body.byteLength);
    }
    res.writeHead(reply.status, headers);
    if (head || body === null) res.end();
    else {
      res.end(body);
      if (rec) rec.bytes = typeof body === "string" ? byteLength(body) : body.byteLength;
    }
    return;
  }
  const stream = body instanceof Blob ? body.stream() : body;
  if (body instanceof Blob && !hasLength) headers["content-length"] = String(body.size);
  res.writeHead(reply.status, headers);
  if (head) {
    stream.cancel().catch(() => {});
    res.end();
    return;
  }
  pipe(stream, res, rec).catch((err) => fail(res, err));
}

/** Copies a web stream into the response, waiting for `drain`; stops when the client leaves. */
async function pipe(stream: ReadableStream<Uint8Array>, res: ServerResponse, rec: LogRecord | undefined): Promise<void> {
  const reader = stream.getReader();
  let sent = 0;
  let gone = false;
  let wake: (() => void) | undefined;
  const onClose = () => {
    gone = true;
    reader.cancel().catch(() => {});
    wake?.();
  };
  const onDrain = () => wake?.();
  res.on("close", onClose);
  res.on("drain", onDrain);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      sent += value.byteLength;
      if (rec) rec.bytes = sent;
      if (!res.write(value) && !gone) {
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      if (gone) break;
    }
    if (!gone) res.end();
  } finally {
    res.off("drain", onDrain);
    res.off("close", onClose);
  }
}

/**
 * Serves with `node:http` (or `node:https` with `tls`). Works under Node, and under
 * Bun and Deno through their node:http compatibility (slower there than their native
 * servers, which `auto` picks instead).
 *
 * @example
 * ```ts
 * import { nodeAdapter } from "./node.ts";
 * import { run } from "./mod.ts";
 * import { Carafe } from "../mod.ts";
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
    const h2 = trackSessions(server);
    server.on("clientError", answerClientError);
    const url = await listenNode(server, o);
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    let closed: Promise<void> | undefined;
    const drain = async () => {
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
      done();
    };
    return { url, finished, close: () => (closed ??= drain()) };
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
  if (o.tls && runtime === "node") {
    // HTTP/2 and HTTP/1.1 on one port, chosen by ALPN: h2 streams get node:http2's
    // compatibility request and response, which look like node:http's to the handler.
    const http2 = await import("node:http2");
    const h2 = http2.createSecureServer({
      allowHTTP1: true,
      cert: await readPem(o.tls.cert),
      key: await readPem(o.tls.key),
      ...(o.maxHeaderSize ? { maxSendHeaderBlockLength: o.maxHeaderSize, settings: { maxHeaderListSize: o.maxHeaderSize } } : {}),
    }, handler as never);
    return h2 as unknown as import("node:http").Server;
  }
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

/** The parts of node:http2's session used here. */
interface H2Session {
  close(): void;
  destroy(): void;
  on(event: "stream", listener: (stream: { once(event: "close", listener: () => void): void }) => void): void;
  once(event: "close", listener: () => void): void;
}

/**
 * HTTP/2 sessions of a server made by node:http2 (none on the others): how many
 * streams each has open, closing them gracefully (GOAWAY) or at once.
 */
function trackSessions(server: import("node:http").Server): {
  owns(socket: Socket): boolean;
  closeAll(): void;
  destroyAll(): void;
} {
  const sessions = new Set<H2Session>();
  server.on("session", (session: H2Session) => {
    sessions.add(session);
    openStreams.set(session, 0);
    session.on("stream", (stream) => {
      openStreams.set(session, openStreams.get(session)! + 1);
      stream.once("close", () => openStreams.set(session, openStreams.get(session)! - 1));
    });
    session.once("close", () => sessions.delete(session));
  });
  return {
    // An HTTP/2 connection's socket is left to its session's GOAWAY.
    owns: (socket) => (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === "h2",
    closeAll: () => sessions.forEach((s) => s.close()),
    destroyAll: () => sessions.forEach((s) => s.destroy()),
  };
}

/** Open streams per HTTP/2 session: a session with one open is not idle. */
const openStreams = new WeakMap<object, number>();

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
  // node:http2 reports an idle HTTP/2 session: close it (GOAWAY) only when no stream is
  // open; a stream in progress is the app's or the client's business, as below.
  if (openStreams.has(socket)) {
    if (openStreams.get(socket) === 0) (socket as unknown as H2Session).close();
    return;
  }
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
