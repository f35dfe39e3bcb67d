/**
 * Responses that travel as exceptions: {@linkcode HTTPResponse}, {@linkcode HTTPError},
 * and the shortcuts {@linkcode abort} and {@linkcode redirect} (Bottle's names).
 *
 * Return one from a handler, or throw it from anywhere below a handler: the app turns
 * it into the answer. An `HTTPError` goes through the app's error handlers
 * (`app.error(code, ...)`); an `HTTPResponse` is sent as it is.
 *
 * @example
 * ```ts
 * import { abort, HTTPError, redirect } from "./errors.ts";
 * function load(id: number) {
 *   if (id < 0) abort(400, "Ids are positive.");
 *   if (id === 0) redirect("/items/1");
 *   throw new HTTPError(404, `No item ${id}.`);
 * }
 * ```
 *
 * @module
 */
import { checkStatus } from "./status.ts";

/**
 * Characters a header may not carry: CR, LF or NUL would split or truncate the header
 * block, and the servers refuse the other control characters (tab aside) too, so they
 * are refused where they are set rather than when the answer is written.
 */
// deno-lint-ignore no-control-regex
const FORBIDDEN_HEADER_CHARS = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Throws a `TypeError` when a header name or value contains CR, LF, NUL or another
 * control character (tab is allowed).
 *
 * @example
 * ```ts
 * import { assertHeaderSafe } from "./errors.ts";
 * assertHeaderSafe("X-Ok", "fine");
 * ```
 */
export function assertHeaderSafe(name: string, value: string): void {
  if (FORBIDDEN_HEADER_CHARS.test(name) || FORBIDDEN_HEADER_CHARS.test(value)) {
    throw new TypeError(
      `Header ${JSON.stringify(name)} contains a line break or another control character, which would allow ` +
        "header injection or be refused by the server; remove them from header names and values.",
    );
  }
}

/** Headers given as a `Headers`, a record or a list of pairs. */
export type HeadersLike = Headers | Record<string, string> | Array<[string, string]>;

function toHeaders(init: HeadersLike | undefined): Headers {
  const headers = new Headers();
  if (!init) return headers;
  const pairs = init instanceof Headers ? init.entries() : Array.isArray(init) ? init : Object.entries(init);
  for (const [name, value] of pairs) {
    assertHeaderSafe(name, value);
    headers.append(name, value);
  }
  return headers;
}

/**
 * A complete answer that can be returned or thrown. Bottle's `HTTPResponse`.
 *
 * @example
 * ```ts
 * import { HTTPResponse } from "./errors.ts";
 * const created = new HTTPResponse({ id: 7 }, 201, { location: "/items/7" });
 * ```
 */
export class HTTPResponse extends Error {
  /** The body: anything a handler may return. */
  body: unknown;
  /** HTTP status code. */
  status: number;
  /** Headers sent with it (merged over those set on `res`). */
  headers: Headers;

  /**
   * Makes a response to return or throw.
   *
   * @param body anything a handler may return (string, object, bytes, stream…)
   * @param status the HTTP status code, 200 to 599 (default 200); anything else throws a `RangeError`
   * @param headers extra headers; CR, LF or NUL in a name or value throws a `TypeError`
   */
  constructor(body?: unknown, status = 200, headers?: HeadersLike) {
    super(`HTTP ${status}`);
    this.name = "HTTPResponse";
    this.body = body;
    this.status = checkStatus(status);
    this.headers = toHeaders(headers);
  }
}

/** Options of {@linkcode HTTPError}. */
export interface HTTPErrorOptions {
  /** The exception that caused it (shown in debug mode, logged). */
  cause?: unknown;
  /** Extra headers, e.g. `Allow` or `WWW-Authenticate`. */
  headers?: HeadersLike;
}

/**
 * An error answer; the app's error handler for its status renders it. Bottle's `HTTPError`.
 *
 * @example
 * ```ts
 * import { HTTPError } from "./errors.ts";
 * throw new HTTPError(403, "Members only.", { headers: { "www-authenticate": "Basic" } });
 * ```
 */
export class HTTPError extends HTTPResponse {
  /**
   * Makes an error response to throw (or return).
   *
   * @param status the HTTP status code, 200 to 599 (default 500)
   * @param body the message shown on the error page (or any handler return value)
   * @param options `cause` and `headers`
   */
  constructor(status = 500, body?: unknown, options: HTTPErrorOptions = {}) {
    super(body, status, options.headers);
    this.name = "HTTPError";
    if (options.cause !== undefined) this.cause = options.cause;
    this.message = typeof body === "string" ? body : `HTTP ${status}`;
  }
}

/**
 * Stops the handler with an error response. Bottle's `abort()`.
 *
 * @example
 * ```ts
 * import { abort } from "./errors.ts";
 * function requireId(id?: string) {
 *   if (!id) abort(400, "An id is required.");
 * }
 * ```
 */
export function abort(status = 500, text?: string): never {
  throw new HTTPError(status, text);
}

/**
 * Stops the handler with a redirect. Cookies and headers already set on `res` are
 * kept. Default status 303 (See Other), as in Bottle.
 *
 * `url` is an absolute URL (`https://example.com/x`, sent as it is) or a reference on
 * this server, resolved as a browser resolves a link on the requested page (Bottle's
 * `urljoin(request.url, url)`): `"/todo"` is the server's `/todo`, `"todo"` and
 * `"../todo"` are relative to the request path, mount prefix included. The `Location`
 * sent for a reference is an absolute path without scheme or host, so the request's
 * Host header plays no part. A target a browser would read as another host
 * (`//evil.com`, `/\evil.com`) stays on this one (`/evil.com`). Under a prefix (a
 * FastCGI `SCRIPT_NAME`, a mount), go to a route of the app with
 * `redirect(app.url(name, params, req))`.
 *
 * @example
 * ```ts
 * import { redirect } from "./errors.ts";
 * function afterLogin() {
 *   redirect("../dashboard");
 * }
 * ```
 */
export function redirect(url: string, status = 303): never {
  assertHeaderSafe("Location", url);
  throw new HTTPResponse("", status, { location: asciiLocation(url) });
}

/**
 * A header holds bytes, not text: non-ASCII in a redirect target (`/瓶`, `?q=ü`) is
 * percent-encoded as UTF-8, and an absolute URL is normalised by the URL parser (an
 * international host becomes punycode). The app resolves the rest (core/location.ts).
 */
function asciiLocation(url: string): string {
  // deno-lint-ignore no-control-regex
  if (!/[^\x00-\x7f]/.test(url)) return url;
  let ascii: string;
  try {
    // deno-lint-ignore no-control-regex
    ascii = url.replace(/[^\x00-\x7f]+/g, encodeURIComponent);
  } catch {
    throw new TypeError(`redirect(): the URL ${JSON.stringify(url)} is not valid Unicode (a lone surrogate).`);
  }
  if (!/^[a-z][a-z0-9+.-]*:/i.test(ascii)) return ascii;
  try {
    return new URL(ascii).href;
  } catch {
    return ascii;
  }
}

/**
 * An error as a log line shows it: its stack (which names it and says its message), or
 * `Name: message` without one; anything else thrown as text.
 *
 * @example
 * ```ts
 * import { describeError } from "./errors.ts";
 * console.log(describeError(new TypeError("bad"))); // TypeError: bad\n    at …
 * ```
 */
export function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}
