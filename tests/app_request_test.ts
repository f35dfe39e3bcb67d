// The request object: lazy parsing, query, headers, cookies, auth, proxies, bodies and limits.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Carafe } from "../mod.ts";
import { call } from "./_helpers.ts";

const json = async (app: Carafe, path: string, init?: RequestInit, info?: { remoteAddr?: string }) => {
  const res = await call(app, path, init, info);
  return [res.status, await res.json()] as const;
};

/** A body that arrives in chunks without a Content-Length, like a chunked upload. */
function streamed(total: number, chunk = 64 * 1024): RequestInit {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(chunk, total - sent);
      sent += n;
      c.enqueue(new Uint8Array(n).fill(120));
    },
  });
  return { method: "POST", body, duplex: "half" } as RequestInit;
}

describe("lazy parsing", () => {
  test("a hello-world request reads only method and url", async () => {
    const app = new Carafe();
    app.get("/", () => "hi");
    const touched = new Set<string>();
    const real = new Request("http://localhost/");
    const spy = new Proxy(real, {
      get(target, prop) {
        touched.add(String(prop));
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const res = await app.fetch(spy);
    assert.equal(await res.text(), "hi");
    assert.deepEqual([...touched].sort(), ["method", "url"]);
  });
});

describe("request data", () => {
  test("query, headers, path, fullpath, contentType, contentLength, isXhr", async () => {
    const app = new Carafe();
    app.post("/p/<x>", (req) => ({
      a: req.query.getAll("a"),
      qs: req.queryString,
      ua: req.headers.get("user-agent"),
      path: req.path,
      fullpath: req.fullpath,
      url: req.url,
      ct: req.contentType,
      cl: req.contentLength,
      xhr: req.isXhr,
      method: req.method,
    }));
    const [status, body] = await json(app, "/p/y?a=1&a=2&b=%C3%A9", {
      method: "POST",
      headers: { "content-length": "3", "user-agent": "t", "content-type": "Text/Plain; charset=utf-8", "x-requested-with": "XMLHttpRequest" },
      body: "abc",
    });
    assert.equal(status, 200);
    assert.deepEqual(body, {
      a: ["1", "2"],
      qs: "a=1&a=2&b=%C3%A9",
      ua: "t",
      path: "/p/y",
      fullpath: "/p/y",
      url: "http://localhost/p/y?a=1&a=2&b=%C3%A9",
      ct: "text/plain",
      cl: 3,
      xhr: true,
      method: "POST",
    });
  });

  test("cookies: parsed, malformed pairs skipped; signed cookies verify and reject tampering", async () => {
    const app = new Carafe();
    app.get("/c", (req) => req.cookies);
    app.get("/set", (_req, res) => {
      res.setSignedCookie("user", "alice", "s3cret", { httpOnly: true });
      return "";
    });
    app.get("/get", (req) => ({ user: req.getSignedCookie("user", "s3cret") ?? null }));
    const [, cookies] = await json(app, "/c", { headers: { cookie: "a=1; junk; b=two; =x" } });
    assert.equal(cookies.a, "1");
    assert.equal(cookies.b, "two");
    const set = (await call(app, "/set")).headers.get("set-cookie")!;
    const pair = set.split(";")[0];
    assert.deepEqual(await json(app, "/get", { headers: { cookie: pair } }), [200, { user: "alice" }]);
    const value = pair.slice("user=".length);
    const tampered = `user=${value.replace("alice", "admin")}`;
    assert.deepEqual(await json(app, "/get", { headers: { cookie: tampered } }), [200, { user: null }]);
    assert.deepEqual(await json(app, "/get", { headers: { cookie: "user=alice" } }), [200, { user: null }]);
  });

  test("auth parses Basic credentials and ignores garbage", async () => {
    const app = new Carafe();
    app.get("/a", (req) => ({ auth: req.auth ?? null }));
    const basic = "Basic " + btoa("user:pa:ss");
    assert.deepEqual(await json(app, "/a", { headers: { authorization: basic } }), [200, { auth: ["user", "pa:ss"] }]);
    assert.deepEqual(await json(app, "/a", { headers: { authorization: "Basic !!!" } }), [200, { auth: null }]);
    assert.deepEqual(await json(app, "/a", { headers: { authorization: "Bearer x" } }), [200, { auth: null }]);
  });
});

describe("remoteAddr when the runtime calls app.fetch itself (export default app)", () => {
  test("deno serve's { remoteAddr: { hostname } } and bun's server.requestIP(request) give the address", async () => {
    const app = new Carafe({ trustProxy: "loopback" });
    app.get("/ip", (req) => ({ addr: req.remoteAddr ?? null, url: req.url }));
    const ask = async (info: unknown) =>
      await (await app.fetch(new Request("http://localhost/ip", { headers: { "x-forwarded-proto": "https" } }), info as never)).json();
    assert.deepEqual(await ask({ remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 5555 } }), { addr: "127.0.0.1", url: "https://localhost/ip" });
    const seen: Request[] = [];
    const bunServer = { requestIP: (r: Request) => (seen.push(r), { address: "::1", family: "IPv6", port: 1 }), port: 8080 };
    assert.deepEqual(await ask(bunServer), { addr: "::1", url: "https://localhost/ip" });
    assert.ok(seen[0] instanceof Request, "requestIP gets the request");
    assert.deepEqual(await ask({ requestIP: () => null }), { addr: null, url: "http://localhost/ip" });
    assert.deepEqual(await ask({ remoteAddr: { hostname: 5 } }), { addr: null, url: "http://localhost/ip" });
  });
});

describe("trustProxy", () => {
  const make = (trustProxy: boolean | "loopback" | string[]) => {
    const app = new Carafe({ trustProxy });
    app.get("/ip", (req) => ({ addr: req.remoteAddr, route: req.remoteRoute, url: req.url }));
    return app;
  };
  const headers = { "x-forwarded-for": "203.0.113.5, 10.0.0.7", "x-forwarded-proto": "https", "x-forwarded-host": "example.com" };

  test("off by default: forwarded headers are ignored", async () => {
    const [, body] = await json(make(false), "/ip", { headers }, { remoteAddr: "127.0.0.1" });
    assert.deepEqual(body, { addr: "127.0.0.1", route: ["127.0.0.1"], url: "http://localhost/ip" });
  });

  test("true: every hop is believed", async () => {
    const [, body] = await json(make(true), "/ip", { headers }, { remoteAddr: "127.0.0.1" });
    assert.equal(body.addr, "203.0.113.5");
    assert.equal(body.url, "https://example.com/ip");
  });

  test("loopback: only the loopback hop is believed, resolved right to left", async () => {
    const [, body] = await json(make("loopback"), "/ip", { headers }, { remoteAddr: "127.0.0.1" });
    assert.equal(body.addr, "10.0.0.7");
    assert.deepEqual(body.route, ["10.0.0.7", "127.0.0.1"]);
    const [, direct] = await json(make("loopback"), "/ip", { headers }, { remoteAddr: "192.0.2.1" });
    assert.equal(direct.addr, "192.0.2.1");
    assert.equal(direct.url, "http://localhost/ip");
  });

  test("an invalid trustProxy assigned after construction: logged, no proxy trusted, requests still answered", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.get("/ip", (req) => req.remoteAddr ?? "-");
    (app.config as { trustProxy: unknown }).trustProxy = "bogus";
    const res = await app.fetch(new Request("http://localhost/ip", { headers: { "x-forwarded-for": "6.6.6.6" } }), { remoteAddr: "127.0.0.1" });
    assert.equal(await res.text(), "127.0.0.1");
    assert.match(logged.join("\n"), /trustProxy is invalid/);
  });

  test("a list with CIDR ranges", async () => {
    const [, body] = await json(make(["127.0.0.1", "10.0.0.0/8"]), "/ip", { headers }, { remoteAddr: "127.0.0.1" });
    assert.equal(body.addr, "203.0.113.5");
    assert.throws(() => new Carafe({ trustProxy: ["10.0.0.0/40"] }).fetch(new Request("http://x/")), /CIDR/);
  });
});

describe("bodies", () => {
  test("text, json, bytes can be read more than once", async () => {
    const app = new Carafe();
    app.post("/b", async (req) => ({ text: await req.text(), json: await req.json(), n: (await req.bytes()).length }));
    assert.deepEqual(await json(app, "/b", { method: "POST", body: '{"k":[1]}' }), [
      200,
      { text: '{"k":[1]}', json: { k: [1] }, n: 9 },
    ]);
  });

  test("with a declared length (the native whole-body read) in either order: bytes then text, text then bytes", async () => {
    const app = new Carafe();
    app.post("/bt", async (req) => ({ n: (await req.bytes()).length, text: await req.text(), json: await req.json() }));
    app.post("/tb", async (req) => ({ json: await req.json(), text: await req.text(), n: (await req.bytes()).length }));
    const body = '{"k":"瓶"}'; // 11 bytes, 9 UTF-16 units
    const init = () => ({ method: "POST", body, headers: { "content-length": "11" } });
    for (const path of ["/bt", "/tb"]) {
      const [status, got] = await json(app, path, init());
      assert.equal(status, 200, path);
      assert.deepEqual(got, { n: 11, text: body, json: { k: "瓶" } }, path);
    }
  });

  test("json(): malformed or blank → 400, empty → undefined, with and without a declared length", async () => {
    const app = new Carafe();
    app.post("/j", async (req) => ({ got: (await req.json()) ?? "nothing" }));
    for (const declare of [true, false]) {
      const post = (body: string) => call(app, "/j", { method: "POST", body, headers: declare ? { "content-length": String(new TextEncoder().encode(body).length) } : {} });
      assert.equal((await post('{"broken":')).status, 400, `declared: ${declare}`);
      assert.equal((await post("  \r\n")).status, 400, `declared: ${declare}`);
      assert.deepEqual(await (await post("")).json(), { got: "nothing" }, `declared: ${declare}`);
      assert.deepEqual(await (await post(' {"ok":true} ')).json(), { got: { ok: true } }, `declared: ${declare}`);
    }
  });

  test("malformed JSON → 400 and the app keeps serving", async () => {
    const app = new Carafe();
    app.post("/j", async (req) => ({ got: await req.json() }));
    assert.equal((await call(app, "/j", { method: "POST", body: '{"broken":' })).status, 400);
    assert.deepEqual(await json(app, "/j", { method: "POST", body: "[1]" }), [200, { got: [1] }]);
  });

  test("form: urlencoded and multipart (with a file); broken multipart → 400", async () => {
    const app = new Carafe();
    app.post("/f", async (req) => {
      const form = await req.form();
      const file = form.get("file");
      return {
        name: form.get("name"),
        tags: form.getAll("tag"),
        file: file instanceof Blob ? await file.text() : null,
      };
    });
    const urlencoded = await json(app, "/f", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "name=caf%C3%A9&tag=a&tag=b",
    });
    assert.deepEqual(urlencoded, [200, { name: "café", tags: ["a", "b"], file: null }]);
    const fd = new FormData();
    fd.append("name", "x");
    fd.append("file", new Blob(["file content"]), "f.txt");
    assert.deepEqual(await json(app, "/f", { method: "POST", body: fd }), [200, { name: "x", tags: [], file: "file content" }]);
    for (const contentType of ["multipart/form-data; boundary=XYZ", "multipart/form-data"]) {
      const broken = await call(app, "/f", {
        method: "POST",
        headers: { "content-type": contentType },
        body: "this is not a multipart body at all",
      });
      assert.equal(broken.status, 400, contentType);
    }
  });

  test("maxBodySize: declared length → 413 before reading", async () => {
    const app = new Carafe({ maxBodySize: 10 });
    app.post("/up", async (req) => String((await req.bytes()).length));
    app.post("/ok", async (req) => String((await req.bytes()).length));
    const res = await call(app, "/up", { method: "POST", body: "x".repeat(11) });
    assert.equal(res.status, 413);
    assert.equal(await (await call(app, "/ok", { method: "POST", body: "x".repeat(10) })).text(), "10");
  });

  test("maxBodySize: a streamed body without Content-Length is counted → 413", async () => {
    const app = new Carafe({ maxBodySize: 100_000 });
    app.post("/up", async (req) => String((await req.bytes()).length));
    app.post("/stream", async (req) => {
      let n = 0;
      for await (const chunk of req.body!) n += chunk.length;
      return String(n);
    });
    assert.equal((await call(app, "/up", streamed(200_000))).status, 413);
    assert.equal((await call(app, "/stream", streamed(200_000))).status, 413);
    assert.equal(await (await call(app, "/up", streamed(50_000))).text(), "50000");
  });

  test("maxBodySize: text(), json() and form() count a streamed body too → 413", async () => {
    const app = new Carafe({ maxBodySize: 100_000 });
    app.post("/text", async (req) => String((await req.text()).length));
    app.post("/json", async (req) => String(await req.json()));
    app.post("/form", async (req) => String([...(await req.form()).keys()].length));
    for (const path of ["/text", "/json", "/form"]) {
      assert.equal((await call(app, path, streamed(200_000))).status, 413, path);
    }
    assert.equal(await (await call(app, "/text", streamed(50_000))).text(), "50000");
  });

  test("req.signal aborts while the handler is still running", async () => {
    const app = new Carafe();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    app.get("/wait", (req) => {
      started();
      // A handler waiting on slow work gives up when the client goes away.
      return new Promise((resolve) => req.signal.addEventListener("abort", () => resolve(`aborted: ${req.signal.aborted}`)));
    });
    const controller = new AbortController();
    const pending = app.fetch(new Request("http://localhost/wait", { signal: controller.signal }));
    await running;
    assert.equal(controller.signal.aborted, false);
    controller.abort();
    assert.equal(await (await pending).text(), "aborted: true");
  });

  test("lying Content-Length (smaller than the body) through app.fetch → 413 once the real size is known", async () => {
    const app = new Carafe({ maxBodySize: 10 });
    app.post("/up", async (req) => String((await req.bytes()).length));
    app.post("/text", async (req) => String((await req.text()).length));
    const lying = (path: string, body: string) => new Request(`http://localhost${path}`, { method: "POST", body, headers: { "content-length": "5" } });
    assert.equal((await app.fetch(lying("/up", "x".repeat(100)))).status, 413);
    assert.equal((await app.fetch(lying("/text", "x".repeat(100)))).status, 413);
    // 4 UTF-16 units, 12 bytes: counted in bytes, not in characters.
    assert.equal((await app.fetch(lying("/text", "瓶瓶瓶瓶"))).status, 413);
    assert.equal(await (await app.fetch(lying("/text", "瓶瓶瓶"))).text(), "3");
    assert.equal(await (await call(app, "/up", { method: "POST", body: "x".repeat(10) })).text(), "10");
  });

  test("req.body read twice is the same stream", async () => {
    const app = new Carafe();
    app.post("/twice", async (req) => {
      const first = req.body;
      const second = req.body;
      return `${first === second} ${await new Response(second).text()}`;
    });
    const res = await call(app, "/twice", { method: "POST", body: "payload" });
    assert.deepEqual([res.status, await res.text()], [200, "true payload"]);
  });

  test("form() on a non-form content type → 400 saying which types are forms; no type reads as urlencoded", async () => {
    const app = new Carafe();
    app.post("/f", async (req) => Object.fromEntries(await req.form()));
    for (const type of ["application/json", "text/plain"]) {
      const res = await call(app, "/f", { method: "POST", headers: { "content-type": type }, body: '{"a":1}' });
      assert.equal(res.status, 400, type);
      assert.match(await res.text(), /application\/x-www-form-urlencoded or multipart\/form-data/);
    }
    const untyped = new Request("http://localhost/f", { method: "POST", body: new TextEncoder().encode("a=1") });
    assert.equal(untyped.headers.get("content-type"), null);
    assert.deepEqual(await (await app.fetch(untyped)).json(), { a: "1" });
  });

  test("after a broken multipart body and a malformed cookie the same app answers normally", async () => {
    const app = new Carafe();
    app.post("/f", async (req) => Object.fromEntries(await req.form()));
    app.get("/c", (req) => req.cookies);
    const broken = await call(app, "/f", {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=XYZ" },
      body: "this is not a multipart body at all",
    });
    assert.equal(broken.status, 400);
    const odd = await call(app, "/c", { headers: { cookie: 'a=%E0%A4%A; =; ;b="unclosed; c=%ZZ; d=1' } });
    assert.equal(odd.status, 200);
    assert.equal((await odd.json()).d, "1");
    const fd = new FormData();
    fd.append("a", "fine");
    assert.deepEqual(await json(app, "/f", { method: "POST", body: fd }), [200, { a: "fine" }]);
    assert.deepEqual(await json(app, "/c", { headers: { cookie: "x=y" } }), [200, { x: "y" }]);
  });
});
