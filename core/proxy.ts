/**
 * Which `X-Forwarded-*` headers to believe (`trustProxy`).
 *
 * A header a client sends can say anything; only a proxy we trust may tell us the
 * client's address, scheme or host. `X-Forwarded-For` is resolved right to left:
 * each trusted hop vouches for the address to its left, and the first untrusted
 * address is the client.
 *
 * @example
 * ```ts
 * import { compileTrust, resolveClient } from "./proxy.ts";
 * const trust = compileTrust("loopback");
 * resolveClient("127.0.0.1", "203.0.113.9, 10.0.0.2", trust);
 * // { addr: "10.0.0.2", route: ["203.0.113.9", "10.0.0.2", "127.0.0.1"] }
 * ```
 *
 * @module
 */

/** `false` (default): trust nobody; `true`: every hop; `"loopback"`: 127.0.0.0/8 and ::1; or a list of addresses / IPv4 CIDRs. */
export type TrustProxy = boolean | "loopback" | string[];

/** A compiled trust setting: is this peer address a proxy we believe? */
export type TrustFn = (addr: string) => boolean;

const NONE: TrustFn = () => false;
const ALL: TrustFn = () => true;

function stripMapped(addr: string): string {
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

function isLoopback(addr: string): boolean {
  const a = stripMapped(addr);
  return a === "::1" || a.startsWith("127.");
}

function ipv4ToInt(addr: string): number | undefined {
  const parts = addr.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/**
 * Turns a {@linkcode TrustProxy} setting into a predicate. Throws on entries it cannot read.
 *
 * @example
 * ```ts
 * import { compileTrust } from "./proxy.ts";
 * const trust = compileTrust(["10.0.0.0/8", "::1"]);
 * trust("10.1.2.3"); // true
 * ```
 */
export function compileTrust(setting: TrustProxy | undefined): TrustFn {
  if (!setting) return NONE;
  if (setting === true) return ALL;
  if (setting === "loopback") return isLoopback;
  if (!Array.isArray(setting)) {
    throw new TypeError(`trustProxy must be false, true, "loopback" or a list of addresses, not ${JSON.stringify(setting)}.`);
  }
  const exact = new Set<string>();
  const ranges: Array<[number, number]> = [];
  for (const entry of setting) {
    if (entry === "loopback") {
      exact.add("::1");
      ranges.push([ipv4ToInt("127.0.0.0")!, 8]);
      continue;
    }
    const [base, bits] = entry.split("/");
    if (bits === undefined) {
      exact.add(stripMapped(entry));
      continue;
    }
    const start = ipv4ToInt(base);
    const prefix = Number(bits);
    if (start === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
      throw new TypeError(`trustProxy entry ${JSON.stringify(entry)} is not an address or IPv4 CIDR (like "10.0.0.0/8").`);
    }
    ranges.push([start, prefix]);
  }
  return (addr) => {
    const a = stripMapped(addr);
    if (exact.has(a)) return true;
    if (ranges.length === 0) return false;
    const n = ipv4ToInt(a);
    if (n === undefined) return false;
    for (const [start, prefix] of ranges) {
      const size = 2 ** (32 - prefix);
      if (Math.floor(n / size) === Math.floor(start / size)) return true;
    }
    return false;
  };
}

/** The client as far as the trusted hops let us see it. */
export interface ClientAddress {
  /** The client's address: the first untrusted hop from the right. */
  addr: string | undefined;
  /** Every hop, client side first: the X-Forwarded-For entries then the socket peer. */
  route: string[];
}

/**
 * Resolves the client address from the socket peer and `X-Forwarded-For`.
 *
 * @example
 * ```ts
 * import { compileTrust, resolveClient } from "./proxy.ts";
 * resolveClient("127.0.0.1", "198.51.100.7", compileTrust(false)).addr; // "127.0.0.1"
 * resolveClient("127.0.0.1", "198.51.100.7", compileTrust(true)).addr;  // "198.51.100.7"
 * ```
 */
export function resolveClient(peer: string | undefined, forwardedFor: string | null, trust: TrustFn): ClientAddress {
  if (peer === undefined) return { addr: undefined, route: [] };
  if (!forwardedFor || !trust(peer)) return { addr: peer, route: [peer] };
  const hops = forwardedFor.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const route = [...hops, peer];
  // Walk right to left past every trusted hop; the first one we do not trust is the client.
  for (let i = route.length - 1; i > 0; i--) {
    if (!trust(route[i])) return { addr: route[i], route: route.slice(i) };
  }
  return { addr: route[0], route };
}

/**
 * The last (nearest-hop) value of a comma-separated forwarded header, or undefined.
 *
 * @example
 * ```ts
 * import { lastForwarded } from "./proxy.ts";
 * lastForwarded("http, https"); // "https"
 * ```
 */
export function lastForwarded(value: string | null): string | undefined {
  if (!value) return undefined;
  const i = value.lastIndexOf(",");
  const v = (i < 0 ? value : value.slice(i + 1)).trim();
  return v || undefined;
}
