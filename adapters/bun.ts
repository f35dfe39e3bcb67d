/**
 * The `bun` adapter: `Bun.serve`, Bun's native HTTP server.
 *
 * `Bun.serve({ routes })` is not used: Carafe's router decides 404/405/HEAD and hooks
 * run for every request, so a static route table would change behaviour for a gain
 * that is within noise once the app's own routing runs anyway.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
 * await run({ app: new Carafe().get("/", () => "hi"), server: "bun", port: 0 });
 * ```
 *
 * @module
 */
import type { Adapter, ServeInfo, ServeOptions, Server } from "./adapter.ts";
import {
  chmodSocket,
  delay,
  displayUrl,
  closeOnce,
  handleOf,
  type HandleFn,
  idleTimeoutOf,
  MAX_URL_LENGTH,
  removeStaleSocket,
  replyLogLine,
  responder,
  responseLogLine,
  responseOf,
  unlinkQuietly,
  unhandledError,
  uriTooLong,
  warnOnce,
} from "./common.ts";
import { badHost, HostCheck } from "./host.ts";
import { readPem } from "../shims/tls.ts";
import type { Reply } from "../core/reply.ts";
import { bunWebSockets } from "./websocket/bun.ts";

// The type-checker runs with Node's types only; Bun's API is reached through globalThis.
// deno-lint-ignore no-explicit-any
type Any = any;

/** `ServeInfo` whose `remoteAddr` is asked of Bun only when someone reads it. */
class LazyInfo {
  #server: Any;
  #req: Request;
  constructor(server: Any, req: Request) {
    this.#server = server;
    this.#req = req;
  }
  get remoteAddr(): string | undefined {
    return this.#server.requestIP(this.#req)?.address;
  }
}

/** Most bytes of an unread request body read and discarded after the response. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

/**
 * Reads and discards a request body the app did not read (a 413 on a declared length,
 * an early error answer). Bun closes the connection on an unread body, and a close with
 * unread data makes the kernel send a reset that can destroy the response before the
 * client reads it; draining (bounded in bytes and time) lets the response arrive.
 */
function drainUnread(req: Request): void {
  const body = req.body;
  if (!body) return;
  const reader = body.getReader();
  let seen = 0;
  const stopAt = Date.now() + 2000;
  (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      seen += value.byteLength;
      if (seen > DRAIN_LIMIT || Date.now() > stopAt) return void reader.cancel().catch(() => {});
    }
  })().catch(() => {});
}

/**
 * For a Carafe app (one with `handle()`): answers like `app.respond()`, but sees the
 * reply before it becomes a `Response`, to:
 * - drain a request body the app did not read (see {@linkcode drainUnread});
 * - lift Bun's idle timer for the app's turn (when `lift`): while an asynchronous
 *   GET/HEAD handler works (a long poll) and while a stream is sent (quiet SSE). Bun
 *   keeps a per-request timeout for the connection, so it is put back to `idle` for a
 *   plain answer;
 * - with `logged`, write the access line (body bytes from the reply).
 * A synchronous GET (the common case) costs nothing extra, and an asynchronous answer
 * one `then`.
 */
function carafeAnswer(
  handle: HandleFn,
  idle: number,
  lift: boolean,
  log: (line: string) => void,
  logged: boolean,
): (req: Request, info: ServeInfo, server: Any, start: number) => Response | Promise<Response> {
  // No closure per request unless an access line, a body or Bun's timer needs one.
  const toResponse = (reply: Reply) => responseOf(reply, log);
  const finish = (req: Request, info: ServeInfo, start: number, reply: Reply): Response => {
    if (logged) log(replyLogLine(req, reply, info.remoteAddr, start, req.signal.aborted));
    return responseOf(reply, log);
  };
  // A request with a body: drain it if unread, lift the timer for a streamed answer only
  // (while a handler reads an upload, Bun's timer is what cuts a client that stops sending it).
  const finishWithBody = (req: Request, info: ServeInfo, server: Any, start: number, reply: Reply): Response => {
    if (!req.bodyUsed) drainUnread(req);
    if (lift && mayStream(reply)) server.timeout(req, BUN_MAX_IDLE);
    return finish(req, info, start, reply);
  };
  return (req, info, server, start) => {
    const reply = handle(req, info);
    const method = req.method;
    const hasBody = method !== "GET" && method !== "HEAD";
    if (!(reply instanceof Promise)) {
      if (hasBody) return finishWithBody(req, info, server, start, reply);
      if (lift && mayStream(reply)) server.timeout(req, BUN_MAX_IDLE);
      return finish(req, info, start, reply);
    }
    if (hasBody) return reply.then((r) => finishWithBody(req, info, server, start, r));
    if (!lift) return logged ? reply.then((r) => finish(req, info, start, r)) : reply.then(toResponse);
    server.timeout(req, BUN_MAX_IDLE);
    return reply.then((r) => {
      if (!mayStream(r)) server.timeout(req, idle);
      return finish(req, info, start, r);
    });
  };
}

