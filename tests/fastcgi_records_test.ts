/**
 * The FastCGI codecs on their own, without a socket (adapters/fastcgi/records.ts and
 * params.ts): the record parser on input split and packed any way, padding, versions;
 * name-value pairs with 1- and 4-byte lengths, malformed lengths; the param block's
 * merging and its pair cap. The protocol over real sockets: tests/fastcgi_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeParams,
  encodeParams,
  encodeRecord,
  FastCgiProtocolError,
  FCGI,
  ParamBlock,
  RecordParser,
} from "../adapters/fastcgi/mod.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Parses `input` fed in `pieces` of the given size; content copied (views are reused). */
function parseInPieces(input: Uint8Array, size: number): { type: number; requestId: number; content: string }[] {
  const parser = new RecordParser();
  const out = [];
  for (let i = 0; i < input.length; i += size) {
    // A fresh copy each time: the parser may read a chunk in place until the next one.
    for (const r of parser.push(input.slice(i, i + size))) out.push({ type: r.type, requestId: r.requestId, content: text(r.content) });
  }
  return out;
}

describe("FastCGI records", () => {
  test("a record's header: version 1, type, request id, length, padding to a multiple of 8", () => {
    const r = encodeRecord(FCGI.STDOUT, 0x1234, bytes("hello"));
    assert.deepEqual([...r.subarray(0, 8)], [1, FCGI.STDOUT, 0x12, 0x34, 0, 5, 3, 0]);
    assert.equal(r.length, 8 + 5 + 3);
    assert.equal(text(r.subarray(8, 13)), "hello");
    assert.deepEqual([...encodeRecord(FCGI.STDIN, 1)], [1, FCGI.STDIN, 0, 1, 0, 0, 0, 0]); // end of stream
  });

  test("content over 65535 bytes is split into several records, each at most 65528", () => {
    const data = new Uint8Array(150_000).map((_, i) => i % 251);
    const records = parseInPieces(encodeRecord(FCGI.STDOUT, 7, data), 1 << 20);
    assert.deepEqual(records.map((r) => r.content.length <= 65528), [true, true, true]);
    const parser = new RecordParser();
    const joined = [...parser.push(encodeRecord(FCGI.STDOUT, 7, data))].flatMap((r) => [...r.content]);
    assert.deepEqual(new Uint8Array(joined), data);
  });

  test("the parser gives the same records whether bytes come one at a time, split or packed", () => {
    const stream = new Uint8Array([
      ...encodeRecord(FCGI.PARAMS, 1, encodeParams([["REQUEST_METHOD", "GET"]])),
      ...encodeRecord(FCGI.PARAMS, 1),
      ...encodeRecord(FCGI.STDIN, 1, bytes("body")),
      ...encodeRecord(FCGI.STDIN, 2, bytes("other request")),
    ]);
    const whole = parseInPieces(stream, stream.length);
    assert.equal(whole.length, 4);
    assert.deepEqual(whole.map((r) => [r.type, r.requestId]), [[FCGI.PARAMS, 1], [FCGI.PARAMS, 1], [FCGI.STDIN, 1], [FCGI.STDIN, 2]]);
    for (const size of [1, 3, 7, 8, 9, 13]) assert.deepEqual(parseInPieces(stream, size), whole, `pieces of ${size}`);
  });

  test("a record is returned only once it is complete, padding included", () => {
    const parser = new RecordParser();
    const r = encodeRecord(FCGI.STDIN, 1, bytes("abc")); // 8 + 3 + 5 padding
    assert.deepEqual([...parser.push(r.slice(0, r.length - 1))], []);
    assert.deepEqual([...parser.push(r.slice(r.length - 1))].map((x) => text(x.content)), ["abc"]);
  });

  test("a version other than 1 is a protocol error", () => {
    const r = encodeRecord(FCGI.STDIN, 1, bytes("x"));
    r[0] = 2;
    assert.throws(() => [...new RecordParser().push(r)], FastCgiProtocolError);
  });
});

describe("FastCGI name-value pairs", () => {
  test("1-byte lengths below 128, 4-byte lengths (high bit set) from 128 on", () => {
    const short = encodeParams([["A", "b"]]);
    assert.deepEqual([...short], [1, 1, 65, 98]);
    const long = encodeParams([["N", "v".repeat(200)]]);
    assert.deepEqual([...long.subarray(0, 5)], [1, 0x80, 0, 0, 200]);
    const pairs: [string, string][] = [];
    assert.equal(decodeParams(new Uint8Array([...short, ...long]), (n, v) => pairs.push([n, v])), true);
    assert.deepEqual(pairs, [["A", "b"], ["N", "v".repeat(200)]]);
  });

  test("UTF-8 names and values round-trip; empty values are kept", () => {
    const pairs: [string, string][] = [];
    decodeParams(encodeParams([["HTTP_X_NAME", "café ☕"], ["QUERY_STRING", ""]]), (n, v) => pairs.push([n, v]));
    assert.deepEqual(pairs, [["HTTP_X_NAME", "café ☕"], ["QUERY_STRING", ""]]);
  });

  test("lengths that run past the end, or a truncated 4-byte length, are malformed", () => {
    const none = () => assert.fail("no pair should be reported");
    assert.equal(decodeParams(new Uint8Array([5, 1, 65]), none), false); // name says 5 bytes, 1 left
    assert.equal(decodeParams(new Uint8Array([0x80, 0, 0]), none), false); // 4-byte length cut short
    assert.equal(decodeParams(new Uint8Array([0x80, 0, 0, 3, 1, 65, 66, 67]), none), false); // value missing
  });

  test("a param block merges repeated cookies with \"; \" and other headers with \", \"; the last value wins elsewhere", () => {
    const block = ParamBlock.parse(
      encodeParams([["HTTP_COOKIE", "a=1"], ["HTTP_COOKIE", "b=2"], ["HTTP_ACCEPT", "x"], ["HTTP_ACCEPT", "y"], ["SCRIPT_NAME", "/a"], ["SCRIPT_NAME", "/b"]]),
      { maxPairs: 100 },
    )!;
    assert.equal(block.get("HTTP_COOKIE"), "a=1; b=2");
    assert.equal(block.get("HTTP_ACCEPT"), "x, y");
    assert.equal(block.get("SCRIPT_NAME"), "/b");
    assert.equal(block.get("MISSING"), undefined);
    assert.equal(block.overflow, false);
  });

  test("a param block keeps at most maxPairs pairs and says it overflowed; malformed bytes give null", () => {
    const many = encodeParams(Array.from({ length: 10 }, (_, i) => [`P${i}`, String(i)] as [string, string]));
    const capped = ParamBlock.parse(many, { maxPairs: 4 })!;
    assert.equal(capped.overflow, true);
    assert.equal(capped.get("P3"), "3");
    assert.equal(capped.get("P4"), undefined);
    assert.equal(ParamBlock.parse(new Uint8Array([5, 1, 65]), { maxPairs: 4 }), null);
  });
});
