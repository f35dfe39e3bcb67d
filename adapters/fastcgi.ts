/**
 * A complete FastCGI 1.0 responder: `run({ server: "fastcgi" })`.
 *
 * How FastCGI works, in the order this file implements it:
 *
 * 1. **Records.** Everything on a connection is a record: an 8-byte header
 *    `version(1) type requestId(2) contentLength(2) paddingLength reserved`, then
 *    `contentLength` (0–65535) bytes of content and `paddingLength` bytes to skip.
 *    TCP delivers them split or packed in any way, so {@linkcode RecordParser} is a
 *    streaming parser; a version other than 1 closes the connection.
 * 2. **A request** is `BEGIN_REQUEST(id, role, flags)`, then a PARAMS stream (CGI
 *    meta-variables as name-value pairs with 1- or 4-byte lengths, ended by an empty
 *    PARAMS record), then a STDIN stream (the body, ended by an empty STDIN record).
 *    We answer as soon as PARAMS ends and hand STDIN to `request.body` as it comes:
 *    exactly `CONTENT_LENGTH` bytes (the excess is ignored; fewer fail the body).
 * 3. **The answer** is a STDOUT stream: the CGI header block (headers, `Status:` line,
 *    blank line — see `gateway.ts`) then the body, in records of at most 65535 bytes,
 *    an empty STDOUT record, and `END_REQUEST(appStatus, protocolStatus)`. Each record
 *    goes to the socket in one write, so records of concurrent requests never
 *    interleave mid-record.
 * 4. **Multiplexing.** Several request ids may be active on one connection at once
 *    (HAProxy does this), up to `maxRequestsPerConnection`; one more is refused with
 *    `END_REQUEST(FCGI_OVERLOADED)`. Records for inactive ids are ignored (nginx keeps
 *    sending STDIN after an early answer).
 * 5. **Connection lifetime.** `FCGI_KEEP_CONN` in BEGIN_REQUEST: when 0 we close after
 *    END_REQUEST; when 1 the web server owns the connection and we never close it
 *    (but for the idle timeout). EOF or `ABORT_REQUEST` before the end of STDIN aborts
 *    `request.signal` and fails the body reader; ABORT_REQUEST is answered with
 *    END_REQUEST at once.
 * 6. **Management records** (request id 0): `GET_VALUES` is answered with
 *    `FCGI_MAX_CONNS`, `FCGI_MAX_REQS` (per connection), `FCGI_MPXS_CONNS`; any other
 *    type gets `UNKNOWN_TYPE`. Roles: RESPONDER and AUTHORIZER (answered right after
 *    PARAMS, since Apache sends no STDIN to authorizers); FILTER and others get
 *    `END_REQUEST(UNKNOWN_ROLE)`.
 * 7. **Flow control.** FastCGI has none of its own: a connection is simply not read
 *    while its output waits for the web server (over `outputHighWaterMark`) or while
 *    more request body is buffered than the apps have read (over `maxBufferedBody`, all
 *    requests of the connection together). Streamed answers wait for the output to
 *    drain. Memory per connection stays bounded whatever the peer does.
 * 8. **Listeners.** TCP (`host`/`port`), a Unix socket (`socket`, `socketMode`), or
 *    the listening socket a web server passes as fd 0 (spawn-fcgi, lighttpd
 *    `bin-path`, `cgi-fcgi -start`). The socket layer is `shims/socket.ts`: Bun's
 *    native sockets where possible, `node:net` otherwise (and for fd 0).
 *
 * A request whose PARAMS are too large or too many ({@linkcode FastCgiLimits.maxRequestParamsSize},
 * {@linkcode FastCgiLimits.maxParamCount}) is answered `431`, one whose URI is longer
 * than the HTTP servers accept (8 KiB) `414`, without the app; the connection lives on.
 * A hostile stream (bad version, wrong BEGIN_REQUEST size, more PARAMS than
 * {@linkcode FastCgiLimits.maxParamsSize} on a connection, a BEGIN_REQUEST for an
 * active id) closes that connection with a log line; so does a connection with no
 * request in the app for `idleTimeout`, and one beyond `maxConns`. Other connections
 * are unaffected. Unless `quiet`, every answered request gets a Common Log Format
 * access line, as on the HTTP servers.
 *
 * @example
 * ```ts
 * import { fastcgiAdapter } from "./fastcgi.ts";
 * const server = await fastcgiAdapter.serve({
 *   app: { fetch: () => new Response("hello") },
 *   host: "127.0.0.1", port: 9000, quiet: true, debug: false, trustProxy: false,
 *   maxBodySize: Infinity, shutdownTimeout: 5000, log: console.error,
 * });
 * // nginx: location / { include fastcgi_params; fastcgi_pass 127.0.0.1:9000; }
 * await server.close();
 * ```
 *
 * @module
 */

import { fstatSync, readFileSync, readlinkSync } from "node:fs";
import type { Adapter, FetchApp, ServeOptions, Server } from "./adapter.ts";
import { type ListenTarget, listenStream, type StreamHandlers, type StreamSocket } from "../shims/socket.ts";
import { accessLine, chmodSocket, CLIENT_CLOSED, isBodyless, MAX_URL_LENGTH, removeStaleSocket, unlinkQuietly } from "./common.ts";
import { keep, ParamBlock, utf8 } from "./fastcgi_params.ts";

export type { Adapter, ServeOptions, Server, TlsOptions, TrustProxy } from "./adapter.ts";
export type { StreamHandlers, StreamSocket } from "../shims/socket.ts";
import { answer, type GatewayParams, GatewayRequest, simpleAnswer } from "./gateway.ts";

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

const HEADER_LEN = 8;
/** Largest content we put in one record: 65535 rounded down to a multiple of 8, so no padding is needed. */
const MAX_CONTENT = 65528;

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

