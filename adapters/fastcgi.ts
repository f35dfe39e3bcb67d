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
 *    We answer as soon as PARAMS ends and stream STDIN into `request.body` with
 *    back-pressure (the socket is paused while a body queue is full).
 * 3. **The answer** is a STDOUT stream: the CGI header block (`Status:` line, headers,
 *    blank line — see `gateway.ts`) then the body, in records of at most 65535 bytes,
 *    an empty STDOUT record, and `END_REQUEST(appStatus, protocolStatus)`. Each record
 *    goes to the socket in one write, so records of concurrent requests never
 *    interleave mid-record.
 * 4. **Multiplexing.** Several request ids may be active on one connection at once
 *    (HAProxy does this); we keep a map of them. Records for inactive ids are ignored
 *    (nginx keeps sending STDIN after an early answer).
 * 5. **Connection lifetime.** `FCGI_KEEP_CONN` in BEGIN_REQUEST: when 0 we close after
 *    END_REQUEST; when 1 the web server owns the connection and we never close it.
 *    EOF or `ABORT_REQUEST` before the end of STDIN aborts `request.signal` and fails
 *    the body reader; ABORT_REQUEST is answered with END_REQUEST at once.
 * 6. **Management records** (request id 0): `GET_VALUES` is answered with
 *    `FCGI_MAX_CONNS`, `FCGI_MAX_REQS`, `FCGI_MPXS_CONNS`; any other type gets
 *    `UNKNOWN_TYPE`. Roles: RESPONDER and AUTHORIZER (answered right after PARAMS,
 *    since Apache sends no STDIN to authorizers); FILTER and others get
 *    `END_REQUEST(UNKNOWN_ROLE)`.
 * 7. **Listeners.** TCP (`host`/`port`), a Unix socket (`socket`, `socketMode`), or
 *    the listening socket a web server passes as fd 0 (spawn-fcgi, lighttpd
 *    `bin-path`, `cgi-fcgi -start`): `node:net`'s `listen({ fd: 0 })` works on Node,
 *    Deno and Bun alike.
 *
 * A hostile stream (bad version, wrong BEGIN_REQUEST size, PARAMS over
 * {@linkcode FastCgiLimits.maxParamsSize}, more than `maxRequestsPerConnection`
 * active ids, a BEGIN_REQUEST for an active id) closes that connection with a log
 * line; other connections are unaffected.
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

import net from "node:net";
import { chmodSync, fstatSync, lstatSync, readFileSync, readlinkSync, unlinkSync } from "node:fs";
import { Buffer } from "node:buffer";
import type { Adapter, FetchApp, ServeOptions, Server } from "./adapter.ts";

export type { Adapter, ServeOptions, Server, TlsOptions, TrustProxy } from "./adapter.ts";
import { addParam, answer, type GatewayParams, GatewayRequest, headerBlock } from "./gateway.ts";

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

