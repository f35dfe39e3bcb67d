/**
 * What the FastCGI and CGI adapters share: turning CGI meta-variables (RFC 3875
 * §4.1) into a web `Request` plus {@linkcode ServeInfo}, asking the app for its
 * answer, and writing the CGI-style header block (`Status:` line, headers, blank
 * line) that both protocols put in front of the body.
 *
 * Real servers disagree on the details, so the mapping is forgiving:
 * - nginx sends `CONTENT_LENGTH=""` / `CONTENT_TYPE=""` on a GET: empty means absent;
 * - nginx and HAProxy repeat a param per repeated header: `HTTP_COOKIE` values are
 *   joined with `"; "`, other `HTTP_*` with `", "`, anything else keeps the last value
 *   (nginx even sends `SCRIPT_NAME` twice when a config overrides it);
 * - `PATH_INFO` is percent-decoded by every server while `REQUEST_URI` is raw, so the
 *   raw path is recovered from `REQUEST_URI` when the two agree;
 * - with no `PATH_INFO` (nginx and Apache defaults) `SCRIPT_NAME` is the whole path,
 *   so there is no prefix and the app routes the full path.
 *
 * This module imports nothing but `core/status.ts`: the CGI adapter loads it for every
 * request.
 *
 * @example
 * ```ts
 * import { requestFromParams, headerBlock } from "./gateway.ts";
 * const { request, info } = requestFromParams(new Map([
 *   ["REQUEST_METHOD", "GET"], ["SCRIPT_NAME", "/app"], ["PATH_INFO", "/hello"],
 *   ["QUERY_STRING", "x=1"], ["HTTP_HOST", "example.com"],
 * ]));
 * request.url;      // "http://example.com/hello?x=1"
 * info.scriptName;  // "/app"
 * headerBlock(200, new Headers({ "content-type": "text/plain" }));
 * // "Status: 200 OK\r\ncontent-type: text/plain\r\n\r\n"
 * ```
 *
 * @module
 */

import { statusText } from "../core/status.ts";
import type { FetchApp, ServeInfo } from "./adapter.ts";
import type { Reply } from "../core/reply.ts";

/** CGI meta-variables by name (FastCGI params, or the process environment for CGI). */
export type GatewayParams = Map<string, string>;

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
export function addParam(params: GatewayParams, name: string, value: string): void {
  const old = params.get(name);
  if (old === undefined || !name.startsWith("HTTP_")) params.set(name, value);
  else params.set(name, old + (name === "HTTP_COOKIE" ? "; " : ", ") + value);
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

/** The parts of a request a gateway adapter derives from the meta-variables. */
export interface GatewayRequestParts {
  /** Upper-case method (`REQUEST_METHOD`, default `GET`). */
  method: string;
  /** Absolute URL whose path is the part inside the mount (`PATH_INFO`). */
  url: string;
  /** Request headers from `HTTP_*`, `CONTENT_TYPE`, `CONTENT_LENGTH`. */
  headers: Headers;
  /** Declared body length; `undefined` when `CONTENT_LENGTH` is absent or empty. */
  contentLength: number | undefined;
  /** Whether a body is expected at all (declared length > 0, or no length and not GET/HEAD). */
  hasBody: boolean;
  /** `remoteAddr` and the mount prefix (`scriptName`) for `app.fetch`. */
  info: ServeInfo;
}

/**
 * Derives method, URL, headers, body length and {@linkcode ServeInfo} from CGI
 * meta-variables, without building the `Request` yet (the adapter adds the body and
 * signal). Throws a `TypeError` with a clear message when `CONTENT_LENGTH` is not a
 * number.
 *
 * @example
 * ```ts
 * import { gatewayParts } from "./gateway.ts";
 * const parts = gatewayParts(new Map([["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", "3"]]));
 * parts.contentLength; // 3
 * ```
 */
export function gatewayParts(params: GatewayParams): GatewayRequestParts {
  const method = (params.get("REQUEST_METHOD") || "GET").toUpperCase();
  const headers = new Headers();
  for (const [name, value] of params) {
    if (name.length > 5 && name.startsWith("HTTP_") && !SKIP_HEADERS.has(name)) {
      try {
        headers.append(name.slice(5).replaceAll("_", "-"), value);
      } catch { /* a value the Headers class refuses (CR/LF/NUL) is dropped, not fatal */ }
    }
  }
  const type = params.get("CONTENT_TYPE");
  if (type) headers.set("content-type", type);
  const lengthText = params.get("CONTENT_LENGTH");
  let contentLength: number | undefined;
  if (lengthText) {
    if (!/^\d{1,15}$/.test(lengthText.trim())) {
      throw new TypeError(`CONTENT_LENGTH is not a byte count: ${JSON.stringify(lengthText)}`);
    }
    contentLength = Number(lengthText.trim());
    headers.set("content-length", String(contentLength));
  }
  const hasBody = contentLength !== undefined ? contentLength > 0 : method !== "GET" && method !== "HEAD";

  const https = (params.get("HTTPS") ?? "").toLowerCase();
  const scheme = https === "on" || https === "1" || params.get("REQUEST_SCHEME") === "https" ? "https" : "http";
  const host = hostOf(params, scheme);

  const { scriptName, rawPath } = splitPath(params);
  const query = params.get("QUERY_STRING") ?? "";
  const url = `${scheme}://${host}${rawPath}${query ? "?" + query : ""}`;
  const remoteAddr = params.get("REMOTE_ADDR") || undefined;
  return { method, url, headers, contentLength, hasBody, info: { remoteAddr, scriptName } };
}

function hostOf(params: GatewayParams, scheme: string): string {
  const header = params.get("HTTP_HOST");
  if (header && /^[A-Za-z0-9.\-_:[\]]+$/.test(header)) return header;
  let name = params.get("SERVER_NAME") || "localhost";
  if (!/^[A-Za-z0-9.\-_:[\]]+$/.test(name)) name = "localhost";
  if (name.includes(":") && !name.startsWith("[") && !/^[^:]+:\d+$/.test(name)) name = `[${name}]`;
  const port = params.get("SERVER_PORT");
  const isDefault = !port || (scheme === "http" && port === "80") || (scheme === "https" && port === "443");
  return isDefault || /:\d+$/.test(name) ? name : `${name}:${port}`;
}

/** Percent-encodes what may not appear raw in a URL path (`%`, `?`, `#`, spaces, non-ASCII). */
function encodePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23"));
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Splits the request path into the mount prefix and the raw path inside it.
 * PATH_INFO present → prefix is SCRIPT_NAME; the raw form of PATH_INFO is taken from
 * REQUEST_URI when it decodes to the same text. No PATH_INFO → no prefix, the whole
 * REQUEST_URI path (or SCRIPT_NAME) is routed.
 */
function splitPath(params: GatewayParams): { scriptName: string; rawPath: string } {
  const uri = params.get("REQUEST_URI");
  const uriPath = uri ? uri.split("?", 1)[0] : undefined;
  const pathInfo = params.get("PATH_INFO");
  const script = (params.get("SCRIPT_NAME") ?? "").replace(/\/+$/, "");
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
      if (safeDecode(rawInner) === inner || (pathInfo === "" && rawInner === "/")) {
        return { scriptName: script, rawPath: rawInner.startsWith("/") ? rawInner : "/" + rawInner };
      }
    }
  }
  return { scriptName: script, rawPath: encodePath(inner) };
}

