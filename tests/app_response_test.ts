// What handlers may return or throw, and how errors are rendered.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { abort, Carafe, CarafeResponse, HTTPError, HTTPResponse, redirect } from "../mod.ts";
import { call } from "./_helpers.ts";

const quiet = () => new Carafe({ logger: () => {} });

describe("return values", () => {
  test("string → text/html unless a type was set; object/array → JSON", async () => {
    const app = new Carafe();
    app.get("/s", () => "<b>hi</b>");
    app.get("/typed", (_req, res) => {
      res.contentType = "text/plain; charset=UTF-8";
      return "plain";
    });
    app.get("/o", () => ({ a: 1 }));
    app.get("/a", () => [1, "two"]);
    const s = await call(app, "/s");
    assert.equal(s.headers.get("content-type"), "text/html; charset=UTF-8");
    assert.equal(await s.text(), "<b>hi</b>");
    assert.equal((await call(app, "/typed")).headers.get("content-type"), "text/plain; charset=UTF-8");
    assert.deepEqual(await (await call(app, "/o")).json(), { a: 1 });
    const a = await call(app, "/a");
    assert.equal(a.headers.get("content-type"), "application/json");
    assert.deepEqual(await a.json(), [1, "two"]);
  });

  test("JSON small and large, any status, toJSON honoured: the same type and text on every runtime", async () => {
    const app = new Carafe();
    const big = { items: Array.from({ length: 300 }, (_, i) => ({ i, name: `item ${i}` })) };
    app.get("/small", () => ({ when: new Date(0), n: 1 }));
    app.get("/big", () => big);
    app.get("/created", (_req, res) => {
      res.status = 201;
      return [1, 2];
    });
    for (const [path, status, value] of [["/small", 200, { when: "1970-01-01T00:00:00.000Z", n: 1 }], ["/big", 200, big], ["/created", 201, [1, 2]]] as const) {
      const res = await call(app, path);
      assert.equal(res.status, status, path);
      assert.equal(res.headers.get("content-type"), "application/json", path);
      assert.equal(await res.text(), JSON.stringify(value), path);
    }
  });

  test("bytes, ArrayBuffer and Blob are sent as bytes", async () => {
    const app = new Carafe();
    app.get("/u8", () => new Uint8Array([0, 1, 255]));
    app.get("/ab", () => new Uint8Array([7, 8]).buffer);
    app.get("/blob", () => new Blob(["png?"], { type: "image/png" }));
    const u8 = await call(app, "/u8");
    assert.equal(u8.headers.get("content-type"), "application/octet-stream");
    assert.deepEqual([...new Uint8Array(await u8.arrayBuffer())], [0, 1, 255]);
    assert.deepEqual([...new Uint8Array(await (await call(app, "/ab")).arrayBuffer())], [7, 8]);
    const blob = await call(app, "/blob");
    assert.equal(blob.headers.get("content-type"), "image/png");
    assert.equal(await blob.text(), "png?");
  });

  test("null, undefined and empty string → empty body with Content-Length: 0", async () => {
    const app = new Carafe();
    app.get("/null", () => null);
    app.get("/undef", () => {});
    app.get("/empty", () => "");
    for (const path of ["/null", "/undef", "/empty"]) {
      const res = await call(app, path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-length"), "0", path);
      assert.equal(await res.text(), "");
    }
  });

  test("anything else → 500, logged, and the app keeps serving", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    // @ts-expect-error a number cannot be sent: the type says so, the run time answers 500
    app.get("/num", () => 42);
    app.get("/cls", () => new (class Thing {})());
    app.get("/circular", () => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    });
    app.get("/ok", () => "ok");
    for (const path of ["/num", "/cls", "/circular"]) assert.equal((await call(app, path)).status, 500, path);
    assert.equal(logged.length, 3);
    assert.match(logged[0], /GET \/num/);
    assert.equal(await (await call(app, "/ok")).text(), "ok");
  });

  test("a returned Response is sent with res headers and cookies merged in", async () => {
    const app = new Carafe();
    app.get("/r", (_req, res) => {
      res.setHeader("x-from-res", "1");
      res.setCookie("a", "b");
      return new Response("raw", { status: 202, headers: { "x-own": "2" } });
    });
    const res = await call(app, "/r");
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("x-own"), "2");
    assert.equal(res.headers.get("x-from-res"), "1");
    assert.match(res.headers.get("set-cookie") ?? "", /^a=b/);
    assert.equal(await res.text(), "raw");
  });

  test("a returned Response is sent as it is (the runtime keeps its length), after_request hooks included", async () => {
    const app = new Carafe();
    const own = new Response("hello", { headers: { "x-own": "1", "x-drop": "1" } });
    app.get("/own", () => own);
    app.hook("after_request", (_req, res) => {
      res.setHeader("x-hook", "1");
      res.headers.delete("x-drop");
    });
    const res = await call(app, "/own");
    assert.equal(res, own, "the handler's own Response object");
    assert.deepEqual([res.headers.get("x-own"), res.headers.get("x-hook"), res.headers.get("x-drop")], ["1", "1", null]);
    assert.equal(await res.text(), "hello");
    // A Response whose headers cannot change (Response.redirect, a fetch() answer) is rebuilt with them merged.
    const plain = new Carafe();
    plain.get("/moved", (_req, res) => {
      res.setHeader("x-res", "1");
      return Response.redirect("http://localhost/new", 302);
    });
    const moved = await call(plain, "/moved");
    assert.deepEqual([moved.status, moved.headers.get("location"), moved.headers.get("x-res")], [302, "http://localhost/new", "1"]);
  });

  test("204 and 304 carry no entity headers or body; HEAD drops the body", async () => {
    const app = new Carafe();
    app.get("/204", (_req, res) => {
      res.status = 204;
      res.setHeader("etag", '"x"');
      return "ignored";
    });
    app.get("/304", () => new HTTPResponse("ignored", 304, { "content-type": "text/plain", etag: '"y"', allow: "GET", "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT" }));
    app.options("/thing", (_req, res) => {
      res.status = 204;
      res.setHeader("allow", "GET, OPTIONS");
    });
    const r204 = await call(app, "/204");
    assert.equal(r204.status, 204);
    assert.equal(r204.headers.get("content-type"), null);
    assert.equal(r204.headers.get("content-length"), null);
    assert.equal(r204.headers.get("etag"), '"x"');
    assert.equal(await r204.text(), "");
    const r304 = await call(app, "/304");
    assert.equal(r304.status, 304);
    assert.equal(r304.headers.get("content-type"), null);
    assert.equal(r304.headers.get("etag"), '"y"');
    assert.equal(r304.headers.get("allow"), null);
    assert.equal(r304.headers.get("last-modified"), null);
    // A 204 drops only its body's framing: an OPTIONS answer keeps its Allow (as in Bottle).
    const options = await call(app, "/thing", { method: "OPTIONS" });
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("allow"), "GET, OPTIONS");
  });
});

