/**
 * One accepted WebSocket connection as the app sees it ({@linkcode CarafeWebSocket}),
 * over whatever carries its frames: Carafe's own RFC 6455 code on node:http, Deno's
 * or Bun's WebSocket. Runtime-neutral: each runtime's glue supplies a
 * {@linkcode Transport} and reports what happens on it.
 *
 * What is enforced here, the same on every runtime: the handlers' errors (→ `error`,
 * then 1011), `maxMessageSize` where the runtime does not check it itself (→ 1009),
 * `maxBufferedAmount` (→ 1008), the ping/idle timeout where the transport can ping,
 * and `close()`'s argument rules. A {@linkcode SessionSet} closes a server's open
 * sockets with 1001 on shutdown.
 *
 * @example
 * ```ts
 * import { SessionSet } from "./session.ts";
 * const sessions = new SessionSet();
 * await sessions.closeAll(1001, "server shutting down", 5000);
 * ```
 *
 * @module
 */
import {
  type CarafeWebSocket,
  type WebSocketHandlers,
  type WebSocketLimits,
  WebSocketState,
  type WebSocketUpgrade,
} from "../../core/websocket.ts";
import type { CarafeRequest } from "../../core/request.ts";
import { CloseCode, isSendableCloseCode } from "./frames.ts";

/** What a runtime's glue provides to carry one connection's frames. */
export interface Transport {
  /** Sends one message (a string as text, bytes as binary); returns the bytes still buffered (0: all sent). */
  send(data: string | Uint8Array): number;
  /** Bytes accepted by `send` and not yet written to the network. */
  readonly bufferedAmount: number;
  /** Resolves when nothing is buffered any more (or the connection is gone). */
  drained(): Promise<void>;
  /** Sends a close frame and waits for the peer's (the transport then reports `closed`). */
  close(code: number, reason: string): void;
  /** Drops the connection now, without a handshake. */
  terminate(): void;
  /** Sends a ping; absent when the runtime pings by itself. */
  ping?(): void;
}

const encoder = new TextEncoder();
const asError = (err: unknown): Error => err instanceof Error ? err : new Error(String(err));

/** A message's bytes, whatever the app passed. */
function toPayload(data: string | Uint8Array | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === "string" || data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`ws.send() takes a string or bytes, not ${data === null ? "null" : typeof data}.`);
}

/**
 * The app's socket: forwards to the transport, runs the handlers, applies the limits.
 *
 * @example
 * ```ts
 * import { WebSocketSession } from "./session.ts";
 * // The runtime glue makes one per accepted upgrade:
 * // const session = new WebSocketSession(upgrade, log); session.attach(transport); session.opened();
 * ```
 */
export class WebSocketSession implements CarafeWebSocket {
  readonly req: CarafeRequest;
  readonly protocol: string;
  readonly limits: WebSocketLimits;
  #handlers: WebSocketHandlers;
  #log: (line: string) => void;
  #transport: Transport | undefined;
  #state: number = WebSocketState.CONNECTING;
  /** The code Carafe closed with on a fault, reported when the peer sends none back. */
  #faultCode: number | undefined;
  #faultReason = "";
  /** A sign of life since the keepalive last looked (a flag, not a clock read per message). */
  #active = true;
  /** The keepalive sent a ping and has seen nothing since. */
  #pinged = false;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #onClosed: Array<() => void> = [];

  /**
   * @param upgrade the accepted handshake (handlers, request, limits)
   * @param log where handler errors go when there is no `error` handler
   */
  constructor(upgrade: WebSocketUpgrade, log: (line: string) => void) {
    this.req = upgrade.req;
    this.protocol = upgrade.protocol;
    this.limits = upgrade.limits;
    this.#handlers = upgrade.handlers;
    this.#log = log;
  }

  get readyState(): number {
    return this.#state;
  }

  get bufferedAmount(): number {
    return this.#transport?.bufferedAmount ?? 0;
  }

