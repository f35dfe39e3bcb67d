/**
 * Cookies: parse a `Cookie` header, serialise a `Set-Cookie` value with validation,
 * and sign / verify values with HMAC-SHA256. Web standards only; signing and checking
 * are synchronous (./sha256.ts), so no forgotten `await` can skip a check or a cookie.
 *
 * ## Serialising
 *
 * - Names must be RFC 6265 tokens (letters, digits and ``!#$%&'*+-.^_`|~``).
 * - Values are strings (never objects: `JSON.stringify` them yourself). Characters
 *   outside RFC 6265's cookie-octet set (space, `"`, `,`, `;`, `\`, controls,
 *   non-ASCII) and `%` itself are percent-encoded as UTF-8, so that
 *   `parseCookies` gives back exactly the string that was set. CR, LF and NUL in a
 *   value throw instead: they are almost always a header-injection attempt or a bug.
 * - `Path` defaults to `/` (as in Express and Hono; without it browsers scope the
 *   cookie to the request's directory, a classic "cookie not sent" bug).
 * - `maxAge` is in seconds; fractions are rounded down and a negative value is
 *   written as `Max-Age=0`, which tells the browser to drop the cookie at once.
 * - `expires` takes a `Date`, epoch milliseconds or an HTTP-date / ISO 8601 string and
 *   is always written as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
 * - Rules browsers enforce silently are errors here: `SameSite=None` and
 *   `Partitioned` need `secure`; `__Secure-` needs `secure`; `__Host-` needs `secure`,
 *   path `/` and no domain; `__Http-` / `__Host-Http-` also need `httpOnly`; name plus
 *   value over 4096 bytes does not fit into a cookie.
 *
 * ## Signed values
 *
 * `signCookieValue(name, value, secret)` returns `<value>.<signature>` where the
 * signature is the unpadded base64url HMAC-SHA256 (43 characters) of the UTF-8 bytes
 * of `<name>=<value>`. Signing the name too means a value copied into a cookie of
 * another name does not verify. The value itself stays readable (it is signed, not
 * encrypted: do not put secrets in it). `verifyCookieValue` compares signatures in
 * constant time and answers `undefined` for anything that is not a value signed for
 * that name with one of the secrets; it never throws for a bad cookie.
 *
 * A `CookieSecret` array signs with its first entry and verifies with all of them,
 * so keys can be rotated: put the new key first and drop the old one once the
 * cookies it signed have expired.
 *
 * @example
 * ```ts
 * import { parseCookies, serializeCookie, signCookieValue, verifyCookieValue } from "./cookies.ts";
 * serializeCookie("theme", "dark mode", { maxAge: 3600, httpOnly: true, sameSite: "lax" });
 * // "theme=dark%20mode; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax"
 * parseCookies("theme=dark%20mode; lang=en"); // { theme: "dark mode", lang: "en" }
 * const signed = signCookieValue("user", "alice", "s3cret");
 * verifyCookieValue("user", signed, "s3cret"); // "alice"
 * ```
 *
 * @module
 */
import { HmacSha256 } from "./sha256.ts";

/**
 * Attributes of a `Set-Cookie` header.
 *
 * @example
 * ```ts
 * import { serializeCookie, type CookieOptions } from "./cookies.ts";
 * const options: CookieOptions = { maxAge: 86400, secure: true, httpOnly: true, sameSite: "strict" };
 * serializeCookie("__Host-session", "abc", options);
 * ```
 */
export interface CookieOptions {
  /** Lifetime in seconds (`Max-Age`); fractions round down, negative means "drop now" (`Max-Age=0`). */
  maxAge?: number;
  /** Expiry (`Expires`): a `Date`, epoch milliseconds, or an HTTP-date / ISO 8601 string. */
  expires?: Date | number | string;
  /** `Domain`: the cookie is also sent to subdomains of it. Omit for host-only cookies. */
  domain?: string;
  /** `Path` the cookie is sent for; must start with `/`. Default `/`. */
  path?: string;
  /** Send only over HTTPS (`Secure`). */
  secure?: boolean;
  /** Hide from JavaScript (`HttpOnly`). */
  httpOnly?: boolean;
  /** Cross-site sending policy (`SameSite`); `none` requires `secure`. Case-insensitive. */
  sameSite?: "lax" | "strict" | "none" | "Lax" | "Strict" | "None";
  /** CHIPS partitioned cookie (`Partitioned`); requires `secure`. */
  partitioned?: boolean;
}