describe("HTTPResponse, HTTPError, abort, redirect", () => {
  test("HTTPResponse returned or thrown is sent as it is", async () => {
    const app = new Carafe();
    app.get("/ret", () => new HTTPResponse({ ok: true }, 201, { "x-a": "1" }));
    app.get("/throw", () => {
      throw new HTTPResponse("thrown", 202);
    });
    const ret = await call(app, "/ret");
    assert.equal(ret.status, 201);
    assert.equal(ret.headers.get("x-a"), "1");
    assert.deepEqual(await ret.json(), { ok: true });
    assert.equal((await call(app, "/throw")).status, 202);
  });

  test("abort and HTTPError go through error handlers; handler gets err, req, res", async () => {
    const app = new Carafe();
    app.get("/a", () => abort(418, "short and stout"));
    app.get("/e", () => {
      throw new HTTPError(403, "no", { headers: { "www-authenticate": "Basic" } });
    });
    app.error(418, (err, req, res) => {
      res.setHeader("x-handled", "1");
      return `${err.status} ${err.body} at ${req.path}`;
    });
    const a = await call(app, "/a");
    assert.equal(a.status, 418);
    assert.equal(a.headers.get("x-handled"), "1");
    assert.equal(await a.text(), "418 short and stout at /a");
    const e = await call(app, "/e");
    assert.equal(e.status, 403);
    assert.equal(e.headers.get("www-authenticate"), "Basic");
    assert.match(await e.text(), /<pre>no<\/pre>/);
  });

  test("an HTTPError with an object body is sent as JSON", async () => {
    const app = new Carafe();
    app.post("/v", () => {
      throw new HTTPError(422, { errors: ["name is required"] });
    });
    const res = await call(app, "/v", { method: "POST" });
    assert.equal(res.status, 422);
    assert.deepEqual(await res.json(), { errors: ["name is required"] });
  });

  test("redirect: 303 default, Location resolved against the request path incl. mount prefix and sent without host, cookies kept", async () => {
    const child = new Carafe();
    child.get("/login", (_req, res) => {
      res.setCookie("session", "abc");
      redirect("dashboard");
    });
    child.get("/perm", () => redirect("/elsewhere", 301));
    const app = new Carafe();
    app.mount("/admin", child);
    const res = await call(app, "/admin/login");
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/admin/dashboard");
    assert.match(res.headers.get("set-cookie") ?? "", /^session=abc/);
    const perm = await call(app, "/admin/perm");
    assert.equal(perm.status, 301);
    assert.equal(perm.headers.get("location"), "/elsewhere");
    assert.throws(() => redirect("/x\r\nSet-Cookie: evil=1"), TypeError);
  });

  test("redirect to a non-ASCII URL: percent-encoded UTF-8, an international host in punycode", async () => {
    const app = new Carafe();
    app.get("/rel", () => redirect("/瓶?q=ü"));
    app.get("/abs", () => redirect("https://exämple.com/瓶"));
    app.get("/plain", () => redirect("/a%20b?x=1"));
    const rel = await call(app, "/rel");
    assert.equal(rel.status, 303);
    assert.equal(rel.headers.get("location"), "/%E7%93%B6?q=%C3%BC");
    assert.equal((await call(app, "/abs")).headers.get("location"), "https://xn--exmple-cua.com/%E7%93%B6");
    assert.equal((await call(app, "/plain")).headers.get("location"), "/a%20b?x=1");
    assert.throws(() => redirect("/\ud800"), /not valid Unicode/);
  });

  test("HTTPResponse rejects an invalid status", () => {
    assert.throws(() => new HTTPResponse("", 99), RangeError);
    assert.throws(() => new HTTPError(1000), RangeError);
  });

  test("a redirect from a mounted app keeps its status and Location (no after hooks involved)", async () => {
    const child = new Carafe();
    child.get("/go", () => redirect("there", 307));
    const app = new Carafe();
    app.mount("/m", child);
    const res = await call(app, "/m/go");
    assert.equal(res.status, 307);
    assert.equal(res.headers.get("location"), "/m/there");
  });
});

