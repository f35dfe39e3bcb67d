/**
 * Carafe's own WebSocket over a node:net socket (the node adapter, and cluster workers
 * on Node): RFC 6455 framing from ./frames.ts, pings answered with pongs, the closing
 * handshake both ways, faults closed with their code, and back-pressure from the
 * socket's own write buffer.
 *
 * @example
 * ```ts
 * import { NodeTransport } from "./node_socket.ts";
 * // After writing the 101 answer on `socket`:
 * // const transport = new NodeTransport(socket, head, session);
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import { closePayload, CloseCode, encodeFrame, FrameReader, Opcode, WebSocketProtocolError } from "./frames.ts";
import type { Transport, WebSocketSession } from "./session.ts";

/** Milliseconds to wait for the peer's close frame (or its TCP close) after ours. */
const CLOSE_TIMEOUT = 5000;

/** Messages up to this size are framed into one buffer (copied); bigger ones are written after their header. */
const SMALL_MESSAGE = 16 * 1024;

/** Server-side frame header for a payload of `length` bytes (unmasked). */
function header(opcode: number, length: number): Uint8Array {
  if (length < 126) return new Uint8Array([0x80 | opcode, length]);
  if (length < 65536) return new Uint8Array([0x80 | opcode, 126, length >>> 8, length & 0xff]);
  const h = new Uint8Array(10);
  h[0] = 0x80 | opcode;
  h[1] = 127;
  const view = new DataView(h.buffer);
  view.setUint32(2, Math.floor(length / 2 ** 32));
  view.setUint32(6, length >>> 0);
  return h;
}

/**
 * The RFC 6455 endpoint on one upgraded socket, reporting to its session.
 *
 * @example
 * ```ts
 * import { NodeTransport } from "./node_socket.ts";
 * // new NodeTransport(socket, head, session) once the 101 is written; then session.opened().
 * ```
 */
export class NodeTransport implements Transport {
  #socket: Socket;
  #session: WebSocketSession;
  #reader: FrameReader;
  #closeSent = false;
  #closeReceived: { code: number; reason: string } | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  /** The peer broke the protocol: what it sends now is ignored, and our close frame ends the connection. */
  #failed = false;

  /**
   * @param socket the upgraded socket (the 101 already written)
   * @param head bytes that arrived with the handshake (the first frames, if any)
   * @param session the app's side of the connection
   */
  constructor(socket: Socket, head: Uint8Array, session: WebSocketSession) {
    this.#socket = socket;
    this.#session = session;
    this.#reader = new FrameReader({ expectMasked: true, maxMessageSize: session.limits.maxMessageSize });
    socket.setNoDelay(true);
    socket.setTimeout(0); // the session's keepalive watches for dead peers
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("error", () => {}); // a reset peer: "close" follows and reports it
    socket.once("close", () => this.#onSocketClose());
    if (head.byteLength > 0) queueMicrotask(() => this.#onData(head));
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  send(data: string | Uint8Array): number {
    const socket = this.#socket;
    if (this.#closeSent || socket.destroyed) return 0;
    const text = typeof data === "string";
    const length = text ? Buffer.byteLength(data) : data.byteLength;
    const head = header(text ? Opcode.Text : Opcode.Binary, length);
    if (length <= SMALL_MESSAGE) {
      // One buffer, one write: for small messages a copy costs less than a second write.
      const frame = Buffer.allocUnsafe(head.byteLength + length);
      frame.set(head);
      if (text) frame.write(data, head.byteLength);
      else frame.set(data, head.byteLength);
      socket.write(frame);
    } else {
      // Header and payload as two writes, corked into one segment: no copy of the payload.
      socket.cork();
      socket.write(head);
      socket.write(text ? Buffer.from(data) : data);
      socket.uncork();
    }
    return socket.writableLength;
  }

  drained(): Promise<void> {
    const s = this.#socket;
    if (s.writableLength === 0 || s.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        s.off("drain", done);
        s.off("close", done);
        resolve();
      };
      s.on("drain", done);
      s.on("close", done);
    });
  }

  ping(): void {
    if (!this.#closeSent && !this.#socket.destroyed) this.#socket.write(encodeFrame({ opcode: Opcode.Ping, payload: new Uint8Array(0) }));
  }

  close(code: number, reason: string): void {
    if (this.#closeSent || this.#socket.destroyed) return;
    this.#closeSent = true;
    this.#socket.write(encodeFrame({ opcode: Opcode.Close, payload: closePayload(code, reason) }));
    if (this.#closeReceived || this.#failed) this.#finish();
    else {
      // The peer answers with its close frame, then we end the TCP connection (§7.1.1).
      this.#closeTimer = setTimeout(() => this.terminate(), CLOSE_TIMEOUT);
    }
  }

  terminate(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Uint8Array): void {
    if (this.#closeReceived || this.#failed) return; // nothing may follow a close frame or a fault
    this.#session.seen();
    let events;
    try {
      events = this.#reader.push(chunk);
    } catch (err) {
      if (!(err instanceof WebSocketProtocolError)) throw err;
      this.#failed = true;
      this.#session.failed(err.code, err.message);
      return;
    }
    for (const event of events) {
      if (event.kind === "message") this.#session.received(event.data, true);
      else if (event.kind === "ping") {
        if (!this.#closeSent) this.#socket.write(encodeFrame({ opcode: Opcode.Pong, payload: event.payload }));
      } else if (event.kind === "close") {
        this.#closeReceived = { code: event.code, reason: event.reason };
        if (this.#closeSent) this.#finish();
        else {
          // Echo the peer's code (none if it sent none), then end (§5.5.1).
          const echo = event.code === CloseCode.NoStatus ? new Uint8Array(0) : closePayload(event.code);
          this.#closeSent = true;
          this.#socket.write(encodeFrame({ opcode: Opcode.Close, payload: echo }));
          this.#finish();
        }
        return;
      }
      if (this.#socket.destroyed) return;
    }
  }

  /** Both close frames exchanged: the server ends the TCP connection (and drops it if the peer lingers). */
  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#socket.end();
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT);
  }

  #onSocketClose(): void {
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    const got = this.#closeReceived;
    this.#session.closed(got?.code ?? CloseCode.Abnormal, got?.reason ?? "");
  }
}