/**
 * Streaming record parser: feed it bytes as they arrive (split or packed any way),
 * get whole records back. Throws on a version other than 1.
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
  #buf: Uint8Array | null = null;

  /** Bytes received but not yet part of a whole record. */
  get pending(): number {
    return this.#buf?.length ?? 0;
  }

  /** Adds bytes and yields every record completed by them. */
  *push(chunk: Uint8Array): Generator<FastCgiRecord> {
    let buf: Uint8Array = chunk;
    if (this.#buf) {
      const joined = new Uint8Array(this.#buf.length + chunk.length);
      joined.set(this.#buf, 0);
      joined.set(chunk, this.#buf.length);
      buf = joined;
      this.#buf = null;
    }
    let pos = 0;
    while (buf.length - pos >= HEADER_LEN) {
      if (buf[pos] !== 1) throw new FastCgiProtocolError(`unsupported FastCGI version ${buf[pos]}`);
      const contentLength = (buf[pos + 4] << 8) | buf[pos + 5];
      const total = HEADER_LEN + contentLength + buf[pos + 6];
      if (buf.length - pos < total) break;
      const record: FastCgiRecord = {
        type: buf[pos + 1],
        requestId: (buf[pos + 2] << 8) | buf[pos + 3],
        content: buf.subarray(pos + HEADER_LEN, pos + HEADER_LEN + contentLength),
      };
      pos += total;
      yield record;
    }
    // Keep the tail (at most one partial record, ≤ 65535 + 255 + 8 bytes) for the next push.
    if (pos < buf.length) this.#buf = buf.slice(pos);
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

const decoder = new TextDecoder();

/** UTF-8 text of `bytes[start..end)`; short ASCII (nearly every param) skips TextDecoder, which costs more per call. */
function utf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > 256) return decoder.decode(bytes.subarray(start, end));
  for (let i = start; i < end; i++) if (bytes[i] > 127) return decoder.decode(bytes.subarray(start, end));
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
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
  const body = new Uint8Array(8);
  new DataView(body.buffer).setUint32(0, appStatus >>> 0);
  body[4] = protocolStatus;
  return encodeRecord(FCGI.END_REQUEST, id, body);
}

// ---------------------------------------------------------------------------
// Connections and requests

/** Bounds that keep a hostile or broken peer from exhausting memory. */
export interface FastCgiLimits {
  /** Largest PARAMS stream of one request, in bytes (default 1 MiB; nginx never sends more than 64 KiB). */
  maxParamsSize: number;
  /** Active request ids allowed on one connection (default 256); more closes the connection. */
  maxRequestsPerConnection: number;
  /** Bytes of request body queued per request before the socket is paused (default 256 KiB). */
  bodyHighWaterMark: number;
  /** What GET_VALUES reports as `FCGI_MAX_CONNS` (default 1024). */
  maxConns: number;
}

const DEFAULT_LIMITS: FastCgiLimits = {
  maxParamsSize: 1 << 20,
  maxRequestsPerConnection: 256,
  bodyHighWaterMark: 256 * 1024,
  maxConns: 1024,
};

interface Context {
  app: FetchApp;
  log: (line: string) => void;
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
  params: GatewayParams;
  paramChunks: Uint8Array[];
  paramSize: number;
  /** "params" until the empty PARAMS record, then "stdin" until the empty STDIN record, then "done". */
  phase: "params" | "stdin" | "done";
  body: ReadableStreamDefaultController<Uint8Array> | null;
  declared: number | undefined;
  received: number;
  /** The request handed to the app (once PARAMS ended): aborting it aborts `request.signal`. */
  request: GatewayRequest | null;
  /** END_REQUEST was sent (or the connection died): nothing more is written for this id. */
  ended: boolean;
}

class Connection {
  readonly socket: net.Socket;
  readonly #ctx: Context;
  readonly #parser = new RecordParser();
  readonly #reqs = new Map<number, Req>();
  /** Requests whose body queue is full; the socket stays paused while any is. */
  readonly #blocked = new Set<Req>();
  #closing = false;
  #drain: Promise<void> | null = null;

  constructor(socket: net.Socket, ctx: Context) {
    this.socket = socket;
    this.#ctx = ctx;
    socket.setNoDelay?.(true);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.#onEnd());
    socket.on("error", () => {/* reported through 'close' */});
    socket.on("close", () => this.#onClose());
  }

  get idle(): boolean {
    return this.#reqs.size === 0;
  }

  /** Ends the connection after in-flight requests (graceful shutdown). */
  shutdown(): void {
    this.#closing = true;
    if (this.#reqs.size === 0) this.socket.end();
  }

  #fail(reason: string): void {
    this.#ctx.log(`FastCGI: closing connection from ${this.socket.remoteAddress ?? "local socket"}: ${reason}`);
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#closing && this.#reqs.size === 0) return; // draining after KEEP_CONN=0: discard
    try {
      for (const record of this.#parser.push(chunk)) {
        if (this.socket.destroyed) return;
        this.#onRecord(record);
      }
    } catch (error) {
      this.#fail(error instanceof FastCgiProtocolError ? error.message : String(error));
    }
  }

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
      const known: Record<string, string> = {
        FCGI_MAX_CONNS: String(this.#ctx.limits.maxConns),
        FCGI_MAX_REQS: String(this.#ctx.limits.maxConns * this.#ctx.limits.maxRequestsPerConnection),
        FCGI_MPXS_CONNS: "1",
      };
      const answerPairs: [string, string][] = [];
      decodeParams(content, (name) => {
        if (name in known) answerPairs.push([name, known[name]]);
      });
      this.#write(encodeRecord(FCGI.GET_VALUES_RESULT, 0, encodeParams(answerPairs)));
      return;
    }
    const body = new Uint8Array(8);
    body[0] = type;
    this.#write(encodeRecord(FCGI.UNKNOWN_TYPE, 0, body));
  }

  #onBegin(id: number, content: Uint8Array): void {
    if (content.length !== 8) throw new FastCgiProtocolError(`BEGIN_REQUEST of ${content.length} bytes (must be 8)`);
    const existing = this.#reqs.get(id);
    if (existing && !existing.ended) throw new FastCgiProtocolError(`BEGIN_REQUEST for active request id ${id}`);
    const role = (content[0] << 8) | content[1];
    const keepConn = (content[2] & FCGI.KEEP_CONN) !== 0;
    if (role !== FCGI.RESPONDER && role !== FCGI.AUTHORIZER) {
      this.#write(endRequestRecord(id, 0, FCGI.UNKNOWN_ROLE));
      if (!keepConn) this.#endSoon();
      return;
    }
    if (this.#reqs.size >= this.#ctx.limits.maxRequestsPerConnection) {
      throw new FastCgiProtocolError(`more than ${this.#ctx.limits.maxRequestsPerConnection} active requests`);
    }
    this.#reqs.set(id, {
      id,
      role,
      keepConn,
      params: new Map(),
      paramChunks: [],
      paramSize: 0,
      phase: "params",
      body: null,
      declared: undefined,
      received: 0,
      request: null,
      ended: false,
    });
  }

  #onParams(req: Req, content: Uint8Array): void {
    if (req.phase !== "params") return;
    if (content.length > 0) {
      req.paramSize += content.length;
      if (req.paramSize > this.#ctx.limits.maxParamsSize) {
        throw new FastCgiProtocolError(`PARAMS over ${this.#ctx.limits.maxParamsSize} bytes`);
      }
      req.paramChunks.push(content.slice()); // the parser's buffer is reused: copy
      return;
    }
    // Empty PARAMS: the stream is complete (pairs may straddle records, so decode only now).
    const bytes = req.paramChunks.length === 1 ? req.paramChunks[0] : concat(req.paramChunks, req.paramSize);
    req.paramChunks = [];
    if (!decodeParams(bytes, (name, value) => addParam(req.params, name, value))) {
      throw new FastCgiProtocolError("malformed PARAMS name-value pairs");
    }
    req.phase = "stdin";
    this.#respond(req).catch((error) => {
      // Never an unhandled rejection (it would end the process under Node): log, end the request.
      this.#ctx.log(`FastCGI: internal error on request ${req.id}: ${(error as Error)?.stack ?? error}`);
      this.#finish(req, 1);
    });
  }

  #onStdin(req: Req, content: Uint8Array): void {
    if (req.phase === "params") throw new FastCgiProtocolError("STDIN before the end of PARAMS");
    if (req.phase === "done") return;
    if (content.length === 0) {
      req.phase = "done";
      if (req.body) {
        if (req.declared !== undefined && req.received !== req.declared) {
          req.body.error(new Error(`request body truncated: ${req.received} of ${req.declared} bytes`));
        } else req.body.close();
        req.body = null;
        this.#unblock(req);
      }
      return;
    }
    const body = req.body;
    if (!body) return; // no body expected (GET), or the app cancelled it
    let chunk = content;
    if (req.declared !== undefined && req.received + chunk.length > req.declared) {
      chunk = chunk.subarray(0, req.declared - req.received); // never more than CONTENT_LENGTH (spec §6.2)
    }
    req.received += content.length;
    if (chunk.length) body.enqueue(chunk.slice());
    if ((body.desiredSize ?? 1) <= 0 && !this.#blocked.has(req)) {
      this.#blocked.add(req);
      this.socket.pause();
    }
  }

  #unblock(req: Req): void {
    if (this.#blocked.delete(req) && this.#blocked.size === 0 && !this.socket.destroyed) this.socket.resume();
  }

  #onAbort(req: Req): void {
    this.#abortReq(req, "FastCGI ABORT_REQUEST");
    this.#finish(req, 0);
  }

  #abortReq(req: Req, why: string): void {
    const error = new DOMException(`request aborted (${why})`, "AbortError");
    if (req.body) {
      try {
        req.body.error(error);
      } catch { /* already closed */ }
      req.body = null;
    }
    this.#unblock(req);
    req.request?.abort(error);
  }

  #onEnd(): void {
    // The web server closed its side. Requests still waiting for STDIN were cut off
    // (nginx and Apache abort by closing); requests with a complete body are still
    // answered, then we close our side too.
    for (const req of this.#reqs.values()) {
      if (req.phase !== "done") {
        this.#abortReq(req, "connection closed before the end of the request");
        req.ended = true;
        this.#forget(req);
      }
    }
    this.#closing = true;
    if (this.#reqs.size === 0) this.socket.end();
  }

  #onClose(): void {
    for (const req of this.#reqs.values()) {
      this.#abortReq(req, "connection closed");
      req.ended = true;
      this.#ctx.inflight.delete(req);
    }
    this.#reqs.clear();
    this.#blocked.clear();
    this.#ctx.onIdle();
  }

  #forget(req: Req): void {
    this.#reqs.delete(req.id);
    this.#ctx.inflight.delete(req);
    this.#ctx.onIdle();
  }

  /** Writes whole records; resolves once the socket can take more (back-pressure). */
  #write(bytes: Uint8Array): void | Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return;
    // A Buffer view (no copy): Deno's and Bun's node:net take a slower path for a plain Uint8Array.
    if (socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) return;
    if (!this.#drain) {
      this.#drain = new Promise<void>((resolve) => {
        const done = () => {
          socket.off("drain", done);
          socket.off("close", done);
          this.#drain = null;
          resolve();
        };
        socket.on("drain", done);
        socket.on("close", done);
      });
    }
    return this.#drain;
  }

  /** Sends END_REQUEST (unless already sent) and closes the connection if KEEP_CONN was 0. */
  #finish(req: Req, appStatus: number, head?: Uint8Array): void {
    if (req.ended) return;
    req.ended = true;
    this.#write(concat(head ? [head, endRequestRecord(req.id, appStatus, FCGI.REQUEST_COMPLETE)] : [endRequestRecord(req.id, appStatus, FCGI.REQUEST_COMPLETE)]));
    // Stop queuing body bytes nobody will read; later STDIN for this id is ignored.
    if (req.body) {
      try {
        req.body.close();
      } catch { /* errored */ }
      req.body = null;
    }
    this.#unblock(req);
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
    this.socket.once("close", () => clearTimeout(timer));
  }

  async #respond(req: Req): Promise<void> {
    this.#ctx.inflight.add(req);
    let request: GatewayRequest;
    try {
      request = new GatewayRequest(req.params);
    } catch (error) {
      this.#ctx.log(`FastCGI: bad request: ${(error as Error).message}`);
      const head = encodeRecord(FCGI.STDOUT, req.id, new TextEncoder().encode("Status: 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nBad Request\n"));
      this.#finish(req, 1, concat([head, encodeRecord(FCGI.STDOUT, req.id)]));
      return;
    }
    req.request = request;
    // An authorizer gets no body (Apache sends no STDIN at all, so we must not wait for it).
    if (req.role === FCGI.RESPONDER && request.hasBody) {
      req.declared = request.contentLength;
      request.setBody(new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            req.body = controller;
          },
          pull: () => this.#unblock(req),
          cancel: () => {
            req.body = null;
            this.#unblock(req);
          },
        },
        { highWaterMark: this.#ctx.limits.bodyHighWaterMark, size: (chunk) => chunk.byteLength },
      ));
    }
    const out = await answer(this.#ctx.app, request, (error) => this.#appError(req, error));
    if (req.ended) {
      if (out.body instanceof ReadableStream) out.body.cancel().catch(() => {});
      return;
    }
    const head = new TextEncoder().encode(headerBlock(out.status, out.headers));
    if (!(out.body instanceof ReadableStream)) {
      // The common case: header block and body in one write with the end markers.
      const bodyBytes = out.body ?? new Uint8Array(0);
      const tail = concat([encodeRecord(FCGI.STDOUT, req.id), endRequestRecord(req.id, 0, FCGI.REQUEST_COMPLETE)]);
      const bytes = frame(FCGI.STDOUT, req.id, [head, bodyBytes], head.length + bodyBytes.length, tail);
      req.ended = true;
      this.#write(bytes);
      if (req.body) {
        try {
          req.body.close();
        } catch { /* errored */ }
        req.body = null;
      }
      this.#unblock(req);
      this.#forget(req);
      if (!req.keepConn) this.#endSoon();
      else if (this.#closing && this.#reqs.size === 0) this.socket.end();
      return;
    }
    // Streamed body: header block first, then each chunk as it comes, waiting for the
    // socket to drain so a slow web server slows the producer down.
    await this.#write(encodeRecord(FCGI.STDOUT, req.id, head));
    const reader = out.body.getReader();
    let appStatus = 0;
    try {
      while (!req.ended) {
        const { done, value } = await reader.read();
        if (done) break;
        if (req.ended) break;
        if (value.length) await this.#write(frame(FCGI.STDOUT, req.id, [value], value.length));
      }
    } catch (error) {
      appStatus = 1;
      this.#appError(req, error);
    } finally {
      if (req.ended) reader.cancel().catch(() => {});
      else reader.releaseLock();
    }
    this.#finish(req, appStatus, encodeRecord(FCGI.STDOUT, req.id));
  }

  /** An app error: to the log, and to the web server's error log through STDERR. */
  #appError(req: Req, error: unknown): void {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.#ctx.log(`FastCGI: error answering request ${req.id}: ${text}`);
    if (!req.ended) {
      this.#write(concat([encodeRecord(FCGI.STDERR, req.id, new TextEncoder().encode(text + "\n")), encodeRecord(FCGI.STDERR, req.id)]));
    }
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
export function serveFastCgi(options: FastCgiServeOptions): Promise<Server> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const connections = new Set<Connection>();
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => (resolveFinished = r));
  let stopping = false;
  let idleWaiter: (() => void) | null = null;
  const ctx: Context = {
    app: options.app,
    log: options.log,
    limits,
    inflight: new Set(),
    onIdle: () => {
      if (idleWaiter && ctx.inflight.size === 0) idleWaiter();
    },
  };
  const allowed = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    ?.FCGI_WEB_SERVER_ADDRS?.split(",").map((s) => s.trim()).filter(Boolean);

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    if (stopping) return void socket.destroy();
    if (allowed?.length && socket.remoteAddress && !allowed.includes(socket.remoteAddress.replace(/^::ffff:/, ""))) {
      options.log(`FastCGI: refused connection from ${socket.remoteAddress} (not in FCGI_WEB_SERVER_ADDRS)`);
      return void socket.destroy();
    }
    const connection = new Connection(socket, ctx);
    connections.add(connection);
    socket.on("close", () => connections.delete(connection));
  });
  server.on("close", () => resolveFinished());

  const close = async (): Promise<void> => {
    if (stopping) return finished;
    stopping = true;
    server.close();
    for (const c of connections) c.shutdown();
    if (ctx.inflight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.shutdownTimeout);
        idleWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    // Connections were ended (half-closed) after their last answer; give the peers a
    // moment to read it and close, so no queued bytes are lost to a hard destroy.
    const grace = Date.now() + Math.min(1000, options.shutdownTimeout);
    while (connections.size > 0 && Date.now() < grace) await new Promise((r) => setTimeout(r, 10));
    for (const c of connections) c.socket.destroy();
    if (options.socket) {
      try {
        unlinkSync(options.socket);
      } catch { /* already gone */ }
    }
    await finished;
  };

  return new Promise<Server>((resolve, reject) => {
    server.once("error", (error: Error) => reject(friendlyListenError(error, options)));
    const ready = (url: string) => {
      server.removeAllListeners("error");
      server.on("error", (error: Error) => options.log(`FastCGI: listener error: ${error.message}`));
      resolve({ url, close, finished });
    };
    if (options.socket) {
      const path = options.socket;
      removeStaleSocket(path);
      server.listen(path, () => {
        try {
          chmodSync(path, options.socketMode ?? 0o660);
        } catch (error) {
          options.log(`FastCGI: cannot chmod ${path}: ${(error as Error).message}`);
        }
        ready(`unix:${path}`);
      });
    } else if (options.fd0) {
      server.listen({ fd: 0 }, () => ready("fcgi://fd0"));
    } else {
      server.listen({ host: options.host, port: options.port }, () => {
        const address = server.address() as net.AddressInfo;
        const host = address.family === "IPv6" || address.address.includes(":") ? `[${address.address}]` : address.address;
        ready(`fcgi://${host}:${address.port}`);
      });
    }
  });
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch { /* does not exist */ }
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
