// Bottle's own test suite, ported to Carafe: the behaviour-level assertions of
// test_router.py, test_wsgi.py, test_outputfilter.py, test_environ.py (request and
// response), test_sendfile.py, test_securecookies.py, test_stpl.py, test_mount.py and
// test_plugins.py, through app.fetch(). Names follow Carafe (docs/reference.md); what is
// Python/WSGI-specific or deliberately decided otherwise (docs/bottle.md, "Where Carafe and Bottle differ") is left out.
// Each test names the Bottle test it comes from.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  abort,
  Carafe,
  defaultApp,
  get,
  HTTPError,
  HTTPResponse,
  popDefaultApp,
  pushDefaultApp,
  redirect,
  RouteBuildError,
  RouteSyntaxError,
  staticFile,
  template,
  TemplateError,
  url,
  view,
  type AnyHandler,
  type Plugin,
} from "../mod.ts";
import { compiled } from "./_helpers.ts";

// Fixtures stay in the source tree; the compiled tests under npm/esm/tests reach back to them.
const FIXTURES = fileURLToPath(
  new URL(compiled ? "../../../tests/fixtures/bottle_parity/" : "./fixtures/bottle_parity/", import.meta.url),
);
const STATIC = join(FIXTURES, "static");
const VIEWS = join(FIXTURES, "views");
const lookup = [VIEWS];
const SAMPLE = join(STATIC, "sample.txt");

/** An app that does not log the exceptions the tests provoke. */
const quiet = (options: { debug?: boolean; maxBodySize?: number; trustProxy?: boolean } = {}) =>
  new Carafe({ logger: () => {}, ...options });

const call = (app: Carafe, path: string, init?: RequestInit, info?: { remoteAddr?: string }) =>
  app.fetch(new Request(path.includes("://") ? path : `http://127.0.0.1${path}`, init), info);

/** [status, body text] */
async function text(app: Carafe, path: string, init?: RequestInit): Promise<readonly [number, string]> {
  const res = await call(app, path, init);
  return [res.status, await res.text()] as const;
}

const status = async (app: Carafe, path: string, init?: RequestInit) => (await call(app, path, init)).status;

/** A web Request with a string body is text/plain, which form() refuses (Bottle parses any non-multipart body). */
const FORM = { "content-type": "application/x-www-form-urlencoded" };

const bytesOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());

// ---------------------------------------------------------------------------
// test_router.py
// ---------------------------------------------------------------------------

describe("test_router.py", () => {
  /** Bottle's assertMatches: routes accumulate on one app; each answers with its rule and params. */
  function matcher() {
    const app = quiet();
    return {
      app,
      async matches(rule: string, path: string, params: Record<string, unknown>) {
        app.get(rule, (req) => ({ rule, params: { ...req.params } }));
        const res = await call(app, path);
        assert.equal(res.status, 200, `${rule} should match ${path}`);
        assert.deepEqual(await res.json(), { rule, params });
      },
    };
  }

  test("testNewSyntax: static, escaped '<', anonymous and named wildcards; no match → 404", async () => {
    const { app, matches } = matcher();
    await matches("/static", "/static", {});
    await matches("/\\<its>/<:re:.+>/<test>/<name:re:[a-z]+>/", "/<its>/a/cruel/world/", { test: "cruel", name: "world" });
    await matches("/<test>", "/test", { test: "test" }); // no tail
    await matches("/<test>/", "/test/", { test: "test" }); // middle
    await matches("/<:re:anon>/match", "/anon/match", {}); // anonymous wildcards are not passed
    assert.equal(await status(app, "//no/m/at/ch/"), 404);
  });

  test("testValueErrorInFilter: a custom filter whose conversion throws → 400", async () => {
    const app = quiet();
    app.router.addFilter("test", () => ({
      pattern: ".*",
      toValue: (raw) => {
        if (!/^\d+$/.test(raw)) throw new Error(`not an int: ${raw}`);
        return Number(raw);
      },
    }));
    app.get("/int/<i:test>", (req) => ({ ...req.params }));
    const res = await call(app, "/int/5");
    assert.deepEqual(await res.json(), { i: 5 });
    assert.equal(await status(app, "/int/noint"), 400);
  });

  test("testIntFilter and testFloatFilter: typed values, non-matching text → 404, '.' → 400", async () => {
    const app = quiet();
    app.get("/object/<id:int>", (req) => ({ id: req.params.id }));
    app.get("/float/<id:float>", (req) => ({ id: req.params.id }));
    app.get("/f<id:float>", (req) => ({ id: req.params.id }));
    assert.deepEqual(await (await call(app, "/object/567")).json(), { id: 567 });
    assert.equal(await status(app, "/object/abc"), 404);
    for (const [raw, value] of [["1", 1], ["1.1", 1.1], [".1", 0.1], ["1.", 1]] as const) {
      assert.deepEqual(await (await call(app, `/float/${raw}`)).json(), { id: value }, raw);
    }
    assert.equal(await status(app, "/float/abc"), 404);
    assert.equal(await status(app, "/float/"), 404);
    // Bottle: '/object/.' → HTTPError (400). A lone "." segment never reaches a route
    // (URL normalisation, then Carafe's dot-segment 403), so the rule ends in the float.
    assert.equal(await status(app, "/f."), 400);
  });

  test("testPathFilter and testWildcardNames", async () => {
    const paths = matcher();
    await paths.matches("/<id:path>/<f>", "/a/b", { id: "a", f: "b" });
    await paths.matches("/<id:path>", "/a", { id: "a" });
    const names = matcher();
    await names.matches("/alpha/<abc>", "/alpha/alpha", { abc: "alpha" });
    await names.matches("/alnum/<md5>", "/alnum/sha1", { md5: "sha1" });
  });

  test("testParentheses: literal parentheses, and groups inside a regex wildcard", async () => {
    const { app, matches } = matcher();
    await matches("/func(<param>)", "/func(foo)", { param: "foo" });
    await matches("/func2(<param:re:(foo|bar)>)", "/func2(foo)", { param: "foo" });
    assert.deepEqual((await (await call(app, "/func2(bar)")).json()).params, { param: "bar" });
    assert.equal(await status(app, "/func2(baz)"), 404);
  });

  test("testErrorInPattern: an invalid regex fails when the route is added", () => {
    const app = quiet();
    assert.throws(() => app.get("/<bug:re:(>/", () => ""), RouteSyntaxError);
    assert.throws(() => app.get("/<:re:(>/", () => ""), RouteSyntaxError);
  });

  test("testBuild: named wildcards, extra params as query, missing argument → RouteBuildError", () => {
    const app = quiet();
    app.get("/<test>/<name:re:[a-z]+>/", () => "", { name: "testroute" });
    assert.equal(app.url("testroute", { test: "hello", name: "world" }), "/hello/world/");
    assert.equal(app.url("testroute", { test: "hello", name: "world", q: "value" }), "/hello/world/?q=value");
    assert.throws(() => app.url("testroute", { test: "hello" }), RouteBuildError);
    assert.throws(() => app.url("no-such-route"), RouteBuildError);
  });

  test("testBuildAnon and testBuildFilter: anonymous wildcards are filled as anon0…, through the filter", () => {
    const app = quiet();
    app.get("/anon/<>", () => "", { name: "anonroute" });
    app.get("/int/<:int>", () => "", { name: "introute" });
    assert.equal(app.url("anonroute", { anon0: "hello" }), "/anon/hello");
    assert.equal(app.url("anonroute", { anon0: "hello", q: "value" }), "/anon/hello?q=value");
    assert.throws(() => app.url("anonroute"), RouteBuildError);
    assert.equal(app.url("introute", { anon0: "5" }), "/int/5");
    assert.throws(() => app.url("introute", { anon0: "hello" })); // Bottle: ValueError
  });

  test("test_dynamic_before_static_any / test_any_static_before_dynamic / test_dynamic_any_if_method_exists", async () => {
    const a = quiet();
    a.route("/foo", "ANY", () => "foo");
    assert.deepEqual(await text(a, "/foo"), [200, "foo"]);
    a.get("/<>", () => "bar");
    assert.deepEqual(await text(a, "/foo"), [200, "bar"], "a dynamic GET beats a static ANY");

    const b = quiet();
    b.route("/<>", "ANY", () => "bar");
    assert.deepEqual(await text(b, "/foo"), [200, "bar"]);
    b.route("/foo", "ANY", () => "foo");
    assert.deepEqual(await text(b, "/foo"), [200, "foo"], "a static ANY beats a dynamic ANY");

    const c = quiet();
    c.get("/bar<>", () => "bar");
    assert.deepEqual(await text(c, "/barx"), [200, "bar"]);
    c.route("/foo<>", "ANY", () => "foo");
    assert.deepEqual(await text(c, "/foox"), [200, "foo"], "dynamic ANY is tried when GET has routes but none matches");
  });

  test("test_lots_of_routes: more routes than one regex has groups", async () => {
    const app = quiet();
    const n = 99 + 10;
    for (let i = 0; i < n; i++) app.get(`/<>/${i}`, () => String(i));
    assert.deepEqual(await text(app, `/foo/${n - 1}`), [200, String(n - 1)]);
    assert.deepEqual(await text(app, "/foo/0"), [200, "0"]);
  });

  // test_ordering* come from Bottle PR #518 (specificity ordering), never merged: Bottle
  // tries dynamic routes in definition order (issue #843), and so does Carafe.
  test("test_ordering / test_ordering_post (both orders): dynamic routes are tried in definition order", async () => {
    for (const reverse of [false, true]) {
      const a = quiet();
      const first: Array<[string, string]> = [["/<path:path>", "a"], ["/test/<path:path>", "b"]];
      for (const [rule, target] of reverse ? first.reverse() : first) a.get(rule, () => target);
      assert.deepEqual(await text(a, "/xxx"), [200, "a"]);
      assert.deepEqual(await text(a, "/test/xxx"), [200, reverse ? "b" : "a"]);

      const b = quiet();
      const second: Array<[string, string]> = [
        ["/test/<path:path>", "a"],
        ["/test/<path:path>.html", "b"],
        ["/test/something/<path:path>", "c"],
      ];
      for (const [rule, target] of reverse ? second.reverse() : second) b.get(rule, () => target);
      assert.deepEqual(await text(b, "/test/xxx.html"), [200, reverse ? "b" : "a"]);
      assert.deepEqual(await text(b, "/test/something/xxx.html"), [200, reverse ? "c" : "a"]);
    }
  });

  test("test_ordering_override: the same dynamic rule added again replaces the first", async () => {
    const app = quiet();
    app.get("/<path:path>", () => "a");
    app.get("/<path:path>", () => "b");
    assert.deepEqual(await text(app, "/www"), [200, "b"]);
  });
});

