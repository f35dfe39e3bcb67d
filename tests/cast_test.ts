/**
 * From a handler's return value to the reply (core/cast.ts), through the public API:
 * each kind of value gives its status, type and body; HEAD and bodyless statuses; a
 * streamed generator cancelled by the client. Request-side and hook behaviour:
 * tests/app_response_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Carafe, HTTPError, HTTPResponse } from "../mod.ts";
import type { HandlerResult } from "../mod.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers GET `path` (or `method`) from an app whose only route returns `value`. */
async function answer(value: () => HandlerResult | Promise<HandlerResult>, method = "GET", log: string[] = []) {
  const app = new Carafe({ logger: (line) => log.push(line) }).route("/", ["GET", "HEAD"], value);
  const res = await app.fetch(new Request("http://localhost/", { method }));
  return { status: res.status, type: res.headers.get("content-type"), length: res.headers.get("content-length"), body: await res.text() };
}

describe("casting a handler's return value", () => {
  const cases: [string, () => HandlerResult | Promise<HandlerResult>, number, string | null, string][] = [
    ["a string is HTML", () => "<p>hi</p>", 200, "text/html; charset=UTF-8", "<p>hi</p>"],
    ["a plain object is JSON", () => ({ a: 1 }), 200, "application/json", '{"a":1}'],
    ["an array is JSON", () => [1, "two"], 200, "application/json", '[1,"two"]'],
    ["bytes are octets", () => new TextEncoder().encode("raw"), 200, "application/octet-stream", "raw"],
    ["an ArrayBuffer is octets", () => new TextEncoder().encode("buf").buffer, 200, "application/octet-stream", "buf"],
    ["a Blob keeps its type", () => new Blob(["b"], { type: "text/csv" }), 200, "text/csv", "b"],
    ["null is an empty 200", () => null, 200, null, ""],
    ["an empty string is an empty 200", () => "", 200, null, ""],
    ["a Response is sent as it is", () => new Response("made", { status: 201, headers: { "content-type": "text/x-made" } }), 201, "text/x-made", "made"],
    ["an HTTPResponse sets status and headers", () => new HTTPResponse("moved on", 202, { "content-type": "text/plain" }), 202, "text/plain", "moved on"],
    ["a generator is streamed as HTML", function* () {
      yield "a";
      yield new TextEncoder().encode("b");
    }, 200, "text/html; charset=UTF-8", "ab"],
  ];
  for (const [name, value, status, type, body] of cases) {
    test(name, async () => {
      const got = await answer(value);
      assert.deepEqual([got.status, got.type, got.body], [status, type, body]);
    });
  }

  test("a thrown HTTPError renders the error page with its status", async () => {
    const got = await answer(() => {
      throw new HTTPError(418, "<short & stout>");
    });
    assert.equal(got.status, 418);
    assert.match(got.body, /&lt;short &amp; stout&gt;/);
  });

  test("the Handler type refuses what cannot be sent: a Date, a number, a boolean (a type error, not a 500 found in production)", async () => {
    const app = new Carafe({ logger: () => {} });
    // Each @ts-expect-error fails `npm test`'s type check if the type ever accepts the value again.
    // @ts-expect-error a Date is not an answer: send date.toISOString() or put it in an object
    app.get("/date", () => new Date());
    // @ts-expect-error also when the handler is async
    app.get("/later", async () => await Promise.resolve(new Date()));
    // @ts-expect-error a number
    app.get("/n", () => 42);
    // @ts-expect-error a boolean
    app.get("/b", () => true);
    interface Todo { id: number; title: string }
    const todo: Todo = { id: 1, title: "x" };
    app.get("/todo", () => todo); // interfaces, arrays and plain objects are JSON
    // deno-lint-ignore require-await
    app.get("/todos", async () => [todo]);
    app.get("/empty", () => {});
    assert.equal((await app.fetch(new Request("http://localhost/date"))).status, 500, "and the run time still refuses it");
    assert.deepEqual(await (await app.fetch(new Request("http://localhost/todo"))).json(), todo);
  });

  test("a value that cannot be sent is a logged 500, not a crash", async () => {
    const log: string[] = [];
    const got = await answer(() => 42 as never, "GET", log);
    assert.equal(got.status, 500);
    assert.match(log.join("\n"), /returned a number, which cannot be sent/);
  });

  test("HEAD answers the headers GET would send, Content-Length included, and no body", async () => {
    const got = await answer(() => "héllo", "HEAD");
    assert.deepEqual([got.status, got.type, got.length, got.body], [200, "text/html; charset=UTF-8", "6", ""]);
  });

  test("a 204 or 304 carries no body and no body headers", async () => {
    const got = await answer(() => new HTTPResponse("ignored", 304, { "content-type": "text/plain", etag: '"v1"' }));
    assert.deepEqual([got.status, got.type, got.body], [304, null, ""]);
  });
});

describe("a streamed generator the client stops reading", () => {
  test("cancelling while a chunk is being made ends the generator quietly: finally runs, nothing is logged", async () => {
    const log: string[] = [];
    let finished = false;
    const app = new Carafe({ logger: (line) => log.push(line) }).get("/", async function* () {
      try {
        yield "first";
        await delay(50); // the second chunk is still being made when the client leaves
      } finally {
        finished = true;
      }
    });
    const res = await app.fetch(new Request("http://localhost/"));
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "first");
    const pending = reader.read(); // pulls: the generator is now in its delay
    await delay(5);
    await reader.cancel();
    await pending.catch(() => {});
    await delay(100); // the generator ends its delay after the cancel
    assert.equal(finished, true);
    assert.deepEqual(log, []);
  });
});