/**
 * Key(s) for signed cookies: a string or bytes, or an array of them where the first
 * signs and all verify (key rotation).
 *
 * @example
 * ```ts
 * import type { CookieSecret } from "./cookies.ts";
 * const secret: CookieSecret = ["new-key-2026", "old-key-2025"];
 * ```
 */
export type CookieSecret = string | Uint8Array | Array<string | Uint8Array>;

// ---------------------------------------------------------------------------
// Parsing

/**
 * Parses a `Cookie` request header into a name → value record.
 *
 * Never throws: pairs without `=` or with an empty name are skipped, surrounding
 * spaces and double quotes are removed, percent-encoded values are decoded (a value
 * whose encoding is broken is kept as sent). When a name appears twice the FIRST
 * value wins: browsers send cookies with longer (more specific) paths first (RFC 6265
 * §5.4), so the first one is the cookie set for this part of the site. (Bottle keeps
 * the last; Express and Go keep the first.)
 *
 * The result has no prototype, so `cookies.constructor` or `cookies.__proto__` are
 * just cookie names, never inherited properties.
 *
 * @param header the `Cookie` header value, or `null`/`undefined` when absent.
 * @returns the cookies sent; empty when there are none.
 *
 * @example
 * ```ts
 * import { parseCookies } from "./cookies.ts";
 * const cookies = parseCookies('a=1; b="two"; c=caf%C3%A9; junk; a=ignored');
 * cookies.a; // "1"
 * cookies.b; // "two"
 * cookies.c; // "café"
 * ```
 */