// ---------------------------------------------------------------------------
// test_wsgi.py
// ---------------------------------------------------------------------------

describe("test_wsgi.py: routing, HEAD, 405, errors", () => {
  test("test_get / test_post: 404 elsewhere, 405 for the other method", async () => {
    const app = quiet();
    app.get("/", () => "test");
    assert.equal(await status(app, "/not/found"), 404);
    assert.equal(await status(app, "/", { method: "POST", body: "var=value" }), 405);
    assert.deepEqual(await text(app, "/"), [200, "test"]);

    const post = quiet();
    post.post("/", () => "test");
    assert.equal(await status(post, "/not/found"), 404);
    assert.equal(await status(post, "/"), 405);
    assert.deepEqual(await text(post, "/", { method: "POST", body: "var=value" }), [200, "test"]);
  });

  test("test_headget: a HEAD route does not answer GET; HEAD falls back to GET; bodies are dropped", async () => {
    const app = quiet();
    app.get("/get", () => "test");
    app.head("/head", () => "test");
    assert.equal(await status(app, "/head"), 405);
    assert.deepEqual(await text(app, "/head", { method: "HEAD" }), [200, ""]);
    const head = await call(app, "/get", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "4");
    assert.equal(await head.text(), "");
  });

  test("test_get204: a 204 answer drops Content-Type and Content-Length", async () => {
    const app = quiet();
    app.get("/", (_req, res) => {
      res.setHeader("content-type", "foo/bar");
      res.setHeader("content-length", "3");
      res.setHeader("x-kept", "yes");
      res.status = 204;
      return "abc";
    });
    const res = await call(app, "/");
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("content-type"), null);
    assert.equal(res.headers.get("content-length"), null);
    assert.equal(res.headers.get("x-kept"), "yes");
    assert.equal(await res.text(), "");
  });

  test("test_get304: a 304 answer drops every entity header", async () => {
    const entity = ["allow", "content-encoding", "content-language", "content-md5", "content-range", "content-type", "last-modified"];
    const app = quiet();
    app.get("/", (_req, res) => {
      for (const name of entity) res.setHeader(name, "foo");
      res.setHeader("content-length", "3");
      res.status = 304;
      return "abc";
    });
    const res = await call(app, "/");
    assert.equal(res.status, 304);
    for (const name of [...entity, "content-length"]) assert.equal(res.headers.get(name), null, `${name} not deleted`);
    assert.equal(await res.text(), "");
  });

  test("test_anymethod: ANY answers every method until a route for that method exists", async () => {
    const app = quiet();
    assert.equal(await status(app, "/any"), 404);
    app.route("/any", "ANY", () => "test");
    assert.equal(await status(app, "/any", { method: "HEAD" }), 200);
    for (const method of ["GET", "POST", "DELETE"]) assert.deepEqual(await text(app, "/any", { method }), [200, "test"], method);
    app.get("/any", () => "test2");
    assert.deepEqual(await text(app, "/any"), [200, "test2"]);
    app.post("/any", () => "test3");
    assert.deepEqual(await text(app, "/any", { method: "POST" }), [200, "test3"]);
    assert.deepEqual(await text(app, "/any", { method: "DELETE" }), [200, "test"]);
  });

  test("test_500 / test_500_unicode: an exception in a handler → 500, and the app keeps serving", async () => {
    const app = quiet();
    app.get("/", () => {
      throw new RangeError("1/0");
    });
    app.get("/u", () => {
      throw new Error("Unicode äöüß message.");
    });
    app.get("/ok", () => "ok");
    assert.equal(await status(app, "/"), 500);
    assert.equal(await status(app, "/u"), 500);
    assert.deepEqual(await text(app, "/ok"), [200, "ok"]);
  });

  test("test_utf8_url / test_utf8_404: UTF-8 in rules and paths", async () => {
    const app = quiet();
    app.get("/my-öäü/<string>", (req) => req.params.string);
    const res = await call(app, "/my-öäü/urf8-öäü");
    assert.equal(res.status, 200);
    assert.deepEqual(await bytesOf(res), new TextEncoder().encode("urf8-öäü"));
    assert.equal(await status(app, "/not-found/urf8-öäü"), 404);
  });

  test("test_401: abort(401); an error handler may change the status and render the error", async () => {
    const app = quiet();
    app.get("/", () => abort(401));
    assert.equal(await status(app, "/"), 401);
    app.error(401, (err, _req, res) => {
      res.status = 200;
      return err.constructor.name;
    });
    assert.deepEqual(await text(app, "/"), [200, "HTTPError"]);
  });

  test("test_303: redirect() → 303 (or the given code); the Location is the path, without host", async () => {
    const app = quiet();
    app.get("/", () => redirect("/yes"));
    app.get("/one", () => redirect("/yes", 305));
    const res = await call(app, "/");
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/yes");
    const one = await call(app, "/one");
    assert.equal(one.status, 305);
    assert.equal(one.headers.get("location"), "/yes");
  });

  test("test_cookie: every set cookie is its own Set-Cookie line", async () => {
    const app = quiet();
    app.get("/cookie", (_req, res) => {
      res.setCookie("b", "b");
      res.setCookie("c", "c", { path: "/" });
      return "hello";
    });
    const res = await call(app, "/cookie");
    const lines = res.headers.getSetCookie();
    assert.equal(lines.length, 2);
    assert.ok(lines[0].startsWith("b=b"), lines[0]);
    assert.ok(lines[1].startsWith("c=c") && lines[1].includes("Path=/"), lines[1]);
  });

  test("TestErrorHandling.test_error_routing: abort(code) is rendered by the handler for that code", async () => {
    const app = quiet();
    app.get("/<code:int>", (req) => abort(req.params.code));
    app.error(500, (err) => `${err.status} handled by 500`);
    app.error(404, (err) => `${err.status} handled by 404`);
    assert.deepEqual(await text(app, "/not_found"), [404, "404 handled by 404"]);
    assert.deepEqual(await text(app, "/500"), [500, "500 handled by 500"]);
    assert.deepEqual(await text(app, "/404"), [404, "404 handled by 404"]);
    // No handler for 403: the default page names the status.
    const [code, page] = await text(app, "/403");
    assert.equal(code, 403);
    assert.match(page, /403 Forbidden/);
  });
});

