/**
 * The request a handler receives (`req`): a lazy view over a web `Request`.
 *
 * Nothing is parsed until asked for: a hello-world request touches the method and the
 * path and nothing else. Headers, query, cookies and bodies are parsed on first use
 * and cached.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * const app = new Carafe();
 * app.post("/echo/<name>", async (req) => ({
 *   name: req.params.name,
 *   q: req.query.get("q"),
 *   body: await req.json(),
 * }));
 * ```
 *
 * @module
 */
import {
  type BodyLimits,
  byteLimit,
  type ByteLimit,
  checkDeclaredLength,
  declaredLength,
  limitStream,
  parseJsonBody,
  readJsonLimited,
  readLimited,
  readTextLimited,
} from "./body.ts";
import { parseCookies, verifyCookieValue, type CookieSecret } from "./cookies.ts";
import { HTTPError } from "./errors.ts";
import { parseUrlEncoded } from "./form.ts";
// A static import, not import() on first use: a dynamic import makes bundlers wrap every
// module it reaches in lazy initialisers, which they can no longer drop when unused (an
// edge bundle of a hello-world app kept the static-file code, 9 KB, that way).
import { parseMultipart } from "./multipart.ts";
import { envAll } from "../shims/runtime.ts";
import { keepAlive } from "./platform.ts";
import { LazySearchParams } from "./query.ts";
import { lastForwarded, resolveClient, type ClientAddress, type TrustFn } from "./proxy.ts";

/** The key of {@linkcode CarafeRequest}'s per-request error channel (for core/app.ts). */
export const ERROR_SINK: unique symbol = Symbol("carafe.errorSink");

/**
 * The key of {@linkcode CarafeRequest}'s request target as the client sent it, from the
 * server's root: prefix, path and query, never the host (for redirects, core/app.ts).
 */
export const REQUEST_TARGET: unique symbol = Symbol("carafe.requestTarget");

/**
 * The key of {@linkcode CarafeRequest}'s server prefix: the part of the path the server
 * stripped before the request reached Carafe (FastCGI/CGI `SCRIPT_NAME`), percent-encoded,
 * without a trailing `/` (`""` when there is none). `app.url(name, params, req)` puts it
 * in front of the app's own mount prefixes.
 */
export const SERVER_PREFIX: unique symbol = Symbol("carafe.serverPrefix");

/**
 * Where a request is being dispatched: what the app (and each app it is mounted into)
 * routes on. The app makes one per request, and one per mount it passes the request to.
 */
export interface RequestTarget {
  /** The request as the server handed it over. */
  raw: Request;
  /** Connection facts from the server; `remoteAddr` is read only when needed. */
  info: RequestInfo | undefined;
  /** The path inside the mount point, percent-encoded as sent. */
  rawPath: string;
  /** The same path, decoded. */
  path: string;
  /** The query string including `?`, or `""`. */
  search: string;
  /** The mount prefix in Bottle's form (`/` or `/prefix/`). */
  scriptName: string;
  /** The path before `rawPath` as the client sent it (inside a mount); by default `scriptName` without its trailing `/`. */
  rawBase: string | undefined;
}

/** What the app hands each request: settings that shape how it is read (body limits, proxies). */
export interface RequestContext extends BodyLimits {
  /** Which peers' `X-Forwarded-*` headers to believe. */
  trust: TrustFn;
  /** The app's logger (a failed `waitUntil` job is logged there). */
  log?: (message: string) => void;
}

/**
 * The request seen by handlers, hooks and error handlers.
 *
 * @typeParam P the route's parameters, typed from its path (`<id:int>` → `number`).
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/whoami", (req) => `${req.remoteAddr} ${req.headers.get("user-agent")}`);
 * ```
 */