export function parseCookies(header: string | null | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (typeof header !== "string") return out;
  const len = header.length;
  let start = 0;
  while (start < len) {
    let end = header.indexOf(";", start);
    if (end === -1) end = len;
    const eq = header.indexOf("=", start);
    if (eq !== -1 && eq < end) {
      // Trim spaces and tabs by moving indices instead of allocating trimmed copies.
      let ns = start;
      let ne = eq;
      while (ns < ne && isSpace(header.charCodeAt(ns))) ns++;
      while (ne > ns && isSpace(header.charCodeAt(ne - 1))) ne--;
      if (ne > ns) {
        const name = header.slice(ns, ne);
        if (out[name] === undefined) {
          let vs = eq + 1;
          let ve = end;
          while (vs < ve && isSpace(header.charCodeAt(vs))) vs++;
          while (ve > vs && isSpace(header.charCodeAt(ve - 1))) ve--;
          if (ve - vs >= 2 && header.charCodeAt(vs) === 0x22 && header.charCodeAt(ve - 1) === 0x22) {
            vs++;
            ve--;
          }
          out[name] = decodeValue(header.slice(vs, ve));
        }
      }
    }
    start = end + 1;
  }
  return out;
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function decodeValue(raw: string): string {
  if (raw.indexOf("%") === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw; // Broken percent-encoding: keep what the client sent rather than lose it.
  }
}

// ---------------------------------------------------------------------------
// Serialising

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// cookie-octet (RFC 6265 §4.1.1) minus "%", which is encoded so decoding is exact.
const SAFE_VALUE = /^[\x21\x23\x24\x26-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
const INJECTION = /[\r\n\0]/;
// A label: letters, digits, hyphens inside; a leading dot is allowed (and ignored by browsers).
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
// Any CHAR except CTLs and ";" (RFC 6265 path-value); we additionally insist on a leading "/".
const PATH = /^\/[\x20-\x3A\x3C-\x7E]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const HEX = "0123456789ABCDEF";

/** Browsers store at most 4096 bytes of name plus value (RFC 6265bis §5.6). */
const MAX_PAIR = 4096;
/** Browsers ignore attribute values longer than 1024 bytes (RFC 6265bis §5.6). */
const MAX_ATTRIBUTE = 1024;
/** The earliest year RFC 6265's date parser accepts; IMF-fixdate has four digits. */
const MIN_YEAR = 1601;
const MAX_YEAR = 9999;

/**
 * Builds a `Set-Cookie` header value.
 *
 * @param name an RFC 6265 token.
 * @param value any string; percent-encoded where needed so `parseCookies` returns it unchanged.
 * @param options attributes; `path` defaults to `/`.
 * @returns the header value, e.g. `"id=42; Max-Age=60; Path=/; HttpOnly"`.
 * @throws {TypeError} an invalid name, a non-string or unencodable value, CR/LF/NUL
 *   anywhere, an invalid domain, path or `sameSite`, or an attribute combination
 *   browsers reject (`SameSite=None` or `partitioned` without `secure`, `__Host-` /
 *   `__Secure-` prefix rules).
 * @throws {RangeError} name plus value over 4096 bytes, a path or domain over 1024
 *   bytes, or an invalid `maxAge` / `expires`.
 *
 * @example
 * ```ts
 * import { serializeCookie } from "./cookies.ts";
 * serializeCookie("cart", "a;b c", { maxAge: 600, secure: true, sameSite: "none" });
 * // "cart=a%3Bb%20c; Max-Age=600; Path=/; Secure; SameSite=None"
 * ```
 */
export function serializeCookie(name: string, value: string, options: CookieOptions = {}): string {
  checkName(name);
  const encoded = encodeValue(name, value);
  if (name.length + encoded.length > MAX_PAIR) {
    throw new RangeError(
      `Cookie "${name}": ${name.length + encoded.length} bytes of name and (encoded) value does not fit into a cookie; ` +
        `browsers keep at most ${MAX_PAIR}. Store the data server-side and put an id in the cookie.`,
    );
  }
  let out = `${name}=${encoded}`;
  if (options.maxAge !== undefined) out += `; Max-Age=${formatMaxAge(name, options.maxAge)}`;
  if (options.expires !== undefined) out += `; Expires=${formatExpires(name, options.expires)}`;
  return out + attributes(name, options);
}

/**
 * Builds a `Set-Cookie` header value that makes the browser drop a cookie: an empty
 * value with `Max-Age=0` and an `Expires` in 1970. A cookie is only replaced when
 * name, path and domain match, so pass the `path`/`domain` it was set with; `secure`,
 * `partitioned` and prefix rules apply as when setting (a `__Host-` cookie can only
 * be deleted by a `Secure` header). `maxAge`/`expires` in `options` are ignored.
 *
 * @param name the cookie to delete.
 * @param options the attributes it was set with.
 * @returns the header value.
 * @throws {TypeError} the same validation errors as {@linkcode serializeCookie}.
 *
 * @example
 * ```ts
 * import { deletionCookie } from "./cookies.ts";
 * deletionCookie("session", { path: "/admin" });
 * // "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/admin"
 * ```
 */
export function deletionCookie(name: string, options: CookieOptions = {}): string {
  checkName(name);
  return `${name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT` + attributes(name, options);
}

function checkName(name: string): void {
  if (typeof name !== "string") {
    throw new TypeError(`Cookie name must be a string, got ${typeof name}.`);
  }
  if (TOKEN.test(name)) return;
  if (name === "") throw new TypeError("Cookie name must not be empty.");
  if (INJECTION.test(name)) {
    throw new TypeError(`Cookie name ${JSON.stringify(name)} contains CR, LF or NUL (header injection?).`);
  }
  throw new TypeError(
    `Cookie name ${JSON.stringify(name)} is not an RFC 6265 token: use letters, digits and !#$%&'*+-.^_\`|~ ` +
      `(no spaces, ";", "=", quotes or non-ASCII).`,
  );
}

function encodeValue(name: string, value: string): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `Cookie "${name}": the value must be a string, got ${value === null ? "null" : typeof value}. ` +
        `Serialise it yourself (String(x), JSON.stringify(x)); objects are never serialised implicitly.`,
    );
  }
  if (SAFE_VALUE.test(value)) return value;
  if (INJECTION.test(value)) {
    throw new TypeError(`Cookie "${name}": the value contains CR, LF or NUL (header injection?).`);
  }
  if (LONE_SURROGATE.test(value)) {
    throw new TypeError(`Cookie "${name}": the value contains a lone UTF-16 surrogate and cannot be encoded as UTF-8.`);
  }
  let out = "";
  let plain = 0; // start of the current run of characters that need no encoding
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80 && isSafeOctet(code)) continue;
    out += value.slice(plain, i);
    if (code < 0x80) {
      out += "%" + HEX[code >> 4] + HEX[code & 15];
      plain = i + 1;
    } else {
      // Non-ASCII: hand the whole run to encodeURIComponent (UTF-8, surrogate pairs).
      let j = i + 1;
      while (j < value.length && value.charCodeAt(j) >= 0x80) j++;
      out += encodeURIComponent(value.slice(i, j));
      plain = j;
      i = j - 1;
    }
  }
  return out + value.slice(plain);
}