describe("test_wsgi.py: route decorators, apply, hooks, views, url building", () => {
  test("test_decorators: get/post/put/delete on one path", async () => {
    const app = quiet();
    const handler = (req: { method: string }) => req.method;
    app.get("/", handler);
    app.post("/", handler);
    app.put("/", handler);
    app.delete("/", handler);
    for (const verb of ["GET", "POST", "PUT", "DELETE"]) assert.deepEqual(await text(app, "/", { method: verb }), [200, verb]);
  });

  test("test_method / test_method_list: method names are case-insensitive; HEAD follows GET", async () => {
    const app = quiet();
    app.route("/test", "gEt", () => "ok");
    app.route("/list", ["GET", "post"], () => "ok");
    assert.deepEqual(await text(app, "/test"), [200, "ok"]);
    assert.equal(await status(app, "/test", { method: "HEAD" }), 200);
    assert.equal(await status(app, "/test", { method: "PUT" }), 405);
    assert.deepEqual(await text(app, "/list"), [200, "ok"]);
    assert.deepEqual(await text(app, "/list", { method: "POST" }), [200, "ok"]);
    assert.equal(await status(app, "/list", { method: "PUT" }), 405);
  });

  test("test_apply / test_apply_list: route-local decorators, the first listed outermost", async () => {
    const reverse = (h: AnyHandler): AnyHandler => async (req, res) => {
      const out = await h(req, res);
      return Array.isArray(out) ? [...out].reverse() : [...String(out)].reverse().join("");
    };
    const title = (h: AnyHandler): AnyHandler => async (req, res) => {
      const out = await h(req, res);
      const s = Array.isArray(out) ? out.join("") : String(out);
      return s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
    };
    const app = quiet();
    const handler = () => "12";
    app.get("/nodec", handler);
    app.get("/dec", handler, { apply: [reverse] });
    assert.deepEqual(await text(app, "/dec"), [200, "21"]);
    assert.deepEqual(await text(app, "/nodec"), [200, "12"]);
    const abc = () => ["a", "b", "c"];
    app.get("/revtitle", abc, { apply: [reverse, title] });
    app.get("/titlerev", abc, { apply: [title, reverse] });
    assert.deepEqual(await text(app, "/revtitle"), [200, "cbA"]);
    assert.deepEqual(await text(app, "/titlerev"), [200, "Cba"]);
  });

  test("test_hooks: before_request runs before the handler, after_request can set headers", async () => {
    const seen = new WeakMap<object, string>();
    const app = quiet();
    app.get("/test", (req) => seen.get(req) ?? "nohooks");
    app.hook("before_request", (req) => void seen.set(req, "before"));
    app.hook("after_request", (_req, res) => res.setHeader("X-Hook", "after"));
    const res = await call(app, "/test");
    assert.equal(await res.text(), "before");
    assert.equal(res.headers.get("x-hook"), "after");
  });

  test("test_after_request_sees_HTTPError_response (#671): after_request sees the error's status", async () => {
    const called: string[] = [];
    let seenStatus = 0;
    const app = quiet();
    app.hook("after_request", (_req, res) => {
      called.push("after");
      seenStatus = res.status;
    });
    app.get("/", () => {
      called.push("route");
      abort(400, "test");
    });
    assert.equal(await status(app, "/"), 400);
    assert.deepEqual(called, ["route", "after"]);
    assert.equal(seenStatus, 400);
  });

  test("test_after_request_hooks_run_after_exception (#671), also after one in a before_request hook", async () => {
    const called: string[] = [];
    const app = quiet();
    app.hook("before_request", () => void called.push("before"));
    app.hook("after_request", () => void called.push("after"));
    app.get("/", () => {
      called.push("route");
      throw new Error("1/0");
    });
    assert.equal(await status(app, "/"), 500);
    assert.deepEqual(called, ["before", "route", "after"]);

    const called2: string[] = [];
    const app2 = quiet();
    app2.hook("before_request", () => {
      called2.push("before");
      throw new Error("1/0");
    });
    app2.hook("after_request", () => void called2.push("after"));
    app2.get("/", () => void called2.push("route"));
    assert.equal(await status(app2, "/"), 500);
    assert.deepEqual(called2, ["before", "after"]);
  });

  test("test_after_request_hooks_may_rise_response_exception (#671)", async () => {
    const called: string[] = [];
    const app = quiet();
    app.hook("after_request", () => {
      called.push("after");
      abort(400, "hook_content");
    });
    app.get("/", () => {
      called.push("route");
      return "XXX";
    });
    const [code, body] = await text(app, "/");
    assert.equal(code, 400);
    assert.ok(body.includes("hook_content"), body);
    assert.ok(!body.includes("XXX"));
    assert.deepEqual(called, ["route", "after"]);
  });

  test("TestDecorators.test_view: view() renders the returned object as HTML", async () => {
    const app = quiet();
    app.get("/tpl", view("stpl_main", {}, { lookup })(() => ({ content: "1234" })));
    const res = await call(app, "/tpl");
    assert.equal(res.headers.get("content-type"), "text/html; charset=UTF-8");
    assert.equal(await res.text(), "+base T+\n+main+\n!1234!\n+include main+\n-main-\n+include base+\n-base-\n");
  });

  test("TestDecorators.test_view_error: a view whose handler returns an HTTPError sends the error", async () => {
    const app = quiet();
    app.get("/tpl", view("stpl_main", {}, { lookup })(() => new HTTPError(401, "The cake is a lie!")));
    const [code, body] = await text(app, "/tpl");
    assert.equal(code, 401);
    assert.ok(body.includes("The cake is a lie!"), body);
    assert.ok(body.includes("401 Unauthorized"), body);
  });

  test("TestDecorators.test_truncate_body: 204 and 304 answers have no body", async () => {
    const app = quiet();
    app.get("/test/<code:int>", (req, res) => {
      res.status = req.params.code;
      return "Some body content";
    });
    assert.deepEqual(await text(app, "/test/200"), [200, "Some body content"]);
    assert.deepEqual(await text(app, "/test/204"), [204, ""]);
    assert.deepEqual(await text(app, "/test/304"), [304, ""]);
  });

  test("test_routebuild / test_name: url() of a named route, with the mount prefix", async () => {
    const app = quiet();
    app.get("/a/<b>/c", () => "", { name: "named" });
    assert.equal(app.url("named", { b: "xxx" }), "/a/xxx/c");
    const root = quiet();
    root.mount("/app", app);
    assert.equal(app.url("named", { b: "xxx" }), "/app/a/xxx/c");
    // The mounted app's route answers there.
    assert.equal(await status(root, "/app/a/xxx/c"), 200);
  });

  test("TestAppShortcuts: module-level get() and url() act on the default app; push/pop switch it", async () => {
    const before = defaultApp();
    const inner = new Carafe({ logger: () => {} });
    assert.equal(pushDefaultApp(inner), inner);
    try {
      assert.equal(defaultApp(), inner);
      get("/shortcut/<x>", (req) => `x=${req.params.x}`, { name: "shortcut" });
      assert.deepEqual(await text(inner, "/shortcut/1"), [200, "x=1"]);
      assert.equal(url("shortcut", { x: 2 }), "/shortcut/2");
    } finally {
      assert.equal(popDefaultApp(), inner);
    }
    assert.equal(defaultApp(), before);
    assert.equal(await status(before, "/shortcut/1"), 404);
  });
});

// ---------------------------------------------------------------------------
// test_outputfilter.py: what a handler may return
// ---------------------------------------------------------------------------