describe("error pages", () => {
  test("uncaught exception → 500 page without the stack; logged with method and path", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.post("/fail", () => {
      throw new Error("secret <detail>");
    });
    const res = await call(app, "/fail", { method: "POST" });
    assert.equal(res.status, 500);
    const body = await res.text();
    assert.doesNotMatch(body, /secret/);
    assert.match(body, /Internal Server Error/);
    assert.match(logged[0], /^POST \/fail: Error: secret <detail>/);
  });

  test("a thrown non-Error value is an error (500), not a body", async () => {
    const app = quiet();
    app.get("/str", () => {
      throw "plain string";
    });
    const res = await call(app, "/str");
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /plain string/);
  });

  test("debug mode shows the escaped exception", async () => {
    const app = new Carafe({ debug: true, logger: () => {} });
    app.get("/fail", () => {
      throw new Error("secret <detail>");
    });
    const body = await (await call(app, "/fail")).text();
    assert.match(body, /secret &lt;detail&gt;/);
  });

  test("the message is HTML-escaped", async () => {
    const app = new Carafe();
    app.get("/x", () => abort(400, "<script>alert(1)</script>"));
    const body = await (await call(app, "/x")).text();
    assert.doesNotMatch(body, /<script>/);
    assert.match(body, /&lt;script&gt;/);
  });

  test("an error handler that throws → minimal 500, never a crash", async () => {
    const app = quiet();
    app.error(404, () => {
      throw new Error("handler broken");
    });
    app.error(500, () => {
      throw new Error("500 handler broken too");
    });
    const res = await call(app, "/missing");
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "Internal Server Error");
  });

  test("a throwing error handler runs once per request; the default page answers for it", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    let calls = 0;
    app.get("/boom", () => {
      throw new Error("kaboom");
    });
    app.error(500, () => {
      calls++;
      throw new Error("handler broke");
    });
    const res = await call(app, "/boom");
    assert.equal(res.status, 500);
    assert.match(await res.text(), /<h1>Error: 500 Internal Server Error<\/h1>/);
    assert.equal(calls, 1);
    assert.equal(logged.length, 2, logged.join("\n"));
    assert.match(logged[0], /kaboom/);
    assert.match(logged[1], /handler broke/);
  });

  test("setting a header with CR/LF throws; the request gets a 500", async () => {
    const app = quiet();
    app.get("/inject", (req, res) => {
      res.setHeader("x-user", req.query.get("v") ?? "");
      return "ok";
    });
    assert.equal((await call(app, "/inject?v=a%0D%0ASet-Cookie:%20evil=1")).status, 500);
    assert.equal((await call(app, "/inject?v=fine")).status, 200);
  });
});

