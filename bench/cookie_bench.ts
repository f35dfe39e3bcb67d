/**
 * Signed cookies: ns per sign and per verify of a typical cookie, Carafe's synchronous
 * HMAC-SHA256 (core/sha256.ts, key schedule cached per secret) against the previous
 * WebCrypto path (a cached `CryptoKey`, `await crypto.subtle.sign`, base64url), as a
 * handler awaits it: one call after the other. Interleaved rounds, medians.
 *
 *   npx deno run -A bench/cookie_bench.ts [--rounds=7] [--ms=300]
 *   npx bun bench/cookie_bench.ts
 *   node bench/cookie_bench.mjs            (compiles this file with tsc, then runs it)
 *
 * @module
 */
import { signCookieValue, verifyCookieValue } from "../core/cookies.ts";
import { HmacSha256 } from "../core/sha256.ts";
import { runtime } from "../shims/runtime.ts";

const argv: string[] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  ((globalThis as { process?: { argv: string[] } }).process?.argv ?? []).slice(2);
const args = new Map(argv.map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const ROUNDS = Number(args.get("rounds") ?? 7);
const MS = Number(args.get("ms") ?? 300);

// A typical session cookie: a 32-character id, signed with a 32-character secret.
const NAME = "sid";
const VALUE = "3f2a9c7e1b8d4f60a5c2e9b7d1f3a8c4";
const SECRET = "h7Kq2vX9pL4mN8rT1wY6zB3cF5gJ0sD2";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const encoder = new TextEncoder();

// The previous version's path, as it was: key imported once, each MAC awaited.
const webKey = await crypto.subtle.importKey("raw", encoder.encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);

async function webCryptoSign(name: string, value: string): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", webKey, encoder.encode(`${name}=${value}`)));
  let out = "";
  let i = 0;
  for (; i + 2 < mac.length; i += 3) {
    const n = (mac[i] << 16) | (mac[i + 1] << 8) | mac[i + 2];
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63] + B64URL[n & 63];
  }
  const n = (mac[i] << 16) | (mac[i + 1] << 8);
  return `${value}.${out}${B64URL[n >> 18]}${B64URL[(n >> 12) & 63]}${B64URL[(n >> 6) & 63]}`;
}

async function webCryptoVerify(name: string, signed: string): Promise<string | undefined> {
  const value = signed.slice(0, signed.length - 44);
  return (await webCryptoSign(name, value)) === signed ? value : undefined;
}

const signed = signCookieValue(NAME, VALUE, SECRET);
if (signed !== await webCryptoSign(NAME, VALUE)) throw new Error("the two paths disagree: not benchmarking");
const secretBytes = encoder.encode(SECRET);

/** Sink so the engine cannot drop the calls. */
let sink = 0;
type Op = () => unknown;
const ops: Record<string, Op> = {
  "sign (sync)": () => signCookieValue(NAME, VALUE, SECRET),
  "sign (WebCrypto, awaited)": () => webCryptoSign(NAME, VALUE),
  "verify (sync)": () => verifyCookieValue(NAME, signed, SECRET),
  "verify (WebCrypto, awaited)": () => webCryptoVerify(NAME, signed),
  "key schedule (uncached)": () => new HmacSha256(secretBytes),
};

/** ns per call of `op`, called (and awaited when it returns a Promise) one after the other for about `ms`. */
async function measure(op: Op, ms: number): Promise<number> {
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 200; i++) {
      const result = op();
      if ((result instanceof Promise ? await result : result) !== undefined) sink++;
    }
    calls += 200;
    now = performance.now();
  }
  return ((now - start) * 1e6) / calls;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const names = Object.keys(ops);
for (const name of names) await measure(ops[name], 100); // warm up (JIT)
const results = new Map<string, number[]>(names.map((n) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + round) % names.length];
    results.get(name)!.push(await measure(ops[name], MS));
  }
}
console.log(`### Signed cookie "${NAME}=<32 chars>", ${runtime}, ns per call, median (min–max) of ${ROUNDS} interleaved rounds of ${MS} ms`);
console.log();
console.log("| operation | ns/call |");
console.log("|---|---:|");
for (const name of names) {
  const xs = results.get(name)!;
  console.log(`| ${name} | ${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}) |`);
}
if (sink < 0) console.log(sink);
