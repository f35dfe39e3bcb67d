/**
 * The RFC 6455 frame codec, pure (no sockets, no runtime API): encoding frames,
 * masking, decoding a byte stream into frames, and assembling frames into messages
 * under the protocol's rules. The node adapter's WebSocket (./node_socket.ts) and the
 * tests' raw client are built on it.
 *
 * Rules enforced while reading (RFC 6455 §5):
 * - RSV bits must be 0 (no extension is negotiated) → 1002;
 * - opcodes 3–7 and 11–15 are reserved → 1002;
 * - client frames must be masked, server frames must not (`expectMasked`) → 1002;
 * - a 64-bit length must have its top bit clear and every length its minimal encoding → 1002;
 * - control frames (close, ping, pong) have at most 125 bytes and are never fragmented → 1002;
 * - a continuation without a message in progress, or a new data frame inside one → 1002;
 * - text must be valid UTF-8, checked fragment by fragment (fails as soon as a
 *   sequence cannot be completed) → 1007;
 * - a close frame's payload is empty or a valid code plus a UTF-8 reason → 1002 / 1007;
 * - a frame or message over `maxMessageSize`, or more than `maxFragments` fragments → 1009.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameReader, Opcode } from "./frames.ts";
 * const reader = new FrameReader({ expectMasked: true, maxMessageSize: 1 << 20 });
 * const bytes = encodeFrame({ opcode: Opcode.Text, payload: new TextEncoder().encode("hi"), mask: true });
 * for (const event of reader.push(bytes)) console.log(event); // { kind: "message", data: "hi" }
 * ```
 *
 * @module
 */

/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Close codes Carafe sends (RFC 6455 §7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
} as const;

/**
 * A violation of the protocol by the peer: the connection must be closed with `code`.
 *
 * @example
 * ```ts
 * import { WebSocketProtocolError } from "./frames.ts";
 * throw new WebSocketProtocolError(1002, "an unmasked client frame");
 * ```
 */