function isSafeOctet(code: number): boolean {
  return code > 0x20 && code < 0x7f && code !== 0x22 && code !== 0x25 && code !== 0x2c && code !== 0x3b &&
    code !== 0x5c;
}

function formatMaxAge(name: string, maxAge: number): string {
  if (typeof maxAge !== "number" || !Number.isFinite(maxAge)) {
    throw new RangeError(`Cookie "${name}": maxAge must be a finite number of seconds, got ${String(maxAge)}.`);
  }
  return maxAge <= 0 ? "0" : String(Math.floor(maxAge));
}

function formatExpires(name: string, expires: Date | number | string): string {
  let time: number;
  if (expires instanceof Date) time = expires.getTime();
  else if (typeof expires === "number") time = expires;
  else if (typeof expires === "string") time = parseHttpDate(expires);
  else {
    throw new TypeError(`Cookie "${name}": expires must be a Date, epoch milliseconds or a date string.`);
  }
  if (!Number.isFinite(time)) {
    throw new RangeError(
      `Cookie "${name}": expires ${JSON.stringify(String(expires))} is not a valid date ` +
        `(use a Date, epoch milliseconds, an HTTP-date or an ISO 8601 string).`,
    );
  }
  const date = new Date(time);
  const year = date.getUTCFullYear();
  if (!(year >= MIN_YEAR && year <= MAX_YEAR)) {
    throw new RangeError(`Cookie "${name}": expires year ${year} is outside ${MIN_YEAR}–${MAX_YEAR}.`);
  }
  // Since ES2018 toUTCString() is exactly the IMF-fixdate form for four-digit years.
  return date.toUTCString();
}

