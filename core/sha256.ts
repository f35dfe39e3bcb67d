/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain TypeScript, synchronous.
 *
 * Why not `crypto.subtle`: WebCrypto only answers with a Promise, and signed cookies
 * must be checked synchronously. An asynchronous check is a trap: `if
 * (req.getSignedCookie(...))` without `await` tests a Promise, which is always truthy,
 * so a missing cookie would pass. This module is what makes the synchronous API
 * possible with web standards only (no runtime-specific crypto module). Its results are
 * tested against the NIST vectors, RFC 4231 and `crypto.subtle` on every runtime.
 *
 * {@linkcode HmacSha256} keeps the key schedule (the states after the inner and outer
 * padded key blocks), so a MAC over a short message costs two or three compressions.
 * Not constant-time with respect to the message length (nothing here needs that); the
 * caller compares MACs in constant time.
 *
 * @example
 * ```ts
 * import { HmacSha256, sha256 } from "./sha256.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * sha256(bytes("abc")); // ba7816bf 8f01cfea … f20015ad (32 bytes)
 * new HmacSha256(bytes("key")).mac(bytes("message")); // 32 bytes
 * ```
 *
 * @module
 */

/** Round constants: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Initial hash value: the first 32 bits of the fractional parts of the square roots of the first 8 primes. */
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** Block size in bytes (also HMAC's key block). */
const BLOCK = 64;
/** Digest size in bytes. */
const DIGEST = 32;

// Scratch space, reused: every function here runs to completion synchronously.
const schedule = new Int32Array(64);
const tail = new Uint8Array(BLOCK * 2);

/** Mixes the 64-byte block at `data[offset]` into `state` (FIPS 180-4 §6.2.2). */
function compress(state: Int32Array, data: Uint8Array, offset: number): void {
  const w = schedule;
  for (let i = 0; i < 16; i++, offset += 4) {
    w[i] = (data[offset] << 24) | (data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3];
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15];
    const y = w[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

/**
 * Hashes `message` on from `state` (which has already absorbed `absorbed` bytes, a
 * multiple of 64), pads (FIPS 180-4 §5.1.1) and returns the digest. `state` is consumed.
 */
function finish(state: Int32Array, absorbed: number, message: Uint8Array): Uint8Array {
  const length = message.length;
  const whole = length - (length % BLOCK);
  for (let offset = 0; offset < whole; offset += BLOCK) compress(state, message, offset);
  const rest = length - whole;
  // The rest, 0x80, zeros and the 64-bit big-endian bit length: one block, or two when
  // fewer than 9 bytes are left after the rest.
  const blocks = rest < BLOCK - 8 ? 1 : 2;
  const end = blocks * BLOCK;
  tail.fill(0, 0, end);
  tail.set(message.subarray(whole), 0);
  tail[rest] = 0x80;
  const bits = (absorbed + length) * 8; // exact below 2^53
  const high = Math.floor(bits / 0x100000000);
  const low = bits >>> 0;
  tail[end - 8] = high >>> 24;
  tail[end - 7] = high >>> 16;
  tail[end - 6] = high >>> 8;
  tail[end - 5] = high;
  tail[end - 4] = low >>> 24;
  tail[end - 3] = low >>> 16;
  tail[end - 2] = low >>> 8;
  tail[end - 1] = low;
  for (let offset = 0; offset < end; offset += BLOCK) compress(state, tail, offset);
  const digest = new Uint8Array(DIGEST);
  for (let i = 0; i < 8; i++) {
    const word = state[i];
    digest[i * 4] = word >>> 24;
    digest[i * 4 + 1] = word >>> 16;
    digest[i * 4 + 2] = word >>> 8;
    digest[i * 4 + 3] = word;
  }
  return digest;
}

/**
 * The SHA-256 digest of `message` (32 bytes).
 *
 * @param message the bytes to hash; encode strings first (`new TextEncoder().encode(s)`).
 * @returns a new 32-byte array.
 *
 * @example
 * ```ts
 * import { sha256 } from "./sha256.ts";
 * const digest = sha256(new Uint8Array()); // e3b0c442 98fc1c14 … 7852b855
 * ```
 */
export function sha256(message: Uint8Array): Uint8Array {
  return finish(IV.slice(), 0, message);
}

/**
 * HMAC-SHA256 with a fixed key (RFC 2104): the padded key blocks are hashed once, in
 * the constructor, so each {@linkcode HmacSha256.mac} only hashes the message. Keys
 * longer than 64 bytes are hashed first, as RFC 2104 (and WebCrypto) do.
 *
 * @example
 * ```ts
 * import { HmacSha256 } from "./sha256.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const hmac = new HmacSha256(bytes("s3cret"));
 * const tag = hmac.mac(bytes("user=alice")); // 32 bytes, equal to crypto.subtle.sign("HMAC", …)
 * ```
 */
export class HmacSha256 {
  /** The state after the key XOR 0x36 block (the inner hash's first block). */
  readonly #inner: Int32Array;
  /** The state after the key XOR 0x5c block (the outer hash's first block). */
  readonly #outer: Int32Array;

  /**
   * @param key the secret, any length (copied: changing the array later does not change this MAC).
   * @throws {TypeError} when `key` is not a `Uint8Array`.
   */
  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array)) {
      throw new TypeError(`HMAC key must be a Uint8Array, got ${key === null ? "null" : typeof key}.`);
    }
    const block = new Uint8Array(BLOCK);
    block.set(key.length > BLOCK ? sha256(key) : key);
    const padded = new Uint8Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) padded[i] = block[i] ^ 0x36;
    this.#inner = IV.slice();
    compress(this.#inner, padded, 0);
    for (let i = 0; i < BLOCK; i++) padded[i] = block[i] ^ 0x5c;
    this.#outer = IV.slice();
    compress(this.#outer, padded, 0);
  }

  /**
   * The HMAC-SHA256 of `message` under this key.
   *
   * @param message the bytes to authenticate.
   * @returns a new 32-byte array.
   */
  mac(message: Uint8Array): Uint8Array {
    const inner = finish(this.#inner.slice(), BLOCK, message);
    return finish(this.#outer.slice(), BLOCK, inner);
  }
}
