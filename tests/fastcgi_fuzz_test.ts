// Robustness: random and mutated FastCGI record streams (bounded in count and time).
// The server must survive every one, keep serving well-formed requests, and keep its
// memory bounded. Deterministic: a failure prints the seed and the stream number.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { serveFastCgi } from "../adapters/fastcgi/mod.ts";
import type { Server } from "../adapters/adapter.ts";
import { gatewayApp } from "./fixtures/gateway_app.ts";
import { begin, cat, FcgiClient, get, pairs, rec, request, T } from "./_gateway_peers.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const STREAMS = 400; // per kind
const PER_STREAM_MS = 250;

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let server: Server;
let port = 0;
const logs: string[] = [];

before(async () => {
  server = await serveFastCgi({
    app: gatewayApp,
    host: "127.0.0.1",
    port: 0,
    quiet: true,
    maxBodySize: 1 << 20,
    shutdownTimeout: 500,
    log: (l) => logs.push(l),
  });
  port = Number(server.url.split(":").pop());
});
after(() => server.close());

/** Sends `bytes` in random pieces, half-closes, and waits for the server to close (or gives up). */
function throwAt(bytes: Uint8Array, rand: () => number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(finish, PER_STREAM_MS);
    socket.on("error", finish);
    socket.on("close", finish);
    socket.on("data", () => {}); // read whatever comes back
    socket.on("connect", () => {
      let o = 0;
      while (o < bytes.length) {
        const n = 1 + Math.floor(rand() * Math.min(4096, bytes.length - o));
        socket.write(bytes.subarray(o, o + n));
        o += n;
      }
      if (rand() < 0.7) socket.end();
    });
  });
}

async function stillServes(): Promise<void> {
  const c = await FcgiClient.connect(port);
  c.send(request(1, get("/hello/alive")));
  await c.ended(1, 5000);
  assert.equal(c.response(1).text, "Hello alive!");
  c.close();
}

function validStreams(rand: () => number): Uint8Array[] {
  const body = new Uint8Array(Math.floor(rand() * 100_000)).map(() => Math.floor(rand() * 256));
  const post = [...get("/upload"), ["REQUEST_METHOD", "POST"], ["CONTENT_LENGTH", String(body.length)]] as [string, string][];
  return [
    request(1, get("/hello/x"), undefined, rand() < 0.5),
    request(1 + Math.floor(rand() * 65535), post, body, true),
    cat(request(3, get("/info?a=1", [["HTTP_COOKIE", "a=1"], ["HTTP_COOKIE", "b"]]), undefined, true), request(5, get("/big?size=70000"), undefined, true)),
    rec(T.GET_VALUES, 0, pairs([["FCGI_MAX_CONNS", ""], ["FCGI_MPXS_CONNS", ""]])),
    cat(begin(2, { keep: true }), rec(T.PARAMS, 2, pairs(post)), rec(T.PARAMS, 2), rec(T.STDIN, 2, body.subarray(0, 1000)), rec(T.ABORT, 2)),
  ];
}

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  let b: Uint8Array = input.slice();
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * Math.max(1, b.length));
    switch (Math.floor(rand() * 7)) {
      case 0: // flip a byte
        if (b.length) b[at] ^= 1 + Math.floor(rand() * 255);
        break;
      case 1: // truncate
        b = b.subarray(0, at);
        break;
      case 2: // insert random bytes
        b = cat(b.subarray(0, at), new Uint8Array(Math.floor(rand() * 64)).map(() => Math.floor(rand() * 256)), b.subarray(at));
        break;
      case 3: // delete a range
        b = cat(b.subarray(0, at), b.subarray(Math.min(b.length, at + Math.floor(rand() * 32))));
        break;
      case 4: // duplicate a range
        b = cat(b.subarray(0, at), b.subarray(at, at + Math.floor(rand() * 200)), b.subarray(at));
        break;
      case 5: // absurd length / padding in a header-looking place
        if (b.length > at + 6) {
          b[at + 4] = 0xff;
          b[at + 5] = 0xff;
          b[at + 6] = Math.floor(rand() * 256);
        }
        break;
      case 6: // a 4-byte name-value length claiming ~2 GB
        b = cat(b.subarray(0, at), new Uint8Array([0xff, 0xff, 0xff, 0xf0]), b.subarray(at));
        break;
    }
  }
  return b;
}

async function inBatches(count: number, make: (i: number) => Uint8Array, rand: () => number): Promise<void> {
  const width = 25;
  for (let i = 0; i < count; i += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, k) => throwAt(make(i + k), rand)));
  }
}

describe(`FastCGI fuzz (seed ${SEED})`, () => {
  test(`${STREAMS} streams of random bytes (some starting with a valid header)`, async () => {
    const rand = prng(SEED);
    await inBatches(STREAMS, () => {
      const len = Math.floor(rand() * 2000);
      const junk = new Uint8Array(len).map(() => Math.floor(rand() * 256));
      if (rand() < 0.5 && len > 8) junk[0] = 1; // version 1 so the parser goes further
      return junk;
    }, rand);
    await stillServes();
  });

  test(`${STREAMS} mutated valid streams`, async () => {
    const rand = prng(SEED + 1);
    const rssBefore = process.memoryUsage().rss;
    await inBatches(STREAMS, () => {
      const valid = validStreams(rand);
      return mutate(valid[Math.floor(rand() * valid.length)], rand);
    }, rand);
    await stillServes();
    const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grown < 150, `RSS grew by ${grown.toFixed(0)} MB`);
  });

  test("hostile: thousands of request ids on one connection, huge PARAMS, endless padding", async () => {
    const ids = cat(...Array.from({ length: 3000 }, (_, i) => begin(i + 1, { keep: true })));
    const c1 = await FcgiClient.connect(port);
    c1.send(ids);
    // 100 ids (the default FCGI_MAX_REQS) stay active; every other one is turned away.
    await c1.until((rs) => rs.filter((r) => r.type === T.END).length >= 2900, 10000);
    assert.ok(c1.records.every((r) => r.type === T.END && r.content[4] === 2), "only END_REQUEST(FCGI_OVERLOADED)");
    assert.equal(c1.records.length, 2900);
    c1.close();
    const c2 = await FcgiClient.connect(port);
    // Unfinished PARAMS of 40 requests, each under the 64 KiB of one request: 2.4 MB on one connection.
    c2.send(cat(...Array.from({ length: 40 }, (_, i) => cat(begin(i + 1, { keep: true }), rec(T.PARAMS, i + 1, new Uint8Array(60000).fill(0x41))))));
    assert.equal(await c2.waitClosed(3000), true, "PARAMS over the connection's limit closes it");
    const c3 = await FcgiClient.connect(port);
    c3.send(cat(...Array.from({ length: 2000 }, () => rec(T.DATA, 1, new Uint8Array(0), 255))));
    c3.send(request(1, get("/hello/after-padding")));
    await c3.ended(1, 3000);
    assert.equal(c3.response(1).text, "Hello after-padding!");
    c3.close();
    assert.ok(logs.some((l) => /PARAMS over/.test(l)), "the closed connection is logged");
    await stillServes();
  });
});