export class CarafeRequest<P = Record<string, unknown>> {
  /**
   * The underlying web `Request`. Under the `node`, `fastcgi` and `cgi` servers it is
   * their lazy request object, which has what {@linkcode IncomingRequest} names (method,
   * url, headers, body, signal) and the body methods; call its `toRequest()` where a
   * real `Request` is needed.
   */
  readonly raw: Request;
  /** The path inside the app's mount point, percent-decoded (`/hello/world`). */
  readonly path: string;
  /** The mount prefix: `"/"` at the root, `"/api/"` for an app mounted at `/api`. */
  readonly scriptName: string;
  /** Route parameters, converted by their filters. */
  params: P;
  #ctx: RequestContext;
  #target: RequestTarget;
  #body?: ReadableStream<Uint8Array> | null;
  #query?: URLSearchParams;
  #cookies?: Record<string, string>;
  #client?: ClientAddress;
  #bytes?: Promise<Uint8Array>;
  #text?: Promise<string>;
  #json?: Promise<unknown>;
  #url?: string;
  #method?: string;

  /**
   * Made by the app for each request; handlers never need to build one.
   *
   * @param target where the request is being dispatched (see {@linkcode RequestTarget})
   * @param ctx body limits and proxy trust
   */
  constructor(target: RequestTarget, ctx: RequestContext) {
    this.raw = target.raw;
    this.path = target.path;
    this.scriptName = target.scriptName;
    this.#target = target;
    this.#ctx = ctx;
    this.params = {} as P;
  }

  /**
   * Where this request's error lines go besides the app's logger: the adapter's own
   * channel for them (FastCGI sends them to the web server as STDERR records).
   */
  get [ERROR_SINK](): ((message: string) => void) | undefined {
    return this.#target.info?.log;
  }

