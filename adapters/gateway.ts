/**
 * What the FastCGI and CGI adapters share: turning CGI meta-variables (RFC 3875
 * §4.1) into a web `Request` plus {@linkcode ServeInfo}, asking the app for its
 * answer, and writing the CGI-style header block (headers, `Status:` line, blank
 * line) that both protocols put in front of the body.
 *
 * Real servers disagree on the details, so the mapping is forgiving:
 * - nginx sends `CONTENT_LENGTH=""` / `CONTENT_TYPE=""` on a GET: empty means absent;
 * - nginx and HAProxy repeat a param per repeated header: `HTTP_COOKIE` values are
 *   joined with `"; "`, other `HTTP_*` with `", "`, anything else keeps the last value
 *   (nginx even sends `SCRIPT_NAME` twice when a config overrides it);
 * - `PATH_INFO` is percent-decoded by every server while `REQUEST_URI` is raw, so the
 *   raw path is recovered from `REQUEST_URI` when the two agree (a PATH_INFO still
 *   encoded, as an Apache recipe that copies it from `REQUEST_URI` sends, agrees too);
 * - with no `PATH_INFO` (nginx and Apache defaults) `SCRIPT_NAME` is the whole path,
 *   so there is no prefix and the app routes the full path.
 *
 * This module imports nothing but `core/status.ts`, `core/reply.ts` and `./host.ts`:
 * the CGI adapter loads it for every request.
 *
 * @example
 * ```ts
 * import { GatewayRequest, headerBlock } from "./gateway.ts";
 * const request = new GatewayRequest(new Map([
 *   ["REQUEST_METHOD", "GET"], ["SCRIPT_NAME", "/app"], ["PATH_INFO", "/hello"],
 *   ["QUERY_STRING", "x=1"], ["HTTP_HOST", "example.com"],
 * ]));
 * request.url;              // "http://example.com/hello?x=1"
 * request.info.scriptName;  // "/app"
 * headerBlock(200, new Headers({ "content-type": "text/plain" }));
 * // "content-type: text/plain\r\nStatus: 200 OK\r\n\r\n"
 * ```
 *
 * @module
 */

import { statusText } from "../core/status.ts";
import type { FetchApp, ServeInfo } from "./adapter.ts";
import { HostCheck, isValidHost } from "./host.ts";

export type { FetchApp, ServeInfo };
import { type Reply, TypedReply } from "../core/reply.ts";
import type { FastPathApp } from "../core/contract.ts";

/**
 * CGI meta-variables by name (FastCGI params, or the process environment for CGI): a
 * `Map<string, string>` will do. Iteration yields each name once (repeated names
 * already merged, see {@linkcode addParam}).
 */
export interface GatewayParams {
  /** The value of a meta-variable, or `undefined`. */
  get(name: string): string | undefined;
  /** Every `[name, value]` pair. */
  [Symbol.iterator](): Iterator<[string, string]>;
}

/**
 * Adds one FastCGI param to `params`, merging a repeated name the way a CGI server
 * merges repeated headers (RFC 3875 §4.1.18): cookies with `"; "`, other `HTTP_*`
 * with `", "`, anything else: the last value wins.
 *
 * @example
 * ```ts
 * import { addParam } from "./gateway.ts";
 * const p = new Map<string, string>();
 * addParam(p, "HTTP_COOKIE", "a=1");
 * addParam(p, "HTTP_COOKIE", "b=2");
 * p.get("HTTP_COOKIE"); // "a=1; b=2"
 * ```
 */
export function addParam(params: Map<string, string>, name: string, value: string): void {
  const old = params.get(name);
  if (old === undefined || !name.startsWith("HTTP_")) params.set(name, value);
  else params.set(name, joinRepeated(name, old, value));
}

/** `old` and `value` of a repeated `HTTP_*` meta-variable as one (cookies with `"; "`). */
export function joinRepeated(name: string, old: string, value: string): string {
  return old + (name === "HTTP_COOKIE" ? "; " : ", ") + value;
}