describe("test_outputfilter.py", () => {
  const one = (handler: AnyHandler, options: { debug?: boolean } = {}) => {
    const app = quiet(options);
    app.get("/", handler);
    return app;
  };

  test("test_bytes / test_bytearray: bytes, and a generator of bytes", async () => {
    assert.deepEqual(await text(one(() => new TextEncoder().encode("test")), "/"), [200, "test"]);
    const enc = new TextEncoder();
    assert.deepEqual(await text(one(function* () {
      for (const s of ["t", "e", "st"]) yield enc.encode(s);
    }), "/"), [200, "test"]);
  });

  test("test_none: null/undefined → empty body, Content-Length 0", async () => {
    for (const value of [null, undefined, ""]) {
      const res = await call(one(() => value), "/");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-length"), "0");
      assert.equal(await res.text(), "");
    }
  });

  test("test_illegal / test_error: an unsupported value or an exception → 500, named in debug mode", async () => {
    assert.equal(await status(one(() => 1234 as never), "/"), 500); // refused by the type too (cast_test)
    const [code, body] = await text(one(() => {
      throw new RangeError("division by zero");
    }, { debug: true }), "/");
    assert.equal(code, 500);
    assert.ok(body.includes("RangeError"), body);
  });

  test("test_unicode: strings are sent as UTF-8, with or without a charset in the type", async () => {
    const utf8 = new TextEncoder().encode("äöüß");
    assert.deepEqual(await bytesOf(await call(one(() => "äöüß"), "/")), utf8);
    const plain = await call(one((_req, res) => {
      res.contentType = "text/html";
      return "äöüß";
    }), "/");
    assert.equal(plain.headers.get("content-type"), "text/html");
    assert.deepEqual(await bytesOf(plain), utf8);
  });

  test("test_json: a plain object is sent as JSON", async () => {
    const res = await call(one(() => ({ a: 1 })), "/");
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(await res.json(), { a: 1 });
  });

  test("test_json_serialization_error: an object that cannot be serialised → 500, not application/json", async () => {
    const res = await call(one(() => ({ a: 1n })), "/");
    assert.equal(res.status, 500);
    assert.equal(res.headers.get("content-type"), "text/html; charset=UTF-8");
  });

  test("test_generator_callback: headers set before the first chunk are sent", async () => {
    const res = await call(one(function* (_req, res) {
      res.setHeader("Test-Header", "test");
      yield "foo";
    }), "/");
    assert.equal(await res.text(), "foo");
    assert.equal(res.headers.get("test-header"), "test");
  });

  test("test_error_in_generator_callback / test_invalid_generator_callback: a failing first chunk → 500", async () => {
    const failing = one(function* () {
      yield String(1 / (() => {
        throw new RangeError("division by zero");
      })());
    }, { debug: true });
    const [code, body] = await text(failing, "/");
    assert.equal(code, 500);
    assert.ok(body.includes("RangeError"), body);
    assert.equal(await status(one(function* () {
      yield 1234;
    }), "/"), 500);
  });

  test("test_unicode_generator_callback: streamed strings are UTF-8", async () => {
    const res = await call(one(function* () {
      yield "äöüß";
    }), "/");
    assert.deepEqual(await bytesOf(res), new TextEncoder().encode("äöüß"));
  });

  test("test_cookie: cookies set by the handler reach the client", async () => {
    const res = await call(one((_req, res) => {
      res.setCookie("a", "a");
      res.setCookie("b", "b");
      res.setCookie("c", "c", { path: "/" });
      return "hello";
    }), "/");
    assert.deepEqual(res.headers.getSetCookie().map((line) => line.split(";")[0]), ["a=a", "b=b", "c=c"]);
  });
});

// ---------------------------------------------------------------------------
// test_environ.py: the request
// ---------------------------------------------------------------------------

describe("test_environ.py: TestRequest", () => {
  /** An app whose every route answers with what the handler computes from req. */
  const probe = (fn: AnyHandler, options: { maxBodySize?: number; trustProxy?: boolean } = {}) => {
    const app = quiet(options);
    app.route("/<p:path>", "ANY", fn);
    app.route("/", "ANY", fn);
    return app;
  };

  test("test_method: standard methods sent in lower case are upper-cased", async () => {
    // (Mixed case is left out: Bun's Request turns "POst" into GET.)
    const app = probe((req) => req.method);
    for (const method of ["get", "post", "put", "delete"]) {
      assert.deepEqual(await text(app, "/", { method }), [200, method.toUpperCase()]);
    }
  });

  test("test_script_name / test_path / fullpath: the mount prefix is '/x/', the path inside it", async () => {
    const child = probe((req) => ({ scriptName: req.scriptName, path: req.path, fullpath: req.fullpath }));
    const app = quiet();
    app.mount("/x", child);
    assert.deepEqual(await (await call(app, "/x/y/")).json(), { scriptName: "/x/", path: "/y/", fullpath: "/x/y/" });
    assert.deepEqual(await (await call(child, "/x")).json(), { scriptName: "/", path: "/x", fullpath: "/x" });
  });

  test("test_url: scheme, host, prefix, path and query; spaces percent-encoded", async () => {
    const inner = probe((req) => req.url);
    const app = quiet();
    app.mount("/sp", inner);
    app.mount("/s p", inner);
    assert.deepEqual(await text(inner, "http://example.com/"), [200, "http://example.com/"]);
    assert.deepEqual(await text(inner, "http://example.com:81/"), [200, "http://example.com:81/"]);
    assert.deepEqual(await text(inner, "https://example.com/"), [200, "https://example.com/"]);
    assert.deepEqual(await text(app, "http://example.com/sp/path?1=b&c=d"), [200, "http://example.com/sp/path?1=b&c=d"]);
    assert.deepEqual(await text(app, "http://example.com/s p/pa th"), [200, "http://example.com/s%20p/pa%20th"]);
  });

  test("test_header_access / test_header_access_special: case-insensitive, Content-Type and -Length included", async () => {
    const app = probe((req) => ({
      some: req.headers.get("Some-Header"),
      other: req.headers.get("some-OTHER-header"),
      type: req.headers.get("Content-Type"),
      length: req.headers.get("Content-Length"),
      missing: req.headers.get("foo-bar"),
    }));
    const res = await call(app, "/", {
      method: "POST",
      headers: { "some-header": "some value", "Some-Other-Header": "some other value", "content-type": "test", "content-length": "123" },
      body: "x".repeat(123),
    });
    assert.deepEqual(await res.json(), { some: "some value", other: "some other value", type: "test", length: "123", missing: null });
  });

  test("test_cookie_dict: cookies parsed into a record", async () => {
    const app = probe((req) => ({ ...req.cookies }));
    assert.deepEqual(await (await call(app, "/", { headers: { cookie: "a=a" } })).json(), { a: "a" });
    assert.deepEqual(await (await call(app, "/", { headers: { cookie: "a=a; b=b" } })).json(), { a: "a", b: "b" });
  });

  test("test_get: repeated keys kept, UTF-8 percent-decoding", async () => {
    const app = probe((req) => ({
      hasA: req.query.has("a"),
      hasB: req.query.has("b"),
      a: req.query.getAll("a"),
      b: req.query.getAll("b"),
      cn: req.query.get("cn"),
    }));
    const res = await call(app, "/?a=a&a=1&b=b&c=c&cn=%e7%93%b6");
    assert.deepEqual(await res.json(), { hasA: true, hasB: true, a: ["a", "1"], b: ["b"], cn: "瓶" });
  });

  test("test_post / test_bodypost: urlencoded form; empty values and keys without '='", async () => {
    const app = probe(async (req) => {
      const form = await req.form();
      return { a: form.getAll("a"), b: form.get("b"), c: form.get("c"), d: form.get("d"), cn: form.get("cn"), foobar: form.get("foobar") };
    });
    const res = await call(app, "/", { method: "POST", headers: FORM, body: "a=a&a=1&b=b&c=&d&cn=%e7%93%b6" });
    assert.deepEqual(await res.json(), { a: ["a", "1"], b: "b", c: "", d: "", cn: "瓶", foobar: null });
    const raw = await call(app, "/", { method: "POST", headers: FORM, body: "foobar" });
    assert.equal((await raw.json()).foobar, "");
  });

  test("test_body_noclose / test_body: the body can be read again after the form was parsed", async () => {
    const body = "a=a&a=1&b=b&c=&d";
    const app = probe(async (req) => {
      const first = await req.text();
      const form = await req.form();
      return { first, again: await req.text(), bytes: (await req.bytes()).length, a: form.getAll("a") };
    });
    const res = await call(app, "/", { method: "POST", headers: FORM, body });
    assert.deepEqual(await res.json(), { first: body, again: body, bytes: body.length, a: ["a", "1"] });
  });

  test("test_getpostleak: query and form stay apart", async () => {
    const app = probe(async (req) => ({ query: [...req.query.keys()], form: [...(await req.form()).keys()] }));
    const res = await call(app, "/?a=a", { method: "POST", headers: FORM, body: "b=b" });
    assert.deepEqual(await res.json(), { query: ["a"], form: ["b"] });
  });

  test("test_bigbody: a 1000 KiB body is read whole", async () => {
    const app = probe(async (req) => String((await req.bytes()).length));
    assert.deepEqual(await text(app, "/", { method: "POST", body: "x".repeat(1024 * 1000) }), [200, String(1024 * 1000)]);
  });

  test("test_multipart: fields, repeated fields and files (UTF-8 content and names)", async () => {
    const form = new FormData();
    form.append("field1", "value1");
    form.append("field2", "value2");
    form.append("field2", "value3");
    form.append("file1", new Blob(["content1"]), "filename1.txt");
    form.append("万难", new Blob(["ä\nö\rü"]), "万难foo.py");
    const app = probe(async (req) => {
      const f = await req.form();
      const file1 = f.get("file1"), unicode = f.get("万难");
      assert.ok(file1 instanceof Blob && unicode instanceof Blob);
      return {
        field1: f.get("field1"),
        field2: f.getAll("field2"),
        file1: await file1.text(),
        unicode: await unicode.text(),
        unicodeIsFile: typeof (unicode as File).name === "string",
        file3: f.has("file3"),
      };
    });
    const res = await call(app, "/", { method: "POST", body: form });
    assert.deepEqual(await res.json(), {
      field1: "value1",
      field2: ["value2", "value3"],
      file1: "content1",
      unicode: "ä\nö\rü",
      unicodeIsFile: true,
      file3: false,
    });
  });

  test("test_json_empty / test_json_valid / test_json_header_empty_body / test_json_tobig", async () => {
    const app = probe(async (req) => ({ json: (await req.json()) ?? "<none>" }), { maxBodySize: 1024 });
    assert.deepEqual(await (await call(app, "/", { method: "POST" })).json(), { json: "<none>" });
    const value = { a: 5, b: "test", c: [1, 2, 3] };
    const valid = await call(app, "/", {
      method: "POST",
      headers: { "content-type": "application/json; charset=UTF-8" },
      body: JSON.stringify(value),
    });
    assert.deepEqual(await valid.json(), { json: value });
    const empty = await call(app, "/", { method: "POST", headers: { "content-type": "application/json" }, body: "" });
    assert.deepEqual(await empty.json(), { json: "<none>" });
    const big = JSON.stringify({ a: 5, tobig: "x".repeat(1024) });
    assert.equal(await status(app, "/", { method: "POST", headers: { "content-type": "application/json" }, body: big }), 413);
  });

  test("test_isajax / test_auth", async () => {
    const app = probe((req) => ({ xhr: req.isXhr, auth: req.auth ?? null }));
    assert.deepEqual(await (await call(app, "/")).json(), { xhr: false, auth: null });
    const basic = btoa("marc:secret");
    const res = await call(app, "/", { headers: { "x-requested-with": "XMLHttpRequest", authorization: `basic ${basic}` } });
    assert.deepEqual(await res.json(), { xhr: true, auth: ["marc", "secret"] });
  });

  test("test_remote_addr: the first X-Forwarded-For hop (with trustProxy), else the peer", async () => {
    const ips = ["1.2.3.4", "2.3.4.5", "3.4.5.6"];
    const app = probe((req) => ({ addr: req.remoteAddr ?? null }), { trustProxy: true });
    const forwarded = await call(app, "/", { headers: { "x-forwarded-for": ips.join(", ") } }, { remoteAddr: ips[1] });
    assert.deepEqual(await forwarded.json(), { addr: ips[0] });
    assert.deepEqual(await (await call(app, "/", {}, { remoteAddr: ips[1] })).json(), { addr: ips[1] });
    assert.deepEqual(await (await call(app, "/")).json(), { addr: null });
  });
});