/**
 * The one writer of the CGI-style response head shared by FastCGI and CGI:
 * `Status: 200 OK\r\n`, every header on its own line (each `Set-Cookie` separately),
 * then the blank line. `Transfer-Encoding`, `Connection` and `Keep-Alive` are never
 * written: the gateway server does the framing, and chunked framing inside the body
 * would reach the client twice-chunked (nginx, Apache).
 *
 * @example
 * ```ts
 * import { headerBlock } from "./gateway.ts";
 * const h = new Headers({ location: "/next" });
 * h.append("set-cookie", "a=1");
 * h.append("set-cookie", "b=2");
 * headerBlock(303, h); // "Status: 303 See Other\r\nlocation: /next\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
 * ```
 */
export function headerBlock(status: number, headers: Headers): string {
  const reason = statusText(status) || "Unknown";
  let out = `Status: ${status} ${reason}\r\n`;
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
  return out + "\r\n";
}

/** Body of a gateway answer: bytes to write at once, a stream to pump, or nothing. */
export type GatewayBody = Uint8Array | ReadableStream<Uint8Array> | null;

const encoder = new TextEncoder();

/**
 * Asks the app for its answer: `app.handle()` (a Carafe app: no `Response` built) when
 * present, else `app.fetch()`. Strings become UTF-8 bytes and a `Blob` a stream, so an
 * adapter only deals with bytes or a byte stream. An app that throws yields a plain
 * 500 (the error is passed to `onError` for the log and the server's error channel).
 *
 * @example
 * ```ts
 * import { answer } from "./gateway.ts";
 * const app = { fetch: () => new Response("hi") };
 * const { status, body } = await answer(app, new Request("http://x/"), {}, console.error);
 * ```
 */
export async function answer(
  app: FetchApp,
  request: Request,
  info: ServeInfo,
  onError: (error: unknown) => void,
): Promise<{ status: number; headers: Headers; body: GatewayBody }> {
  let reply: Reply;
  try {
    const handle = (app as { handle?: (r: Request, i?: ServeInfo) => Promise<Reply> }).handle;
    if (typeof handle === "function") {
      reply = await handle.call(app, request, info);
    } else {
      const res = await app.fetch(request, info);
      reply = { status: res.status, headers: res.headers, body: res.body };
    }
  } catch (error) {
    onError(error);
    const text = encoder.encode("Internal Server Error\n");
    return {
      status: 500,
      headers: new Headers({ "content-type": "text/plain; charset=UTF-8", "content-length": String(text.length) }),
      body: text,
    };
  }
  const body = reply.body;
  if (body === null || body === undefined) return { status: reply.status, headers: reply.headers, body: null };
  if (typeof body === "string") return { status: reply.status, headers: reply.headers, body: encoder.encode(body) };
  if (body instanceof Uint8Array) return { status: reply.status, headers: reply.headers, body };
  if (body instanceof Blob) return { status: reply.status, headers: reply.headers, body: body.stream() };
  return { status: reply.status, headers: reply.headers, body };
}