// Request headers a gateway must not forward: the body framing is already undone by
// the server (the body we get is de-chunked), hop-by-hop headers describe the
// client's connection, and `Proxy` is the httpoxy vector.
const SKIP_HEADERS = new Set([
  "HTTP_CONTENT_LENGTH",
  "HTTP_CONTENT_TYPE",
  "HTTP_TRANSFER_ENCODING",
  "HTTP_CONNECTION",
  "HTTP_KEEP_ALIVE",
  "HTTP_PROXY",
  "HTTP_UPGRADE",
  "HTTP_TE",
]);

/**
 * The request a gateway adapter hands to the app: `Request`-compatible for what an app
 * reads (`method`, `url`, `headers`, `body`, `signal`, `text()`, `json()`…), built from
 * the CGI meta-variables. `headers` and `signal` are made on first access: a web
 * `Request` with an `AbortSignal` costs ~20 µs on Node, more than the rest of a
 * FastCGI request. {@linkcode GatewayRequest.toRequest} builds a real `Request` for apps
 * without `handle()` (anything but Carafe).
 *
 * `CONTENT_LENGTH` that is not a byte count makes the constructor throw a `TypeError`
 * (the adapters answer 400).
 *
 * @example
 * ```ts
 * import { GatewayRequest } from "./gateway.ts";
 * const req = new GatewayRequest(new Map([
 *   ["REQUEST_METHOD", "GET"], ["SCRIPT_NAME", "/app"], ["PATH_INFO", "/hello"], ["HTTP_HOST", "example.com"],
 * ]));
 * req.url;             // "http://example.com/hello"
 * req.info.scriptName; // "/app"
 * ```
 */
export class GatewayRequest {
  /** Upper-case method (`REQUEST_METHOD`, default `GET`). */
  readonly method: string;
  /** Absolute URL whose path is the part inside the mount (`PATH_INFO`). */
  readonly url: string;
  /** Declared body length; `undefined` when `CONTENT_LENGTH` is absent or empty. */
  readonly contentLength: number | undefined;
  /** Whether a body is expected: a declared length > 0, or no length and a method other than GET/HEAD. */
  readonly hasBody: boolean;
  /** `remoteAddr` and the mount prefix (`scriptName`) for `app.fetch`/`app.handle`. */
  readonly info: ServeInfo;
  /** Lets `new Request(url, gatewayRequest)` (Carafe's mount) accept a stream body. */
  readonly duplex = "half";
  #params: GatewayParams;
  #headers?: Headers;
  #body: ReadableStream<Uint8Array> | null = null;
  #ac?: AbortController;
  #abortReason?: unknown;
  #request?: Request;

  /**
   * Derives method, URL, body length and mount prefix from the meta-variables.
   *
   * @param params the CGI meta-variables (FastCGI params or the CGI environment)
   * @param log receives the error lines the app logs for this request ({@linkcode ServeInfo.log})
   */
  constructor(params: GatewayParams, log?: (message: string) => void) {
    this.#params = params;
    this.method = (params.get("REQUEST_METHOD") || "GET").toUpperCase();
    const lengthText = params.get("CONTENT_LENGTH");
    if (lengthText) {
      const trimmed = lengthText.trim();
      if (!/^\d{1,15}$/.test(trimmed)) throw new TypeError(`CONTENT_LENGTH is not a byte count: ${JSON.stringify(lengthText)}`);
      this.contentLength = Number(trimmed);
    }
    this.hasBody = this.contentLength !== undefined ? this.contentLength > 0 : this.method !== "GET" && this.method !== "HEAD";
    const https = params.get("HTTPS");
    const scheme = (https && (https.toLowerCase() === "on" || https === "1")) || params.get("REQUEST_SCHEME") === "https" ? "https" : "http";
    const { scriptName, rawPath } = splitPath(params);
    const query = params.get("QUERY_STRING");
    this.url = `${scheme}://${hostOf(params, scheme)}${rawPath}${query ? "?" + query : ""}`;
    this.info = { remoteAddr: params.get("REMOTE_ADDR") || undefined, scriptName, log };
  }

