// Server-sent events (core/sse.ts): the event format, the headers, Last-Event-ID, the
// heartbeat, and the generator stopped when the client leaves — through app.fetch()
// and over real sockets on the runtime's own server and `node`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { runtime } from "./_helpers.ts";
import { Carafe } from "../mod.ts";
import { run } from "../adapters/mod.ts";
import { formatEvent, sse } from "../core/sse.ts";

const servers = runtime === "node" ? ["node"] : [runtime, "node"];

/** Reads `stream` until `until` matches what came so far, then cancels it. */
async function readUntil(stream: ReadableStream<Uint8Array>, until: (text: string) => boolean): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!until(text)) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text;
}

/** Resolves once `check()` is true (polling; fails after 5 s). */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check(), "condition not reached within 5 s");
}

describe("sse: the event format", () => {
  test("strings are data; multi-line data (any line break) becomes one data: line per line", () => {
    assert.equal(formatEvent("hello"), "data: hello\n\n");
    assert.equal(formatEvent("a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    assert.equal(formatEvent(""), "data: \n\n");
  });

  test("event, id, retry, comment and JSON data, in that order", () => {
    assert.equal(
      formatEvent({ comment: "note", event: "price", id: 7, retry: 3000, data: { a: 1 } }),
      ': note\nevent: price\nid: 7\nretry: 3000\ndata: {"a":1}\n\n',
    );
  });

  test("a line break in event or id, a NUL in id, a bad retry or item are errors, not a forged event", () => {
    assert.throws(() => formatEvent({ event: "a\ndata: forged" }), /event cannot contain a line break/);
    assert.throws(() => formatEvent({ id: "1\r2" }), /id cannot contain/);
    assert.throws(() => formatEvent({ id: "1\u00002" }), /id cannot contain/);
    assert.throws(() => formatEvent({ retry: -1 }), /retry must be/);
    assert.throws(() => formatEvent(42 as never), /yielded number/);
  });
});

describe("sse: through app.fetch()", () => {
  test("headers for EventSource and nginx; the events of a generator, then the end", async () => {
    const app = new Carafe().get("/events", sse(function* () {
      yield "one";
      yield { event: "two", data: "2" };
    }, { retry: 1500 }));
    const res = await app.fetch(new Request("http://localhost/events"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
    assert.equal(res.headers.get("cache-control"), "no-cache");
    assert.equal(res.headers.get("x-accel-buffering"), "no");
    assert.equal(await res.text(), "retry: 1500\n\ndata: one\n\nevent: two\ndata: 2\n\n");
  });

  test("Last-Event-ID reaches the source; an oversize one gets 400", async () => {
    const app = new Carafe().get("/events", sse(async function* (_req, { lastEventId }) {
      const from = Number(lastEventId ?? 0);
      for (let i = from + 1; i <= from + 2; i++) yield { id: i, data: `n${i}` };
    }));
    const resumed = await app.fetch(new Request("http://localhost/events", { headers: { "last-event-id": "41" } }));
    assert.equal(await resumed.text(), "id: 42\ndata: n42\n\nid: 43\ndata: n43\n\n");
    const fresh = await app.fetch(new Request("http://localhost/events"));
    assert.equal(await fresh.text(), "id: 1\ndata: n1\n\nid: 2\ndata: n2\n\n");
    const huge = await app.fetch(new Request("http://localhost/events", { headers: { "last-event-id": "x".repeat(1025) } }));
    assert.equal(huge.status, 400);
  });

  test("a heartbeat comment is sent while the source waits", async () => {
    let release!: () => void;
    const waiting = new Promise<void>((r) => (release = r));
    const app = new Carafe().get("/events", sse(async function* () {
      yield "first";
      await waiting; // until the test has seen a heartbeat
      yield "second";
    }, { heartbeat: 20 }));
    const res = await app.fetch(new Request("http://localhost/events"));
    const text = await readUntil(res.body!, (t) => {
      if (t.includes(": heartbeat\n\n")) release();
      return t.includes("data: second");
    });
    assert.match(text, /^data: first\n\n(: heartbeat\n\n)+data: second\n\n$/);
  });

  test("cancelling the stream (the client left) aborts the signal and ends the generator", async () => {
    let stopped = false;
    let aborted = false;
    const app = new Carafe().get("/events", sse(async function* (_req, { signal }) {
      signal.addEventListener("abort", () => (aborted = true));
      try {
        for (let i = 0;; i++) {
          yield String(i);
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        stopped = true;
      }
    }));
    const res = await app.fetch(new Request("http://localhost/events"));
    await readUntil(res.body!, (t) => t.includes("data: 2"));
    await eventually(() => stopped && aborted);
  });
});

for (const server of servers) {
  describe(`sse over real sockets: ${server} under ${runtime}`, () => {
    test("events arrive as they are made, and the generator stops when the client disconnects", async () => {
      let stopped = false;
      const app = new Carafe().get("/events", sse(async function* () {
        try {
          for (let i = 0;; i++) {
            yield { id: i, data: `tick ${i}` };
            await new Promise((r) => setTimeout(r, 10));
          }
        } finally {
          stopped = true;
        }
      }, { heartbeat: 50 }));
      const s = await run({ app, server, port: 0, quiet: true, handleSignals: false });
      try {
        const url = new URL(s.url);
        const text = await new Promise<string>((resolve, reject) => {
          const req = http.get({ host: url.hostname, port: Number(url.port), path: "/events", agent: false }, (res) => {
            assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
            let seen = "";
            res.on("data", (d) => {
              seen += d;
              if (seen.includes("data: tick 2")) {
                req.destroy(); // the client leaves
                resolve(seen);
              }
            });
          });
          req.on("error", (err) => (err.message.includes("socket hang up") ? undefined : reject(err)));
        });
        assert.match(text, /^id: 0\ndata: tick 0\n\nid: 1\ndata: tick 1\n\n/);
        await eventually(() => stopped);
      } finally {
        await s.close();
      }
    });
  });
}
