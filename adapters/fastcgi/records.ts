/**
 * The FastCGI record codec (specification 1.0, §3 and §8): record types and flags, the
 * streaming {@linkcode RecordParser}, and encoders for records, name-value pairs and
 * END_REQUEST. Pure functions over bytes: tests/fastcgi_records_test.ts checks them
 * without a socket.
 *
 * @example
 * ```ts
 * import { encodeRecord, FCGI, RecordParser } from "./records.ts";
 * const parser = new RecordParser();
 * const [record] = [...parser.push(encodeRecord(FCGI.STDIN, 1, new TextEncoder().encode("hi")))];
 * console.log(record.type === FCGI.STDIN, record.requestId); // true 1
 * ```
 *
 * @module
 */
import { utf8 } from "./params.ts";

// ---------------------------------------------------------------------------
// Protocol constants (FastCGI specification 1.0, §8)

/** Record types. */
export const FCGI = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
  /** Roles in BEGIN_REQUEST. */
  RESPONDER: 1,
  AUTHORIZER: 2,
  FILTER: 3,
  /** Flag in BEGIN_REQUEST: keep the connection open after this request. */
  KEEP_CONN: 1,
  /** protocolStatus values in END_REQUEST. */
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;

/** Bytes of a record header. */
export const HEADER_LEN = 8;
/** Largest content we put in one record: 65535 rounded down to a multiple of 8, so no padding is needed. */
export const MAX_CONTENT = 65528;

// ---------------------------------------------------------------------------
// Record codec

/** One decoded record. `content` is a view into the parser's buffer: copy it to keep it. */
export interface FastCgiRecord {
  /** Record type (`FCGI.*`). */
  type: number;
  /** Request id; 0 for management records. */
  requestId: number;
  /** The content bytes (padding already skipped). */
  content: Uint8Array;
}

/** An empty content, shared. */
export const EMPTY = new Uint8Array(0);

/**
 * Streaming record parser: feed it bytes as they arrive (split or packed any way),
 * get whole records back. Throws on a version other than 1.
 *
 * The pending bytes live in one growing buffer read from an offset, so arrival in
 * tiny pieces costs linear time (no re-joining per read). A chunk handed to
 * {@linkcode RecordParser.append} is read in place until {@linkcode RecordParser.detach}
 * copies what is left of it: records can be taken out without any copy.
 *
 * @example
 * ```ts
 * import { encodeRecord, FCGI, RecordParser } from "./records.ts";
 * const parser = new RecordParser();
 * const bytes = encodeRecord(FCGI.STDIN, 1, new TextEncoder().encode("hi"));
 * const records = [...parser.push(bytes.subarray(0, 3)), ...parser.push(bytes.subarray(3))];
 * records.length; // 1
 * ```
 */
export class RecordParser {
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /** `#buf` is ours (else it is the caller's chunk, valid until `detach()`). */
  #owned = false;