/**
 * Whether the reply's body may be a stream. A handler's own Response counts as one: its
 * body is not looked at, since reading `body` on Bun turns a string Response's default
 * type into application/octet-stream.
 */
function mayStream(reply: Reply): boolean {
  return reply.response !== undefined || reply.body instanceof ReadableStream;
}

/**
 * Checks what Bun made of the request's URL before the app sees it. Returns the request
 * itself when it may be answered, a 414 or 400 to send instead, or, for a request
 * without a Host (HTTP/1.0) or with an empty one, a copy whose URL has `origin` (the
 * server's own address) in front.
 *
 * Bun hands over a bare path (`/public/x`) when Host is missing, empty or not one it
 * accepts, and a URL with any Host it does accept (`x:abc`, `[::1`); the app routes
 * only on the path, but it must never see a URL built from an invalid Host: that is
 * a 400 (RFC 9112 §3.2).
 */
function admitter(origin: string): (req: Request) => Request | Response {
  const hosts = new HostCheck();
  let goodStart = "";
  return (req) => {
    const url = req.url;
    if (url.length > MAX_URL_LENGTH) return uriTooLong();
    if (goodStart !== "" && url.startsWith(goodStart)) return req;
    if (url.charCodeAt(0) === 47 /* "/" */) return req.headers.get("host") ? badHost() : new Request(origin + url, req);
    const start = url.indexOf("://") + 3;
    const end = url.indexOf("/", start);
    if (!hosts.ok(url.slice(start, end < 0 ? undefined : end))) return badHost();
    goodStart = url.slice(0, end < 0 ? undefined : end + 1);
    return req;
  };
}

/** Bun's largest idle timeout, in seconds. */
const BUN_MAX_IDLE = 255;

/** `Bun.serve`'s options for where and how to listen (the handlers are added by the adapter). */
async function bunConfig(o: ServeOptions, idle: number): Promise<Record<string, unknown>> {
  const config: Record<string, unknown> = {
    idleTimeout: idle,
    // Carafe enforces maxBodySize itself (413 for declared and streamed bodies alike);
    // Bun's own limit (128 MiB by default) would cut the connection instead of answering.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    development: false,
  };
  if (o.tls) config.tls = { cert: await readPem(o.tls.cert), key: await readPem(o.tls.key) };
  if (o.socket) {
    await removeStaleSocket(o.socket);
    config.unix = o.socket;
  } else {
    config.hostname = o.host;
    config.port = o.port;
    // Cluster workers (adapters/cluster/) each bind the same port. Everyone else says
    // no explicitly: with `development: false` Bun sets SO_REUSEPORT by itself, and a
    // second server on a taken port would then share it silently instead of failing.
    config.reusePort = (o as ServeOptions & { reusePort?: boolean }).reusePort === true;
  }
  return config;
}

/**
 * Serves with `Bun.serve`. Graceful shutdown is `server.stop()`; after
 * `shutdownTimeout` the remaining connections are closed with `server.stop(true)`.
 * `stop()` itself closes at once every connection without a request in flight
 * (kept-alive or just accepted).
 *
 * `idleTimeout` (default 30 s, `0` disables; whole seconds, at most 255) is Bun's own
 * idle timer: it closes kept-alive connections and, as Bun counts a handler's wait as
 * idleness, would also cut a long poll or a quiet stream. For a Carafe app the adapter
 * lifts it to Bun's maximum (255 s) for such requests: while a GET/HEAD handler is still
 * working and while a streamed body is being sent. (A handler reading an upload keeps
 * `idleTimeout`: Bun cannot tell its wait from a client that stopped sending.) Bun
 * reads request headers on its own clock (about 10 s), does not time out a client that
 * stops reading, and has no header-size setting (`maxHeaderSize` is not applied; Bun
 * answers 431 past its 16 KiB).
 *
 * @example
 * ```ts
 * import { bunAdapter } from "./bun.ts";
 * import { run } from "./mod.ts";
 * import { Carafe } from "../mod.ts";
 * await run({ app: new Carafe(), server: bunAdapter, port: 0 });
 * ```
 */