// ---------------------------------------------------------------------------
// test_environ.py: the response, redirects
// ---------------------------------------------------------------------------

describe("test_environ.py: TestResponse", () => {
  /** Runs `fn` as a handler and returns the Response. */
  const respond = (fn: AnyHandler) => {
    const app = quiet();
    app.get("/", fn);
    return call(app, "/");
  };

  test("test_constructor_body / _status / _headerlist: HTTPResponse(body, status, headers)", async () => {
    assert.deepEqual(await (await respond(() => new HTTPResponse(""))).text(), "");
    const yay = await respond(() => new HTTPResponse("YAY", 200, { "x-test": "yay" }));
    assert.equal(yay.status, 200);
    assert.equal(await yay.text(), "YAY");
    assert.equal(yay.headers.get("X-Test"), "yay");
    const created = await respond(() => new HTTPResponse("made", 201));
    assert.equal(created.status, 201);
  });

  test("test_set_status: an invalid status throws and the last valid one stays", async () => {
    const res = await respond((_req, res) => {
      res.status = 404;
      for (const bad of [-200, 5, 1000, 20.5]) assert.throws(() => (res.status = bad), RangeError, String(bad));
      assert.equal(res.status, 404);
      res.status = 555; // strange but valid
      return "x";
    });
    assert.equal(res.status, 555);
  });

  test("test_content_type", async () => {
    const res = await respond((_req, res) => {
      res.contentType = "test/some";
      return "x";
    });
    assert.equal(res.headers.get("content-type"), "test/some");
  });

  test("test_set_cookie / _maxage / _expires / _secure / _httponly", async () => {
    const res = await respond((_req, res) => {
      res.setCookie("name1", "value", { maxAge: 5 });
      res.setCookie("name2", "value 2", { path: "/foo" });
      res.setCookie("name3", "value", { maxAge: 86400 });
      res.setCookie("name4", "value", { expires: new Date(42_000) });
      res.setCookie("name5", "value", { secure: true });
      res.setCookie("name6", "value", { secure: false, httpOnly: false });
      res.setCookie("name7", "value", { httpOnly: true });
      return "";
    });
    const lines = res.headers.getSetCookie();
    const attrs = (line: string) => line.split("; ").slice(1).map((a) => a.toLowerCase());
    assert.equal(lines.length, 7);
    assert.ok(lines[0].startsWith("name1=value;") && attrs(lines[0]).includes("max-age=5"), lines[0]);
    assert.ok(attrs(lines[1]).includes("path=/foo"), lines[1]);
    assert.ok(attrs(lines[2]).includes("max-age=86400"), lines[2]);
    assert.ok(attrs(lines[3]).includes("expires=thu, 01 jan 1970 00:00:42 gmt"), lines[3]);
    assert.ok(attrs(lines[4]).includes("secure"), lines[4]);
    assert.ok(!attrs(lines[5]).includes("secure") && !attrs(lines[5]).includes("httponly"), lines[5]);
    assert.ok(attrs(lines[6]).includes("httponly"), lines[6]);
    // The value comes back unchanged when the client sends the cookie.
    const app = quiet();
    app.get("/", (req) => req.cookies.name2);
    assert.deepEqual(await text(app, "/", { headers: { cookie: lines[1].split(";")[0] } }), [200, "value 2"]);
  });

  test("test_set_cookie_value_long_string / _name_long_string: cookies over 4 KiB throw", async () => {
    await respond((_req, res) => {
      assert.throws(() => res.setCookie("test", "x".repeat(4097)));
      assert.throws(() => res.setCookie("x".repeat(4097), "simple_value"));
      return "";
    });
  });

  test("test_delete_cookie: an expired, empty cookie", async () => {
    const res = await respond((_req, res) => {
      res.setCookie("name", "value");
      res.deleteCookie("name");
      return "";
    });
    const lines = res.headers.getSetCookie();
    assert.equal(lines.length, 2);
    assert.ok(lines[1].startsWith("name=;"), lines[1]);
    assert.match(lines[1], /Max-Age=(0|-1)\b/);
  });

  test("test_set_header / test_append_header / test_delete_header; CR/LF refused", async () => {
    const res = await respond((_req, res) => {
      res.setHeader("x-test", "foo");
      assert.equal(res.headers.get("x-test"), "foo");
      res.setHeader("X-Test", "bar");
      assert.equal(res.headers.get("x-test"), "bar");
      res.addHeader("X-Test", "baz");
      res.setHeader("x-gone", "foo");
      res.headers.delete("X-gONe");
      assert.throws(() => res.setHeader("x-bad", "a\r\nSet-Cookie: x=y"), TypeError);
      assert.throws(() => res.addHeader("x-bad\n", "a"), TypeError);
      return "";
    });
    assert.equal(res.headers.get("x-test"), "bar, baz");
    assert.equal(res.headers.get("x-gone"), null);
    assert.equal(res.headers.get("x-bad"), null);
  });
});

