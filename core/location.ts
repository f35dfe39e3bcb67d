/**
 * Where a redirect goes: the `Location` value sent for a target given to `redirect()`
 * (or an `HTTPResponse`'s `location` header).
 *
 * A target with a scheme (`https://example.com/x`) is an absolute URL and is sent as
 * the URL parser normalises it. Anything else is a reference on this server: it is
 * resolved against the path the client asked for (mount prefix included) and sent as
 * an absolute path, without scheme or host (RFC 9110 §10.2.2 allows a relative
 * `Location`). The Host header is never read, so no Host value can make a redirect
 * fail or point elsewhere, and a gateway that drops the port from the host cannot
 * break it either.
 *
 * A browser reads some path-like targets as another host: `//evil.com`, `/\evil.com`,
 * `\\evil.com`, `/<TAB>/evil.com` (tabs and line breaks are dropped, backslashes are
 * slashes). Such a target stays on this host: its leading run of slashes and
 * backslashes becomes one slash (`/evil.com`).
 *
 * @example
 * ```ts
 * import { resolveLocation } from "./location.ts";
 * resolveLocation("dashboard", "/admin/login?x=1"); // "/admin/dashboard"
 * resolveLocation("/瓶?q=ü", "/");                   // "/%E7%93%B6?q=%C3%BC"
 * resolveLocation("//evil.com/x", "/");             // "/evil.com/x"
 * resolveLocation("https://example.com/a", "/");    // "https://example.com/a"
 * ```
 *
 * @module
 */

/** A base that only lends its path: its host never reaches a client. */
const PLACEHOLDER_ORIGIN = "http://location.invalid";
const PLACEHOLDER_HOST = "location.invalid";

/** What a URL parser drops before it reads a reference: tabs and line breaks anywhere, C0 controls and spaces at the ends. */
const DROPPED_ANYWHERE = /[\t\n\r]/g;
// deno-lint-ignore no-control-regex
const DROPPED_AT_ENDS = /^[\x00-\x20]+|[\x00-\x20]+$/g;

/** `scheme:` at the start: an absolute URL (RFC 3986 §3.1). */
const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * The `Location` to send for `target`, given the request target the client sent
 * (`requestTarget`: path from the server's root, mount prefix included, and query).
 *
 * @param target what the handler redirected to: an absolute URL, an absolute path, or a relative reference
 * @param requestTarget the path and query of the request, as sent (`/app/todo/7?x=1`)
 * @returns an absolute URL when `target` had a scheme, else an absolute path on this host
 *
 * @example
 * ```ts
 * import { resolveLocation } from "./location.ts";
 * resolveLocation("../list", "/app/todo/7"); // "/app/list"
 * ```
 */
export function resolveLocation(target: string, requestTarget: string): string {
  const cleaned = target.replace(DROPPED_ANYWHERE, "").replace(DROPPED_AT_ENDS, "");
  if (HAS_SCHEME.test(cleaned)) return absoluteUrl(cleaned);
  // A network-path reference (two or more slashes or backslashes) would name another host.
  const sameHost = cleaned.replace(/^[/\\]{2,}/, "/");
  const url = resolveOnPlaceholder(sameHost, requestTarget);
  // "/.//evil.com" resolves to the path "//evil.com", which a browser would read as a host.
  return url.pathname.replace(/^\/{2,}/, "/") + url.search + url.hash;
}

/** `reference` resolved against the placeholder origin plus `requestTarget` (its root when that is not a path). */
function resolveOnPlaceholder(reference: string, requestTarget: string): URL {
  let url: URL;
  try {
    url = new URL(reference, PLACEHOLDER_ORIGIN + (requestTarget.startsWith("/") ? requestTarget : "/"));
  } catch {
    url = new URL(reference, PLACEHOLDER_ORIGIN + "/");
  }
  // Unreachable after the clean-up above; kept so that a parser quirk cannot send a client elsewhere.
  if (url.host !== PLACEHOLDER_HOST) url = new URL("/", PLACEHOLDER_ORIGIN);
  return url;
}

/**
 * An absolute URL: as given when it is ASCII, else as the URL parser normalises it
 * (non-ASCII percent-encoded as UTF-8, an international host in punycode).
 */
function absoluteUrl(url: string): string {
  // deno-lint-ignore no-control-regex
  if (!/[^\x00-\x7f]/.test(url)) return url;
  try {
    return new URL(url).href;
  } catch {
    // deno-lint-ignore no-control-regex
    return url.replace(/[^\x00-\x7f]+/g, encodeURIComponent);
  }
}