const EMPTY = new Uint8Array(0);

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
 * import { RecordParser, encodeRecord, FCGI } from "./fastcgi.ts";
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
 * import { encodeRecord, FCGI } from "./fastcgi.ts";
 * const endOfStdout = encodeRecord(FCGI.STDOUT, 1); // 8 bytes
 * ```
 */
export function encodeRecord(type: number, requestId: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return frame(type, requestId, [data], data.length);
}

/** Records for the concatenation of `pieces` (total `length` bytes), written into one buffer. */
function frame(type: number, id: number, pieces: Uint8Array[], length: number, tail?: Uint8Array): Uint8Array {
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
 * import { encodeParams } from "./fastcgi.ts";
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
 * import { decodeParams, encodeParams } from "./fastcgi.ts";
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

function endRequestRecord(id: number, appStatus: number, protocolStatus: number): Uint8Array {
  const out = new Uint8Array(16);
  writeEndRequest(out, 0, id, appStatus, protocolStatus);
  return out;
}

/** END_REQUEST (16 bytes) at `o`. */
function writeEndRequest(out: Uint8Array, o: number, id: number, appStatus: number, protocolStatus: number): void {
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

// ---------------------------------------------------------------------------
// Connections and requests

/** Bounds that keep a hostile, broken or slow peer from exhausting memory. */
export interface FastCgiLimits {
  /**
   * Bytes of one request's PARAMS: its header block (default 64 KiB, twice nginx's
   * 32 KiB of request headers; nginx cannot send more than 64 KiB of PARAMS). More is
   * answered `431 Request Header Fields Too Large` as soon as it arrives, the rest of
   * the stream ignored. `run({ maxHeaderSize })` sets it too.
   */
  maxRequestParamsSize: number;
  /**
   * Name-value pairs in one request's PARAMS, server variables and headers together
   * (default 200: the ~20 variables of nginx plus 180 header lines; Apache lets 100
   * header lines through, HAProxy 101). More is answered `431 Request Header Fields
   * Too Large`. Keep it modest: the cost of a request's `Headers` grows faster than
   * their number on some runtimes (iterating 1000 of them takes ~0.4 s on Deno 2.9).
   */
  maxParamCount: number;
  /**
   * Bytes of unfinished PARAMS streams on one connection, all its requests together
   * (default 1 MiB; nginx never sends more than 64 KiB per request). More closes the
   * connection.
   */
  maxParamsSize: number;
  /**
   * Requests one connection may have in flight (default 100). GET_VALUES reports it
   * as `FCGI_MAX_REQS` (HAProxy takes it as its per-connection stream limit); a
   * BEGIN_REQUEST beyond it is answered `END_REQUEST(FCGI_OVERLOADED)`.
   */
  maxRequestsPerConnection: number;
  /**
   * Request-body bytes received on one connection and not yet read by the app, all
   * its requests together (default 1 MiB). Above it the connection is not read until
   * the apps catch up, so the web server's writes block. Below it records keep being
   * read, so one slow reader does not stall ABORT_REQUEST or the other requests of a
   * multiplexed connection.
   */
  maxBufferedBody: number;
  /**
   * Output bytes waiting for the web server to read them, per connection (default
   * 64 KiB). Above it the connection is not read (no new requests, no management
   * answers) until the output drains; streamed bodies wait for it too.
   */
  outputHighWaterMark: number;
  /** Connections served at once (default 1024); GET_VALUES reports it as `FCGI_MAX_CONNS`. More are closed at once, with a log line. */
  maxConns: number;
  /**
   * Milliseconds a connection may stay without a request in the app (idle, or stuck in
   * a partial record or PARAMS stream) before it is closed (default 120 000: longer
   * than nginx's 60 s upstream keepalive, so the web server normally closes first).
   * `run({ idleTimeout })` sets it too.
   */
  idleTimeout: number;
}

const DEFAULT_LIMITS: FastCgiLimits = {
  maxRequestParamsSize: 64 * 1024,
  maxParamCount: 200,
  maxParamsSize: 1 << 20,
  maxRequestsPerConnection: 100,
  maxBufferedBody: 1 << 20,
  outputHighWaterMark: 64 * 1024,
  maxConns: 1024,
  idleTimeout: 120_000,
};

const encoder = new TextEncoder();

interface Context {
  app: FetchApp;
  log: (line: string) => void;
  /** Write an access line per answered request (unless `quiet`). */
  accessLog: boolean;
  limits: FastCgiLimits;
  /** Requests being answered, for graceful shutdown. */
  inflight: Set<Req>;
  onIdle: () => void;
}

/** One request id's state on a connection. */
interface Req {
  id: number;
  role: number;
  keepConn: boolean;
  params: GatewayParams | null;
  paramChunks: Uint8Array[];
  paramSize: number;
  /** "params" until the empty PARAMS record, then "stdin" until the empty STDIN record, then "done". */
  phase: "params" | "stdin" | "done";
  /** All of the body arrived (the empty STDIN, or CONTENT_LENGTH bytes): EOF no longer aborts it. */
  bodyComplete: boolean;
  /** The body stream's controller, while the app may still read it. */
  body: ReadableStreamDefaultController<Uint8Array> | null;
  /** Body chunks received and not yet taken by the app. */
  queue: Uint8Array[];
  queued: number;
  /** A read is waiting for the next chunk. */
  wake: (() => void) | null;
  /** How the body ended, once it did: `true`, or the error the reader gets. */
  bodyEnd: true | Error | null;
  declared: number | undefined;
  received: number;
  /** The request handed to the app (once PARAMS ended): aborting it aborts `request.signal`. */
  request: GatewayRequest | null;
  /** Handed to the app (counts against the idle timeout no more). */
  inApp: boolean;
  /** The header block went out: an internal error can no longer answer 500. */
  headSent: boolean;
  /** END_REQUEST was sent (or the connection died): nothing more is written for this id. */
  ended: boolean;
  /** The streamed answer being sent: cancelled at once when the request is aborted. */
  output: ReadableStreamDefaultReader<Uint8Array> | null;
  /** The app reported an error line for this request itself (`ServeInfo.log`). */
  appLogged: boolean;
  /** What the access line says about the request (when access lines are written), until it is written. */
  line: RequestLine | null;
  /** The status of the answer whose head went out; 0 before. */
  status: number;
  /** Body bytes of the answer sent so far. */
  bytesSent: number;
}

/** The request as an access line shows it, taken from its params. */
interface RequestLine {
  remote: string | undefined;
  method: string;
  target: string;
  version: string;
  /** When the PARAMS ended (the line is stamped with it). */
  arrived: number;
}

/**
 * The request target as the client sent it: `REQUEST_URI` (every web server sends
 * it), else rebuilt from the CGI variables; `undefined` when there is none of them.
 */
function targetOf(params: GatewayParams): string | undefined {
  const uri = params.get("REQUEST_URI");
  if (uri !== undefined) return uri;
  const path = (params.get("SCRIPT_NAME") ?? "") + (params.get("PATH_INFO") ?? "");
  const query = params.get("QUERY_STRING");
  return path || query ? `${path || "/"}${query ? "?" + query : ""}` : undefined;
}

/** The access-line fields of a request (`-` for what its params do not say). */
function requestLine(params: GatewayParams, peer: string | undefined): RequestLine {
  const protocol = params.get("SERVER_PROTOCOL");
  return {
    remote: params.get("REMOTE_ADDR") || peer,
    method: params.get("REQUEST_METHOD") || "-",
    target: targetOf(params) ?? "-",
    version: protocol?.startsWith("HTTP/") ? protocol.slice(5) : "1.1",
    arrived: Date.now(),
  };
}

/**
 * The protocol engine for one connection: records in, records out. Transport-neutral:
 * it talks to a {@linkcode StreamSocket} (`shims/socket.ts`).
 *
 * Flow control, in one place ({@linkcode Connection.flow}): the socket is read unless
 * the output is over its high-water mark (the web server is not reading our answers)
 * or more request body is buffered than the apps have read. Records already received
 * wait in the parser meanwhile.
 */
class Connection implements StreamHandlers {
  readonly socket: StreamSocket;
  readonly #ctx: Context;
  readonly #parser = new RecordParser();
  readonly #reqs = new Map<number, Req>();
  /** No new requests: KEEP_CONN=0 answered, the peer sent EOF, or the server shuts down. */
  #closing = false;
  #paused = false;
  #outputBlocked = false;
  #pumping = false;
  /** Body bytes queued for apps on this connection. */
  #bodyBytes = 0;
  /** Bytes of PARAMS streams not yet complete. */
  #paramBytes = 0;
  /** Requests in the app right now (the idle timeout does not run while there are any). */
  #inApp = 0;
  #drainWaiters: (() => void)[] = [];
  /** Bytes arrived since the last idle sweep. */
  active = true;
  /** Consecutive idle sweeps without activity or a request in the app. */
  idleSweeps = 0;

  constructor(socket: StreamSocket, ctx: Context) {
    this.socket = socket;
    this.#ctx = ctx;
  }

  /** Whether a request is in the app (the idle timeout is suspended). */
  get busy(): boolean {
    return this.#inApp > 0;
  }

  /** Ends the connection after in-flight requests (graceful shutdown). */
  shutdown(): void {
    this.#closing = true;
    if (this.#reqs.size === 0) this.socket.end();
  }

  /** Closes the connection with a log line. */
  fail(reason: string): void {
    this.#ctx.log(`FastCGI: closing connection from ${this.socket.remoteAddress ?? "local socket"}: ${reason}`);
    this.socket.destroy();
  }

  // -- socket events (StreamHandlers) --------------------------------------

  data(chunk: Uint8Array): void {
    this.active = true;
    if (this.#closing && this.#reqs.size === 0) return; // draining after KEEP_CONN=0: discard
    this.#parser.append(chunk);
    this.#pump();
    this.#parser.detach();
  }

  end(): void {
    // The web server closed its side. Requests whose body was still arriving were cut
    // off (nginx and Apache abort by closing); requests with a complete body are still
    // answered, then we close our side too.
    for (const req of [...this.#reqs.values()]) {
      if (!req.bodyComplete) {
        this.#abortReq(req, "connection closed before the end of the request");
        this.#forget(req);
      }
    }
    this.#closing = true;
    if (this.#reqs.size === 0) this.socket.end();
  }

  drain(): void {
    this.#outputBlocked = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
    this.#flow();
  }

  close(): void {
    for (const req of this.#reqs.values()) {
      this.#abortReq(req, "connection closed");
      req.ended = true;
      this.#leaveApp(req);
      this.#ctx.inflight.delete(req);
      this.#logAccess(req);
    }
    this.#reqs.clear();
    this.#outputBlocked = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
    this.#ctx.onIdle();
  }

  // -- flow control --------------------------------------------------------

  /** Pauses or resumes reading, and parses what is pending once allowed. */
  #flow(): void {
    const pause = this.#outputBlocked || this.#bodyBytes > this.#ctx.limits.maxBufferedBody;
    if (pause !== this.#paused) {
      this.#paused = pause;
      if (pause) this.socket.pause();
      else this.socket.resume();
    }
    if (!pause && this.#parser.pending > 0) this.#pump();
  }

  /** Handles the whole records received, as long as reading is allowed. */
  #pump(): void {
    if (this.#pumping) return; // re-entered from a callback: the outer loop goes on
    this.#pumping = true;
    try {
      while (!this.#paused && !this.socket.closed) {
        const record = this.#parser.next();
        if (!record) break;
        this.#onRecord(record);
      }
    } catch (error) {
      this.fail(error instanceof FastCgiProtocolError ? error.message : String(error));
    } finally {
      this.#pumping = false;
    }
  }

  /** Writes whole records (never split, so requests never interleave mid-record); `false`: wait for drain. */
  #send(bytes: Uint8Array): boolean {
    if (this.socket.closed) return true;
    if (this.socket.write(bytes) || this.socket.closed) return true;
    if (!this.#outputBlocked) {
      this.#outputBlocked = true;
      this.#flow();
    }
    return false;
  }

  /** Resolves when the output has drained (or the connection is gone). */
  #drained(): Promise<void> {
    if (!this.#outputBlocked || this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  // -- records -------------------------------------------------------------

  #onRecord({ type, requestId: id, content }: FastCgiRecord): void {
    if (id === 0) return this.#onManagement(type, content);
    if (type === FCGI.BEGIN_REQUEST) return this.#onBegin(id, content);
    const req = this.#reqs.get(id);
    if (!req || req.ended) return; // inactive id: ignored (§3.3), e.g. STDIN after an early answer
    if (type === FCGI.PARAMS) this.#onParams(req, content);
    else if (type === FCGI.STDIN) this.#onStdin(req, content);
    else if (type === FCGI.ABORT_REQUEST) this.#onAbort(req);
    // DATA (FILTER role) and app→server types from a confused peer are ignored.
  }

  #onManagement(type: number, content: Uint8Array): void {
    if (type === FCGI.GET_VALUES) {
      const limits = this.#ctx.limits;
      const known: Record<string, string> = {
        FCGI_MAX_CONNS: String(limits.maxConns),
        FCGI_MAX_REQS: String(limits.maxRequestsPerConnection),
        FCGI_MPXS_CONNS: "1",
      };
      const answerPairs: [string, string][] = [];
      decodeParams(content, (name) => {
        if (Object.hasOwn(known, name)) answerPairs.push([name, known[name]]);
      });
      this.#send(encodeRecord(FCGI.GET_VALUES_RESULT, 0, encodeParams(answerPairs)));
      return;
    }
    const body = new Uint8Array(8);
    body[0] = type;
    this.#send(encodeRecord(FCGI.UNKNOWN_TYPE, 0, body));
  }

  #onBegin(id: number, content: Uint8Array): void {
    if (content.length !== 8) throw new FastCgiProtocolError(`BEGIN_REQUEST of ${content.length} bytes (must be 8)`);
    if (this.#reqs.has(id)) throw new FastCgiProtocolError(`BEGIN_REQUEST for active request id ${id}`);
    const role = (content[0] << 8) | content[1];
    const keepConn = (content[2] & FCGI.KEEP_CONN) !== 0;
    const refuse = role !== FCGI.RESPONDER && role !== FCGI.AUTHORIZER
      ? FCGI.UNKNOWN_ROLE
      : this.#reqs.size >= this.#ctx.limits.maxRequestsPerConnection
      ? FCGI.OVERLOADED
      : -1;
    if (refuse >= 0) {
      // The id stays inactive: whatever else comes for it is ignored.
      this.#send(endRequestRecord(id, 0, refuse));
      if (!keepConn) this.#endSoon();
      return;
    }
    this.#reqs.set(id, {
      id,
      role,
      keepConn,
      params: null,
      paramChunks: [],
      paramSize: 0,
      phase: "params",
      // An authorizer gets no body (Apache sends it no STDIN at all).
      bodyComplete: role === FCGI.AUTHORIZER,
      body: null,
      queue: [],
      queued: 0,
      wake: null,
      bodyEnd: null,
      declared: undefined,
      received: 0,
      request: null,
      inApp: false,
      headSent: false,
      ended: false,
      output: null,
      appLogged: false,
      line: null,
      status: 0,
      bytesSent: 0,
    });
  }

  #onParams(req: Req, content: Uint8Array): void {
    if (req.phase !== "params") return;
    const limits = this.#ctx.limits;
    if (content.length > 0) {
      if (req.paramSize + content.length > limits.maxRequestParamsSize) {
        // Answered now: the rest of the stream is ignored (the id is no longer active).
        const start = ParamBlock.parse(concat(req.paramChunks, req.paramSize), { maxPairs: limits.maxParamCount, partial: true });
        return this.#refuse(req, start!, 431, "Request Header Fields Too Large\n");
      }
      req.paramSize += content.length;
      this.#paramBytes += content.length;
      if (this.#paramBytes > limits.maxParamsSize) {
        throw new FastCgiProtocolError(`PARAMS over ${limits.maxParamsSize} bytes on one connection`);
      }
      req.paramChunks.push(keep(content)); // the parser's buffer is reused: copy
      return;
    }
    // Empty PARAMS: the stream is complete (pairs may straddle records, so decode only now).
    const bytes = req.paramChunks.length === 1 ? req.paramChunks[0] : concat(req.paramChunks, req.paramSize);
    this.#paramBytes -= req.paramSize;
    req.paramChunks = [];
    const params = ParamBlock.parse(bytes, { maxPairs: limits.maxParamCount });
    if (!params) throw new FastCgiProtocolError("malformed PARAMS name-value pairs");
    req.params = params;
    req.phase = "stdin";
    if (params.overflow) return this.#refuse(req, params, 431, "Request Header Fields Too Large\n");
    const target = targetOf(params);
    // The same bound as the HTTP servers' request line.
    if (target !== undefined && target.length > MAX_URL_LENGTH) return this.#refuse(req, params, 414, "URI Too Long\n");
    if (this.#ctx.accessLog) req.line = requestLine(params, this.socket.remoteAddress);
    this.#respond(req).catch((error) => this.#internalError(req, error));
  }

  /** Answers a request the app never sees (headers or URI over their limits). */
  #refuse(req: Req, params: GatewayParams, status: number, text: string): void {
    if (this.#ctx.accessLog) req.line = requestLine(params, this.socket.remoteAddress);
    this.#simpleAnswer(req, status, text, 1);
  }

  #onStdin(req: Req, content: Uint8Array): void {
    if (req.phase === "params") throw new FastCgiProtocolError("STDIN before the end of PARAMS");
    if (req.phase === "done") return;
    if (content.length === 0) {
      req.phase = "done";
      if (!req.bodyComplete) {
        req.bodyComplete = true;
        this.#endBody(req, req.declared !== undefined && req.received < req.declared
          ? new Error(`request body truncated: ${req.received} of ${req.declared} bytes`)
          : true);
      }
      return;
    }
    if (req.bodyComplete) return; // more than CONTENT_LENGTH: the excess is ignored (spec §6.2: at most CONTENT_LENGTH)
    let chunk = content;
    if (req.declared !== undefined && req.received + chunk.length >= req.declared) {
      chunk = chunk.subarray(0, req.declared - req.received);
      req.bodyComplete = true;
    }
    req.received += chunk.length;
    if (chunk.length > 0 && req.bodyEnd === null && (req.body || req.request === null)) this.#enqueue(req, chunk.slice());
    if (req.bodyComplete) this.#endBody(req, true);
  }

  // -- request bodies ------------------------------------------------------

  /** Hands a chunk to a waiting read, or queues it (and counts it against the connection). */
  #enqueue(req: Req, chunk: Uint8Array): void {
    if (req.wake && req.body) {
      const wake = req.wake;
      req.wake = null;
      req.body.enqueue(chunk);
      wake();
      return;
    }
    req.queue.push(chunk);
    req.queued += chunk.length;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > this.#ctx.limits.maxBufferedBody) this.#flow();
  }

  /** The body is complete (`true`) or failed: tell a waiting reader, or leave it for the next read. */
  #endBody(req: Req, end: true | Error): void {
    if (req.bodyEnd !== null) return;
    req.bodyEnd = end;
    if (req.queue.length === 0 && req.wake && req.body) {
      const wake = req.wake;
      req.wake = null;
      if (end === true) req.body.close();
      else req.body.error(end);
      req.body = null;
      wake();
    }
  }

  /** Drops the queued body bytes (the app will not read them). */
  #dropBody(req: Req): void {
    if (req.queued > 0) {
      this.#bodyBytes -= req.queued;
      req.queue = [];
      req.queued = 0;
      this.#flow();
    }
  }

  /** The body stream handed to the app: it pulls queued chunks one by one. */
  #bodyStream(req: Req): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          req.body = controller;
        },
        pull: (controller) => {
          const chunk = req.queue.shift();
          if (chunk) {
            if (!req.ended) {
              // (An ended request's queue no longer counts against the connection.)
              req.queued -= chunk.length;
              this.#bodyBytes -= chunk.length;
            }
            controller.enqueue(chunk);
            if (!this.#outputBlocked && this.#paused) this.#flow();
            return;
          }
          if (req.bodyEnd !== null) {
            req.body = null;
            if (req.bodyEnd === true) controller.close();
            else controller.error(req.bodyEnd);
            return;
          }
          return new Promise<void>((resolve) => (req.wake = resolve));
        },
        cancel: () => {
          req.body = null;
          req.wake = null;
          this.#dropBody(req);
        },
      },
      { highWaterMark: 0 },
    );
  }

  #onAbort(req: Req): void {
    this.#abortReq(req, "FastCGI ABORT_REQUEST");
    this.#complete(req, endRequestRecord(req.id, 0, FCGI.REQUEST_COMPLETE));
  }

  /** The web server gave up on the request: fail its body and abort `request.signal`. */
  #abortReq(req: Req, why: string): void {
    const error = new DOMException(`request aborted (${why})`, "AbortError");
    this.#failBody(req, error);
    req.request?.abort(error);
    // A stream waiting for its next chunk (server-sent events) would hold on until then.
    req.output?.cancel(error).catch(() => {});
    req.output = null;
  }

  /** The rest of the body will never come: a reader gets `error` (never a silently short body). */
  #failBody(req: Req, error: Error): void {
    req.bodyComplete = true;
    if (req.bodyEnd === null) req.bodyEnd = error;
    this.#dropBody(req);
    if (req.body) {
      try {
        req.body.error(error);
      } catch { /* already closed */ }
      req.body = null;
    }
    const wake = req.wake;
    req.wake = null;
    wake?.();
  }

  // -- answers -------------------------------------------------------------

  /** Forgets a request: its id becomes inactive, its queued body is dropped. */
  #forget(req: Req): void {
    req.ended = true;
    if (req.phase === "params") this.#paramBytes -= req.paramSize;
    if (!req.bodyComplete) this.#failBody(req, new Error("request body unavailable: the response was already sent"));
    else this.#releaseBody(req);
    this.#reqs.delete(req.id);
    this.#leaveApp(req);
    this.#ctx.inflight.delete(req);
    this.#logAccess(req);
    this.#ctx.onIdle();
  }

  /**
   * The request's access line, once it is over: the status of the answer whose head
   * went out, else 499 (the web server gave up first); body bytes sent, `-` for HEAD
   * and bodyless statuses.
   */
  #logAccess(req: Req): void {
    const line = req.line;
    if (!line) return;
    req.line = null;
    const status = req.status || CLIENT_CLOSED;
    const bytes = req.status && line.method !== "HEAD" && !isBodyless(req.status) ? req.bytesSent : undefined;
    this.#ctx.log(accessLine(line.remote, line.method, line.target, line.version, status, bytes, new Date(line.arrived)));
  }

  /** A complete body the app did not read yet stays readable, but no longer counts against the connection. */
  #releaseBody(req: Req): void {
    if (req.queued > 0) {
      this.#bodyBytes -= req.queued;
      req.queued = 0;
      this.#flow();
    }
  }

  #leaveApp(req: Req): void {
    if (req.inApp) {
      req.inApp = false;
      this.#inApp--;
    }
  }

  /** Sends the last records of a request (ending with END_REQUEST), forgets it, closes if KEEP_CONN was 0. */
  #complete(req: Req, lastRecords: Uint8Array): void {
    if (req.ended) return;
    this.#send(lastRecords);
    this.#forget(req);
    if (!req.keepConn) this.#endSoon();
    else if (this.#closing && this.#reqs.size === 0) this.socket.end();
  }

  /** KEEP_CONN=0: half-close after the answer, keep reading (and discarding) so the peer gets no RST. */
  #endSoon(): void {
    this.#closing = true;
    if (this.#reqs.size > 0) return;
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 5000);
    (timer as { unref?: () => void }).unref?.();
  }

  /** A whole answer from a status and a short text: header block, body, end of STDOUT, END_REQUEST. */
  #simpleAnswer(req: Req, status: number, text: string, appStatus: number): void {
    const { head, body } = simpleAnswer(status, text);
    req.headSent = true;
    req.status = status;
    req.bytesSent = body.length;
    this.#completeWith(req, head, body, appStatus);
  }

  /** Header block and body bytes in STDOUT records, the empty STDOUT and END_REQUEST: one write. */
  #completeWith(req: Req, headText: string, body: Uint8Array, appStatus: number): void {
    const id = req.id;
    if (headText.length * 3 + body.length <= MAX_CONTENT) {
      // One STDOUT record (nearly every answer): encode the head straight into place.
      const out = new Uint8Array(HEADER_LEN + headText.length * 3 + body.length + 7 + HEADER_LEN + 16);
      const headLen = encoder.encodeInto(headText, out.subarray(HEADER_LEN)).written;
      const n = headLen + body.length, pad = (8 - (n & 7)) & 7;
      out.set(body, HEADER_LEN + headLen);
      out[0] = 1;
      out[1] = FCGI.STDOUT;
      out[2] = id >> 8;
      out[3] = id & 255;
      out[4] = n >> 8;
      out[5] = n & 255;
      out[6] = pad;
      let o = HEADER_LEN + n + pad;
      out[o] = 1; // the empty STDOUT
      out[o + 1] = FCGI.STDOUT;
      out[o + 2] = id >> 8;
      out[o + 3] = id & 255;
      o += HEADER_LEN;
      writeEndRequest(out, o, id, appStatus, FCGI.REQUEST_COMPLETE);
      this.#complete(req, out.subarray(0, o + 16));
      return;
    }
    const head = encoder.encode(headText);
    const tail = concat([encodeRecord(FCGI.STDOUT, id), endRequestRecord(id, appStatus, FCGI.REQUEST_COMPLETE)]);
    this.#complete(req, frame(FCGI.STDOUT, id, [head, body], head.length + body.length, tail));
  }

  /** A bug of ours (or an app answer we could not write): log it; answer 500 if nothing was sent yet. */
  #internalError(req: Req, error: unknown): void {
    // Never an unhandled rejection (it would end the process under Node): log, end the request.
    this.#ctx.log(`FastCGI: internal error on request ${req.id}: ${(error as Error)?.stack ?? error}`);
    if (req.ended) return;
    if (!req.headSent) this.#simpleAnswer(req, 500, "Internal Server Error\n", 1);
    else this.#complete(req, concat([encodeRecord(FCGI.STDOUT, req.id), endRequestRecord(req.id, 1, FCGI.REQUEST_COMPLETE)]));
  }

  async #respond(req: Req): Promise<void> {
    this.#ctx.inflight.add(req);
    req.inApp = true;
    this.#inApp++;
    let request: GatewayRequest;
    try {
      // The app's error lines for this request (ServeInfo.log) go to the web server as STDERR.
      request = new GatewayRequest(req.params!, (message) => {
        req.appLogged = true;
        this.#stderr(req, message);
      });
    } catch (error) {
      this.#ctx.log(`FastCGI: bad request: ${(error as Error).message}`);
      this.#simpleAnswer(req, 400, "Bad Request\n", 1);
      return;
    }
    req.request = request;
    if (req.role === FCGI.RESPONDER && request.hasBody && !req.bodyComplete) {
      req.declared = request.contentLength;
      request.setBody(this.#bodyStream(req));
    } else {
      req.bodyComplete = true;
    }
    const out = await answer(this.#ctx.app, request, (error) => this.#appError(req, error));
    if (req.ended) {
      if (out.body instanceof ReadableStream) out.body.cancel().catch(() => {});
      return;
    }
    req.headSent = true;
    req.status = out.status;
    if (out.body === null || out.body instanceof Uint8Array) {
      // The common case: header block, body and end markers in one write.
      req.bytesSent = out.body?.length ?? 0;
      this.#completeWith(req, out.head, out.body ?? EMPTY, 0);
      return;
    }
    // Streamed body: header block first, then each chunk as it comes, waiting for the
    // output to drain so a slow web server slows the producer down.
    if (!this.#send(encodeRecord(FCGI.STDOUT, req.id, encoder.encode(out.head)))) await this.#drained();
    const reader = out.body.getReader();
    req.output = reader;
    let appStatus = 0;
    try {
      while (!req.ended) {
        const { done, value } = await reader.read();
        if (done || req.ended) break;
        req.bytesSent += value.length;
        if (value.length && !this.#send(frame(FCGI.STDOUT, req.id, [value], value.length))) await this.#drained();
      }
    } catch (error) {
      appStatus = 1;
      this.#appError(req, error);
    } finally {
      req.output = null;
      if (req.ended) reader.cancel().catch(() => {});
      else reader.releaseLock();
    }
    this.#complete(req, concat([encodeRecord(FCGI.STDOUT, req.id), endRequestRecord(req.id, appStatus, FCGI.REQUEST_COMPLETE)]));
  }

  /**
   * An app error: to the log, and to the web server's error log through STDERR. Not
   * when the app already reported an error for this request (a Carafe app logs a
   * failing stream, then fails it): one failure, one line.
   */
  #appError(req: Req, error: unknown): void {
    if (req.appLogged) return;
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.#ctx.log(`FastCGI: error answering request ${req.id}: ${text}`);
    this.#stderr(req, text);
  }

  /**
   * One line (or several) as STDERR records of `req`, while it is not ended, each ended
   * at once by an empty STDERR. (A variant that ended the stream only just before
   * END_REQUEST, after the answer's STDOUT, saw HAProxy 2.6.12 drop every connection
   * in one CI run, a crash it is known for with FastCGI (haproxy#2150); this order is
   * the one the peer tests have passed with since they were written.)
   */
  #stderr(req: Req, text: string): void {
    if (req.ended || !text) return;
    const line = encodeRecord(FCGI.STDERR, req.id, encoder.encode(text.endsWith("\n") ? text : text + "\n"));
    this.#send(concat([line, encodeRecord(FCGI.STDERR, req.id)]));
  }
}

function concat(parts: Uint8Array[], total = parts.reduce((s, p) => s + p.length, 0)): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Listeners and the adapter

/**
 * Whether fd 0 is a listening socket: the process was started by a web server
 * (spawn-fcgi, lighttpd `bin-path`, `cgi-fcgi -start`, mod_fcgid) the FastCGI way.
 * The spec's test is `getpeername(0)` failing with `ENOTCONN`; without native calls
 * we check that fd 0 is a socket and, on Linux, that `/proc/net` lists its inode as
 * listening (TCP state `0A`, or a Unix socket with the accept flag).
 *
 * @example
 * ```ts
 * import { isFastCgiListener } from "./fastcgi.ts";
 * if (isFastCgiListener()) console.error("started by a web server as a FastCGI app");
 * ```
 */
export function isFastCgiListener(): boolean {
  try {
    if (!fstatSync(0).isSocket()) return false;
  } catch {
    return false;
  }
  let inode: string | undefined;
  try {
    inode = readlinkSync("/proc/self/fd/0").match(/^socket:\[(\d+)\]$/)?.[1];
  } catch {
    return true; // not Linux: a socket on stdin is assumed to be a listener (inetd-style connected sockets are rare)
  }
  if (!inode) return false;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[9] === inode) return cols[3] === "0A";
      }
    } catch { /* no such table */ }
  }
  try {
    for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[6] === inode) return (parseInt(cols[3], 16) & 0x10000) !== 0; // __SO_ACCEPTCON
    }
  } catch { /* ignore */ }
  return false;
}

/** Extra options of the FastCGI adapter (besides the common {@linkcode ServeOptions}). */
export interface FastCgiServeOptions extends ServeOptions {
  /** Listen on the socket inherited as fd 0 (default: when no `socket` is given and fd 0 is a listening socket). */
  fd0?: boolean;
  /** Protocol bounds (see {@linkcode FastCgiLimits}). */
  limits?: Partial<FastCgiLimits>;
  /** Serve over `node:net` even where a native transport exists (Bun): for comparisons. */
  forceNodeNet?: boolean;
}

/** What {@linkcode createFastCgiEngine} serves, and how. */
export interface FastCgiEngineOptions {
  /** The application. */
  app: FetchApp;
  /** Writes a log line (errors, refused connections, access lines). */
  log: (line: string) => void;
  /** One Common Log Format line per answered request, through `log` (default `false`; `serveFastCgi` sets it unless `quiet`). */
  accessLog?: boolean;
  /** Protocol bounds (see {@linkcode FastCgiLimits}). */
  limits?: Partial<FastCgiLimits>;
}

/**
 * The connection engine behind {@linkcode serveFastCgi}, usable over any transport:
 * `accept(socket)` serves one accepted connection; `close()` stops them gracefully.
 *
 * @example
 * ```ts
 * import { createFastCgiEngine } from "./fastcgi.ts";
 * const engine = createFastCgiEngine({ app: { fetch: () => new Response("hi") }, log: console.error });
 * // listenStream(target, engine.accept) — see shims/socket.ts
 * await engine.close(1000);
 * ```
 */
export function createFastCgiEngine(options: FastCgiEngineOptions): {
  /** Serves one accepted connection; returns the handlers for its socket events. */
  accept(socket: StreamSocket): StreamHandlers;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting, ends idle connections, waits up to `timeout` ms for requests in flight, then closes the rest. */
  close(timeout: number): Promise<void>;
} {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const connections = new Set<Connection>();
  let stopping = false;
  let idleWaiter: (() => void) | null = null;
  const ctx: Context = {
    app: options.app,
    log: options.log,
    accessLog: options.accessLog ?? false,
    limits,
    inflight: new Set(),
    onIdle: () => {
      if (idleWaiter && ctx.inflight.size === 0) idleWaiter();
    },
  };
  const allowed = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    ?.FCGI_WEB_SERVER_ADDRS?.split(",").map((s) => s.trim()).filter(Boolean);
  const ignore: StreamHandlers = { data() {}, end() {}, drain() {}, close() {} };
  let refused = 0, refusedLogged = 0;

  // The idle timeout: a sweep every quarter of it closes connections that had neither
  // a byte nor a request in the app for the whole period (no per-request timers).
  const step = Math.max(10, Math.floor(limits.idleTimeout / 4));
  const sweeps = Math.ceil(limits.idleTimeout / step);
  const sweeper = setInterval(() => {
    for (const c of connections) {
      if (c.active || c.busy) {
        c.active = false;
        c.idleSweeps = 0;
      } else if (++c.idleSweeps >= sweeps) {
        c.fail(`no request for ${limits.idleTimeout} ms (idle, or a partial record)`);
      }
    }
  }, step);
  (sweeper as { unref?: () => void }).unref?.();

  return {
    accept(socket: StreamSocket): StreamHandlers {
      if (stopping) {
        socket.destroy();
        return ignore;
      }
      const peer = socket.remoteAddress;
      if (allowed?.length && peer && !allowed.includes(peer.replace(/^::ffff:/, ""))) {
        options.log(`FastCGI: refused connection from ${peer} (not in FCGI_WEB_SERVER_ADDRS)`);
        socket.destroy();
        return ignore;
      }
      if (connections.size >= limits.maxConns) {
        // Logged once per second at most: a flood must not flood the log too.
        refused++;
        const now = Date.now();
        if (now - refusedLogged >= 1000) {
          options.log(`FastCGI: refused ${refused} connection(s): already serving maxConns = ${limits.maxConns}`);
          refusedLogged = now;
          refused = 0;
        }
        socket.destroy();
        return ignore;
      }
      const connection = new Connection(socket, ctx);
      connections.add(connection);
      return {
        data: (chunk) => connection.data(chunk),
        end: () => connection.end(),
        drain: () => connection.drain(),
        close: () => {
          connections.delete(connection);
          connection.close();
        },
      };
    },
    get connections() {
      return connections.size;
    },
    async close(timeout: number): Promise<void> {
      stopping = true;
      for (const c of connections) c.shutdown();
      if (ctx.inflight.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeout);
          idleWaiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      // Connections were ended (half-closed) after their last answer; give the peers a
      // moment to read it and close, so no queued bytes are lost to a hard destroy.
      const grace = Date.now() + Math.min(1000, timeout);
      while (connections.size > 0 && Date.now() < grace) await new Promise((r) => setTimeout(r, 10));
      for (const c of connections) c.socket.destroy();
      clearInterval(sweeper);
    },
  };
}

/**
 * Starts a FastCGI responder. Listens on `options.socket` (a Unix socket, mode
 * `socketMode`, default `0o660`), on fd 0 when `fd0` is set, else on `host:port`.
 * `FCGI_WEB_SERVER_ADDRS` (comma-separated IPs) restricts who may connect over TCP.
 *
 * @example
 * ```ts
 * import { serveFastCgi } from "./fastcgi.ts";
 * const server = await serveFastCgi({
 *   app: { fetch: () => new Response("hi") }, host: "127.0.0.1", port: 0, quiet: true,
 *   debug: false, trustProxy: false, maxBodySize: Infinity, shutdownTimeout: 1000, log: () => {},
 * });
 * console.log(server.url); // fcgi://127.0.0.1:PORT
 * await server.close();
 * ```
 */
export async function serveFastCgi(options: FastCgiServeOptions): Promise<Server> {
  const limits = { ...options.limits };
  if (options.idleTimeout !== undefined && limits.idleTimeout === undefined) limits.idleTimeout = options.idleTimeout;
  // The PARAMS of a request are its header block.
  if (options.maxHeaderSize !== undefined && limits.maxRequestParamsSize === undefined) limits.maxRequestParamsSize = options.maxHeaderSize;
  const engine = createFastCgiEngine({ app: options.app, log: options.log, accessLog: !options.quiet, limits });
  const target: ListenTarget = options.socket ? { path: options.socket } : options.fd0 ? { fd: 0 } : { host: options.host, port: options.port };
  // A path a live server listens on is refused, a stale socket file replaced (as the HTTP adapters do).
  if (options.socket) await removeStaleSocket(options.socket);
  let listener;
  try {
    listener = await listenStream(target, engine.accept, {
      highWaterMark: options.limits?.outputHighWaterMark ?? DEFAULT_LIMITS.outputHighWaterMark,
      forceNodeNet: options.forceNodeNet,
    });
  } catch (error) {
    await engine.close(0);
    throw friendlyListenError(error as Error, options);
  }
  let url: string;
  if (options.socket) {
    try {
      await chmodSocket(options.socket, options.socketMode);
    } catch (error) {
      options.log(`FastCGI: cannot chmod ${options.socket}: ${(error as Error).message}`);
    }
    url = `unix:${options.socket}`;
  } else if (options.fd0) {
    url = "fcgi://fd0";
  } else {
    const { host, port } = listener.address as { host: string; port: number };
    url = `fcgi://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => (resolveFinished = r));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      const stopped = listener.close(); // stops accepting now; resolves once every connection is gone
      await engine.close(options.shutdownTimeout);
      await stopped;
      if (options.socket) await unlinkQuietly(options.socket);
      resolveFinished();
    })();
  return { url, close, finished };
}