describe("streaming", () => {
  test("generators are pulled on demand (back-pressure) and stopped when the reader cancels", async () => {
    let produced = 0;
    let cleanedUp = false;
    const app = new Carafe();
    app.get("/gen", function* () {
      try {
        for (let i = 0; i < 1_000_000; i++) {
          produced++;
          yield `chunk ${i}\n`;
        }
      } finally {
        cleanedUp = true;
      }
    });
    const res = await call(app, "/gen");
    assert.equal(res.headers.get("content-type"), "text/html; charset=UTF-8");
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "chunk 0\n");
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(produced < 10, `produced ${produced} chunks ahead of the reader`);
    await reader.cancel();
    assert.equal(cleanedUp, true);
  });

  test("async generators and ReadableStreams stream", async () => {
    const app = new Carafe();
    app.get("/agen", async function* () {
      yield "a";
      await new Promise((r) => setTimeout(r, 5));
      yield new TextEncoder().encode("b");
    });
    app.get("/rs", () => new Response("xyz").body);
    assert.equal(await (await call(app, "/agen")).text(), "ab");
    assert.equal(await (await call(app, "/rs")).text(), "xyz");
  });
});

describe("statuses", () => {
  test("res.status, HTTPResponse, HTTPError and abort take 200–599; 1xx and 600+ throw a RangeError naming the range", () => {
    const res = new CarafeResponse();
    for (const bad of [100, 101, 103, 199, 600, 999, 200.5, Number.NaN]) {
      assert.throws(() => {
        res.status = bad;
      }, (e: unknown) => e instanceof RangeError && /200 to 599/.test(e.message), String(bad));
      assert.throws(() => new HTTPResponse("", bad), RangeError);
      assert.throws(() => new HTTPError(bad), RangeError);
      assert.throws(() => abort(bad), RangeError);
    }
    res.status = 599;
    res.status = 200;
    assert.equal(res.status, 200);
  });

  test("abort(600) and res.status = 103 in a handler → logged 500; app.fetch does not reject", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.get("/abort600", () => abort(600));
    app.get("/early-hints", (_req, res) => {
      res.status = 103;
      return "x";
    });
    for (const path of ["/abort600", "/early-hints"]) assert.equal((await call(app, path)).status, 500, path);
    assert.equal(logged.length, 2);
    assert.match(logged[0], /200 to 599/);
  });

  test("205 Reset Content is sent without a body, whatever the handler returns", async () => {
    const app = new Carafe();
    app.get("/205", (_req, res) => {
      res.status = 205;
      return "ignored";
    });
    app.get("/205r", () => new HTTPResponse({ a: 1 }, 205));
    for (const path of ["/205", "/205r"]) {
      const res = await call(app, path);
      assert.equal(res.status, 205, path);
      assert.equal(res.headers.get("content-type"), null);
      assert.equal(await res.text(), "");
    }
  });

  test("a reply that cannot become a Response (a locked stream) → logged 500; app.fetch does not reject", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.get("/locked", () => {
      const stream = new ReadableStream<Uint8Array>();
      stream.getReader();
      return stream;
    });
    app.get("/ok", () => "ok");
    const res = await call(app, "/locked");
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "Internal Server Error");
    assert.equal(logged.length, 1);
    assert.equal(await (await call(app, "/ok")).text(), "ok");
  });
});