describe("test_environ.py: TestRedirect", () => {
  /** Redirects to `target` from `path` (inside a mount at `prefix`, if given); returns [status, Location]. */
  async function redirected(target: string, path = "/", options: { prefix?: string; headers?: HeadersInit; trust?: boolean; base?: string } = {}) {
    const inner = quiet({ trustProxy: options.trust });
    inner.route("/", "ANY", () => redirect(target));
    inner.route("/<p:path>", "ANY", () => redirect(target));
    let app = inner;
    if (options.prefix) {
      app = quiet({ trustProxy: options.trust });
      app.mount(options.prefix, inner);
    }
    const res = await app.fetch(new Request((options.base ?? "http://127.0.0.1") + path, { headers: options.headers }), {
      remoteAddr: "127.0.0.1",
    });
    return [res.status, res.headers.get("location")] as const;
  }

  test("test_absolute_path", async () => {
    assert.deepEqual(await redirected("/"), [303, "/"]);
    assert.deepEqual(await redirected("/test.html"), [303, "/test.html"]);
    assert.deepEqual(await redirected("/test.html", "/some/sub/path/"), [303, "/test.html"]);
    assert.deepEqual(await redirected("/test.html", "/some/sub/file.html"), [303, "/test.html"]);
    assert.deepEqual(await redirected("/test.html", "/some/sub/path/", { prefix: "/some/sub/path" }), [303, "/test.html"]);
    assert.deepEqual(await redirected("/foo/test.html", "/some/sub/file.html"), [303, "/foo/test.html"]);
  });

  test("test_relative_path: resolved against the request URL, mount prefix included", async () => {
    const cases: Array<[string, string, string, string?]> = [
      ["./", "/", "/"],
      ["./test.html", "/", "/test.html"],
      ["./test.html", "/foo/", "/foo/test.html"],
      ["./test.html", "/foo/bar.html", "/foo/test.html"],
      ["./test.html", "/foo/", "/foo/test.html", "/foo"],
      ["./test.html", "/foo/bar/baz.html", "/foo/bar/test.html", "/foo"],
      ["./foo/test.html", "/", "/foo/test.html"],
      ["./foo/test.html", "/bar/file.html", "/bar/foo/test.html"],
      ["../test.html", "/foo/", "/test.html"],
      ["../test.html", "/foo/bar/", "/foo/test.html"],
      ["../test.html", "/foo/bar.html", "/test.html"],
      ["../test.html", "/foo/", "/test.html", "/foo"],
      ["../test.html", "/foo/bar/baz.html", "/foo/test.html", "/foo"],
      ["../baz/../test.html", "/foo/bar/", "/foo/test.html"],
    ];
    for (const [target, path, expected, prefix] of cases) {
      assert.deepEqual(await redirected(target, path, { prefix }), [303, expected], `${target} from ${prefix ?? ""}${path}`);
    }
  });

  test("test_sheme / test_host_http_1_1 / test_host_http_proxy: the Location is a path whatever the scheme and host", async () => {
    for (const base of ["https://127.0.0.1", "https://127.0.0.1:80", "http://example.com", "http://example.com:81"]) {
      assert.deepEqual(await redirected("./test.html", "/", { base }), [303, "/test.html"], base);
    }
    // Bottle's absolute Location, for an app that wants one: built from req.url, which
    // carries the scheme and host (a trusted proxy's X-Forwarded-Host over Host).
    const absolute = async (base: string, options: { headers?: HeadersInit; trust?: boolean } = {}) => {
      const app = quiet({ trustProxy: options.trust });
      app.get("/", (req) => redirect(new URL("./test.html", req.url).href));
      const res = await app.fetch(new Request(base + "/", { headers: options.headers }), { remoteAddr: "127.0.0.1" });
      return [res.status, res.headers.get("location")];
    };
    assert.deepEqual(await absolute("https://127.0.0.1"), [303, "https://127.0.0.1/test.html"]);
    assert.deepEqual(await absolute("https://127.0.0.1:80"), [303, "https://127.0.0.1:80/test.html"]);
    assert.deepEqual(await absolute("http://example.com"), [303, "http://example.com/test.html"]);
    assert.deepEqual(await absolute("http://example.com:81"), [303, "http://example.com:81/test.html"]);
    const proxied = await absolute("http://127.0.0.1", { headers: { "x-forwarded-host": "example.com" }, trust: true });
    assert.deepEqual(proxied, [303, "http://example.com/test.html"]);
  });

  test("test_redirect_preserve_cookies", async () => {
    const app = quiet();
    app.get("/", (_req, res) => {
      res.setCookie("xxx", "yyy");
      redirect("...");
    });
    const res = await call(app, "/");
    assert.equal(res.status, 303);
    assert.deepEqual(res.headers.getSetCookie().map((line) => line.split(";")[0]), ["xxx=yyy"]);
  });
});

// ---------------------------------------------------------------------------
// test_sendfile.py
// ---------------------------------------------------------------------------