function friendlyListenError(error: Error & { code?: string }, options: ServeOptions): Error {
  const where = options.socket ? options.socket : `${options.host}:${options.port}`;
  if (error.code === "EADDRINUSE") return new Error(`FastCGI: ${where} is already in use (another server is listening there).`, { cause: error });
  if (error.code === "EACCES") return new Error(`FastCGI: no permission to listen on ${where}.`, { cause: error });
  return new Error(`FastCGI: cannot listen on ${where}: ${error.message}`, { cause: error });
}

/**
 * The `fastcgi` adapter: `run({ server: "fastcgi", port: 9000 })`,
 * `run({ server: "fastcgi", socket: "/run/app.sock" })`, or just `run({ server:
 * "fastcgi" })` when a web server started us with a listening socket on fd 0.
 *
 * @example
 * ```ts
 * import { fastcgiAdapter } from "./fastcgi.ts";
 * const server = await fastcgiAdapter.serve({
 *   app: { fetch: () => new Response("hi") }, host: "127.0.0.1", port: 0, quiet: true,
 *   debug: false, trustProxy: false, maxBodySize: Infinity, shutdownTimeout: 1000, log: () => {},
 * });
 * await server.close();
 * ```
 */
export const fastcgiAdapter: Adapter = {
  name: "fastcgi",
  label: "FastCGIServer()",
  serve(options: ServeOptions): Promise<Server> {
    const o = options as FastCgiServeOptions;
    // A listening fd 0 means a web server started us and expects us to accept on it
    // (spawn-fcgi, lighttpd bin-path, cgi-fcgi -start): it wins over the default
    // host/port, which `run()` always fills in. `socket`, or `fd0: false`, opts out.
    const fd0 = o.fd0 ?? (!o.socket && isFastCgiListener());
    return serveFastCgi({ ...o, fd0 });
  },
};