describe("HEAD", () => {
  test("a HEAD handler's explicit Content-Length survives a null body; GET-less null gives 0", async () => {
    const app = new Carafe();
    app.head("/h", (_req, res) => {
      res.setHeader("content-length", "1234");
      return null;
    });
    app.get("/null", () => null);
    const h = await call(app, "/h", { method: "HEAD" });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get("content-length"), "1234");
    assert.equal((await call(app, "/null", { method: "HEAD" })).headers.get("content-length"), "0");
  });

  test("a returned Response: HEAD carries the Content-Length GET would (only the Response's own, a stream's length is unknown)", async () => {
    const app = new Carafe();
    app.get("/sized", () => new Response("abcdef", { headers: { "content-length": "6" } }));
    app.get("/unsized", () => new Response("abcdef"));
    for (const path of ["/sized", "/unsized"]) {
      const get = await call(app, path);
      const head = await call(app, path, { method: "HEAD" });
      assert.equal(await get.text(), "abcdef");
      assert.equal(head.headers.get("content-length"), get.headers.get("content-length"), path);
      assert.equal(await head.text(), "");
    }
    assert.equal((await call(app, "/sized", { method: "HEAD" })).headers.get("content-length"), "6");
  });
});

describe("header injection", () => {
  test("CR/LF through HTTPResponse headers, res.addHeader and res.setCookie → 500; the app goes on", async () => {
    const app = quiet();
    app.get("/hr", (req) => new HTTPResponse("x", 200, { "x-v": req.query.get("v")! }));
    app.get("/add", (req, res) => {
      res.addHeader("x-v", req.query.get("v")!);
      return "x";
    });
    app.get("/cookie", (req, res) => {
      res.setCookie("c", req.query.get("v")!);
      return "x";
    });
    app.get("/cookie-path", (req, res) => {
      res.setCookie("c", "v", { path: req.query.get("v")! });
      return "x";
    });
    for (const path of ["/hr", "/add", "/cookie", "/cookie-path"]) {
      const evil = await call(app, `${path}?v=/a%0D%0ASet-Cookie:%20evil=1`);
      assert.equal(evil.status, 500, path);
      assert.doesNotMatch(evil.headers.get("set-cookie") ?? "", /evil/);
      assert.equal((await call(app, `${path}?v=/fine`)).status, 200, path);
    }
  });

  test("other control characters (which the servers refuse to send) are refused where they are set; tab is fine", async () => {
    const app = quiet();
    app.get("/h", (req, res) => {
      res.setHeader("x-v", req.query.get("v")!);
      return "x";
    });
    assert.equal((await call(app, "/h?v=a%01b")).status, 500);
    assert.equal((await call(app, "/h?v=a%7Fb")).status, 500);
    const tab = await call(app, "/h?v=a%09b");
    assert.equal(tab.status, 200);
    assert.equal(tab.headers.get("x-v"), "a\tb");
  });
});

describe("after_request hook failures", () => {
  test("a stream that will not be sent because a hook threw is cancelled (its generator's finally runs)", async () => {
    let closed = false;
    const app = quiet();
    app.hook("after_request", () => {
      throw new Error("hook failed");
    });
    app.get("/s", () =>
      new ReadableStream({
        pull(c) {
          c.enqueue(new TextEncoder().encode("x"));
        },
        cancel() {
          closed = true;
        },
      }));
    const res = await call(app, "/s");
    assert.equal(res.status, 500);
    await res.text();
    assert.equal(closed, true);
  });
});