  /** The request body stream (set by the adapter), or `null`. */
  get body(): ReadableStream<Uint8Array> | null {
    return this.#body;
  }

  /** The adapter attaches the body stream it feeds. */
  setBody(body: ReadableStream<Uint8Array> | null): void {
    this.#body = body;
  }

  /** Whether the body was read. */
  get bodyUsed(): boolean {
    return this.#body?.locked ?? false;
  }

  /** Request headers from `HTTP_*`, `CONTENT_TYPE`, `CONTENT_LENGTH`, built on first access. */
  get headers(): Headers {
    if (this.#headers) return this.#headers;
    const headers = new Headers();
    for (const [name, value] of this.#params) {
      if (name.length > 5 && name.startsWith("HTTP_") && !SKIP_HEADERS.has(name)) {
        try {
          headers.append(name.slice(5).replaceAll("_", "-"), value);
        } catch { /* a value the Headers class refuses (CR/LF/NUL) is dropped, not fatal */ }
      }
    }
    const type = this.#params.get("CONTENT_TYPE");
    if (type) headers.set("content-type", type);
    if (this.contentLength !== undefined) headers.set("content-length", String(this.contentLength));
    return (this.#headers = headers);
  }

  /** Aborts when the web server gives up on the request (ABORT_REQUEST, connection closed). */
  get signal(): AbortSignal {
    if (!this.#ac) {
      this.#ac = new AbortController();
      if (this.#abortReason !== undefined) this.#ac.abort(this.#abortReason);
    }
    return this.#ac.signal;
  }

  /** Called by the adapter: aborts {@linkcode GatewayRequest.signal} (now or when first read). */
  abort(reason: unknown): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#ac?.abort(reason);
  }

  /** A real web `Request` with the same method, URL, headers, body and signal. */
  toRequest(): Request {
    if (this.#request) return this.#request;
    const init: RequestInit & { duplex?: string } = { method: this.method, headers: this.headers, signal: this.signal };
    if (this.#body) {
      init.body = this.#body;
      init.duplex = "half"; // required by Node and Deno for a stream body
    }
    return (this.#request = new Request(this.url, init));
  }

  /** The body as text. */
  text(): Promise<string> {
    return this.toRequest().text();
  }

  /** The body parsed as JSON. */
  json(): Promise<unknown> {
    return this.toRequest().json();
  }

  /** The body as an `ArrayBuffer`. */
  arrayBuffer(): Promise<ArrayBuffer> {
    return this.toRequest().arrayBuffer();
  }

  /** The body as a `Blob`. */
  blob(): Promise<Blob> {
    return this.toRequest().blob();
  }

  /** The body as `FormData`. */
  formData(): Promise<FormData> {
    return this.toRequest().formData() as Promise<FormData>;
  }
}

const hosts = new HostCheck();

/**
 * The host (and port) of the request URL. `HTTP_HOST` when it is a valid `host[:port]`
 * (see {@linkcode isValidHost}), else `SERVER_NAME`, else `localhost`: routing never
 * depends on it. A host without a port gets `SERVER_PORT` when that is not the
 * scheme's default: Debian's nginx `fastcgi_params` sends `HTTP_HOST $host`, which has
 * no port, for a site on :8080.
 */
function hostOf(params: GatewayParams, scheme: string): string {
  const port = params.get("SERVER_PORT");
  const isDefault = !port || !/^\d{1,5}$/.test(port) || (scheme === "http" && port === "80") || (scheme === "https" && port === "443");
  const header = params.get("HTTP_HOST");
  let host: string;
  if (header && hosts.ok(header)) host = header;
  else {
    host = params.get("SERVER_NAME") || "localhost";
    if (host.includes(":") && !host.startsWith("[") && !/^[^:]+:\d+$/.test(host)) host = `[${host}]`;
    if (!isValidHost(host)) host = "localhost";
  }
  return isDefault || /:\d*$/.test(host) ? host : `${host}:${port}`;
}

/** Percent-encodes what may not appear raw in a URL path (`%`, `?`, `#`, spaces, non-ASCII). */
function encodePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23"));
}

function safeDecode(text: string): string | undefined {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** `text` decoded but for encoded slashes (`%2F` stays as it is, as lighttpd and Apache's `unescape()` leave it). */
function keptSlashes(text: string): string | undefined {
  return /%2f/i.test(text) ? safeDecode(text.replace(/%2f/gi, (m) => "%25" + m.slice(1))) : undefined;
}

/**
 * Splits the request path into the mount prefix and the raw path inside it.
 * PATH_INFO present → prefix is SCRIPT_NAME; the raw form of PATH_INFO is the rest of
 * REQUEST_URI when PATH_INFO is that text decoded (what RFC 3875 asks, and nginx,
 * lighttpd and HAProxy send), decoded but for `%2F`, or that text as it is (a
 * PATH_INFO copied from the raw REQUEST_URI, as an Apache `ProxyFCGISetEnvIf` recipe
 * does): never encoded a second time. No PATH_INFO → no prefix, the whole REQUEST_URI
 * path (or SCRIPT_NAME) is routed.
 */
function splitPath(params: GatewayParams): { scriptName: string; rawPath: string } {
  const uri = params.get("REQUEST_URI");
  const q = uri ? uri.indexOf("?") : -1;
  const uriPath = uri ? (q < 0 ? uri : uri.slice(0, q)) : undefined;
  const pathInfo = params.get("PATH_INFO");
  let script = params.get("SCRIPT_NAME") ?? "";
  if (script.endsWith("/")) script = script.replace(/\/+$/, "");
  if (pathInfo === undefined) {
    const raw = uriPath && uriPath.startsWith("/") ? uriPath : encodePath(params.get("SCRIPT_NAME") || "/");
    return { scriptName: "", rawPath: raw || "/" };
  }
  const inner = pathInfo.startsWith("/") ? pathInfo : "/" + pathInfo;
  if (uriPath && !script.includes("%")) {
    // Find where the prefix ends in the raw URI: it is the shortest raw prefix that decodes to SCRIPT_NAME.
    let end = -1;
    if (uriPath.startsWith(script)) end = script.length;
    else if (safeDecode(uriPath.slice(0, encodePath(script).length)) === script) end = encodePath(script).length;
    if (end >= 0) {
      const rawInner = uriPath.slice(end) || "/";
      if (rawInner === inner || safeDecode(rawInner) === inner || (pathInfo === "" && rawInner === "/") || keptSlashes(rawInner) === inner) {
        return { scriptName: script, rawPath: rawInner.startsWith("/") ? rawInner : "/" + rawInner };
      }
    }
  }
  return { scriptName: script, rawPath: encodePath(inner) };
}

/**
 * The one writer of the CGI-style response head shared by FastCGI and CGI: every
 * header on its own line (each `Set-Cookie` separately), then the `Status:` line,
 * then the blank line.
 *
 * `Status:` comes **last**: RFC 3875 allows any order, nginx, Apache, lighttpd and
 * fcgiwrap do not care, but HAProxy's FastCGI mux lets the later of `Status` and
 * `Location` win, and a `Location` after `Status` would turn every redirect into a 302.
 * `Transfer-Encoding`, `Connection` and `Keep-Alive` are never written: the gateway
 * server does the framing, and chunked framing inside the body would reach the client
 * twice-chunked (nginx, Apache).
 *
 * @example
 * ```ts
 * import { headerBlock } from "./gateway.ts";
 * const h = new Headers({ location: "/next" });
 * h.append("set-cookie", "a=1");
 * h.append("set-cookie", "b=2");
 * headerBlock(303, h); // "location: /next\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nStatus: 303 See Other\r\n\r\n"
 * ```
 */
export function headerBlock(status: number, headers: Headers): string {
  let out = "";
  let cookies = false;
  for (const [name, value] of headers) {
    if (name === "set-cookie") {
      cookies = true;
      continue;
    }
    if (name === "transfer-encoding" || name === "connection" || name === "keep-alive" || name === "status") continue;
    out += `${name}: ${value}\r\n`;
  }
  if (cookies) for (const cookie of headers.getSetCookie()) out += `set-cookie: ${cookie}\r\n`;
  return `${out}${statusLine(status)}\r\n`;
}

/** `Status: 200 OK\r\n` */
function statusLine(status: number): string {
  return `Status: ${status} ${statusText(status) || "Unknown"}\r\n`;
}

/** Body of a gateway answer: bytes to write at once, a stream to pump, or nothing. */
export type GatewayBody = Uint8Array | ReadableStream<Uint8Array> | null;

/** An answer ready for a gateway: the CGI header block (ends with the blank line) and the body. */
export interface GatewayAnswer {
  /** The HTTP status. */
  status: number;
  /** The header block from {@linkcode headerBlock}. */
  head: string;
  /** The body. */
  body: GatewayBody;
}

const encoder = new TextEncoder();

/**
 * Asks the app for its answer: `app.handle()` (a Carafe app: no `Request` or
 * `Response` built) when present, else `app.fetch()` with a real `Request`. Strings
 * become UTF-8 bytes and a `Blob` a stream, so an adapter only deals with bytes or a
 * byte stream. An app that throws yields a plain 500 (the error is passed to `onError`
 * for the log and the server's error channel). An answer that is not one (a fetch app
 * returning something other than a `Response`) makes the promise reject.
 *
 * A Carafe reply whose only header is its content type becomes a header block without
 * a `Headers` object ever being made: that costs more than the rest of the request on
 * Deno and Bun, and on Node the first one loads the whole fetch implementation (about
 * 20 ms of a CGI request).
 *
 * @example
 * ```ts
 * import { answer, GatewayRequest } from "./gateway.ts";
 * const app = { fetch: () => new Response("hi") };
 * const req = new GatewayRequest(new Map([["REQUEST_METHOD", "GET"]]));
 * const { status, head, body } = await answer(app, req, console.error);
 * ```
 */
export async function answer(
  app: FetchApp,
  request: GatewayRequest,
  onError: (error: unknown) => void,
): Promise<GatewayAnswer> {
  let reply: Reply;
  try {
    const handle = (app as Partial<FastPathApp>).handle;
    if (typeof handle === "function") {
      // Carafe reads only what IncomingRequest names: the lazy request suffices.
      reply = await handle.call(app, request, request.info);
    } else {
      const res = await app.fetch(request.toRequest(), request.info);
      reply = { status: res.status, headers: res.headers, body: res.body };
    }
  } catch (error) {
    onError(error);
    return simpleAnswer(500, "Internal Server Error\n");
  }
  let body = reply.body as GatewayBody | string | Blob | undefined;
  if (body === undefined) body = null;
  else if (typeof body === "string") body = encoder.encode(body);
  else if (body !== null && !(body instanceof Uint8Array) && body instanceof Blob) body = body.stream();
  if (reply instanceof TypedReply && !reply.headersMaterialised) {
    const length = body instanceof Uint8Array ? `content-length: ${body.length}\r\n` : "";
    return { status: reply.status, head: `content-type: ${reply.contentType}\r\n${length}${statusLine(reply.status)}\r\n`, body };
  }
  return { status: reply.status, head: headerBlock(reply.status, reply.headers), body };
}

/** A short plain-text answer (the adapters' own 400 and 500), through the same header writer. */
export function simpleAnswer(status: number, text: string): GatewayAnswer & { body: Uint8Array } {
  const body = encoder.encode(text);
  const headers = new Headers({ "content-type": "text/plain; charset=UTF-8", "content-length": String(body.length) });
  return { status, head: headerBlock(status, headers), body };
}
