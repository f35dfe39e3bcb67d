// compress(): every reply shape compressed over a real socket (the runtime's own
// server) and decoded back to the same bytes; Accept-Encoding negotiation with
// q-values; what is left alone; weak ETags; back-pressure through the compressor.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { Carafe, staticFile } from "../mod.ts";
import { compress, isCompressible, negotiateEncoding } from "../core/compress.ts";
import { eventually, type Got, rawConnect, request, sleep } from "./_native_helpers.ts";
import { serveInProcess, type Serving } from "./_serve.ts";
import { tempDir } from "./_helpers.ts";

const MB = 1024 * 1024;
const TEXT = "Carafe compresses text; the client decodes it. ".repeat(300); // 14 KiB
const TEXT_BYTES = new TextEncoder().encode(TEXT);
const ROWS = { rows: Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `row ${i}`, ok: i % 2 === 0 })) };
// Incompressible within gzip's 32 KiB window: what the back-pressure test sends.
const NOISE = new Uint8Array(64 * 1024).map(() => Math.floor(Math.random() * 256));

/** 64 KiB of xorshift noise, different for each seed. */
function noise(seed: number): Uint8Array {
  const words = new Uint32Array(16 * 1024);
  let x = (seed + 1) * 2654435761 >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

function decode(got: Got): Buffer {
  const encoding = got.headers["content-encoding"];
  if (encoding === "gzip") return zlib.gunzipSync(got.body);
  if (encoding === "deflate") return zlib.inflateSync(got.body);
  if (encoding === "br") return zlib.brotliDecompressSync(got.body);
  assert.equal(encoding, undefined, `unexpected Content-Encoding ${encoding}`);
  return got.body;
}

function varyOf(got: Got): string[] {
  return String(got.headers.vary ?? "").split(",").map((v) => v.trim().toLowerCase()).filter(Boolean);
}

let produced = 0;

function makeApp(dir: string): Carafe {
  const app = new Carafe({ logger: () => {} });
  app.install(compress());
  app.get("/text", () => TEXT);
  app.get("/json", () => ROWS);
  app.get("/bytes", (_req, res) => {
    res.setHeader("content-type", "text/plain");
    return TEXT_BYTES;
  });
  app.get("/stream", async function* (_req, res) {
    res.setHeader("content-type", "text/plain; charset=UTF-8");
    for (let i = 0; i < TEXT.length; i += 1000) yield TEXT.slice(i, i + 1000);
  });
  app.get("/response", () => new Response(TEXT, { headers: { "content-type": "text/plain", etag: '"v1"' } }));
  app.get("/file/<name:path>", (req) => staticFile(req.params.name, { root: dir }));
  app.get("/small", () => "tiny");
  app.get("/png", (_req, res) => {
    res.setHeader("content-type", "image/png");
    return TEXT_BYTES;
  });
  app.get("/sse", (_req, res) => {
    res.setHeader("content-type", "text/event-stream");
    return `data: ${TEXT}\n\n`;
  });
  app.get("/own", (_req, res) => {
    res.setHeader("content-type", "text/plain");
    res.setHeader("content-encoding", "gzip");
    return new Uint8Array(zlib.gzipSync(TEXT));
  });
  app.get("/empty", (_req, res) => {
    res.status = 204;
    return null;
  });
  app.get("/no-transform", (_req, res) => {
    res.setHeader("cache-control", "no-transform");
    return TEXT;
  });
  app.get("/skipped", () => TEXT, { skip: ["compress"] });
  app.get("/missing", () => {
    throw new Error("boom: " + TEXT);
  });
  // ?fresh: new noise per chunk (brotli's window is large enough to shrink a repeated chunk to nothing).
  app.get("/produce", async function* (req, res) {
    res.setHeader("content-type", "text/plain");
    const fresh = req.query.has("fresh");
    produced = 0;
    for (let i = 0; i < 4096; i++) {
      produced++;
      yield fresh ? noise(i) : NOISE;
    }
  });
  app.get("/produced", () => ({ produced }));
  return app;
}

const dir = tempDir("carafe-compress-");
let s: Serving;
before(async () => {
  writeFileSync(join(dir.path, "big.txt"), TEXT);
  s = await serveInProcess(makeApp(dir.path));
});
after(async () => {
  await s?.close();
  dir.remove();
});

const get = (path: string, acceptEncoding?: string, headers: Record<string, string> = {}) =>
  request(s.url, { path, headers: acceptEncoding === undefined ? headers : { "accept-encoding": acceptEncoding, ...headers } });

describe("compress(): every reply shape, every coding, decoded byte for byte", () => {
  const shapes: Array<[string, Uint8Array]> = [
    ["/text", TEXT_BYTES],
    ["/json", new TextEncoder().encode(JSON.stringify(ROWS))],
    ["/bytes", TEXT_BYTES],
    ["/stream", TEXT_BYTES],
    ["/response", TEXT_BYTES],
    ["/file/big.txt", TEXT_BYTES],
  ];
  for (const encoding of ["br", "gzip", "deflate"]) {
    test(`${encoding}: string, JSON, bytes, stream, Response and staticFile`, async () => {
      for (const [path, expected] of shapes) {
        const got = await get(path, encoding);
        assert.equal(got.status, 200, path);
        assert.equal(got.headers["content-encoding"], encoding, path);
        assert.ok(varyOf(got).includes("accept-encoding"), `${path}: Vary is ${got.headers.vary}`);
        // A server may buffer a short stream and state its length: then the compressed one.
        const length = got.headers["content-length"];
        if (length !== undefined) assert.equal(Number(length), got.body.byteLength, `${path}: Content-Length`);
        assert.ok(got.body.byteLength < expected.byteLength / 2, `${path}: ${got.body.byteLength} bytes compressed`);
        assert.deepEqual(decode(got), Buffer.from(expected), path);
      }
    });
  }

  test("an error page is compressed like any answer (when big enough)", async () => {
    const got = await get("/missing", "gzip");
    assert.equal(got.status, 500);
    assert.match(decode(got).toString(), /Internal Server Error/);
  });
});

describe("compress(): Accept-Encoding negotiation", () => {
  test("q-values, *, identity and their absence over the wire", async () => {
    const cases: Array<[string | undefined, string | undefined]> = [
      ["gzip, deflate, br", "br"],
      ["br;q=0, gzip, deflate", "gzip"],
      ["gzip;q=0.2, deflate;q=0.8", "deflate"],
      ["*", "br"],
      ["br;q=0, *;q=0.5", "gzip"],
      ["gzip;q=0.5, identity", undefined],
      ["*;q=0", undefined],
      ["identity", undefined],
      ["", undefined],
      [undefined, undefined],
      ["compress, x-gzip", "gzip"],
      ["GZIP;Q=1", "gzip"],
      ["gzip;q=2, deflate", "deflate"], // a malformed q drops its entry
    ];
    for (const [accept, expected] of cases) {
      const got = await get("/text", accept);
      assert.equal(got.headers["content-encoding"], expected, `Accept-Encoding: ${accept}`);
      assert.deepEqual(decode(got), Buffer.from(TEXT_BYTES), `Accept-Encoding: ${accept}`);
      assert.ok(varyOf(got).includes("accept-encoding"), `Accept-Encoding: ${accept}: the answer depends on it`);
    }
  });

  test("negotiateEncoding: ties go to the server's order; identity wins when preferred", () => {
    assert.equal(negotiateEncoding("deflate, gzip", ["gzip", "deflate"]), "gzip");
    assert.equal(negotiateEncoding("deflate, gzip", ["deflate", "gzip"]), "deflate");
    assert.equal(negotiateEncoding("br", ["gzip"]), undefined);
    assert.equal(negotiateEncoding("gzip;q=0.5, identity;q=0.5", ["gzip"]), "gzip");
    assert.equal(negotiateEncoding("gzip;q=0.4, identity;q=0.5", ["gzip"]), undefined);
    assert.equal(negotiateEncoding("gzip;q=0.001, identity;q=0", ["gzip"]), "gzip");
    assert.equal(negotiateEncoding(null, ["gzip"]), undefined);
    assert.equal(negotiateEncoding("gzip;q=0, *", ["gzip", "deflate"]), "deflate");
  });
});

describe("compress(): left alone", () => {
  test("small bodies, images, server-sent events, no-transform, skipped routes", async () => {
    for (const path of ["/small", "/png", "/sse", "/no-transform", "/skipped"]) {
      const got = await get(path, "gzip, br");
      assert.equal(got.status, 200, path);
      assert.equal(got.headers["content-encoding"], undefined, path);
      assert.notEqual(got.headers["content-length"], undefined, `${path}: sent with its length`);
    }
    assert.equal((await get("/small", "gzip")).body.toString(), "tiny");
    assert.deepEqual((await get("/png", "gzip")).body, Buffer.from(TEXT_BYTES));
  });

  test("a Content-Encoding the handler set is kept, bytes untouched", async () => {
    const got = await get("/own", "br, gzip");
    assert.equal(got.headers["content-encoding"], "gzip");
    assert.deepEqual(zlib.gunzipSync(got.body), Buffer.from(TEXT_BYTES));
  });

  test("HEAD, 204, 304 and 206 are not encoded", async () => {
    const head = await request(s.url, { method: "HEAD", path: "/text", headers: { "accept-encoding": "gzip" } });
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-encoding"], undefined);
    assert.equal(head.body.byteLength, 0);
    const empty = await get("/empty", "gzip");
    assert.equal(empty.status, 204);
    assert.equal(empty.headers["content-encoding"], undefined);
    const etag = (await get("/file/big.txt")).headers.etag!;
    const notModified = await get("/file/big.txt", "gzip", { "if-none-match": etag });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers["content-encoding"], undefined);
    const part = await get("/file/big.txt", "gzip", { range: "bytes=10-19" });
    assert.equal(part.status, 206);
    assert.equal(part.headers["content-encoding"], undefined);
    assert.equal(part.body.toString(), TEXT.slice(10, 20));
  });
});

