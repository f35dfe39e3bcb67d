// The application through its public API: routing, hooks, plugins, mount, merge, url.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  abort,
  Carafe,
  defaultApp,
  error,
  get,
  hook,
  HTTPError,
  install,
  mount,
  patch,
  popDefaultApp,
  pushDefaultApp,
  put,
  redirect,
  route,
  uninstall,
  url,
  type Plugin,
} from "../mod.ts";
import { call } from "./_helpers.ts";

const text = async (app: Carafe, path: string, init?: RequestInit) => {
  const res = await call(app, path, init);
  return [res.status, await res.text()] as const;
};

describe("routing", () => {
  test("dynamic routes with typed params, HEAD falls back to GET", async () => {
    const app = new Carafe();
    app.get("/hello/<name>", (req) => `Hello ${req.params.name}!`);
    app.get("/item/<id:int>", (req) => {
      const id: number = req.params.id; // typed from the path
      return { id, next: id + 1 };
    });
    assert.deepEqual(await text(app, "/hello/world"), [200, "Hello world!"]);
    const item = await call(app, "/item/41");
    assert.equal(item.headers.get("content-type"), "application/json");
    assert.deepEqual(await item.json(), { id: 41, next: 42 });
    const head = await call(app, "/hello/x", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String("Hello x!".length));
    assert.equal(await head.text(), "");
  });

  test("404, 405 with sorted Allow, 400 when a filter rejects, 400 for bad percent-encoding", async () => {
    const app = new Carafe();
    app.route("/thing", ["PUT", "DELETE", "GET"], () => "ok");
    app.get("/f/<x:float>", (req) => String(req.params.x));
    const missing = await call(app, "/nothing");
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /Not found: &#39;\/nothing&#39;/);
    const wrong = await call(app, "/thing", { method: "POST" });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "DELETE,GET,HEAD,PUT");
    assert.equal((await call(app, "/f/1.2.3")).status, 400);
    assert.deepEqual(await text(app, "/f/1.5"), [200, "1.5"]);
    assert.equal((await call(app, "/thing%E0%A4%A")).status, 400);
    // The app keeps serving after bad input.
    assert.deepEqual(await text(app, "/thing"), [200, "ok"]);
  });

  test("percent-decoded UTF-8 paths match, trailing slash is significant", async () => {
    const app = new Carafe();
    app.get("/uni/瓶", () => "bottle");
    app.get("/dir/", () => "with slash");
    assert.deepEqual(await text(app, "/uni/%E7%93%B6"), [200, "bottle"]);
    assert.deepEqual(await text(app, "/dir/"), [200, "with slash"]);
    assert.equal((await call(app, "/dir")).status, 404);
  });

  test("static beats dynamic; dynamic GET beats static ANY", async () => {
    const app = new Carafe();
    app.get("/user/<name>", (req) => `user ${req.params.name}`);
    app.get("/user/me", () => "me");
    app.route("/any/x", "ANY", () => "any");
    app.get("/any/<y>", () => "get");
    assert.deepEqual(await text(app, "/user/me"), [200, "me"]);
    assert.deepEqual(await text(app, "/user/bob"), [200, "user bob"]);
    assert.deepEqual(await text(app, "/any/x"), [200, "get"]);
    assert.deepEqual(await text(app, "/any/x", { method: "POST" }), [200, "any"]);
  });

  test("url() builds named routes with leftover params as query, including the mount prefix", () => {
    const app = new Carafe();
    app.get("/item/<id:int>", () => "", { name: "item" });
    assert.equal(app.url("item", { id: 7, tab: "info" }), "/item/7?tab=info");
    const parent = new Carafe();
    parent.mount("/shop", app);
    assert.equal(app.url("item", { id: 1 }), "/shop/item/1");
  });
});

