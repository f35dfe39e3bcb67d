/**
 * The PARAMS of one FastCGI request (the CGI meta-variables: the request line, the
 * headers as `HTTP_*`, the server's own variables), as the FastCGI adapter reads them.
 *
 * A PARAMS stream is indexed once ({@linkcode ParamBlock.parse}): offsets only, no
 * strings, with a cap on the number of pairs. Reading it costs time linear in its size
 * however it is read. The handful of variables every request needs (`REQUEST_METHOD`,
 * `REQUEST_URI`…) are found by comparing bytes in a small block; iterating (the request
 * headers) or looking up in a large block builds a `Map` of the merged values once and
 * answers from it.
 *
 * @example
 * ```ts
 * import { ParamBlock } from "./params.ts";
 * import { encodeParams } from "./records.ts";
 * const block = ParamBlock.parse(encodeParams([["REQUEST_METHOD", "GET"], ["HTTP_ACCEPT", "a"], ["HTTP_ACCEPT", "b"]]), { maxPairs: 1000 });
 * block?.get("HTTP_ACCEPT"); // "a, b"
 * ```
 *
 * @module
 */

import { addParam, type GatewayParams, joinRepeated } from "../gateway.ts";

const decoder = new TextDecoder();

/**
 * UTF-8 text of `bytes[start..end)`; short ASCII (nearly every param) skips
 * TextDecoder, which costs more per call.
 *
 * @example
 * ```ts
 * import { utf8 } from "./params.ts";
 * utf8(new TextEncoder().encode("/é"), 0, 3); // "/é"
 * ```
 */
export function utf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > 256) return decoder.decode(bytes.subarray(start, end));
  for (let i = start; i < end; i++) if (bytes[i] > 127) return decoder.decode(bytes.subarray(start, end));
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
}

/**
 * Text for byte ranges that come again and again (values like `GET`, `/app`,
 * `127.0.0.1`): a direct-mapped cache keyed by a hash of the bytes and checked
 * byte by byte, so a repeated text costs a hash and a compare instead of a new string.
 * Bounded (4096 slots; a colliding text replaces the old one). Longer or non-ASCII
 * text is decoded each time.
 */
const TEXT_SLOTS = 4096;
const textCache: (string | undefined)[] = new Array(TEXT_SLOTS);

function textOf(bytes: Uint8Array, start: number, end: number): string {
  const len = end - start;
  if (len === 0) return "";
  if (len > 48) return utf8(bytes, start, end);
  let h = 0x811c9dc5 ^ len;
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b > 127) return decoder.decode(bytes.subarray(start, end));
    h = Math.imul(h ^ b, 16777619);
  }
  const slot = (h ^ (h >>> 15)) & (TEXT_SLOTS - 1);
  const cached = textCache[slot];
  if (cached !== undefined && cached.length === len) {
    let i = 0;
    while (i < len && cached.charCodeAt(i) === bytes[start + i]) i++;
    if (i === len) return cached;
  }
  const text = String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  textCache[slot] = text;
  return text;
}

/**
 * Pairs up to which a lookup compares bytes instead of building the `Map`: nginx sends
 * about 20 server variables plus one per header, and a scan of that many is cheaper
 * than a string and a `Map` entry per pair. Above it every lookup is a `Map` lookup.
 */
const SCAN_PAIRS = 64;

/** How {@linkcode ParamBlock.parse} reads a PARAMS stream. */
export interface ParamParseOptions {
  /** Pairs kept; when the stream has more, parsing stops and `overflow` is set. */
  maxPairs: number;
  /**
   * The bytes are only the start of the stream (a request refused for its size): keep
   * the whole pairs, drop a pair cut off at the end instead of failing.
   */
  partial?: boolean;
}

/**
 * The PARAMS of one request, decoded only as far as they are read. A repeated `HTTP_*`
 * name is merged the way `addParam` in gateway.ts does (cookies with `"; "`, others
 * with `", "`); for any other name the last one wins.
 *
 * @example
 * ```ts
 * import { ParamBlock } from "./params.ts";
 * import { encodeParams } from "./records.ts";
 * const block = ParamBlock.parse(encodeParams([["HTTP_COOKIE", "a=1"], ["HTTP_COOKIE", "b=2"]]), { maxPairs: 10 })!;
 * [...block]; // [["HTTP_COOKIE", "a=1; b=2"]]
 * ```
 */
export class ParamBlock implements GatewayParams {
  readonly #bytes: Uint8Array;
  /** Three offsets per pair: name start, name end (= value start), value end. */
  readonly #at: number[];
  /** Every name with its merged value, built once when first needed. */
  #byName: Map<string, string> | undefined;
  /** The stream had more pairs than `maxPairs` (only the first ones were kept). */
  readonly overflow: boolean;