  /** See {@linkcode REQUEST_TARGET}. */
  get [REQUEST_TARGET](): string {
    return (this.#target.rawBase ?? encodePath(this.scriptName.slice(0, -1))) + this.#target.rawPath + this.#target.search;
  }

  /** See {@linkcode SERVER_PREFIX}. */
  get [SERVER_PREFIX](): string {
    const trimmed = this.#target.info?.scriptName?.replace(/^\/+|\/+$/g, "");
    return trimmed ? encodePath("/" + trimmed) : "";
  }

  /**
   * The socket peer's address. Adapters pass `{ remoteAddr: string }`; an app exported
   * as `export default app` is called by the runtime's own serve command, whose second
   * argument is either `{ remoteAddr: { hostname } }` or a server with
   * `requestIP(request)` (tests/deploy_nginx_test.ts starts both).
   */
  #peer(): string | undefined {
    const info = this.#target.info as
      | { remoteAddr?: string | { hostname?: string }; requestIP?: (request: Request) => { address?: string } | null }
      | undefined;
    if (info === undefined) return undefined;
    const addr = info.remoteAddr;
    if (typeof addr === "string") return addr;
    if (addr !== null && typeof addr === "object") return typeof addr.hostname === "string" ? addr.hostname : undefined;
    if (typeof info.requestIP === "function") {
      try {
        return info.requestIP(this.raw)?.address ?? undefined;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /** The method, upper-case (`GET`). */
  get method(): string {
    if (this.#method !== undefined) return this.#method;
    const method = this.raw.method;
    // Fetch upper-cases only the six standard methods; `patch` or `Purge` arrive as sent.
    // Routes are upper-case, so is the method they are matched with (as in Bottle).
    return (this.#method = method === "GET" || !/[a-z]/.test(method) ? method : method.toUpperCase());
  }

  /** Request headers (case-insensitive). */
  get headers(): Headers {
    return this.raw.headers;
  }

  /** Aborts when the client goes away; pass it to `fetch`, timers, database calls. */
  get signal(): AbortSignal {
    return this.raw.signal;
  }

  /**
   * The full URL as the client asked for it: scheme and host (from trusted
   * `X-Forwarded-Proto`/`X-Forwarded-Host` when `trustProxy` allows), mount prefix,
   * path and query.
   */
  get url(): string {
    if (this.#url !== undefined) return this.#url;
    const raw = this.raw.url;
    const start = raw.indexOf("://");
    const slash = raw.indexOf("/", start + 3);
    let scheme = raw.slice(0, start);
    let host = raw.slice(start + 3, slash < 0 ? undefined : slash);
    const peer = this.#peer();
    if (peer !== undefined && this.#ctx.trust(peer)) {
      const proto = lastForwarded(this.headers.get("x-forwarded-proto"));
      if (proto === "http" || proto === "https") scheme = proto;
      const fwdHost = lastForwarded(this.headers.get("x-forwarded-host"));
      if (fwdHost && /^[A-Za-z0-9.\-:\[\]]+$/.test(fwdHost)) host = fwdHost;
    }
    // The mount prefix as sent (`/%E7%93%B6`), not decoded like scriptName (`/瓶/`).
    const base = this.#target.rawBase ?? this.scriptName.slice(0, -1);
    return (this.#url = `${scheme}://${host}${base}${this.#target.rawPath}${this.#target.search}`);
  }

  /** `scriptName` + `path`: the decoded path from the server's root. */
  get fullpath(): string {
    return this.scriptName + this.path.slice(1);
  }

  /** The query string without `?`. */
  get queryString(): string {
    return this.#target.search.slice(1);
  }

  /** Query parameters (`?a=1&a=2` → `getAll("a")` is `["1", "2"]`). */
  get query(): URLSearchParams {
    return (this.#query ??= new LazySearchParams(this.#target.search));
  }

  /** Cookies sent by the client; malformed pairs are skipped. */
  get cookies(): Record<string, string> {
    return (this.#cookies ??= parseCookies(this.headers.get("cookie")));
  }

  /**
   * The value of a cookie set with `res.setSignedCookie`, or `undefined` when it is
   * missing, unsigned, tampered with, renamed or signed with another secret.
   * Synchronous (as in Bottle): `if (req.getSignedCookie(...))` checks the cookie, and
   * an `await` in front of it changes nothing. A secret list verifies with each key.
   *
   * @example
   * ```ts
   * import { abort, Carafe } from "../mod.ts";
   * const app = new Carafe();
   * app.get("/admin", (req) => {
   *   const user = req.getSignedCookie("user", "s3cret");
   *   if (!user) abort(401, "Log in first.");
   *   return `Hello ${user}`;
   * });
   * ```
   */
  getSignedCookie(name: string, secret: CookieSecret): string | undefined {
    return verifyCookieValue(name, this.cookies[name], secret);
  }

  #clientAddress(): ClientAddress {
    return (this.#client ??= resolveClient(this.#peer(), this.headers.get("x-forwarded-for"), this.#ctx.trust));
  }

  /**
   * The platform's bindings: on Cloudflare Workers the Worker's `env` (vars, secrets,
   * KV, D1 …); elsewhere (Deno, Bun, Node, Lambda) the process environment variables.
   * Read-only; an empty object where the environment may not be read.
   *
   * @example
   * ```ts
   * import { Carafe } from "../app.ts";
   * const app = new Carafe();
   * app.get("/greeting", (req) => String(req.env.GREETING ?? "Hello"));
   * ```
   */
  get env(): Readonly<Record<string, unknown>> {
    return this.#target.info?.env ?? processEnv();
  }

  /**
   * Keeps `work` going after the answer was sent: on Workers and edge hosts through
   * their `waitUntil`; with `toLambdaHandler`, before Lambda gets the answer (Lambda
   * freezes the process afterwards); on every server of `run()`, a graceful shutdown
   * waits for it. A rejection is logged, never unhandled.
   *
   * @example
   * ```ts
   * import { Carafe } from "../app.ts";
   * const app = new Carafe();
   * app.post("/events", async (req) => {
   *   const event = await req.text();
   *   req.waitUntil(fetch("https://analytics.example/", { method: "POST", body: event }));
   *   return { accepted: true };
   * });
   * ```
   */
  waitUntil(work: Promise<unknown>): void {
    const platform = this.#target.info?.waitUntil;
    const log = this.#target.info?.log ?? this.#ctx.log ?? console.error;
    const logged = Promise.resolve(work).catch((err) => log(`A waitUntil() job failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`));
    if (platform !== undefined) platform(logged);
    else keepAlive(logged, () => {});
  }

  /** The client's address: the socket peer, or what trusted proxies report. */
  get remoteAddr(): string | undefined {
    return this.#clientAddress().addr;
  }

  /** The hops from the client to us, client first, as far as trusted proxies vouch for them. */
  get remoteRoute(): string[] {
    return this.#clientAddress().route;
  }

  /** True for `X-Requested-With: XMLHttpRequest`. */
  get isXhr(): boolean {
    return (this.headers.get("x-requested-with") ?? "").toLowerCase() === "xmlhttprequest";
  }

  /** HTTP Basic credentials as `[user, password]`, or `undefined`. */
  get auth(): [string, string] | undefined {
    const header = this.headers.get("authorization");
    if (!header || header.slice(0, 6).toLowerCase() !== "basic ") return undefined;
    let decoded: string;
    try {
      const binary = atob(header.slice(6).trim());
      decoded = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    } catch {
      return undefined;
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return undefined;
    return [decoded.slice(0, colon), decoded.slice(colon + 1)];
  }

  /** The media type, lower-case, without parameters (`application/json`); `""` when absent. */
  get contentType(): string {
    const ct = this.headers.get("content-type");
    if (!ct) return "";
    const semi = ct.indexOf(";");
    return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  }

  /** The declared body length (`Content-Length`), or `-1` when not declared. */
  get contentLength(): number {
    const cl = this.headers.get("content-length");
    const n = cl === null ? NaN : Number(cl);
    return Number.isInteger(n) && n >= 0 ? n : -1;
  }

  /**
   * The body as a stream, limited to `maxBodySize` (reading past it errors with 413).
   * Use it to process big uploads without holding them in memory. Every read of
   * `req.body` gives the same stream.
   */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body !== undefined) return this.#body;
    const stream = this.raw.body;
    if (!stream) return (this.#body = null);
    checkDeclaredLength(this.raw, this.#ctx.maxBodySize);
    // limitStream locks the raw stream, so a second wrapper could not be made: keep the first.
    return (this.#body = limitStream(stream, this.#ctx.maxBodySize));
  }

  // The body can be read once; each reader caches what it got and the others derive
  // from that. The first reader uses the runtime's native whole-body read when the
  // length is declared. After json(), text() and bytes() are the JSON re-serialised
  // (as Hono does); after text(), bytes() are its UTF-8 encoding — the same bytes
  // unless the body was not valid UTF-8.

  /** The whole body as bytes (read once, then cached; 413 past `maxBodySize`). */
  bytes(): Promise<Uint8Array> {
    return (this.#bytes ??= this.#text !== undefined || this.#json !== undefined
      ? this.text().then((t) => encoder.encode(t))
      : readLimited(this.raw, this.#ctx.maxBodySize));
  }

  /** The body decoded as UTF-8 text (read once, then cached; 413 past `maxBodySize`). */
  text(): Promise<string> {
    return (this.#text ??= this.#bytes !== undefined
      ? this.#bytes.then((b) => decoder.decode(b))
      : this.#json !== undefined
      ? this.#json.then((v) => (v === undefined ? "" : JSON.stringify(v)))
      : readTextLimited(this.raw, this.#ctx.maxBodySize));
  }

  /**
   * The body parsed as JSON (read once, then cached); `400` when it is not valid JSON,
   * `413` past `maxJsonSize` (or `maxBodySize` when smaller) or nested deeper than
   * `maxJsonDepth`. An empty body gives `undefined`. A declared length over the limit
   * is refused before the body is read, which `text()` or `bytes()` can then still do.
   * With a declared length too short to be nested too deep, the runtime's native
   * `json()` parses it, and the size check is the declared length's (which every
   * Carafe adapter frames).
   */
  json<T = unknown>(): Promise<T> {
    if (this.#json !== undefined) return this.#json as Promise<T>;
    const ctx = this.#ctx;
    const limit = byteLimit(ctx, "maxJsonSize", "The JSON body");
    if (this.#text === undefined && this.#bytes === undefined) {
      if (declaredLength(this.raw) > limit.bytes) return Promise.reject(limit.tooLarge());
      return (this.#json = readJsonLimited(this.raw, limit, ctx.maxJsonDepth)) as Promise<T>;
    }
    return (this.#json = this.text().then((text) => {
      // A UTF-16 unit is 1 to 3 bytes of UTF-8: only a long text is encoded to count them.
      if (text.length > limit.bytes || (text.length * 3 > limit.bytes && encoder.encode(text).byteLength > limit.bytes)) {
        throw limit.tooLarge();
      }
      return parseJsonBody(text, ctx.maxJsonDepth);
    })) as Promise<T>;
  }

  /**
   * The whole body for a parser that holds it in memory, within `limit`: read with that
   * limit when no reader came first (a declared length over it is refused before the
   * body is touched, so other readers still can), else what the first reader got.
   */
  #bytesWithin(limit: ByteLimit): Promise<Uint8Array> {
    if (this.#bytes === undefined && this.#text === undefined && this.#json === undefined) {
      checkDeclaredLength(this.raw, limit);
      return (this.#bytes = readLimited(this.raw, limit));
    }
    return this.bytes().then((bytes) => {
      if (bytes.byteLength > limit.bytes) throw limit.tooLarge();
      return bytes;
    });
  }

  /**
   * The body as `FormData`: `multipart/form-data` (files included) or
   * `application/x-www-form-urlencoded` (also assumed when there is no
   * `Content-Type`). `400` when it cannot be parsed or has another type (JSON is read
   * with {@linkcode CarafeRequest.json}). `413` past the form limits, naming the one
   * met: `maxFormFields`, `maxFormFieldSize`, `maxFormSize` (an urlencoded body is not
   * read past it; in a multipart body it bounds the text fields, and the whole body,
   * files included, is bounded by `maxBodySize`).
   */
  async form(): Promise<FormData> {
    const type = this.contentType;
    if (type !== "" && type !== "multipart/form-data" && type !== "application/x-www-form-urlencoded") {
      throw new HTTPError(
        400,
        `Expected a form body (application/x-www-form-urlencoded or multipart/form-data), got ${type}.`,
      );
    }
    const ctx = this.#ctx;
    if (type === "multipart/form-data") {
      const bytes = await this.bytes();
      return parseMultipart(bytes, this.headers.get("content-type")!, ctx);
    }
    return parseUrlEncoded(await this.#bytesWithin(byteLimit(ctx, "maxFormSize", "The form body")), ctx);
  }
}

/** The process environment, read at the first `req.env` (a frozen copy: later changes are not seen). */
let environment: Readonly<Record<string, string>> | undefined;
function processEnv(): Readonly<Record<string, string>> {
  return (environment ??= Object.freeze(envAll()));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What an adapter tells the request about its connection (a `ServeInfo`). */
interface RequestInfo {
  readonly remoteAddr?: string;
  readonly env?: Record<string, unknown>;
  readonly waitUntil?: (promise: Promise<unknown>) => void;
  /** The prefix the server stripped (FastCGI/CGI `SCRIPT_NAME`), decoded. */
  readonly scriptName?: string;
  readonly log?: (message: string) => void;
}

/** A decoded path as it may appear in a URL: percent-encoded where it must be (`?`, `#`, `%`, spaces, non-ASCII). */
export function encodePath(path: string): string {
  try {
    return encodeURI(path).replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23"));
  } catch {
    throw new TypeError(`The path ${JSON.stringify(path)} contains a lone UTF-16 surrogate.`);
  }
}