export const bunAdapter: Adapter = {
  name: "bun",
  label: "BunServer()",
  async serve(o: ServeOptions): Promise<Server> {
    const Bun = (globalThis as Any).Bun;
    if (!Bun?.serve) throw new Error('server "bun" needs the Bun runtime; use "auto" or "node" here');
    const app = o.app;
    const log = o.log;
    if (o.maxHeaderSize !== undefined) {
      warnOnce(log, "bun-header-size", 'server "bun": Bun.serve has no header-size setting; maxHeaderSize is not applied (Bun answers 431 past 16 KiB).');
    }
    const idleMs = idleTimeoutOf(o);
    const idle = idleMs ? Math.min(BUN_MAX_IDLE, Math.max(1, Math.ceil(idleMs / 1000))) : 0;
    const lift = idle > 0 && idle < BUN_MAX_IDLE;
    const handle = handleOf(app);
    const answer = handle ? carafeAnswer(handle, idle, lift, log, false) : undefined;
    const answerLogged = handle ? carafeAnswer(handle, idle, lift, log, true) : undefined;
    const plain = responder(app);
    // Any other fetch app: drain an unread body once its answer is ready.
    const drained = (req: Request, res: Response | Promise<Response>) => {
      if (req.method === "GET" || req.method === "HEAD") return res;
      return Promise.resolve(res).then((r) => {
        if (!req.bodyUsed) drainUnread(req);
        return r;
      });
    };
    // For a request without Host, the URL gets the server's own address (set once Bun listens).
    let admit = admitter(o.tls ? "https://localhost" : "http://localhost");
    // A request Bun handed over as it is goes the fast way; a copy (no Host) or a refusal the plain way.
    const fetch = o.quiet
      ? (req: Request, server: Any) => {
        const admitted = admit(req);
        if (admitted !== req) return admitted instanceof Response ? admitted : drained(admitted, plain(admitted, new LazyInfo(server, req)));
        return answer ? answer(req, new LazyInfo(server, req), server, 0) : drained(req, plain(req, new LazyInfo(server, req)));
      }
      : (req: Request, server: Any) => {
        // Stamped with the arrival time, written when the answer is handed to Bun.
        const start = Date.now();
        const remoteAddr = server.requestIP(req)?.address;
        const admitted = admit(req);
        if (admitted === req && answerLogged) return answerLogged(req, { remoteAddr }, server, start);
        const seen = admitted instanceof Request ? admitted : req;
        const logged = (res: Response) => {
          log(responseLogLine(seen, res, remoteAddr, start, req.signal.aborted));
          return res;
        };
        const res = admitted instanceof Response ? admitted : drained(admitted, plain(admitted, { remoteAddr }));
        return res instanceof Promise ? res.then(logged) : logged(res);
      };
    const webSockets = bunWebSockets(log); // WebSocket routes: adapters/websocket/bun.ts
    const config = await bunConfig(o, idle);
    Object.assign(config, { fetch: webSockets.wrap(fetch), websocket: webSockets.handlers(), error: unhandledError(log) });
    const server = Bun.serve(config);
    let url: string;
    if (o.socket) {
      await chmodSocket(o.socket, o.socketMode);
      url = `unix:${o.socket}`;
    } else {
      url = displayUrl(o.tls ? "https" : "http", o.host, server.port);
      admit = admitter(url.slice(0, -1));
    }
    return closeOnce(url, async () => {
      const socketsClosed = webSockets.sessions.closeAll(1001, "server shutting down", o.shutdownTimeout);
      const graceful = Promise.all([server.stop(false), socketsClosed]);
      if (await Promise.race([graceful.then(() => "done" as const), delay(o.shutdownTimeout)]) === "timeout") {
        await server.stop(true);
      }
      if (o.socket) await unlinkQuietly(o.socket);
    });
  },
};