  send(data: string | Uint8Array | ArrayBuffer | ArrayBufferView): number {
    const payload = toPayload(data);
    if (this.#state !== WebSocketState.OPEN || this.#transport === undefined) return -1;
    const buffered = this.#transport.send(payload);
    if (buffered > this.limits.maxBufferedAmount) {
      this.#fault(CloseCode.PolicyViolation, `more than maxBufferedAmount (${this.limits.maxBufferedAmount} bytes) waiting to be sent: the client is not reading`);
    }
    return buffered;
  }

  drained(): Promise<void> {
    if (this.#transport === undefined || this.#state === WebSocketState.CLOSED) return Promise.resolve();
    return this.#transport.drained();
  }

  close(code: number = CloseCode.Normal, reason = ""): void {
    if (!isSendableCloseCode(code) || (code >= 1001 && code < 3000 && code !== CloseCode.GoingAway)) {
      throw new RangeError(`ws.close(): code must be 1000 or 3000–4999, got ${code}.`);
    }
    if (typeof reason !== "string" || encoder.encode(reason).byteLength > 123) {
      throw new RangeError("ws.close(): the reason must be a string of at most 123 bytes of UTF-8.");
    }
    this.#closeWith(code, reason);
  }

  /** Starts the closing handshake with any sendable code (the app's close() is stricter). */
  #closeWith(code: number, reason: string): void {
    if (this.#state === WebSocketState.CLOSING || this.#state === WebSocketState.CLOSED) return;
    this.#state = WebSocketState.CLOSING;
    this.#transport?.close(code, reason);
  }

  // -- Called by the runtime glue ---------------------------------------------

  /** Connects the session to what carries its frames. */
  attach(transport: Transport): void {
    this.#transport = transport;
  }

  /** The handshake is done: runs `open` and starts the keepalive where the transport pings. */
  opened(): void {
    if (this.#state !== WebSocketState.CONNECTING) return;
    this.#state = WebSocketState.OPEN;
    if (this.limits.idleTimeout > 0 && this.#transport?.ping) this.#startKeepalive(this.limits.idleTimeout / 2);
    const open = this.#handlers.open;
    if (open !== undefined) this.#call("open", open, undefined, true);
  }

  /** A whole message arrived. `sized`: the transport has already applied `maxMessageSize`. */
  received(data: string | Uint8Array, sized = false): void {
    this.#active = true;
    if (this.#state !== WebSocketState.OPEN) return;
    if (!sized) {
      const size = typeof data === "string" ? (data.length * 3 > this.limits.maxMessageSize ? encoder.encode(data).byteLength : data.length) : data.byteLength;
      if (size > this.limits.maxMessageSize) {
        return this.#fault(CloseCode.TooBig, `a message over the limit of ${this.limits.maxMessageSize} bytes`);
      }
    }
    const message = this.#handlers.message;
    if (message !== undefined) this.#call("message", message, data, true);
  }

  /** Any sign of life from the peer (a frame, a pong): the idle clock starts again. */
  seen(): void {
    this.#active = true;
  }

  /** The peer broke a rule or a limit was passed: reported to `error`, closed with `code`. */
  failed(code: number, message: string): void {
    this.#fault(code, message);
  }

  /** The connection is gone. Runs `close` once, with the code as {@linkcode WebSocketHandlers.close} describes. */
  closed(code: number, reason: string): void {
    if (this.#state === WebSocketState.CLOSED) return;
    const wasConnecting = this.#state === WebSocketState.CONNECTING;
    this.#state = WebSocketState.CLOSED;
    if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
    if (this.#faultCode !== undefined && (code === CloseCode.Abnormal || code === CloseCode.NoStatus)) {
      code = this.#faultCode;
      reason = this.#faultReason;
    }
    for (const f of this.#onClosed.splice(0)) f();
    const close = this.#handlers.close;
    if (!wasConnecting && close !== undefined) {
      try {
        const out = close(this, code, reason);
        if (out instanceof Promise) out.catch((err) => this.#reportError(asError(err), "close"));
      } catch (err) {
        this.#reportError(asError(err), "close");
      }
    }
  }

  /** Calls `f` once the connection is closed (at once if it is). */
  whenClosed(f: () => void): void {
    if (this.#state === WebSocketState.CLOSED) f();
    else this.#onClosed.push(f);
  }

  /** Drops the connection without a handshake (a shutdown that ran out of time). */
  terminate(): void {
    this.#transport?.terminate();
  }

  #fault(code: number, message: string): void {
    if (this.#state === WebSocketState.CLOSED) return;
    if (this.#faultCode === undefined) {
      this.#faultCode = code;
      this.#faultReason = message.slice(0, 120);
      this.#reportError(new Error(`WebSocket ${this.req.path}: ${message} (closing with ${code})`));
    }
    if (this.#state === WebSocketState.CLOSING) this.#transport?.terminate();
    else this.#closeWith(code, this.#faultReason);
  }

  /**
   * Every half idle timeout: a peer heard from since the last look is fine; one that was
   * silent gets a ping; one silent since the ping is dropped.
   */
  #startKeepalive(every: number): void {
    this.#keepalive = setInterval(() => {
      if (this.#state === WebSocketState.CLOSED) return;
      if (this.#active) {
        this.#active = false;
        this.#pinged = false;
      } else if (!this.#pinged) {
        this.#pinged = true;
        this.#transport?.ping?.();
      } else {
        this.#faultCode ??= CloseCode.Abnormal;
        this.#faultReason ||= `no answer to a ping within idleTimeout (${this.limits.idleTimeout} ms)`;
        this.#transport?.terminate();
      }
    }, every);
  }

  /** Runs a handler; an exception (or rejection) is reported and closes with 1011. */
  #call(
    name: string,
    handler: (ws: CarafeWebSocket, data: string | Uint8Array) => unknown,
    data: string | Uint8Array | undefined,
    fatal: boolean,
  ): void {
    try {
      const out = handler(this, data as string | Uint8Array);
      if (out instanceof Promise) out.catch((err) => this.#failedIn(name, err, fatal));
    } catch (err) {
      this.#failedIn(name, err, fatal);
    }
  }

  #failedIn(name: string, err: unknown, fatal: boolean): void {
    this.#reportError(asError(err), name);
    if (fatal) this.#closeWith(CloseCode.InternalError, "internal error");
  }

  #reportError(error: Error, during?: string): void {
    const handler = this.#handlers.error;
    if (handler === undefined) {
      this.#log(`WebSocket ${this.req.path}${during ? `: ${during} handler failed` : ""}: ${error.stack ?? error.message}`);
      return;
    }
    try {
      const out = handler(this, error);
      if (out instanceof Promise) out.catch((e) => this.#log(`WebSocket ${this.req.path}: error handler failed: ${String(e)}`));
    } catch (e) {
      this.#log(`WebSocket ${this.req.path}: error handler failed: ${String(e)}`);
    }
  }
}

/**
 * The open sockets of one server, for graceful shutdown.
 *
 * @example
 * ```ts
 * import { SessionSet } from "./session.ts";
 * const open = new SessionSet();
 * console.log(open.size);
 * ```
 */
export class SessionSet {
  #sessions = new Set<WebSocketSession>();

  /** Tracks `session` until it closes. */
  add(session: WebSocketSession): void {
    this.#sessions.add(session);
    session.whenClosed(() => this.#sessions.delete(session));
  }

  /** How many are open. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Closes every socket with `code` and waits for their closing handshakes, at most
   * `timeoutMs`; those still open then are dropped.
   */
  async closeAll(code: number, reason: string, timeoutMs: number): Promise<void> {
    const all = [...this.#sessions];
    if (all.length === 0) return;
    const closed = Promise.all(all.map((s) => new Promise<void>((r) => s.whenClosed(r))));
    for (const s of all) {
      try {
        s.close(code, reason);
      } catch { /* closing already */ }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), timeoutMs)));
    const outcome = await Promise.race([closed, late]);
    clearTimeout(timer);
    if (outcome === "late") for (const s of all) s.terminate();
  }
}