describe("test_sendfile.py", () => {
  const sample = new TextEncoder().encode(
    Array.from({ length: 12 }, (_, i) => `line ${String(i).padStart(2, "0")} of the Bottle parity sample file.\n`).join(""),
  );

  const serve = (name: string, options: Record<string, unknown> = {}) => {
    const app = quiet();
    app.route("/", ["GET", "HEAD"], () => staticFile(name, { root: STATIC, ...options }));
    return app;
  };

  test("test_valid / test_invalid: the file's bytes; missing → 404; outside the root → 403", async () => {
    const res = await call(serve("sample.txt"), "/");
    assert.equal(res.status, 200);
    assert.deepEqual(await bytesOf(res), sample);
    assert.equal(await status(serve("not/a/file"), "/"), 404);
    assert.equal(await status(serve("../views/stpl_simple.tpl"), "/"), 403);
    assert.equal(await status(serve("./../bottle_parity/static/sample.txt"), "/"), 403);
  });

  test("test_mime: guessed type, a given mimetype, charset only for text types", async () => {
    assert.equal((await call(serve("sample.txt"), "/")).headers.get("content-type"), "text/plain; charset=UTF-8");
    assert.equal((await call(serve("sample.txt", { mimetype: "some/type" }), "/")).headers.get("content-type"), "some/type");
    assert.equal((await call(serve("sample.txt", { mimetype: "text/foo" }), "/")).headers.get("content-type"), "text/foo; charset=UTF-8");
    assert.equal(
      (await call(serve("sample.txt", { mimetype: "text/foo", charset: "latin1" }), "/")).headers.get("content-type"),
      "text/foo; charset=latin1",
    );
  });

  test("test_mime_gzip: .gz is application/gzip, without Content-Encoding", async () => {
    const res = await call(serve("archive.txt.gz"), "/");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/gzip");
    assert.equal(res.headers.get("content-encoding"), null);
  });

  test("test_ims / test_ims_empty: If-Modified-Since", async () => {
    const app = serve("sample.txt");
    const now = await call(app, "/", { headers: { "if-modified-since": new Date().toUTCString() } });
    assert.equal(now.status, 304);
    assert.equal(await now.text(), "");
    const plain = await call(app, "/");
    const mtime = Math.floor(statSync(SAMPLE).mtimeMs / 1000) * 1000;
    assert.equal(Date.parse(plain.headers.get("last-modified")!), mtime);
    const old = await call(app, "/", { headers: { "if-modified-since": new Date(100_000).toUTCString() } });
    assert.equal(old.status, 200);
    assert.deepEqual(await bytesOf(old), sample);
    const empty = await call(app, "/", { headers: { "if-modified-since": "" } });
    assert.equal(empty.status, 200);
    assert.deepEqual(await bytesOf(empty), sample);
  });

  test("test_etag: an ETag; If-None-Match with it → 304 keeping the ETag; another file's → 200", async () => {
    const first = await call(serve("sample.txt"), "/");
    const etag = first.headers.get("etag");
    assert.ok(etag);
    assert.equal(first.status, 200);
    const again = await call(serve("sample.txt"), "/", { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get("etag"), etag);
    const other = await call(serve("other.txt"), "/", { headers: { "if-none-match": etag } });
    assert.equal(other.status, 200);
    assert.ok(other.headers.get("etag"));
    assert.notEqual(other.headers.get("etag"), etag);
  });

  test("test_download: the type follows the download name; download: true uses the file's name", async () => {
    const mp3 = await call(serve("sample.txt", { download: "foo.mp3" }), "/");
    assert.equal(mp3.headers.get("content-type"), "audio/mpeg");
    assert.equal(mp3.headers.get("content-disposition"), 'attachment; filename="foo.mp3"');
    const own = await call(serve("sample.txt", { download: true }), "/");
    assert.equal(own.headers.get("content-disposition"), 'attachment; filename="sample.txt"');
    assert.deepEqual(await bytesOf(own), sample);
  });

  test("test_range / test_range_parser: the first range is served as 206", async () => {
    const app = serve("sample.txt");
    const res = await call(app, "/", { headers: { range: "bytes=10-25,-80" } });
    assert.equal(res.status, 206);
    assert.deepEqual(await bytesOf(res), sample.slice(10, 26));
    assert.equal(res.headers.get("content-range"), `bytes 10-25/${sample.length}`);
    assert.equal(res.headers.get("accept-ranges"), "bytes");
    const n = sample.length;
    for (const [range, start, end] of [["bytes=-10", n - 10, n], ["bytes=10-", 10, n], ["bytes=5-10", 5, 11]] as const) {
      const part = await call(app, "/", { headers: { range } });
      assert.equal(part.status, 206, range);
      assert.deepEqual(await bytesOf(part), sample.slice(start, end), range);
    }
  });

  test("test_custom_headers: extra headers are sent, the given object is not changed", async () => {
    const headers = { "X-Custom-Header": "test-value" };
    const copy = { ...headers };
    const res = await call(serve("sample.txt", { headers }), "/");
    assert.equal(res.headers.get("x-custom-header"), "test-value");
    assert.deepEqual(headers, copy);
  });
});

// ---------------------------------------------------------------------------
// test_securecookies.py (string values only, never a serialised object)
// ---------------------------------------------------------------------------

describe("test_securecookies.py", () => {
  /** Sets a signed cookie, then sends `cookie(line)` back and reads it with `readSecret`. */
  async function roundTrip(value: string, readSecret: string, cookie: (pair: string) => string = (p) => p, readName = "key") {
    const app = quiet();
    app.get("/set", (_req, res) => {
      res.setSignedCookie("key", value, "1234");
      return "";
    });
    app.get("/get", (req) => ({ value: req.getSignedCookie(readName, readSecret) ?? null }));
    const set = await call(app, "/set");
    const pair = set.headers.getSetCookie()[0].split(";")[0];
    const got = await call(app, "/get", { headers: { cookie: cookie(pair) } });
    return (await got.json()).value as string | null;
  }

  test("testWithBottle / testDeEncode: a signed value reads back; a tampered one does not", async () => {
    const data = JSON.stringify({ value: 5 }); // serialised by the caller
    assert.equal(await roundTrip(data, "1234"), data);
    assert.equal(await roundTrip("unicode ünïcødé", "1234"), "unicode ünïcødé");
    assert.equal(await roundTrip(data, "1234", (pair) => pair + "x"), null);
    assert.equal(await roundTrip(data, "1234", (pair) => pair.replace("5", "6")), null);
  });

  test("wrong secret, renamed cookie or unsigned value → undefined; non-string values refused", async () => {
    assert.equal(await roundTrip("v", "4321"), null);
    assert.equal(await roundTrip("v", "1234", (pair) => pair.replace(/^key=/, "other="), "other"), null);
    assert.equal(await roundTrip("v", "1234", () => "key=v"), null);
    const app = quiet();
    app.get("/", (_req, res) => {
      assert.throws(() => res.setSignedCookie("key", { value: 5 } as unknown as string, "1234"), TypeError);
      return "ok";
    });
    assert.deepEqual(await text(app, "/"), [200, "ok"]);
  });
});

// ---------------------------------------------------------------------------
// test_stpl.py (JavaScript expressions and braces instead of Python)
// ---------------------------------------------------------------------------

describe("test_stpl.py", () => {
  test("test_string / test_unicode / test_template_shortcut", async () => {
    assert.equal(await template("start {{ v }} end", { v: "var" }), "start var end");
    assert.equal(await template("start {{ v }} end", { v: "äöü" }), "start äöü end");
    assert.equal(await template("start {{ v }} end", { v: "middle" }), "start middle end");
  });

  test("test_file / test_name / test_unicode_code: templates by name, UTF-8 files", async () => {
    assert.equal(await template("stpl_simple", { value: "var" }, { lookup }), "start var end\n");
    assert.equal(await template("stpl_simple.tpl", { value: "var" }, { lookup }), "start var end\n");
    assert.equal(await template("stpl_unicode", { value: "äöü" }, { lookup }), "start ñç äöü end\n");
  });

  test("test_data: numbers and strings print as text", async () => {
    for (const [value, out] of [[0, "<0>"], [5, "<5>"], ["b", "<b>"], [1.5, "<1.5>"]] as const) {
      assert.equal(await template("<{{ v }}>", { v: value }), out);
    }
  });

  test("test_escape / test_noescape / test_noescape_setting", async () => {
    assert.equal(await template("<{{ v }}>", { v: "b" }), "<b>");
    assert.equal(await template("<{{ v }}>", { v: "<&>" }), "<&lt;&amp;&gt;>");
    assert.equal(await template("<{{! v }}>", { v: "<&>" }), "<<&>>");
    assert.equal(await template("<{{ v }}>", { v: "<&>" }, { noescape: true }), "<<&>>");
    assert.equal(await template("<{{! v }}>", { v: "<&>" }, { noescape: true }), "<&lt;&amp;&gt;>");
  });

  test("test_blocks: loops and conditions, with braces or Bottle's % end", async () => {
    const loop = "start\n% for (const i of l) {\n{{ i }} \n% }\nend";
    assert.equal(await template(loop, { l: [1, 2, 3] }), "start\n1 \n2 \n3 \nend");
    assert.equal(await template(loop, { l: [] }), "start\nend");
    const cond = "start\n% if (i) {\n{{ i }} \n% end\nend";
    assert.equal(await template(cond, { i: 5 }), "start\n5 \nend");
    assert.equal(await template(cond, { i: 0 }), "start\nend");
  });

  test("test_elsebug / test_commentbug: else branches; '#' inside a string is not a comment", async () => {
    assert.equal(await template("% if (1) {\nyes\n% } else {\nno\n% }\n", {}), "yes\n");
    assert.equal(await template("% if (0) {\nyes\n% } else {\nno\n% }\n", {}), "no\n");
    assert.equal(await template("% if ('#') {\nyes\n% }\n", {}), "yes\n");
  });

  test("test_onelineblocks / test_newline_in_parameterlist: code lines build values", async () => {
    const src = "start\n% let a = '';\n% for (const i of l) a += String(i);\n{{ a }}\nend";
    assert.equal(await template(src, { l: [1, 2, 3] }), "start\n123\nend");
    assert.equal(await template(src, { l: [] }), "start\n\nend");
    assert.equal(await template("<%\nconst a = [1,\n  2];\n%>{{ a.length }}", {}), "2");
  });

  test("test_nobreak: a line ending in \\\\ is joined to the next", async () => {
    assert.equal(await template("start\\\\\n% // pass\nend", {}), "startend");
    assert.equal(await template("start\\\\\nend", {}), "startend");
  });

  test("test_include / test_rebase", async () => {
    assert.equal(await template("stpl_include", { value: "var" }, { lookup }), "before\nstart var end\nafter\n");
    assert.equal(
      await template("stpl_main", { content: "1234" }, { lookup }),
      "+base T+\n+main+\n!1234!\n+include main+\n-main-\n+include base+\n-base-\n",
    );
  });

  test("test_get / test_defnied", async () => {
    assert.equal(await template('{{ get("x", "default") }}', { x: "1234" }), "1234");
    assert.equal(await template('{{ get("x", "default") }}', {}), "default");
    assert.equal(await template('{{ defined("x") ? x : "no" }}', { x: "yes" }), "yes");
    assert.equal(await template('{{ defined("x") ? x : "no" }}', {}), "no");
  });

  test("test_notfound / test_error: missing template, syntax and runtime errors → TemplateError", async () => {
    await assert.rejects(template("abcdef", {}, { lookup }), TemplateError);
    await assert.rejects(template("% for badsyntax\n", {}), TemplateError);
    await assert.rejects(template("{{ i[5].x }}", { i: [0] }), TemplateError);
  });

  test("test_view_decorator: view() with template source", async () => {
    const handler = view("start {{ v }} end")(() => ({ v: "middle" }));
    assert.equal(await handler(), "start middle end");
  });
});

// ---------------------------------------------------------------------------
// test_mount.py
// ---------------------------------------------------------------------------

describe("test_mount.py", () => {
  const subapp = () => {
    const sub = quiet();
    sub.get("/", () => "foo");
    sub.get("/test/<test>", (req) => req.params.test);
    return sub;
  };

  test("test_mount: the child answers under the prefix", async () => {
    const app = quiet();
    app.mount("/test/", subapp());
    assert.equal(await status(app, "/"), 404);
    assert.deepEqual(await text(app, "/test/"), [200, "foo"]);
    assert.deepEqual(await text(app, "/test/test/bar"), [200, "bar"]);
    assert.equal(await status(app, "/testx/"), 404);
  });

  test("test_no_slash_prefix: '/test' answers the child's '/' too", async () => {
    const app = quiet();
    app.mount("/test", subapp());
    assert.equal(await status(app, "/"), 404);
    assert.deepEqual(await text(app, "/test"), [200, "foo"]);
    assert.deepEqual(await text(app, "/test/"), [200, "foo"]);
    assert.deepEqual(await text(app, "/test/test/bar"), [200, "bar"]);
  });

  test("test_unshift: inside the child, scriptName is the prefix, also while streaming", async () => {
    const sub = quiet();
    sub.get("/unshift", function* (req) {
      for (let i = 0; i < 2; i++) yield `${req.scriptName} ${req.path}\n`;
    });
    const app = quiet();
    app.mount("/test/", sub);
    assert.deepEqual(await text(app, "/test/unshift"), [200, "/test/ /unshift\n".repeat(2)]);
  });

  test("test_mount_no_plugins: the parent's plugins do not wrap the child's routes", async () => {
    const app = quiet();
    app.install(() => () => "Plugin");
    app.get("/foo", () => "baz");
    app.mount("/test/", subapp());
    assert.deepEqual(await text(app, "/foo"), [200, "Plugin"]);
    assert.deepEqual(await text(app, "/test/"), [200, "foo"]);
  });

  test("test_mount_wsgi / test_mount_wsgi_ctype_bug: a foreign fetch app sees the inner path, keeps its headers", async () => {
    const foreign = {
      fetch: (request: Request) =>
        new Response("WSGI " + new URL(request.url).pathname, { headers: { "X-Test": "WSGI", "Content-Type": "test/test" } }),
    };
    const app = quiet();
    app.mount("/test", foreign);
    assert.deepEqual(await text(app, "/test/"), [200, "WSGI /"]);
    assert.deepEqual(await text(app, "/test"), [200, "WSGI /"]);
    const res = await call(app, "/test/test/bar");
    assert.equal(await res.text(), "WSGI /test/bar");
    assert.equal(res.headers.get("x-test"), "WSGI");
    assert.equal(res.headers.get("content-type"), "test/test");
  });

  test("test_mount cookies / test_mount_json_bug: the child's cookies and JSON type reach the client", async () => {
    const sub = subapp();
    sub.get("/cookie", (_req, res) => {
      res.setCookie("a", "a");
      res.setCookie("b", "b");
    });
    sub.get("/json", () => ({ a: 5 }));
    const app = quiet();
    app.mount("/test", sub);
    const cookies = await call(app, "/test/cookie");
    assert.deepEqual(cookies.headers.getSetCookie().map((line) => line.split(";")[0]).sort(), ["a=a", "b=b"]);
    const json = await call(app, "/test/json");
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.deepEqual(await json.json(), { a: 5 });
  });

  test("TestAppMerging.test_merge: merged routes answer at the top", async () => {
    const app = quiet();
    app.merge(subapp());
    assert.deepEqual(await text(app, "/"), [200, "foo"]);
    assert.deepEqual(await text(app, "/test/bar"), [200, "bar"]);
  });

  test("a prefix must start with '/'", () => {
    assert.throws(() => quiet().mount("test", subapp()), TypeError);
  });
});

// ---------------------------------------------------------------------------
// test_plugins.py
// ---------------------------------------------------------------------------

describe("test_plugins.py", () => {
  /** Bottle's MyPlugin: appends `addContent` to the handler's string result, remembers its app. */
  function myPlugin(addContent = "", name?: string): Plugin & { app?: Carafe; addContent: string } {
    return {
      name,
      addContent,
      setup(app) {
        this.app = app;
      },
      apply(handler) {
        return async (req, res) => String(await handler(req, res)) + this.addContent;
      },
    };
  }

  test("test_install_plugin / test_install_non_plugin: install returns the plugin and calls setup", () => {
    const app = quiet();
    const plugin = myPlugin();
    assert.equal(app.install(plugin), plugin);
    assert.equal(plugin.app, app);
    assert.equal(typeof app.install((h: AnyHandler) => h).apply, "function");
    assert.throws(() => app.install("I am not a plugin" as unknown as Plugin), TypeError);
  });

  test("test_uninstall_by_instance / _by_name / _all", async () => {
    const app = quiet();
    app.get("/", () => "plugin");
    const p1 = app.install(myPlugin(";one", "myplugin"));
    const p2 = app.install(myPlugin(";two"));
    assert.deepEqual(await text(app, "/"), [200, "plugin;two;one"]);
    assert.equal(app.uninstall(p2), 1);
    assert.deepEqual(await text(app, "/"), [200, "plugin;one"]);
    app.install(p2);
    assert.equal(app.uninstall("myplugin"), 1);
    assert.deepEqual(await text(app, "/"), [200, "plugin;two"]);
    app.install(p1);
    assert.equal(app.uninstall(true), 2);
    assert.deepEqual(await text(app, "/"), [200, "plugin"]);
  });

  test("test_route_plugin: apply=[plugin] for one route only", async () => {
    const app = quiet();
    const handler = () => "plugin";
    app.get("/a", handler);
    app.get("/b", handler, { apply: [myPlugin(";foo")] });
    assert.deepEqual(await text(app, "/a"), [200, "plugin"]);
    assert.deepEqual(await text(app, "/b"), [200, "plugin;foo"]);
  });

  test("test_plugin_oder: installed plugins wrap route plugins; the first of each is outermost", async () => {
    const app = quiet();
    app.install(myPlugin(";global-1"));
    app.install(myPlugin(";global-2"));
    const handler = () => "plugin";
    app.get("/a", handler);
    app.get("/b", handler, { apply: [myPlugin(";local-1"), myPlugin(";local-2")] });
    assert.deepEqual(await text(app, "/a"), [200, "plugin;global-2;global-1"]);
    assert.deepEqual(await text(app, "/b"), [200, "plugin;local-2;local-1;global-2;global-1"]);
  });

  test("test_skip_by_instance / test_skip_by_name / test_skip_all", async () => {
    const app = quiet();
    const g1 = app.install(myPlugin(";global-1", "test"));
    const g2 = app.install(myPlugin(";global-2"));
    const l1 = myPlugin(";local-1");
    const l2 = myPlugin(";local-2");
    const handler = () => "plugin";
    app.get("/a", handler, { skip: [g2, l2] });
    app.get("/b", handler, { apply: [l1, l2], skip: [g2, l2] });
    app.get("/c", handler, { skip: ["test"] });
    app.get("/d", handler, { skip: true });
    app.get("/e", handler, { skip: [g1, g2] });
    assert.deepEqual(await text(app, "/a"), [200, "plugin;global-1"]);
    assert.deepEqual(await text(app, "/b"), [200, "plugin;local-1;global-1"]);
    assert.deepEqual(await text(app, "/c"), [200, "plugin;global-2"]);
    assert.deepEqual(await text(app, "/d"), [200, "plugin"]);
    assert.deepEqual(await text(app, "/e"), [200, "plugin"]);
  });

  test("TestPluginAPI.test_callable / test_apply: plain-function plugins; route options reach plugins", async () => {
    const app = quiet();
    app.get("/", (req) => Object.entries(req.params).map(([k, v]) => `${k}:${v}`).join(", "), { test: "plugin.cfg" });
    app.install((handler: AnyHandler, route) => (req, res) => {
      req.params = { ...req.params, test: route.options.test };
      return String(handler(req, res)) + "; tail";
    });
    assert.deepEqual(await text(app, "/"), [200, "test:plugin.cfg; tail"]);
  });

  test("TestPluginAPI.test_instance_method_wrapper / test_setup / test_close", async () => {
    const app = quiet();
    app.get("/", () => "original");
    const plugin = {
      greeting: "Hello",
      closed: false,
      setupApp: undefined as Carafe | undefined,
      setup(a: Carafe) {
        this.setupApp = a;
      },
      apply() {
        return () => this.greeting;
      },
      close() {
        this.closed = true;
      },
    };
    app.install(plugin);
    assert.equal(plugin.setupApp, app);
    assert.deepEqual(await text(app, "/"), [200, "Hello"]);
    app.uninstall(plugin);
    assert.equal(plugin.closed, true);
    assert.deepEqual(await text(app, "/"), [200, "original"]);
  });
});

describe("Bottle parity: once deviations, now as Bottle does", () => {
  test("test_method: req.method is upper-case, so a lower-case 'patch' (Fetch keeps it as sent) matches PATCH", async () => {
    const app = quiet();
    app.route("/m", ["PATCH"], (req) => req.method);
    assert.deepEqual(await text(app, "/m", { method: "patch" }), [200, "PATCH"]);
  });

  test("test_winbreaks: CRLF in a template stays CRLF in the output", async () => {
    assert.equal(await template("% n += 1\r\n{{ n }}\r\n", { n: 5 }), "6\r\n");
    assert.equal(await template("a\r\nb\r\n", {}), "a\r\nb\r\n");
  });

  test("test_escaped_codelines: %% at the start of a line prints %", async () => {
    assert.equal(await template("%% test", {}), "% test");
    assert.equal(await template("%%% test", {}), "%% test");
  });

  test("test_httpresponse_in_generator_callback: an HTTPResponse as the first item is the answer", async () => {
    const app = quiet();
    app.get("/", function* () {
      yield new HTTPResponse("test");
    });
    assert.deepEqual(await text(app, "/"), [200, "test"]);
  });
});