const MONTHS: Record<string, number> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" and RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT".
const IMF_OR_850 = /^[A-Za-z]{3,9}, (\d{2})[ -]([A-Za-z]{3})[ -](\d{2}|\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// asctime "Sun Nov  6 08:49:37 1994".
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Parses the three HTTP-date forms (RFC 9110 §5.6.7) and ISO 8601 into epoch ms, NaN
 * when it is neither. Done by hand because `Date.parse` of non-ISO strings differs
 * between engines (V8 and JavaScriptCore), and the result must not depend on the runtime.
 */
function parseHttpDate(text: string): number {
  const s = text.trim();
  let m = IMF_OR_850.exec(s);
  if (m) {
    let year = Number(m[3]);
    // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
    if (m[3].length === 2) year += year < 70 ? 2000 : 1900;
    return utc(year, m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME.exec(s);
  if (m) return utc(Number(m[6]), m[1], Number(m[2].trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  // ISO 8601 parsing is specified by ECMAScript, so Date.parse agrees across engines.
  if (ISO.test(s)) return Date.parse(s);
  return NaN;
}

function utc(year: number, monthName: string, day: number, h: number, min: number, sec: number): number {
  const month = MONTHS[monthName.toLowerCase()];
  if (month === undefined || day < 1 || day > 31 || h > 23 || min > 59 || sec > 60) return NaN;
  const time = Date.UTC(year, month, day, h, min, Math.min(sec, 59));
  // Reject dates that Date.UTC silently rolls over ("31 Feb" → 3 Mar).
  return new Date(time).getUTCDate() === day ? time : NaN;
}

/** Domain, Path, flags and their cross-checks: shared by setting and deleting. */
function attributes(name: string, options: CookieOptions): string {
  const { domain, secure, httpOnly, partitioned } = options;
  const path = options.path ?? "/";
  let out = "";
  if (domain !== undefined && domain !== "") {
    if (typeof domain !== "string" || INJECTION.test(domain) || domain.includes(";")) {
      throw new TypeError(`Cookie "${name}": domain ${JSON.stringify(domain)} contains CR, LF, NUL or ";".`);
    }
    if (domain.length > MAX_ATTRIBUTE) {
      throw new RangeError(`Cookie "${name}": domain is longer than ${MAX_ATTRIBUTE} bytes; browsers ignore it.`);
    }
    if (!DOMAIN.test(domain)) {
      throw new TypeError(
        `Cookie "${name}": domain ${JSON.stringify(domain)} is not a host name ` +
          `(letters, digits, "-" and "."; write international names in punycode, no port).`,
      );
    }
    out += `; Domain=${domain}`;
  }
  if (typeof path !== "string" || INJECTION.test(path) || path.includes(";")) {
    throw new TypeError(`Cookie "${name}": path ${JSON.stringify(path)} contains CR, LF, NUL or ";".`);
  }
  if (path.length > MAX_ATTRIBUTE) {
    throw new RangeError(`Cookie "${name}": path is longer than ${MAX_ATTRIBUTE} bytes; browsers ignore it.`);
  }
  if (!PATH.test(path)) {
    throw new TypeError(
      `Cookie "${name}": path ${JSON.stringify(path)} must start with "/" and contain only printable ASCII ` +
        `(percent-encode the rest, e.g. with encodeURI).`,
    );
  }
  out += `; Path=${path}`;
  if (secure) out += "; Secure";
  if (httpOnly) out += "; HttpOnly";
  if (options.sameSite !== undefined) {
    const sameSite = SAME_SITE[String(options.sameSite).toLowerCase()];
    if (sameSite === undefined) {
      throw new TypeError(
        `Cookie "${name}": sameSite must be "lax", "strict" or "none", got ${JSON.stringify(options.sameSite)}.`,
      );
    }
    if (sameSite === "None" && !secure) {
      throw new TypeError(`Cookie "${name}": sameSite "none" requires secure: true (browsers reject it otherwise).`);
    }
    out += `; SameSite=${sameSite}`;
  }
  if (partitioned) {
    if (!secure) {
      throw new TypeError(`Cookie "${name}": partitioned requires secure: true (browsers reject it otherwise).`);
    }
    out += "; Partitioned";
  }
  checkPrefix(name, domain, path, secure, httpOnly);
  return out;
}

const SAME_SITE: Record<string, "Lax" | "Strict" | "None"> = { lax: "Lax", strict: "Strict", none: "None" };

/**
 * Cookie name prefixes (RFC 6265bis §4.1.3). Browsers match them case-insensitively
 * and silently drop a cookie that breaks the rules; here it is an error instead.
 */
const PREFIXES = [
  // Longest first: "__Host-Http-" must not be taken for "__Host-".
  { lower: "__host-http-", host: true, http: true },
  { lower: "__host-", host: true, http: false },
  { lower: "__http-", host: false, http: true },
  { lower: "__secure-", host: false, http: false },
];

function checkPrefix(
  name: string,
  domain: string | undefined,
  path: string,
  secure: boolean | undefined,
  httpOnly: boolean | undefined,
): void {
  if (name.charCodeAt(0) !== 0x5f || name.charCodeAt(1) !== 0x5f) return; // fast path: no "__"
  const lower = name.toLowerCase();
  const matched = PREFIXES.find((p) => lower.startsWith(p.lower));
  if (matched === undefined) return;
  const { host, http } = matched;
  const prefix = name.slice(0, matched.lower.length);
  if (!secure) throw new TypeError(`Cookie "${name}": the ${prefix} prefix requires secure: true.`);
  if (http && !httpOnly) throw new TypeError(`Cookie "${name}": the ${prefix} prefix requires httpOnly: true.`);
  if (host) {
    if (domain !== undefined && domain !== "") {
      throw new TypeError(`Cookie "${name}": the ${prefix} prefix forbids a domain (the cookie stays on this host).`);
    }
    if (path !== "/") throw new TypeError(`Cookie "${name}": the ${prefix} prefix requires path "/".`);
  }
}

// ---------------------------------------------------------------------------
// Signing

/** Length of an unpadded base64url SHA-256 HMAC. */
const SIGNATURE_LENGTH = 43;
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const encoder = new TextEncoder();

// Key schedules (HMAC's padded-key states), cached so signing and verifying hash only
// the message. Byte secrets are keyed by their content (so a mutated array is not
// served a stale key). Bounded: an app that derives a secret per request must not grow
// the cache forever.
const MAX_CACHED_KEYS = 64;
const stringKeys = new Map<string, HmacSha256>();
const byteKeys = new Map<string, HmacSha256>();

function keyFor(secret: string | Uint8Array): HmacSha256 {
  let cache: Map<string, HmacSha256>;
  let id: string;
  if (typeof secret === "string") {
    cache = stringKeys;
    id = secret;
  } else if (secret instanceof Uint8Array) {
    cache = byteKeys;
    id = "";
    for (let i = 0; i < secret.length; i++) id += String.fromCharCode(secret[i]);
  } else {
    throw new TypeError(`Cookie secret must be a string or a Uint8Array, got ${typeof secret}.`);
  }
  if (id.length === 0) throw new TypeError("Cookie secret must not be empty.");
  let key = cache.get(id);
  if (key === undefined) {
    if (cache.size >= MAX_CACHED_KEYS) cache.clear();
    key = new HmacSha256(typeof secret === "string" ? encoder.encode(secret) : secret);
    cache.set(id, key);
  }
  return key;
}

function secretList(secret: CookieSecret): Array<string | Uint8Array> {
  if (Array.isArray(secret)) {
    if (secret.length === 0) throw new TypeError("Cookie secret list must not be empty.");
    return secret;
  }
  return [secret];
}

/** The unpadded base64url HMAC of the UTF-8 bytes of `name=value`. */
function signature(key: HmacSha256, name: string, value: string): string {
  const mac = key.mac(encoder.encode(`${name}=${value}`));
  let out = "";
  let i = 0;
  for (; i + 2 < mac.length; i += 3) {
    const n = (mac[i] << 16) | (mac[i + 1] << 8) | mac[i + 2];
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63] + B64URL[n & 63];
  }
  // 32 bytes: 10 full groups and 2 bytes left → 3 characters, no padding.
  const n = (mac[i] << 16) | (mac[i + 1] << 8);
  return out + B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63];
}

/** Compares two equally long strings without an early exit, so timing leaks nothing. */
function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Signs `value` for the cookie `name`: returns `<value>.<signature>` (see the module
 * doc for the format). Pass the result to {@linkcode serializeCookie}; read it back
 * with {@linkcode verifyCookieValue}. The value is signed, not encrypted. Synchronous:
 * there is nothing to `await`, so a signed cookie cannot be forgotten half-set.
 *
 * @param name the cookie name the value is bound to (an RFC 6265 token).
 * @param value the string to protect.
 * @param secret the key, or a list whose first entry signs.
 * @returns the signed value.
 * @throws {TypeError} an invalid name, a non-string value, or an empty / non-string secret.
 *
 * @example
 * ```ts
 * import { serializeCookie, signCookieValue } from "./cookies.ts";
 * const signed = signCookieValue("user", "alice", ["key-2026", "key-2025"]);
 * const header = serializeCookie("user", signed, { httpOnly: true });
 * ```
 */
export function signCookieValue(name: string, value: string, secret: CookieSecret): string {
  checkName(name);
  if (typeof value !== "string") {
    throw new TypeError(
      `Cookie "${name}": the value to sign must be a string, got ${value === null ? "null" : typeof value}. ` +
        `Serialise it yourself (String(x), JSON.stringify(x)), and await a Promise before signing its result.`,
    );
  }
  if (LONE_SURROGATE.test(value)) {
    throw new TypeError(`Cookie "${name}": the value contains a lone UTF-16 surrogate and cannot be signed.`);
  }
  return `${value}.${signature(keyFor(secretList(secret)[0]), name, value)}`;
}

/**
 * Checks a value made by {@linkcode signCookieValue} and returns the original value,
 * or `undefined` when it is missing, unsigned, tampered with, signed for another
 * cookie name or with a secret not in `secret`. Signatures are compared in constant
 * time. A bad cookie never throws; a bad `secret` (empty, wrong type) does, because
 * it is a configuration error. Synchronous, so `if (verifyCookieValue(...))` means
 * what it says.
 *
 * @param name the cookie's name (as signed).
 * @param signedValue the cookie value as received, e.g. `req.cookies[name]`.
 * @param secret the key, or a list of keys tried in order (key rotation).
 * @returns the verified value, or `undefined`.
 *
 * @example
 * ```ts
 * import { parseCookies, verifyCookieValue } from "./cookies.ts";
 * const cookies = parseCookies("user=alice.not-a-valid-signature");
 * verifyCookieValue("user", cookies.user, "s3cret"); // undefined
 * ```
 */
export function verifyCookieValue(name: string, signedValue: string | undefined, secret: CookieSecret): string | undefined {
  const keys = secretList(secret).map(keyFor); // validates the secret even for absent cookies
  if (typeof signedValue !== "string" || typeof name !== "string") return undefined;
  const dot = signedValue.length - SIGNATURE_LENGTH - 1;
  if (dot < 0 || signedValue.charCodeAt(dot) !== 0x2e) return undefined;
  const value = signedValue.slice(0, dot);
  const given = signedValue.slice(dot + 1);
  for (const key of keys) {
    if (timingSafeEqual(signature(key, name, value), given)) return value;
  }
  return undefined;
}