describe("hooks", () => {
  test("before hooks run first; after hooks run in reverse, also after 404 and exceptions", async () => {
    const order: string[] = [];
    const app = new Carafe({ logger: () => {} });
    app.hook("before_request", () => void order.push("before"));
    app.hook("after_request", () => void order.push("after1"));
    app.hook("after_request", (_req, res) => {
      order.push("after2");
      res.setHeader("x-after", "yes");
    });
    app.get("/", () => (order.push("handler"), "ok"));
    app.get("/boom", () => {
      throw new Error("boom");
    });
    await call(app, "/");
    assert.deepEqual(order, ["before", "handler", "after2", "after1"]);
    order.length = 0;
    const missing = await call(app, "/missing");
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("x-after"), "yes");
    assert.deepEqual(order, ["before", "after2", "after1"]);
    const boom = await call(app, "/boom");
    assert.equal(boom.status, 500);
    assert.equal(boom.headers.get("x-after"), "yes");
  });

  test("a before hook can answer by throwing an HTTPError", async () => {
    const app = new Carafe();
    app.hook("before_request", (req) => {
      if (!req.headers.get("authorization")) throw new HTTPError(401, "Log in first.");
    });
    app.get("/", () => "secret");
    assert.equal((await call(app, "/")).status, 401);
    assert.equal((await call(app, "/", { headers: { authorization: "x" } })).status, 200);
  });
});

describe("plugins", () => {
  test("first installed is outermost; skip by name or object; per-route apply; uninstall", async () => {
    const app = new Carafe();
    const tag = (name: string): Plugin => ({
      name,
      apply: (handler) => async (req, res) => `${name}(${await handler(req, res)})`,
    });
    const a = app.install(tag("a"));
    app.install(tag("b"));
    app.get("/", () => "x");
    app.get("/skip", () => "x", { skip: ["b"] });
    app.get("/skipall", () => "x", { skip: true });
    app.get("/extra", () => "x", { apply: [tag("c")] });
    assert.deepEqual(await text(app, "/"), [200, "a(b(x))"]);
    assert.deepEqual(await text(app, "/skip"), [200, "a(x)"]);
    assert.deepEqual(await text(app, "/skipall"), [200, "x"]);
    assert.deepEqual(await text(app, "/extra"), [200, "a(b(c(x)))"]);
    assert.equal(app.uninstall(a), 1);
    assert.deepEqual(await text(app, "/"), [200, "b(x)"]);
    assert.equal(app.uninstall(true), 1);
    assert.deepEqual(await text(app, "/"), [200, "x"]);
  });

  test("of plugins with one name only the last applies: a route's own replaces the installed one", async () => {
    const app = new Carafe();
    const tag = (name: string, label: string): Plugin => ({
      name,
      apply: (handler) => async (req, res) => `${label}(${await handler(req, res)})`,
    });
    app.install(tag("json", "old"));
    app.install(tag("json", "new"));
    app.install(tag("other", "o"));
    app.get("/", () => "x");
    app.get("/own", () => "x", { apply: [tag("json", "route")] });
    app.get("/skipped", () => "x", { skip: ["json"], apply: [tag("extra", "e")] });
    assert.deepEqual(await text(app, "/"), [200, "new(o(x))"]);
    assert.deepEqual(await text(app, "/own"), [200, "o(route(x))"]);
    assert.deepEqual(await text(app, "/skipped"), [200, "o(e(x))"]);
  });

  test("a plugin whose apply() returns no function → a 500 whose log names the plugin and the route", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.install({ name: "broken", apply: () => undefined as never });
    app.get("/x", () => "x");
    const res = await call(app, "/x");
    assert.equal(res.status, 500);
    assert.match(logged.join("\n"), /Plugin broken returned a undefined from apply\(\) for route GET \/x/);
  });

  test("setup and close are called; the route's options reach apply", async () => {
    const app = new Carafe();
    const seen: string[] = [];
    app.install({
      name: "cfg",
      setup: () => void seen.push("setup"),
      close: () => void seen.push("close"),
      apply: (handler, route) => route.options.template ? () => `tpl:${route.options.template}` : handler,
    });
    app.get("/t", () => "raw", { template: "page" });
    assert.deepEqual(await text(app, "/t"), [200, "tpl:page"]);
    app.uninstall("cfg");
    assert.deepEqual(seen, ["setup", "close"]);
  });
});