  /** Bytes received but not yet part of a whole record. */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** Adds bytes; take the records with {@linkcode RecordParser.next}, then call {@linkcode RecordParser.detach}. */
  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#start === this.#end) {
      // Nothing pending: read the chunk in place.
      this.#buf = chunk;
      this.#start = 0;
      this.#end = chunk.length;
      this.#owned = false;
      return;
    }
    const live = this.#end - this.#start;
    if (!this.#owned || this.#buf.length - this.#end < chunk.length) {
      const need = live + chunk.length;
      if (this.#owned && this.#buf.length >= need) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(need, this.#owned ? this.#buf.length * 2 : 0, 16384));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
        this.#owned = true;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next whole record, or `null` until more bytes arrive. */
  next(): FastCgiRecord | null {
    const buf = this.#buf, pos = this.#start;
    if (this.#end - pos < HEADER_LEN) return null;
    if (buf[pos] !== 1) throw new FastCgiProtocolError(`unsupported FastCGI version ${buf[pos]}`);
    const contentLength = (buf[pos + 4] << 8) | buf[pos + 5];
    const total = HEADER_LEN + contentLength + buf[pos + 6];
    if (this.#end - pos < total) return null;
    this.#start = pos + total;
    return {
      type: buf[pos + 1],
      requestId: (buf[pos + 2] << 8) | buf[pos + 3],
      content: buf.subarray(pos + HEADER_LEN, pos + HEADER_LEN + contentLength),
    };
  }

  /** Copies the unparsed tail of the last appended chunk, so the caller may reuse it. */
  detach(): void {
    if (this.#start === this.#end) {
      this.#buf = EMPTY;
      this.#start = this.#end = 0;
      this.#owned = false;
    } else if (!this.#owned) {
      this.#buf = this.#buf.slice(this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
      this.#owned = true;
    }
  }

  /** Adds bytes and yields every record completed by them. */
  *push(chunk: Uint8Array): Generator<FastCgiRecord> {
    this.append(chunk);
    try {
      for (let record = this.next(); record; record = this.next()) yield record;
    } finally {
      this.detach();
    }
  }
}

/** A peer broke the protocol; the connection is closed. */
export class FastCgiProtocolError extends Error {
  /** Always `"FastCgiProtocolError"`. */
  override name = "FastCgiProtocolError";
}

/**
 * Encodes `data` as records of `type` for `requestId`, split into pieces of at most
 * 65528 bytes (≤ 65535), each padded to a multiple of 8. Empty `data` gives one empty
 * record (the end-of-stream marker).
 *
 * @example
 * ```ts
 * import { encodeRecord, FCGI } from "./records.ts";
 * const endOfStdout = encodeRecord(FCGI.STDOUT, 1); // 8 bytes
 * ```
 */
export function encodeRecord(type: number, requestId: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return frame(type, requestId, [data], data.length);
}

/** Records for the concatenation of `pieces` (total `length` bytes), written into one buffer. */
export function frame(type: number, id: number, pieces: Uint8Array[], length: number, tail?: Uint8Array): Uint8Array {
  const count = Math.max(1, Math.ceil(length / MAX_CONTENT));
  const padded = (length + 7) & ~7;
  const out = new Uint8Array(count * HEADER_LEN + padded + (tail?.length ?? 0));
  let o = 0, piece = 0, inPiece = 0, left = length;
  for (let r = 0; r < count; r++) {
    const n = Math.min(left, MAX_CONTENT);
    const pad = (8 - (n & 7)) & 7;
    out[o] = 1;
    out[o + 1] = type;
    out[o + 2] = id >> 8;
    out[o + 3] = id & 255;
    out[o + 4] = n >> 8;
    out[o + 5] = n & 255;
    out[o + 6] = pad;
    o += HEADER_LEN;
    let need = n;
    while (need > 0) {
      const p = pieces[piece];
      const take = Math.min(need, p.length - inPiece);
      out.set(p.subarray(inPiece, inPiece + take), o);
      o += take;
      need -= take;
      inPiece += take;
      if (inPiece === p.length) {
        piece++;
        inPiece = 0;
      }
    }
    o += pad;
    left -= n;
  }
  if (tail) out.set(tail, o);
  return out;
}

/**
 * Encodes name-value pairs (PARAMS, GET_VALUES): lengths ≤ 127 in one byte, longer
 * ones in four bytes with the high bit set.
 *
 * @example
 * ```ts
 * import { encodeParams } from "./records.ts";
 * const bytes = encodeParams([["REQUEST_METHOD", "GET"], ["HTTP_COOKIE", "x".repeat(300)]]);
 * ```
 */
export function encodeParams(pairs: Iterable<readonly [string, string]>): Uint8Array {
  const parts: number[] = [];
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const len = (n: number) => (n < 128 ? parts.push(n) : parts.push(((n >>> 24) & 127) | 128, (n >>> 16) & 255, (n >>> 8) & 255, n & 255));
  for (const [name, value] of pairs) {
    const n = enc.encode(name), v = enc.encode(value);
    parts.length = 0;
    len(n.length);
    len(v.length);
    chunks.push(Uint8Array.from(parts), n, v);
  }
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Decodes name-value pairs, calling `each(name, value)` per pair. Returns `false`
 * when the bytes end inside a pair (malformed).
 *
 * @example
 * ```ts
 * import { decodeParams, encodeParams } from "./records.ts";
 * decodeParams(encodeParams([["A", "1"]]), (name, value) => console.log(name, value));
 * ```
 */
export function decodeParams(bytes: Uint8Array, each: (name: string, value: string) => void): boolean {
  let pos = 0;
  const readLen = (): number => {
    if (pos >= bytes.length) return -1;
    const b = bytes[pos];
    if (b < 128) {
      pos += 1;
      return b;
    }
    if (pos + 4 > bytes.length) return -1;
    const n = ((b & 127) * 0x1000000) + (bytes[pos + 1] << 16) + (bytes[pos + 2] << 8) + bytes[pos + 3];
    pos += 4;
    return n;
  };
  while (pos < bytes.length) {
    const nameLen = readLen();
    const valueLen = readLen();
    if (nameLen < 0 || valueLen < 0 || pos + nameLen + valueLen > bytes.length) return false;
    const name = utf8(bytes, pos, pos + nameLen);
    pos += nameLen;
    const value = utf8(bytes, pos, pos + valueLen);
    pos += valueLen;
    each(name, value);
  }
  return true;
}

export function endRequestRecord(id: number, appStatus: number, protocolStatus: number): Uint8Array {
  const out = new Uint8Array(16);
  writeEndRequest(out, 0, id, appStatus, protocolStatus);
  return out;
}

/** END_REQUEST (16 bytes) at `o`. */
export function writeEndRequest(out: Uint8Array, o: number, id: number, appStatus: number, protocolStatus: number): void {
  out[o] = 1;
  out[o + 1] = FCGI.END_REQUEST;
  out[o + 2] = id >> 8;
  out[o + 3] = id & 255;
  out[o + 5] = 8;
  out[o + 8] = appStatus >>> 24;
  out[o + 9] = (appStatus >>> 16) & 255;
  out[o + 10] = (appStatus >>> 8) & 255;
  out[o + 11] = appStatus & 255;
  out[o + 12] = protocolStatus;
}


/** The bytes of `parts` in one buffer (`parts[0]` itself when alone). */
export function concat(parts: Uint8Array[], total = parts.reduce((s, p) => s + p.length, 0)): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
