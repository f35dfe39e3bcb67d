/**
 * The response a handler shapes (`res`): status, headers and cookies. The body is
 * what the handler returns.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/login", (req, res) => {
 *   res.status = 201;
 *   res.setCookie("seen", "1", { httpOnly: true, sameSite: "lax" });
 *   res.contentType = "text/plain; charset=UTF-8";
 *   return "welcome";
 * });
 * ```
 *
 * @module
 */
import { deletionCookie, serializeCookie, signCookieValue, type CookieOptions, type CookieSecret } from "./cookies.ts";
import { assertHeaderSafe } from "./errors.ts";
import { checkStatus } from "./status.ts";

/**
 * Status, headers and cookies of the answer being built.
 *
 * @example
 * ```ts
 * import { CarafeResponse } from "./response.ts";
 * const res = new CarafeResponse();
 * res.setHeader("Cache-Control", "no-store");
 * ```
 */
export class CarafeResponse {
  #status = 200;
  #headers: Headers | undefined;

  /** The HTTP status code (default 200). Setting anything but an integer from 200 to 599 throws a `RangeError`. */
  get status(): number {
    return this.#status;
  }

  set status(code: number) {
    // Checked here, where the mistake is made, rather than when the Response is built.
    this.#status = checkStatus(code);
  }

  /** Response headers. Created on first use. */
  get headers(): Headers {
    return (this.#headers ??= new Headers());
  }

  /** Whether any header was set (lets the app skip merging). */
  get hasHeaders(): boolean {
    return this.#headers !== undefined;
  }

  /** Sets a header, replacing earlier values. CR, LF or NUL → `TypeError`. */
  setHeader(name: string, value: string): void {
    assertHeaderSafe(name, value);
    this.headers.set(name, value);
  }

  /** Adds a header line, keeping earlier values. CR, LF or NUL → `TypeError`. */
  addHeader(name: string, value: string): void {
    assertHeaderSafe(name, value);
    this.headers.append(name, value);
  }

  /** The `Content-Type` header (`undefined` when not set). */
  get contentType(): string | undefined {
    return this.#headers?.get("content-type") ?? undefined;
  }

  set contentType(value: string) {
    this.setHeader("content-type", value);
  }

  /**
   * Adds a `Set-Cookie` header. Invalid names, values or attribute combinations
   * (`sameSite: "none"` or `partitioned` without `secure`, `__Host-`/`__Secure-`
   * prefix rules) throw with a message saying what to change.
   */
  setCookie(name: string, value: string, options?: CookieOptions): void {
    this.headers.append("set-cookie", serializeCookie(name, value, options));
  }

  /**
   * Sets a cookie signed with HMAC-SHA256; read it back with `req.getSignedCookie(name,
   * secret)`. Synchronous (as in Bottle): the `Set-Cookie` header is there when this
   * returns, so a `redirect()` right after it keeps the cookie. With a secret list the
   * first key signs. Throws like `setCookie`, and for an empty or non-string secret.
   *
   * @example
   * ```ts
   * import { Carafe, redirect } from "../mod.ts";
   * const app = new Carafe();
   * app.post("/login", (req, res) => {
   *   res.setSignedCookie("user", "alice", "s3cret", { httpOnly: true, sameSite: "lax" });
   *   redirect("/admin");
   * });
   * ```
   */
  setSignedCookie(name: string, value: string, secret: CookieSecret, options?: CookieOptions): void {
    this.setCookie(name, signCookieValue(name, value, secret), options);
  }

  /** Tells the client to drop a cookie; pass the same `path`/`domain` it was set with. */
  deleteCookie(name: string, options?: CookieOptions): void {
    this.headers.append("set-cookie", deletionCookie(name, options));
  }
}
