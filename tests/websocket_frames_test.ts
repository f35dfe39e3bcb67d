// The RFC 6455 codec on its own (adapters/websocket/frames.ts): encoding, masking,
// lengths in all three forms, fragmentation, control-frame rules, UTF-8 and limits.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  applyMask,
  closePayload,
  encodeFrame,
  FrameReader,
  Opcode,
  type WebSocketEvent,
  WebSocketProtocolError,
} from "../adapters/websocket/frames.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const server = (max = 1 << 20) => new FrameReader({ expectMasked: true, maxMessageSize: max });
const masked = (opcode: number, payload: Uint8Array | string, fin = true) =>
  encodeFrame({ opcode, payload: typeof payload === "string" ? utf8(payload) : payload, fin, mask: true });

/** Feeds `bytes` to `reader` one byte at a time: every header boundary gets crossed. */
function byteByByte(reader: FrameReader, bytes: Uint8Array): WebSocketEvent[] {
  const out: WebSocketEvent[] = [];
  for (let i = 0; i < bytes.byteLength; i++) out.push(...reader.push(bytes.subarray(i, i + 1)));
  return out;
}

function failsWith(code: number, run: () => unknown): void {
  assert.throws(run, (err: unknown) => err instanceof WebSocketProtocolError && err.code === code);
}