describe("compress(): validators", () => {
  test("a strong ETag becomes weak on a compressed answer and stays strong on the identity one", async () => {
    assert.equal((await get("/response", "gzip")).headers.etag, 'W/"v1"');
    assert.equal((await get("/response")).headers.etag, '"v1"');
    const fileTag = (await get("/file/big.txt")).headers.etag!;
    assert.match(fileTag, /^"/);
    const compressed = await get("/file/big.txt", "br");
    assert.equal(compressed.headers.etag, `W/${fileTag}`);
    assert.equal(compressed.headers["accept-ranges"], undefined, "no ranges of an encoding made on the fly");
    // The weak tag still revalidates the file (If-None-Match compares weakly).
    assert.equal((await get("/file/big.txt", "br", { "if-none-match": compressed.headers.etag! })).status, 304);
  });
});

describe("compress(): streaming", () => {
  test("back-pressure: a generator does not run ahead of a client that stops reading", async () => {
    const c = await rawConnect(s.port, { keepText: false, pauseAfter: MB });
    const current = async () => JSON.parse((await request(s.url, { path: "/produced" })).body.toString()).produced as number;
    try {
      c.socket.write("GET /produce HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
      assert.ok(await eventually(() => c.received() > MB), "no data arrived");
      let last = -1, now = await current();
      for (let i = 0; i < 40 && now !== last; i++) {
        await sleep(250);
        [last, now] = [now, await current()];
      }
      assert.equal(now, last, "the generator kept producing while the client read nothing");
      // What may be ahead is what the sockets and the compressor buffer (a few MiB); an
      // unbounded producer would run to its end: 256 MiB.
      const ahead = now * NOISE.byteLength - c.received();
      assert.ok(ahead <= 48 * MB, `${(ahead / MB).toFixed(1)} MiB produced ahead of the client`);
      c.socket.resume();
      assert.ok(await eventually(async () => (await current()) > now + 32), "the generator did not resume");
    } finally {
      c.socket.destroy();
    }
  });
});

describe("compress(): a client that goes away", () => {
  for (const encoding of ["br", "gzip", "deflate"]) {
    test(`${encoding}: disconnecting in the middle of a compressed stream leaves the server serving`, async () => {
      const c = await rawConnect(s.port, { keepText: false });
      c.socket.write(`GET /produce?fresh HTTP/1.1\r\nHost: a\r\nAccept-Encoding: ${encoding}\r\n\r\n`);
      assert.ok(await eventually(() => c.received() > MB), "no data arrived");
      c.socket.destroy();
      await c.closed;
      // The producer stops (the stream was cancelled), and the server answers as before.
      assert.ok(await eventually(async () => {
        const a = JSON.parse((await request(s.url, { path: "/produced" })).body.toString()).produced;
        await sleep(200);
        return a === JSON.parse((await request(s.url, { path: "/produced" })).body.toString()).produced;
      }), "the generator kept running after the client left");
      const got = await get("/text", encoding);
      assert.equal(got.status, 200);
      assert.deepEqual(decode(got), Buffer.from(TEXT_BYTES));
    });
  }
});

describe("isCompressible", () => {
  test("text and structured text yes; media, archives and event streams no", () => {
    for (const t of ["text/html; charset=UTF-8", "application/json", "application/ld+json", "image/svg+xml", "application/javascript", "application/wasm"]) {
      assert.equal(isCompressible(t), true, t);
    }
    for (const t of ["image/png", "video/mp4", "audio/mpeg", "application/zip", "application/gzip", "font/woff2", "text/event-stream", "", "application/octet-stream"]) {
      assert.equal(isCompressible(t), false, t);
    }
  });

  test("the threshold counts a string's UTF-8 bytes (two-byte, three-byte, surrogate pairs, lone surrogates)", async () => {
    const cases: [string, boolean][] = [
      ["é".repeat(511), false], // 1022 bytes
      ["é".repeat(512), true], // 1024 bytes, 512 UTF-16 units
      ["€".repeat(341), false], // 1023 bytes
      ["€".repeat(342), true], // 1026 bytes
      ["😀".repeat(255) + "abc", false], // 1023 bytes, 513 units
      ["😀".repeat(256), true], // 1024 bytes
      ["\ud800".repeat(342), true], // each written as U+FFFD: 1026 bytes
    ];
    for (const [text, compressed] of cases) {
      const app = new Carafe();
      app.install(compress());
      app.get("/", () => text);
      const res = await app.fetch(new Request("http://localhost/", { headers: { "accept-encoding": "gzip" } }));
      assert.equal(res.headers.get("content-encoding") === "gzip", compressed, `${JSON.stringify(text.slice(0, 2))}… (${text.length} units)`);
      assert.equal(res.headers.get("vary"), compressed ? "Accept-Encoding" : null);
      const plain = await app.fetch(new Request("http://localhost/"));
      assert.equal(plain.headers.get("content-encoding"), null);
      assert.deepEqual(new Uint8Array(await plain.arrayBuffer()), new TextEncoder().encode(text), "no Accept-Encoding: the body as it was");
      assert.equal(plain.headers.get("vary"), compressed ? "Accept-Encoding" : null, "Vary whenever another client would get it compressed");
    }
  });

  test("bad options are refused with what to do", () => {
    assert.throws(() => compress({ encodings: ["zstd" as "br"] }), /unknown encoding "zstd"/);
    assert.throws(() => compress({ brotliQuality: 12 }), /0 to 11/);
    assert.throws(() => compress({ threshold: -1 }), /threshold/);
  });
});