export class WebSocketProtocolError extends Error {
  /** The close code to send (1002, 1007 or 1009). */
  readonly code: number;
  /**
   * @param code the close code to send
   * @param message what was wrong (also the close frame's reason, cut to 123 bytes)
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "WebSocketProtocolError";
    this.code = code;
  }
}

/** What {@linkcode encodeFrame} takes. */
export interface FrameSpec {
  /** The opcode ({@linkcode Opcode}). */
  opcode: number;
  /** The (unmasked) payload. */
  payload: Uint8Array;
  /** Last fragment of its message (default true). */
  fin?: boolean;
  /** Mask the payload (clients must; servers must not); `true` picks a random key. */
  mask?: boolean | Uint8Array;
  /** RSV1–3 bits, for tests that send invalid frames (default 0). */
  rsv?: number;
}

/**
 * One frame on the wire: header (2–14 bytes) and payload, masked when asked.
 *
 * @example
 * ```ts
 * import { encodeFrame, Opcode } from "./frames.ts";
 * const pong = encodeFrame({ opcode: Opcode.Pong, payload: new Uint8Array(0) });
 * ```
 */
export function encodeFrame(spec: FrameSpec): Uint8Array {
  const { opcode, payload } = spec;
  const length = payload.byteLength;
  const key = spec.mask === true ? crypto.getRandomValues(new Uint8Array(4)) : spec.mask || undefined;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerSize = 2 + lengthBytes + (key ? 4 : 0);
  const frame = new Uint8Array(headerSize + length);
  frame[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | opcode;
  const maskBit = key ? 0x80 : 0;
  if (lengthBytes === 0) frame[1] = maskBit | length;
  else if (lengthBytes === 2) {
    frame[1] = maskBit | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = maskBit | 127;
    const view = new DataView(frame.buffer);
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  frame.set(payload, headerSize);
  if (key) {
    frame.set(key, headerSize - 4);
    applyMask(frame.subarray(headerSize), key);
  }
  return frame;
}

/**
 * XORs `data` in place with the 4-byte masking key (masking and unmasking are the same).
 *
 * @example
 * ```ts
 * import { applyMask } from "./frames.ts";
 * const data = new Uint8Array([1, 2, 3]);
 * applyMask(data, new Uint8Array([9, 9, 9, 9]));
 * ```
 */
export function applyMask(data: Uint8Array, key: Uint8Array): void {
  const n = data.byteLength;
  let i = 0;
  // Four bytes at a time where the data is aligned (the common case: a fresh buffer).
  if ((data.byteOffset & 3) === 0 && n >= 16) {
    const words = new Uint32Array(data.buffer, data.byteOffset, n >>> 2);
    const k = new Uint32Array(new Uint8Array(key).buffer)[0];
    for (let w = 0; w < words.length; w++) words[w] ^= k;
    i = words.length << 2;
  }
  for (; i < n; i++) data[i] ^= key[i & 3];
}

const encoder = new TextEncoder();

/**
 * The payload of a close frame: the code (big-endian) and a UTF-8 reason of at most
 * 123 bytes (longer reasons are cut at a character boundary).
 *
 * @example
 * ```ts
 * import { closePayload } from "./frames.ts";
 * closePayload(1000, "bye"); // Uint8Array [3, 232, 98, 121, 101]
 * ```
 */
export function closePayload(code: number, reason = ""): Uint8Array {
  let text = encoder.encode(reason);
  if (text.byteLength > 123) {
    let end = 123;
    while (end > 0 && (text[end] & 0xc0) === 0x80) end--; // not inside a character
    text = text.subarray(0, end);
  }
  const out = new Uint8Array(2 + text.byteLength);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/**
 * Whether `code` may appear in a close frame (RFC 6455 §7.4: 1000–1003, 1007–1011,
 * 1012–1014 (IANA), 3000–4999). 1005 and 1006 are for reporting only, never sent.
 *
 * @example
 * ```ts
 * import { isSendableCloseCode } from "./frames.ts";
 * isSendableCloseCode(1000); // true
 * isSendableCloseCode(1005); // false
 * ```
 */
export function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** What {@linkcode FrameReader.push} yields. */
export type WebSocketEvent =
  | { kind: "message"; data: string | Uint8Array }
  | { kind: "ping"; payload: Uint8Array }
  | { kind: "pong"; payload: Uint8Array }
  | { kind: "close"; code: number; reason: string };

/** Options of {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /** Frames must be masked (a server reading a client) or must not be (a client reading a server). */
  expectMasked: boolean;
  /** Largest message (and so frame) in bytes; more closes with 1009. */
  maxMessageSize: number;
  /** Most fragments in one message (default 10 000); more closes with 1009. */
  maxFragments?: number;
}

/**
 * Turns a byte stream into protocol events: whole messages (fragments joined, text
 * decoded), pings, pongs and close frames. Throws {@linkcode WebSocketProtocolError}
 * on the first violation; after that the reader must not be used again.
 *
 * Memory is bounded by `maxMessageSize` plus one chunk: a frame's declared length is
 * checked before its payload is buffered.
 *
 * @example
 * ```ts
 * import { FrameReader } from "./frames.ts";
 * const reader = new FrameReader({ expectMasked: false, maxMessageSize: 1024 });
 * const events = reader.push(new Uint8Array([0x81, 0x02, 0x68, 0x69])); // [{ kind: "message", data: "hi" }]
 * ```
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #expectMasked: boolean;
  #maxMessageSize: number;
  #maxFragments: number;
  /** The data message in progress: its opcode, fragments and size so far. */
  #opcode = 0;
  #fragments: Uint8Array[] = [];
  #messageSize = 0;
  #text: TextDecoder | undefined;
  #textSoFar = "";

  /** @param options masking rule and limits */
  constructor(options: FrameReaderOptions) {
    this.#expectMasked = options.expectMasked;
    this.#maxMessageSize = options.maxMessageSize;
    this.#maxFragments = options.maxFragments ?? 10_000;
  }

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Adds received bytes; returns the events they complete (often none, sometimes several). */
  push(chunk: Uint8Array): WebSocketEvent[] {
    if (chunk.byteLength > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.byteLength;
    }
    const events: WebSocketEvent[] = [];
    for (;;) {
      const frame = this.#nextFrame();
      if (frame === undefined) return events;
      const event = this.#onFrame(frame);
      if (event !== undefined) events.push(event);
    }
  }

  /** The next whole frame, or undefined when more bytes are needed. */
  #nextFrame(): { fin: boolean; opcode: number; payload: Uint8Array } | undefined {
    if (this.#buffered < 2) return undefined;
    const head = this.#peek(Math.min(14, this.#buffered));
    const b0 = head[0], b1 = head[1];
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) throw new WebSocketProtocolError(CloseCode.ProtocolError, "RSV bits set without a negotiated extension");
    if ((opcode > 2 && opcode < 8) || opcode > 10) {
      throw new WebSocketProtocolError(CloseCode.ProtocolError, `reserved opcode ${opcode}`);
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.#expectMasked) {
      throw new WebSocketProtocolError(CloseCode.ProtocolError, masked ? "a masked server frame" : "an unmasked client frame");
    }
    const control = opcode >= 8;
    let length = b1 & 0x7f;
    let at = 2;
    if (control && (length > 125 || !fin)) {
      throw new WebSocketProtocolError(CloseCode.ProtocolError, "a control frame over 125 bytes or fragmented");
    }
    if (length === 126) {
      if (head.length < 4) return undefined;
      length = (head[2] << 8) | head[3];
      if (length < 126) throw new WebSocketProtocolError(CloseCode.ProtocolError, "a length not in its shortest form");
      at = 4;
    } else if (length === 127) {
      if (head.length < 10) return undefined;
      const high = ((head[2] << 24) | (head[3] << 16) | (head[4] << 8) | head[5]) >>> 0;
      const low = ((head[6] << 24) | (head[7] << 16) | (head[8] << 8) | head[9]) >>> 0;
      if (high >= 0x80000000) throw new WebSocketProtocolError(CloseCode.ProtocolError, "a 64-bit length with its top bit set");
      length = high * 2 ** 32 + low;
      if (length < 65536) throw new WebSocketProtocolError(CloseCode.ProtocolError, "a length not in its shortest form");
      at = 10;
    }
    // Refuse before buffering: a declared length alone must not make memory grow.
    if (!control && this.#messageSize + length > this.#maxMessageSize) {
      throw new WebSocketProtocolError(CloseCode.TooBig, `a message over the limit of ${this.#maxMessageSize} bytes`);
    }
    const keyAt = at;
    if (masked) at += 4;
    if (this.#buffered < at + length) return undefined;
    const header = this.#take(at);
    const payload = this.#take(length);
    if (masked) applyMask(payload, header.subarray(keyAt, keyAt + 4));
    return { fin, opcode, payload };
  }

  /** The first `n` bytes buffered, without consuming them (n ≤ 14: at most a copy of 14 bytes). */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.byteLength >= n) return first;
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.#chunks) {
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.byteLength;
      if (at === n) break;
    }
    return out;
  }

  /** Consumes `n` bytes: a view when they lie in one chunk, else a copy (which also makes it safe to unmask). */
  #take(n: number): Uint8Array {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first !== undefined && first.byteLength >= n) {
      // A copy either way: the chunk belongs to the socket, and unmasking writes into it.

      const out = new Uint8Array(first.subarray(0, n));
      if (first.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return out;
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0];
      const need = n - at;
      if (c.byteLength <= need) {
        out.set(c, at);
        at += c.byteLength;
        this.#chunks.shift();
      } else {
        out.set(c.subarray(0, need), at);
        this.#chunks[0] = c.subarray(need);
        at = n;
      }
    }
    return out;
  }

  /** Applies the message rules to one frame. */
  #onFrame(frame: { fin: boolean; opcode: number; payload: Uint8Array }): WebSocketEvent | undefined {
    const { fin, opcode, payload } = frame;
    if (opcode === Opcode.Ping) return { kind: "ping", payload };
    if (opcode === Opcode.Pong) return { kind: "pong", payload };
    if (opcode === Opcode.Close) return parseClose(payload);
    if (opcode === Opcode.Continuation) {
      if (this.#opcode === 0) throw new WebSocketProtocolError(CloseCode.ProtocolError, "a continuation frame without a message to continue");
    } else {
      if (this.#opcode !== 0) throw new WebSocketProtocolError(CloseCode.ProtocolError, "a new message before the previous one was finished");
      if (fin) return wholeMessage(opcode, payload); // the common case: one frame, nothing to keep
      this.#opcode = opcode;
      if (opcode === Opcode.Text) this.#text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    }
    if (this.#fragments.length >= this.#maxFragments) {
      throw new WebSocketProtocolError(CloseCode.TooBig, `a message in more than ${this.#maxFragments} fragments`);
    }
    this.#messageSize += payload.byteLength;
    if (this.#text !== undefined) {
      // Decoded as it arrives: invalid UTF-8 fails at the fragment that carries it.
      try {
        this.#textSoFar += this.#text.decode(payload, { stream: !fin });
      } catch {
        throw new WebSocketProtocolError(CloseCode.InvalidData, "a text message that is not valid UTF-8");
      }
    } else this.#fragments.push(payload);
    if (!fin) return undefined;
    const data = this.#text !== undefined ? this.#textSoFar : join(this.#fragments, this.#messageSize);
    this.#opcode = 0;
    this.#fragments = [];
    this.#messageSize = 0;
    this.#text = undefined;
    this.#textSoFar = "";
    return { kind: "message", data };
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A message that came in one frame: text decoded (and checked) at once, bytes as they are. */
function wholeMessage(opcode: number, payload: Uint8Array): WebSocketEvent {
  if (opcode !== Opcode.Text) return { kind: "message", data: payload };
  try {
    return { kind: "message", data: strictUtf8.decode(payload) };
  } catch {
    throw new WebSocketProtocolError(CloseCode.InvalidData, "a text message that is not valid UTF-8");
  }
}

/** A close frame's code and reason, validated. */
function parseClose(payload: Uint8Array): WebSocketEvent {
  if (payload.byteLength === 0) return { kind: "close", code: CloseCode.NoStatus, reason: "" };
  if (payload.byteLength === 1) throw new WebSocketProtocolError(CloseCode.ProtocolError, "a close frame with a 1-byte payload");
  const code = (payload[0] << 8) | payload[1];
  if (!isSendableCloseCode(code)) throw new WebSocketProtocolError(CloseCode.ProtocolError, `invalid close code ${code}`);
  let reason: string;
  try {
    reason = strictUtf8.decode(payload.subarray(2));
  } catch {
    throw new WebSocketProtocolError(CloseCode.InvalidData, "a close reason that is not valid UTF-8");
  }
  return { kind: "close", code, reason };
}

/** The fragments as one array (the only fragment itself when there is one). */
function join(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
