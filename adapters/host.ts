/**
 * The Host header check the adapters share where a request URL is built from Host
 * (deno, bun, the FastCGI/CGI gateways).
 *
 * A server that pastes Host into the URL lets it change the path the app routes:
 * `Host: x/admin` with `GET /secret` reads as `http://x/admin/secret`. Carafe routes
 * only on the request target, so a Host that is not `host[:port]` is refused with a
 * 400, as RFC 9112 §3.2 asks and nginx answers.
 *
 * @example
 * ```ts
 * import { isValidHost } from "./host.ts";
 * isValidHost("example.com:8080"); // true
 * isValidHost("[::1]:80");         // true
 * isValidHost("x/admin");          // false
 * isValidHost("x:99999");          // false
 * ```
 *
 * @module
 */

/** A registered name (letters, digits, `-`, `.`, `_`, `~`) or an IPv4 address, then an optional port. */
const NAME_HOST = /^[A-Za-z0-9._~-]+(?::(\d{0,5}))?$/;
/** A bracketed IPv6 (or IPvFuture) literal, then an optional port. */
const IP_LITERAL_HOST = /^\[[0-9A-Fa-f:.]+\](?::(\d{0,5}))?$/;

/** The longest Host accepted: a DNS name (253) plus a port. */
const MAX_HOST_LENGTH = 260;

/**
 * Whether `host` is a Host header value a URL can be built from: a name or IPv4
 * address, or an IPv6 literal in brackets that the URL parser accepts, with an
 * optional port of at most 65535. Anything else (`/ ? # @ \ %`, spaces, an empty or
 * out-of-range port text such as `x:abc` or `x:99999`, a lone `[`) is refused.
 *
 * @example
 * ```ts
 * import { isValidHost } from "./host.ts";
 * isValidHost("u@x"); // false
 * ```
 */
export function isValidHost(host: string): boolean {
  if (host.length > MAX_HOST_LENGTH) return false;
  const m = NAME_HOST.exec(host) ?? IP_LITERAL_HOST.exec(host);
  if (m === null) return false;
  if (m[1] !== undefined && m[1] !== "" && Number(m[1]) > 65535) return false;
  if (host.charCodeAt(0) !== 91 /* [ */) return true;
  try {
    // The brackets' content must be an address: `[::::]` matches the pattern but is none.
    new URL(`http://${host}/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Remembers the last Host that passed {@linkcode isValidHost}: a server sees the same
 * one again and again, and a string comparison is cheaper than the check.
 *
 * @example
 * ```ts
 * import { HostCheck } from "./host.ts";
 * const check = new HostCheck();
 * check.ok("example.com"); // true (and remembered)
 * check.ok("x y");         // false
 * ```
 */
export class HostCheck {
  #last = "";

  /** Whether `host` is valid (see {@linkcode isValidHost}). */
  ok(host: string): boolean {
    if (host === this.#last) return true;
    if (!isValidHost(host)) return false;
    this.#last = host;
    return true;
  }
}

/**
 * The 400 for a request whose Host header is not a host name (RFC 9112 §3.2); the
 * connection is closed, as after any malformed request.
 *
 * @example
 * ```ts
 * import { badHost } from "./host.ts";
 * const res = badHost(); // 400, "Bad Request: invalid Host header"
 * ```
 */
export function badHost(): Response {
  const text = "Bad Request: invalid Host header\n";
  return new Response(text, {
    status: 400,
    headers: { "content-type": "text/plain", "content-length": String(text.length), connection: "close" },
  });
}