describe("mount and merge", () => {
  test("a mounted Carafe app sees its own path; scriptName carries the prefix", async () => {
    const child = new Carafe();
    child.get("/", (req) => `root ${req.scriptName}`);
    child.get("/info", (req) => ({ path: req.path, script: req.scriptName, full: req.fullpath, url: req.url }));
    const app = new Carafe();
    app.get("/<any>", () => "parent catch-all must not shadow the mount");
    app.mount("/api", child);
    assert.deepEqual(await text(app, "/api"), [200, "root /api/"]);
    const info = await (await call(app, "/api/info?x=1")).json();
    assert.deepEqual(info, { path: "/info", script: "/api/", full: "/api/info", url: "http://localhost/api/info?x=1" });
    assert.equal((await call(app, "/apix")).status, 200); // not under the mount
  });

  test("any { fetch } app can be mounted and gets the rewritten URL", async () => {
    const foreign = { fetch: (req: Request) => new Response(`foreign ${new URL(req.url).pathname}`) };
    const app = new Carafe();
    app.mount("/ext/", foreign);
    assert.deepEqual(await text(app, "/ext/a/b"), [200, "foreign /a/b"]);
  });

  test("mount rejects bad prefixes and children", () => {
    const app = new Carafe();
    assert.throws(() => app.mount("api", new Carafe()), /must start with/);
    assert.throws(() => app.mount("/", new Carafe()), /merge/);
    assert.throws(() => app.mount("/x", {} as never), /fetch/);
  });

  test("merge copies routes and keeps the other app's plugins", async () => {
    const other = new Carafe();
    other.install((handler) => async (req, res) => `wrapped ${await handler(req, res)}`);
    other.get("/o", () => "other");
    const app = new Carafe().merge(other);
    assert.deepEqual(await text(app, "/o"), [200, "wrapped other"]);
  });
});

describe("default app", () => {
  test("module-level shortcuts act on the default app; push/pop switch it", async () => {
    const app = pushDefaultApp();
    try {
      assert.equal(defaultApp(), app);
      get("/m", () => "module level");
      route("/r", ["POST"], () => "posted", { name: "r" });
      assert.deepEqual(await text(app, "/m"), [200, "module level"]);
      assert.deepEqual(await text(app, "/r", { method: "POST" }), [200, "posted"]);
      assert.equal(url("r"), "/r");
    } finally {
      assert.equal(popDefaultApp(), app);
    }
    assert.notEqual(defaultApp(), app);
  });
});

describe("method shortcuts", () => {
  test("app.put/patch/delete/head/options register their method only", async () => {
    const app = new Carafe();
    app.put("/r", () => "put");
    app.patch("/r", () => "patch");
    app.delete("/r", () => "delete");
    app.head("/r", (_req, res) => {
      res.setHeader("x-head", "1");
      return "";
    });
    app.options("/r", (_req, res) => {
      res.setHeader("allow", "PUT, PATCH");
      return "";
    });
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      assert.deepEqual(await text(app, "/r", { method }), [200, method.toLowerCase()]);
    }
    assert.equal((await call(app, "/r", { method: "HEAD" })).headers.get("x-head"), "1");
    assert.equal((await call(app, "/r", { method: "OPTIONS" })).headers.get("allow"), "PUT, PATCH");
    const get = await call(app, "/r");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "DELETE,HEAD,OPTIONS,PATCH,PUT");
  });

  test("module-level put/patch/error/hook/mount/install/uninstall act on the default app", async () => {
    const app = pushDefaultApp();
    try {
      put("/p", () => "put");
      patch("/p", () => "patch");
      error(404, () => "custom 404");
      hook("after_request", (_req, res) => res.setHeader("x-hook", "1"));
      mount("/child", new Carafe().get("/", () => "child"));
      const plugin = install((handler) => async (req, res) => `[${await handler(req, res)}]`);
      assert.deepEqual(await text(app, "/p", { method: "PUT" }), [200, "[put]"]);
      assert.deepEqual(await text(app, "/p", { method: "PATCH" }), [200, "[patch]"]);
      const missing = await call(app, "/nothing");
      assert.deepEqual([missing.status, await missing.text()], [404, "custom 404"]);
      assert.equal(missing.headers.get("x-hook"), "1");
      assert.deepEqual(await text(app, "/child"), [200, "child"]);
      assert.equal(uninstall(plugin), 1);
      assert.deepEqual(await text(app, "/p", { method: "PUT" }), [200, "put"]);
    } finally {
      assert.equal(popDefaultApp(), app);
    }
  });
});