  private constructor(bytes: Uint8Array, at: number[], overflow: boolean) {
    this.#bytes = bytes;
    this.#at = at;
    this.overflow = overflow;
  }

  /** Pairs kept. */
  get size(): number {
    return this.#at.length / 3;
  }

  /**
   * Indexes the name-value pairs of a PARAMS stream (lengths of 1 or 4 bytes); `null`
   * when the bytes end inside a pair (unless `partial`).
   */
  static parse(bytes: Uint8Array, { maxPairs, partial = false }: ParamParseOptions): ParamBlock | null {
    const at: number[] = [];
    const n = bytes.length;
    let pos = 0;
    /** The length at `pos` (1 byte, or 4 with the high bit set), or -1 when the bytes end first. */
    const length = (): number => {
      if (pos >= n) return -1;
      const b = bytes[pos];
      if (b < 128) {
        pos += 1;
        return b;
      }
      if (pos + 4 > n) return -1;
      pos += 4;
      return ((b & 127) * 0x1000000) + (bytes[pos - 3] << 16) + (bytes[pos - 2] << 8) + bytes[pos - 1];
    };
    while (pos < n) {
      if (at.length === maxPairs * 3) return new ParamBlock(bytes, at, true);
      const nameLen = length(), valueLen = length();
      if (nameLen < 0 || valueLen < 0 || pos + nameLen + valueLen > n) {
        // The bytes end inside a pair.
        if (partial) break;
        return null;
      }
      at.push(pos, pos + nameLen, pos + nameLen + valueLen);
      pos += nameLen + valueLen;
    }
    return new ParamBlock(bytes, at, false);
  }

  /** The value of `name` (repeated `HTTP_*` names merged), or `undefined`. */
  get(name: string): string | undefined {
    if (this.#byName || this.#at.length > SCAN_PAIRS * 3) return this.#map().get(name);
    let i = this.#find(name, this.#at.length - 3);
    if (i < 0) return undefined;
    const value = this.#value(i);
    if (!name.startsWith("HTTP_")) return value;
    // Earlier pairs of the same header (nginx and HAProxy repeat the param) come first.
    let merged: string | undefined;
    for (i = this.#find(name, i - 3); i >= 0; i = this.#find(name, i - 3)) {
      merged = merged === undefined ? this.#value(i) : joinRepeated(name, this.#value(i), merged);
    }
    return merged === undefined ? value : joinRepeated(name, merged, value);
  }

  /** Every name once, with its merged value. */
  [Symbol.iterator](): Iterator<[string, string]> {
    return this.#map()[Symbol.iterator]();
  }

  /** The names and merged values: one pass over the pairs, done once. */
  #map(): Map<string, string> {
    if (this.#byName) return this.#byName;
    const map = new Map<string, string>();
    const at = this.#at, bytes = this.#bytes;
    for (let i = 0; i < at.length; i += 3) addParam(map, textOf(bytes, at[i], at[i + 1]), textOf(bytes, at[i + 1], at[i + 2]));
    return (this.#byName = map);
  }

  /** The offset index (a multiple of 3) of the last pair named `name` at or before `from`, or -1. */
  #find(name: string, from: number): number {
    const at = this.#at, bytes = this.#bytes, len = name.length;
    for (let i = from; i >= 0; i -= 3) {
      const start = at[i];
      if (at[i + 1] - start !== len) continue;
      let k = 0;
      while (k < len && bytes[start + k] === name.charCodeAt(k)) k++;
      if (k === len) return i;
    }
    return -1;
  }

  #value(i: number): string {
    return textOf(this.#bytes, this.#at[i + 1], this.#at[i + 2]);
  }
}

/**
 * Copies small byte ranges into shared 64 KiB slabs (as Node's Buffer pool does): one
 * allocation per many PARAMS streams instead of one each. A slab lives as long as
 * a request that points into it.
 */
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * A copy of `bytes` (a record's content, which the record parser reuses), from a
 * shared slab when small.
 *
 * @example
 * ```ts
 * import { keep } from "./params.ts";
 * const mine = keep(new Uint8Array([1, 2, 3]));
 * ```
 */
export function keep(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n > 8192) return bytes.slice();
  if (slabUsed + n > slab.length) {
    slab = new Uint8Array(65536);
    slabUsed = 0;
  }
  const copy = slab.subarray(slabUsed, slabUsed + n);
  copy.set(bytes);
  slabUsed += (n + 7) & ~7;
  return copy;
}