describe("websocket frames: encoding", () => {
  test("the RFC's own examples (§5.7)", () => {
    assert.deepEqual([...encodeFrame({ opcode: Opcode.Text, payload: utf8("Hello") })], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
    assert.deepEqual(
      [...encodeFrame({ opcode: Opcode.Text, payload: utf8("Hello"), mask: key })],
      [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
    );
    assert.deepEqual([...encodeFrame({ opcode: Opcode.Text, payload: utf8("Hel"), fin: false })], [0x01, 0x03, 0x48, 0x65, 0x6c]);
  });

  test("7-bit, 16-bit and 64-bit lengths, and their edges", () => {
    for (const [size, header] of [[125, 2], [126, 4], [65535, 4], [65536, 10], [70000, 10]] as const) {
      const frame = encodeFrame({ opcode: Opcode.Binary, payload: new Uint8Array(size) });
      assert.equal(frame.byteLength, size + header, `size ${size}`);
      const back = new FrameReader({ expectMasked: false, maxMessageSize: 1 << 20 }).push(frame);
      assert.equal((back[0] as { data: Uint8Array }).data.byteLength, size);
    }
  });

  test("masking is its own inverse, aligned or not", () => {
    const key = new Uint8Array([1, 2, 3, 250]);
    for (const offset of [0, 1, 3]) {
      const data = new Uint8Array(100).map((_, i) => i);
      const view = data.subarray(offset);
      const before = [...view];
      applyMask(view, key);
      assert.notDeepEqual([...view], before);
      applyMask(view, key);
      assert.deepEqual([...view], before);
    }
  });

  test("a close reason is cut to 123 bytes at a character boundary", () => {
    const payload = closePayload(1000, "é".repeat(100));
    assert.ok(payload.byteLength <= 125);
    assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(payload.subarray(2)), "é".repeat(61));
  });
});

describe("websocket frames: reading", () => {
  test("text and binary, whole and byte by byte", () => {
    const bytes = new Uint8Array([...masked(Opcode.Text, "héllo"), ...masked(Opcode.Binary, new Uint8Array([0, 255]))]);
    for (const events of [server().push(bytes), byteByByte(server(), bytes)]) {
      assert.equal(events.length, 2);
      assert.deepEqual(events[0], { kind: "message", data: "héllo" });
      assert.deepEqual(events[1], { kind: "message", data: new Uint8Array([0, 255]) });
    }
  });

  test("a fragmented message with a ping between its fragments", () => {
    const bytes = new Uint8Array([
      ...masked(Opcode.Text, "frag", false),
      ...masked(Opcode.Ping, "p"),
      ...masked(Opcode.Continuation, "men", false),
      ...masked(Opcode.Continuation, "ted"),
    ]);
    const events = byteByByte(server(), bytes);
    assert.deepEqual(events, [{ kind: "ping", payload: utf8("p") }, { kind: "message", data: "fragmented" }]);
  });

  test("a multi-byte character split across fragments", () => {
    const euro = utf8("€"); // 3 bytes
    const bytes = new Uint8Array([
      ...masked(Opcode.Text, euro.subarray(0, 1), false),
      ...masked(Opcode.Continuation, euro.subarray(1)),
    ]);
    assert.deepEqual(server().push(bytes), [{ kind: "message", data: "€" }]);
  });

  test("a close frame: code and reason; empty means 1005", () => {
    assert.deepEqual(server().push(masked(Opcode.Close, closePayload(4000, "bye"))), [{ kind: "close", code: 4000, reason: "bye" }]);
    assert.deepEqual(server().push(masked(Opcode.Close, new Uint8Array(0))), [{ kind: "close", code: 1005, reason: "" }]);
  });

  test("an unmasked client frame is a protocol error (1002); so is a masked server frame", () => {
    failsWith(1002, () => server().push(encodeFrame({ opcode: Opcode.Text, payload: utf8("x") })));
    failsWith(1002, () => new FrameReader({ expectMasked: false, maxMessageSize: 10 }).push(masked(Opcode.Text, "x")));
  });

  test("control-frame rules: over 125 bytes, fragmented (1002)", () => {
    failsWith(1002, () => server().push(masked(Opcode.Ping, new Uint8Array(126))));
    failsWith(1002, () => server().push(masked(Opcode.Ping, "x", false)));
    failsWith(1002, () => server().push(masked(Opcode.Close, new Uint8Array([3]))));
    failsWith(1002, () => server().push(masked(Opcode.Close, closePayload(1005))));
    failsWith(1002, () => server().push(masked(Opcode.Close, closePayload(999))));
  });

  test("RSV bits, reserved opcodes, continuation rules (1002)", () => {
    failsWith(1002, () => server().push(encodeFrame({ opcode: Opcode.Text, payload: utf8("x"), rsv: 4, mask: true })));
    failsWith(1002, () => server().push(masked(3, "x")));
    failsWith(1002, () => server().push(masked(0xb, "x")));
    failsWith(1002, () => server().push(masked(Opcode.Continuation, "x")));
    failsWith(1002, () => server().push(new Uint8Array([...masked(Opcode.Text, "a", false), ...masked(Opcode.Text, "b")])));
  });

  test("lengths not in their shortest form, and a 64-bit length with its top bit set (1002)", () => {
    failsWith(1002, () => server().push(new Uint8Array([0x82, 0xfe, 0x00, 0x05, 0, 0, 0, 0])));
    failsWith(1002, () => server().push(new Uint8Array([0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0])));
    failsWith(1002, () => server().push(new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0])));
  });

  test("invalid UTF-8 fails at the fragment that carries it (1007), as does an unfinished character", () => {
    const reader = server();
    assert.deepEqual(reader.push(masked(Opcode.Text, "ok", false)), []);
    failsWith(1007, () => reader.push(masked(Opcode.Continuation, new Uint8Array([0xc0, 0xaf]), false)));
    failsWith(1007, () => server().push(masked(Opcode.Text, new Uint8Array([0xe2, 0x82]))));
    failsWith(1007, () => server().push(masked(Opcode.Close, new Uint8Array([0x03, 0xe8, 0xff]))));
  });

  test("a frame over the limit fails from its header, before its payload arrives (1009)", () => {
    const reader = server(1000);
    const frame = masked(Opcode.Binary, new Uint8Array(1001));
    failsWith(1009, () => reader.push(frame.subarray(0, 8)));
  });

  test("fragments adding up past the limit, or too many of them (1009)", () => {
    const reader = server(10);
    reader.push(masked(Opcode.Binary, new Uint8Array(6), false));
    failsWith(1009, () => reader.push(masked(Opcode.Continuation, new Uint8Array(6))));
    const many = new FrameReader({ expectMasked: true, maxMessageSize: 100, maxFragments: 3 });
    const empty = new Uint8Array(0);
    many.push(new Uint8Array([...masked(Opcode.Binary, empty, false), ...masked(0, empty, false), ...masked(0, empty, false)]));
    failsWith(1009, () => many.push(masked(Opcode.Continuation, empty, false)));
  });

  test("a byte-order mark in text is kept", () => {
    assert.deepEqual(server().push(masked(Opcode.Text, "\ufeffx")), [{ kind: "message", data: "\ufeffx" }]);
  });
});