describe("hooks see the outcome", () => {
  test("several before hooks run in registration order", async () => {
    const order: string[] = [];
    const app = new Carafe();
    for (const n of ["1", "2", "3"]) app.hook("before_request", () => void order.push(n));
    app.get("/", () => order.join(""));
    assert.deepEqual(await text(app, "/"), [200, "123"]);
  });

  test("after hooks run after a 405 and see its status and Allow header", async () => {
    const seen: Array<[number, string | null]> = [];
    const app = new Carafe();
    app.post("/only-post", () => "ok");
    app.hook("after_request", (_req, res) => void seen.push([res.status, res.headers.get("allow")]));
    const res = await call(app, "/only-post");
    assert.equal(res.status, 405);
    assert.deepEqual(seen, [[405, "POST"]]);
  });

  test("after hooks see 404, 500, abort and redirect statuses (and Location), as Bottle applies them first", async () => {
    const seen: Record<string, [number, string | null]> = {};
    const app = new Carafe({ logger: () => {} });
    app.get("/boom", () => {
      throw new Error("boom");
    });
    app.get("/abort", () => abort(418, "teapot"));
    app.get("/redirect", () => redirect("/elsewhere"));
    app.get("/ok", (_req, res) => {
      res.status = 201;
      return "made";
    });
    app.hook("after_request", (req, res) => void (seen[req.path] = [res.status, res.headers.get("location")]));
    for (const path of ["/missing", "/boom", "/abort", "/redirect", "/ok"]) await call(app, path);
    assert.deepEqual(seen, {
      "/missing": [404, null],
      "/boom": [500, null],
      "/abort": [418, null],
      "/redirect": [303, "/elsewhere"],
      "/ok": [201, null],
    });
  });

  test("after hooks see a mounted app's status; a hook may change an error's status; error handlers still render", async () => {
    const child = new Carafe();
    child.get("/made", (_req, res) => {
      res.status = 202;
      return "child";
    });
    const app = new Carafe();
    app.mount("/c", child);
    app.error(404, (err) => `handled ${err.status}`);
    const statuses: number[] = [];
    app.hook("after_request", (req, res) => {
      statuses.push(res.status);
      if (req.path === "/gone") res.status = 410;
    });
    const made = await call(app, "/c/made");
    assert.deepEqual([made.status, await made.text()], [202, "child"]);
    const gone = await call(app, "/gone");
    assert.deepEqual([gone.status, await gone.text()], [410, "handled 404"]);
    assert.deepEqual(statuses, [202, 404]);
  });

  test("an after hook that throws an HTTPResponse replaces the answer", async () => {
    const app = new Carafe();
    app.get("/", () => "original");
    app.hook("after_request", () => {
      throw new HTTPError(503, "maintenance");
    });
    const res = await call(app, "/");
    assert.equal(res.status, 503);
    assert.match(await res.text(), /maintenance/);
  });
});

describe("merge with custom filters", () => {
  test("routes using the other app's custom filter keep working (matching and url())", async () => {
    const other = new Carafe();
    other.router.addFilter("hex", () => ({ pattern: "[0-9a-f]+", toValue: (s) => parseInt(s, 16), toUrl: (v) => (v as number).toString(16) }));
    other.get("/color/<c:hex>", (req) => ({ c: req.params.c }), { name: "color" });
    const app = new Carafe().merge(other);
    assert.deepEqual(await (await call(app, "/color/ff")).json(), { c: 255 });
    assert.equal((await call(app, "/color/zz")).status, 404);
    assert.equal(app.url("color", { c: 16 }), "/color/10");
  });
});
