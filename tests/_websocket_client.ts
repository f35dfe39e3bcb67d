/**
 * A tiny WebSocket client over node:net for the tests: it runs the same on Deno, Bun
 * and Node (Node 20's global WebSocket needs a flag), and it can send what a real
 * client never would (unmasked frames, invalid UTF-8, oversize lengths) to see how a
 * server answers. Built on the codec under test in tests/websocket_frames_test.ts.
 *
 * @module
 */
import net from "node:net";
import { closePayload, encodeFrame, FrameReader, Opcode, type WebSocketEvent } from "../adapters/websocket/frames.ts";

/** Options of {@linkcode connectRaw}. */
export interface ConnectOptions {
  /** Request path (default `/`). */
  path?: string;
  /** Extra request headers (`Cookie`, `Origin`, `Sec-WebSocket-Protocol`…). */
  headers?: Record<string, string>;
  /** Host to connect to (default 127.0.0.1). */
  host?: string;
  /** Give up after this many ms (default 10 000). */
  timeout?: number;
}

/** The answer to the handshake when the server did not switch protocols. */
export interface Refused {
  refused: true;
  status: number;
  head: string;
  body: string;
}

/** A connected test client. */
export class RawWebSocket {
  readonly head: string;
  #socket: net.Socket;
  #reader = new FrameReader({ expectMasked: false, maxMessageSize: 256 * 1024 * 1024 });
  #events: WebSocketEvent[] = [];
  #waiters: Array<() => void> = [];
  /** Why reading stopped: the server closed the TCP connection, or it broke the protocol. */
  ended = false;
  protocolError: string | undefined;

  constructor(socket: net.Socket, head: string, rest: Uint8Array) {
    this.#socket = socket;
    this.head = head;
    socket.on("data", (d: Uint8Array) => this.#push(d));
    socket.on("close", () => {
      this.ended = true;
      this.#wake();
    });
    if (rest.byteLength) this.#push(rest);
  }

  #push(chunk: Uint8Array): void {
    try {
      this.#events.push(...this.#reader.push(chunk));
    } catch (err) {
      this.protocolError = String(err);
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Sends a text (string) or binary message, masked, in one frame. */
  send(data: string | Uint8Array): void {
    const payload = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.sendRaw(encodeFrame({ opcode: typeof data === "string" ? Opcode.Text : Opcode.Binary, payload, mask: true }));
  }

  /** Writes bytes as they are (hand-made frames). */
  sendRaw(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** Sends a masked frame. */
  frame(opcode: number, payload: Uint8Array | string, fin = true): void {
    const p = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    this.sendRaw(encodeFrame({ opcode, payload: p, fin, mask: true }));
  }

  /** Starts the closing handshake. */
  close(code = 1000, reason = ""): void {
    this.frame(Opcode.Close, closePayload(code, reason));
  }

  /** The next event (message, ping, pong, close); `undefined` once the connection ended without one. */
  async next(ms = 10_000): Promise<WebSocketEvent | undefined> {
    const end = Date.now() + ms;
    while (this.#events.length === 0) {
      if (this.ended) return undefined;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no WebSocket event within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.#events.shift();
  }

  /** The next data message (skipping pings and pongs). */
  async message(ms = 10_000): Promise<string | Uint8Array> {
    for (;;) {
      const e = await this.next(ms);
      if (e === undefined) throw new Error("the connection ended before a message came");
      if (e.kind === "message") return e.data;
      if (e.kind === "close") throw new Error(`closed (${e.code} ${e.reason}) before a message came`);
    }
  }

  /** Waits for the server's close frame (skipping other events); `undefined` when the TCP connection ended without one. */
  async closeFrame(ms = 10_000): Promise<{ code: number; reason: string } | undefined> {
    for (;;) {
      const e = await this.next(ms);
      if (e === undefined) return undefined;
      if (e.kind === "close") return { code: e.code, reason: e.reason };
    }
  }

  /** Resolves when the server has closed the TCP connection (throws after `ms`). */
  async tcpClosed(ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.ended) {
      if (Date.now() > end) throw new Error(`the server did not close the connection within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops reading from the socket (a slow client). */
  pause(): void {
    this.#socket.pause();
  }

  /** Reads again. */
  resume(): void {
    this.#socket.resume();
  }

  /** Drops the TCP connection. */
  destroy(): void {
    this.#socket.destroy();
  }
}

/**
 * Opens a WebSocket to `port` with a hand-written handshake. Resolves with the client
 * after `101`, or with what the server answered instead.
 */
export function connectRaw(port: number, options: ConnectOptions = {}): Promise<RawWebSocket | Refused> {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const headers: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": key,
    "Sec-WebSocket-Version": "13",
    ...options.headers,
  };
  const request = `GET ${options.path ?? "/"} HTTP/1.1\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, options.host ?? "127.0.0.1", () => socket.write(request));
    let buf = new Uint8Array(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no handshake answer"));
    }, options.timeout ?? 10_000);
    const onData = (d: Uint8Array) => {
      const joined = new Uint8Array(buf.byteLength + d.byteLength);
      joined.set(buf);
      joined.set(d, buf.byteLength);
      buf = joined;
      const text = new TextDecoder("latin1").decode(buf);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = text.slice(0, end);
      const status = Number(head.split(" ")[1]);
      if (status !== 101) {
        // A refusal: complete once its declared length is in (else when the server closes).
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (length && buf.byteLength - (end + 4) >= Number(length[1])) socket.destroy();
        return;
      }
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve(new RawWebSocket(socket, head, buf.subarray(end + 4)));
    };
    const onClose = () => {
      clearTimeout(timer);
      const text = new TextDecoder().decode(buf);
      const end = text.indexOf("\r\n\r\n");
      const head = end < 0 ? text : text.slice(0, end);
      resolve({ refused: true, status: Number(head.split(" ")[1]) || 0, head, body: end < 0 ? "" : text.slice(end + 4) });
    };
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", () => {});
  });
}

/** {@linkcode connectRaw} that must succeed. */
export async function connect(port: number, options: ConnectOptions = {}): Promise<RawWebSocket> {
  const ws = await connectRaw(port, options);
  if ("refused" in ws) throw new Error(`handshake refused: ${ws.head}\n${ws.body}`);
  return ws;
}