describe("default error page", () => {
  test("is text/html; charset=UTF-8 for 404, abort and exceptions", async () => {
    const app = quiet();
    app.get("/abort", () => abort(403, "no"));
    app.get("/boom", () => {
      throw new Error("boom");
    });
    for (const path of ["/missing", "/abort", "/boom"]) {
      const res = await call(app, path);
      assert.equal(res.headers.get("content-type"), "text/html; charset=UTF-8", path);
      assert.match(await res.text(), /^<!DOCTYPE html>/);
    }
  });
});

describe("streaming: errors and chunk types", () => {
  test("an HTTPResponse as a generator's first item, or a redirect() before it, is the answer (Bottle)", async () => {
    const app = new Carafe();
    app.get("/yielded", function* () {
      yield new HTTPResponse("test", 201, { "x-a": "1" });
      yield "never sent";
    });
    app.get("/redirect", async function* () {
      redirect("/elsewhere");
      yield "never sent";
    });
    app.get("/error", function* () {
      yield new HTTPError(404, "gone");
    });
    app.error(404, (err) => `custom ${err.body}`);
    const yielded = await call(app, "/yielded");
    assert.deepEqual([yielded.status, yielded.headers.get("x-a"), await yielded.text()], [201, "1", "test"]);
    const moved = await call(app, "/redirect");
    assert.deepEqual([moved.status, moved.headers.get("location")], [303, "/elsewhere"]);
    const gone = await call(app, "/error");
    assert.deepEqual([gone.status, await gone.text()], [404, "custom gone"]);
  });

  test("a generator that throws before its first chunk → 500 through the error handlers, logged", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    // A generator that fails before yielding anything is the point of this test.
    // deno-lint-ignore require-yield
    app.get("/sync", function* () {
      throw new Error("no data");
    });
    // deno-lint-ignore require-yield
    app.get("/async", async function* () {
      await new Promise((r) => setTimeout(r, 1));
      throw new Error("no data");
    });
    app.error(500, (err) => `handled: ${(err.cause as Error).message}`);
    for (const path of ["/sync", "/async"]) {
      const res = await call(app, path);
      assert.equal(res.status, 500, path);
      assert.equal(await res.text(), "handled: no data");
    }
    assert.equal(logged.length, 2);
    assert.match(logged[0], /^GET \/sync: Error: no data/);
  });

  test("status and headers set by a generator before its first chunk are sent", async () => {
    const app = new Carafe();
    app.get("/g", function* (_req, res) {
      res.status = 201;
      res.setHeader("x-gen", "1");
      yield "a";
      yield "b";
    });
    const res = await call(app, "/g");
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("x-gen"), "1");
    assert.equal(await res.text(), "ab");
  });

  test("an error later in the stream is logged and aborts the stream", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.get("/late", async function* () {
      yield "ok\n";
      throw new Error("db went away");
    });
    const res = await call(app, "/late");
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    assert.equal(logged.length, 1);
    assert.match(logged[0], /^GET \/late: .*db went away/s);
  });

  test("chunks: strings, Uint8Array, ArrayBuffer and other views are bytes; other values error the stream clearly", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.get("/bytes", function* () {
      yield "a";
      yield new Uint8Array([98]);
      yield new Uint8Array([99]).buffer;
      yield new Uint16Array([0x6464]);
      yield new DataView(new Uint8Array([101]).buffer);
    });
    app.get("/object", function* () {
      yield "a";
      yield { not: "bytes" };
    });
    app.get("/object-first", function* () {
      yield { not: "bytes" };
    });
    assert.equal(await (await call(app, "/bytes")).text(), "abcdde");
    const res = await call(app, "/object");
    assert.equal(res.status, 200);
    await assert.rejects(res.text(), /string or bytes/);
    assert.match(logged[0], /GET \/object: .*string or bytes.*Object/s);
    // The first chunk is produced before the status is sent, so a bad one is still a 500.
    assert.equal((await call(app, "/object-first")).status, 500);
  });
});
