/**
 * core/utf8.ts: utf8Length agrees with TextEncoder's byte count, across its 64 KiB steps
 * (a pair is never split between two) and for lone surrogates (sent as U+FFFD, 3 bytes).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { utf8Length } from "../core/utf8.ts";

test("utf8Length counts what TextEncoder writes, with no copy kept", () => {
  const encoder = new TextEncoder();
  const cases = [
    "", "a", "é", "€", "😀", "\ud800", "a\ud800b", "\udc00\ud800",
    "x".repeat(64 * 1024 - 1) + "😀", // a pair across the first step's end
    "😀".repeat(40_000), // 160,000 bytes: three steps
    "é€😀x".repeat(30_000) + "\udc00",
    JSON.stringify({ rows: Array.from({ length: 1200 }, (_, i) => ({ id: i, name: `user ${i}` })) }),
  ];
  for (const text of cases) assert.equal(utf8Length(text), encoder.encode(text).byteLength, JSON.stringify(text.slice(0, 12)));
});
