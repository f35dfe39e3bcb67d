/**
 * One FastCGI connection: records in, records out — request ids and their params, the
 * request body queue, flow control, answers written as STDOUT records, management
 * records. Steps 2–7 of the overview in ./mod.ts.
 *
 * @module
 */
import type { FetchApp } from "../adapter.ts";
import type { StreamHandlers, StreamSocket } from "../../shims/socket.ts";
import { accessLine, CLIENT_CLOSED, isBodyless, MAX_URL_LENGTH } from "../common.ts";
import { answer, type GatewayParams, GatewayRequest, simpleAnswer } from "../gateway.ts";
import { requestLine, type RequestLine, targetOf } from "./access_log.ts";
import type { FastCgiLimits } from "./limits.ts";
import { keep, ParamBlock } from "./params.ts";
import { type BodyOwner, RequestBody } from "./body.ts";
import {
  concat,
  decodeParams,
  EMPTY,
  encodeParams,
  encodeRecord,
  endRequestRecord,
  type FastCgiRecord,
  FastCgiProtocolError,
  FCGI,
  frame,
  HEADER_LEN,
  MAX_CONTENT,
  RecordParser,
  writeEndRequest,
} from "./records.ts";

const encoder = new TextEncoder();

/** What every connection of one server shares. */
export interface Context {
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
  /** The request body: chunks received and not yet read by the app (./body.ts). */
  body: RequestBody;
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

/**
 * The protocol engine for one connection: records in, records out. Transport-neutral:
 * it talks to a {@linkcode StreamSocket} (`shims/socket.ts`).
 *
 * Flow control, in one place ({@linkcode Connection.flow}): the socket is read unless
 * the output is over its high-water mark (the web server is not reading our answers)
 * or more request body is buffered than the apps have read. Records already received
 * wait in the parser meanwhile.
 */
export class Connection implements StreamHandlers {
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
      body: new RequestBody(this.#bodyOwner),
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
        req.body.finish(req.declared !== undefined && req.received < req.declared
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
    if (chunk.length > 0 && req.body.end === null && (req.body.reading || req.request === null)) req.body.push(chunk.slice());
    if (req.bodyComplete) req.body.finish(true);
  }

  // -- request bodies (./body.ts) ------------------------------------------

  /** How bodies report their queued bytes: counted here, and reading paused past the limit. */
  readonly #bodyOwner: BodyOwner = {
    queued: (delta) => {
      this.#bodyBytes += delta;
      if (delta > 0 && this.#bodyBytes > this.#ctx.limits.maxBufferedBody) this.#flow();
    },
    pulled: () => {
      if (!this.#outputBlocked && this.#paused) this.#flow();
    },
    flow: () => this.#flow(),
  };

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
    req.body.fail(error);
  }

  // -- answers -------------------------------------------------------------

  /** Forgets a request: its id becomes inactive, its queued body is dropped. */
  #forget(req: Req): void {
    req.ended = true;
    if (req.phase === "params") this.#paramBytes -= req.paramSize;
    if (!req.bodyComplete) this.#failBody(req, new Error("request body unavailable: the response was already sent"));
    else req.body.release();
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
      request.setBody(req.body.stream());
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
