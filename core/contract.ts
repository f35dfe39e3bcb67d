/**
 * The contract between the adapters and the core: what a server hands an app, and
 * what it gets back. Every adapter (`adapters/`) talks to an app only through these
 * names; docs/architecture.md shows how a request flows through them.
 *
 * - {@linkcode FetchHandler}: any app (a Carafe app, a Hono app, a plain object) —
 *   `fetch(request, info)` answers a web `Request` with a `Response`.
 * - {@linkcode ServeInfo}: the connection facts a server passes along with a request.
 * - {@linkcode IncomingRequest}: what the core reads of a request. A web `Request` is
 *   one; the node and gateway adapters pass lighter objects with the same members, so
 *   that a request costs no `Request` allocation.
 * - {@linkcode FastPathApp} and {@linkcode fastPathOf}: a Carafe app's quicker entry
 *   points (`handle` returns the {@linkcode Reply} before it becomes a `Response`;
 *   `respond` answers synchronously when nothing had to wait). Adapters ask
 *   `fastPathOf(app)` once, at start-up, instead of sniffing for methods.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { fastPathOf } from "./contract.ts";
 * const app = new Carafe().get("/", () => "hi");
 * const fast = fastPathOf(app); // defined: a Carafe app
 * const reply = await fast!.handle(new Request("http://localhost/"));
 * console.log(reply.status); // 200
 * ```
 *
 * @module
 */
import type { Reply } from "./reply.ts";

/** Connection facts an adapter passes along with a request. */
export interface ServeInfo {
  /** The socket peer's address. */
  remoteAddr?: string;
  /** A prefix the gateway already stripped from the path (CGI/FastCGI `SCRIPT_NAME`). */
  scriptName?: string;
  /**
   * Also receives the error lines the app logs for this request (an exception in a
   * handler, a failing stream): FastCGI sends them to the web server as STDERR records.
   */
  log?: (message: string) => void;
  /** The platform's bindings (a Worker's `env`): `req.env`. See core/platform.ts. */
  env?: Record<string, unknown>;
  /** The platform's way to keep work going after the answer: `req.waitUntil`. */
  waitUntil?: (promise: Promise<unknown>) => void;
}

/**
 * Anything with a web `fetch` handler: a Carafe app, a Hono app, a plain object.
 * `run()` serves one and `app.mount()` mounts one.
 *
 * @example
 * ```ts
 * import type { FetchHandler } from "./contract.ts";
 * const hello: FetchHandler = { fetch: () => new Response("Hello!") };
 * ```
 */
export interface FetchHandler {
  /**
   * Answers one request. The second argument is the server's {@linkcode ServeInfo}, or
   * on Cloudflare Workers the Worker's `env` (with its `ctx` third).
   */
  fetch(request: Request, info?: ServeInfo, ctx?: unknown): Response | Promise<Response>;
}

/**
 * What the core reads of a request: the members of a web `Request` it uses. A
 * `Request` fits; an adapter may pass a lighter object that builds each member only
 * when read (the node adapter's `NodeRequest`, the gateways' `GatewayRequest`).
 * `toRequest()`, when present, gives a real `Request` for the rare cases that need
 * one (a foreign app mounted in a Carafe app); without it, the core builds one from
 * these members.
 */
export interface IncomingRequest {
  /** The method, as the client sent it. */
  readonly method: string;
  /** The absolute URL (`http://host/path?query`). */
  readonly url: string;
  /** The request headers. */
  readonly headers: Headers;
  /** The body, or `null` when there is none. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal;
  /** A web `Request` with the same method, URL, headers and body. */
  toRequest?(): Request;
}

/**
 * A Carafe app's entry points besides `fetch`, for servers that can use them. Both
 * behave exactly as `fetch` does; they only skip work.
 */
export interface FastPathApp extends FetchHandler {
  /**
   * Answers with the {@linkcode Reply} before it becomes a `Response`, for servers that
   * write to a socket themselves. A promise only when something had to wait.
   */
  handle(request: IncomingRequest, info?: ServeInfo): Reply | Promise<Reply>;
  /** Like `fetch`, but a `Response` rather than a promise when nothing had to wait. */
  respond(request: Request, info?: ServeInfo): Response | Promise<Response>;
}

/**
 * The app's fast paths, bound to it, when it has them (a Carafe app); `undefined`
 * for any other `fetch` app, which adapters then serve through `fetch`.
 *
 * @example
 * ```ts
 * import { fastPathOf } from "./contract.ts";
 * fastPathOf({ fetch: () => new Response("") }); // undefined
 * ```
 */
export function fastPathOf(app: FetchHandler): FastPathApp | undefined {
  const candidate = app as Partial<FastPathApp>;
  if (typeof candidate.handle !== "function" || typeof candidate.respond !== "function") return undefined;
  return {
    fetch: app.fetch.bind(app),
    handle: candidate.handle.bind(app),
    respond: candidate.respond.bind(app),
  };
}
