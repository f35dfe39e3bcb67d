// The router on its own: Bottle's rule syntax, matching order, 404/405/400, URL building.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Carafe } from "../mod.ts";
import { type PathParams, RouteBuildError, type RouteMatch, Router, RouteSyntaxError } from "../core/router.ts";

/** Asserts a match was found and returns it (narrowed). */
function found<T>(m: RouteMatch<T>): { target: T; params: Record<string, unknown> } {
  assert.equal(m.kind, "found", `expected a match, got ${JSON.stringify(m)}`);
  return m as { kind: "found"; target: T; params: Record<string, unknown> };
}

function routerWith(...routes: Array<[string, string, string, string?]>): Router<string> {
  const router = new Router<string>();
  for (const [path, method, target, name] of routes) router.add(path, method, target, name);
  return router;
}

describe("rule syntax", () => {
  test("<name> matches one non-empty segment", () => {
    const r = routerWith(["/hello/<name>", "GET", "hello"]);
    assert.deepEqual(found(r.match("GET", "/hello/world")), { kind: "found", target: "hello", params: { name: "world" } });
    assert.equal(r.match("GET", "/hello/").kind, "notFound");
    assert.equal(r.match("GET", "/hello/a/b").kind, "notFound");
  });

  test("<x:int> gives a number, negative allowed, letters rejected", () => {
    const r = routerWith(["/i/<x:int>", "GET", "i"]);
    assert.deepEqual(found(r.match("GET", "/i/42")).params, { x: 42 });
    assert.deepEqual(found(r.match("GET", "/i/-7")).params, { x: -7 });
    assert.equal(r.match("GET", "/i/4a").kind, "notFound");
    assert.equal(r.match("GET", "/i/1.5").kind, "notFound");
    // An id beyond 2^53 would be silently rounded: 400 instead.
    assert.equal(r.match("GET", "/i/123456789012345678901").kind, "badParam");
  });

  test("<x:float> gives a number; '.' and '1.2.3' are a 400", () => {
    const r = routerWith(["/f/<x:float>", "GET", "f"]);
    assert.deepEqual(found(r.match("GET", "/f/1.5")).params, { x: 1.5 });
    assert.deepEqual(found(r.match("GET", "/f/-2")).params, { x: -2 });
    assert.deepEqual(found(r.match("GET", "/f/.5")).params, { x: 0.5 });
    for (const bad of ["/f/.", "/f/1.2.3"]) {
      const m = r.match("GET", bad);
      assert.equal(m.kind, "badParam", bad);
      assert.match((m as { message: string }).message, /wrong format/);
    }
    assert.equal(r.match("GET", "/f/abc").kind, "notFound");
  });

  test("<x:path> crosses slashes, non-greedy", () => {
    const r = routerWith(["/s/<p:path>", "GET", "s"], ["/t/<p:path>/edit", "GET", "t"]);
    assert.deepEqual(found(r.match("GET", "/s/a/b/c.txt")).params, { p: "a/b/c.txt" });
    assert.deepEqual(found(r.match("GET", "/t/a/b/edit")).params, { p: "a/b" });
    assert.deepEqual(found(r.match("GET", "/t/a/edit/x/edit")).params, { p: "a/edit/x" });
    assert.equal(r.match("GET", "/s/").kind, "notFound");
  });

  test("<x:re:EXP>: groups flattened, named groups and classes handled, anchored", () => {
    const r = routerWith(
      ["/re/<x:re:(ab)+>/<y>", "GET", "groups"],
      ["/n/<x:re:(?<word\\>[a-z]+)-[(]>", "GET", "named"],
      ["/alt/<x:re:cat|dog>", "GET", "alt"],
    );
    assert.deepEqual(found(r.match("GET", "/re/abab/z")).params, { x: "abab", y: "z" });
    assert.deepEqual(found(r.match("GET", "/n/foo-(")).params, { x: "foo-(" });
    assert.deepEqual(found(r.match("GET", "/alt/dog")).params, { x: "dog" });
    // The alternation stays inside the wildcard: "/alt/cats" must not match "cat".
    assert.equal(r.match("GET", "/alt/cats").kind, "notFound");
    assert.equal(r.match("GET", "/re/aba/z").kind, "notFound");
  });

  test("<x:re:...> may contain an escaped >", () => {
    const r = routerWith(["/gt/<x:re:a\\>b>", "GET", "gt"]);
    assert.deepEqual(found(r.match("GET", "/gt/a>b")).params, { x: "a>b" });
  });

  test("anonymous wildcards match but add no params", () => {
    const r = routerWith(["/a/<>/<:int>/<:re:x+>/<name>", "GET", "anon"]);
    assert.deepEqual(found(r.match("GET", "/a/one/2/xxx/n")).params, { name: "n" });
    assert.equal(r.match("GET", "/a/one/two/xxx/n").kind, "notFound");
  });

  test("wildcards inside a segment", () => {
    const r = routerWith(["/file/<name>.<ext:re:[a-z]+>", "GET", "file"]);
    assert.deepEqual(found(r.match("GET", "/file/report.final.pdf")).params, { name: "report.final", ext: "pdf" });
  });

  test("backslash escapes a literal <", () => {
    const r = routerWith(["/lit/\\<x>", "GET", "lit"]);
    assert.equal(found(r.match("GET", "/lit/<x>")).target, "lit");
    assert.deepEqual(found(r.match("GET", "/lit/<x>")).params, {});
    assert.equal(r.match("GET", "/lit/y").kind, "notFound");
  });

  test("regex metacharacters in literal text are literal", () => {
    const r = routerWith(["/a.b/<x>", "GET", "dot"], ["/c+d/(e)/<x>", "GET", "meta"]);
    assert.equal(found(r.match("GET", "/a.b/1")).target, "dot");
    assert.equal(r.match("GET", "/axb/1").kind, "notFound");
    assert.equal(found(r.match("GET", "/c+d/(e)/1")).target, "meta");
  });

  test("trailing slash is significant", () => {
    const r = routerWith(["/foo", "GET", "foo"], ["/bar/", "GET", "bar/"], ["/d/<x>/", "GET", "d/"]);
    assert.equal(found(r.match("GET", "/foo")).target, "foo");
    assert.equal(r.match("GET", "/foo/").kind, "notFound");
    assert.equal(r.match("GET", "/bar").kind, "notFound");
    assert.equal(found(r.match("GET", "/d/1/")).target, "d/");
    assert.equal(r.match("GET", "/d/1").kind, "notFound");
  });

  test("unicode (already percent-decoded) paths", () => {
    const r = routerWith(["/uni/瓶", "GET", "static"], ["/w/<word>", "GET", "word"], ["/emoji/<e:re:.+>", "GET", "e"]);
    assert.equal(found(r.match("GET", "/uni/瓶")).target, "static");
    assert.deepEqual(found(r.match("GET", "/w/Grüße")).params, { word: "Grüße" });
    assert.deepEqual(found(r.match("GET", "/emoji/🍶")).params, { e: "🍶" });
  });
});

describe("matching order", () => {
  test("static beats dynamic of the same method regardless of order", () => {
    const r = routerWith(["/u/<name>", "GET", "dynamic"], ["/u/me", "GET", "static"]);
    assert.equal(found(r.match("GET", "/u/me")).target, "static");
    assert.equal(found(r.match("GET", "/u/you")).target, "dynamic");
  });

  test("dynamic routes are tried in definition order", () => {
    const r = routerWith(["/p/<x:int>", "GET", "int"], ["/p/<x>", "GET", "any"], ["/q/<x>", "GET", "anyfirst"], ["/q/<x:int>", "GET", "never"]);
    assert.equal(found(r.match("GET", "/p/1")).target, "int");
    assert.equal(found(r.match("GET", "/p/a")).target, "any");
    assert.equal(found(r.match("GET", "/q/1")).target, "anyfirst");
  });

  test("definition order holds across interleaved prefixes", () => {
    // The combined expression shares prefixes; an older route under another prefix must still win.
    const r = routerWith(
      ["/x/<a>/one", "GET", "r1"],
      ["/<b>/<a>/one", "GET", "r2"],
      ["/x/<a>/<c>", "GET", "r3"],
      ["/x/<a>/two", "GET", "r4"],
    );
    assert.equal(found(r.match("GET", "/x/1/one")).target, "r1");
    assert.equal(found(r.match("GET", "/y/1/one")).target, "r2");
    assert.equal(found(r.match("GET", "/x/1/two")).target, "r3"); // r3 is older than r4
    assert.equal(found(r.match("GET", "/x/1/other")).target, "r3");
  });

  test("an older route with a wildcard first segment beats a newer literal-prefixed one", () => {
    // Routes are grouped by literal first segment; the group-less ones must still keep their place.
    const r = routerWith(
      ["/<b>/<a>/three", "GET", "wild-old"],
      ["/x/<a>/three", "GET", "x-new"],
      ["/x/<a>/four", "GET", "x-old"],
      ["/<b>/<a>/four", "GET", "wild-new"],
      ["/<p:path>/five", "GET", "path"],
    );
    assert.equal(found(r.match("GET", "/x/1/three")).target, "wild-old");
    assert.equal(found(r.match("GET", "/x/1/four")).target, "x-old");
    assert.equal(found(r.match("GET", "/y/1/four")).target, "wild-new");
    assert.deepEqual(found(r.match("GET", "/x/1/2/five")).params, { p: "x/1/2" });
    assert.deepEqual(r.match("POST", "/x/1/2/five"), { kind: "methodNotAllowed", allow: ["GET", "HEAD"] });
  });

  test("dynamic GET beats static ANY; ANY is the fallback for other verbs", () => {
    const r = routerWith(["/thing", "ANY", "any"], ["/<name>", "GET", "get"]);
    assert.equal(found(r.match("GET", "/thing")).target, "get");
    assert.equal(found(r.match("DELETE", "/thing")).target, "any");
    assert.equal(found(r.match("BREW", "/thing")).target, "any");
  });

  test("HEAD uses HEAD, then GET, then ANY", () => {
    const r = routerWith(["/h", "GET", "get"], ["/h2", "HEAD", "head"], ["/h2", "GET", "get2"], ["/h3", "ANY", "any"]);
    assert.equal(found(r.match("HEAD", "/h")).target, "get");
    assert.equal(found(r.match("HEAD", "/h2")).target, "head");
    assert.equal(found(r.match("HEAD", "/h3")).target, "any");
  });

  test("method names are case-insensitive at add time", () => {
    const r = routerWith(["/m", "gEt", "get"]);
    assert.equal(found(r.match("GET", "/m")).target, "get");
  });

  test("adding the same method and rule replaces the target in place", () => {
    const r = routerWith(["/r/<x>", "GET", "old"], ["/r/<x:int>", "GET", "int"], ["/s", "GET", "s-old"]);
    r.match("GET", "/r/1"); // compile before replacing
    r.add("/r/<x>", "GET", "new", "renamed");
    r.add("/s", "GET", "s-new");
    assert.equal(found(r.match("GET", "/r/1")).target, "new"); // keeps its place before <x:int>
    assert.equal(found(r.match("GET", "/s")).target, "s-new");
    assert.equal(r.routes().length, 3);
    assert.deepEqual(r.routes().map((x) => x.target), ["new", "int", "s-new"]);
    assert.equal(r.build("renamed", { x: "a" }), "/r/a");
  });

  test("routes added after a match are seen (lazy recompile)", () => {
    const r = routerWith(["/a/<x>", "GET", "a"]);
    assert.equal(r.match("GET", "/b/1").kind, "notFound");
    r.add("/b/<x>", "GET", "b");
    assert.equal(found(r.match("GET", "/b/1")).target, "b");
  });
});

describe("404, 405, 400", () => {
  test("405 lists the matching methods sorted, with HEAD when GET is routed", () => {
    const r = routerWith(["/x", "PUT", "put"], ["/x", "GET", "get"], ["/<y>", "DELETE", "del"], ["/other", "POST", "post"]);
    assert.deepEqual(r.match("POST", "/x"), { kind: "methodNotAllowed", allow: ["DELETE", "GET", "HEAD", "PUT"] });
    assert.deepEqual(r.match("PATCH", "/other"), { kind: "methodNotAllowed", allow: ["DELETE", "POST"] });
    assert.deepEqual(r.match("HEAD", "/other"), { kind: "methodNotAllowed", allow: ["DELETE", "POST"] });
  });

  test("404 when no method matches the path", () => {
    const r = routerWith(["/x", "GET", "get"]);
    assert.deepEqual(r.match("GET", "/y"), { kind: "notFound" });
    assert.deepEqual(new Router().match("GET", "/"), { kind: "notFound" });
  });

  test("a throwing custom filter is a 400, not a fall-through to later routes", () => {
    const r = new Router<string>();
    r.addFilter("even", () => ({
      pattern: "\\d+",
      toValue: (s) => {
        if (Number(s) % 2) throw new Error("odd");
        return Number(s);
      },
    }));
    r.add("/n/<x:even>", "GET", "even");
    r.add("/n/<x>", "GET", "later");
    assert.deepEqual(found(r.match("GET", "/n/4")).params, { x: 4 });
    const m = r.match("GET", "/n/3");
    assert.equal(m.kind, "badParam");
    assert.match((m as { message: string }).message, /odd/);
    assert.equal(found(r.match("GET", "/n/abc")).target, "later");
  });
});

describe("custom filters and building URLs", () => {
  test("addFilter with config, toValue and toUrl", () => {
    const r = new Router<string>();
    r.addFilter("list", (sep) => ({
      pattern: `[^/]+`,
      toValue: (s) => s.split(sep ?? ","),
      toUrl: (v) => (v as string[]).join(sep ?? ","),
    }));
    r.add("/tags/<t:list:+>", "GET", "tags", "tags");
    assert.deepEqual(found(r.match("GET", "/tags/a+b+c")).params, { t: ["a", "b", "c"] });
    assert.equal(r.build("tags", { t: ["x", "y"] }), "/tags/x+y");
  });

  test("build fills wildcards, leftovers become the query, arrays repeat the key", () => {
    const r = routerWith(["/item/<id:int>/<slug>", "GET", "item", "item"], ["/s/<p:path>", "GET", "s", "static"]);
    assert.equal(r.build("item", { id: 7, slug: "x" }), "/item/7/x");
    assert.equal(r.build("item", { id: "8", slug: "x", tab: "info", tag: ["a", "b c"], skip: undefined }), "/item/8/x?tab=info&tag=a&tag=b+c");
    assert.equal(r.build("static", { p: "css/site.css" }), "/s/css/site.css");
  });

  test("build percent-encodes what would change the URL", () => {
    const r = routerWith(["/w/<word>", "GET", "w", "w"], ["/uni/瓶/<x>", "GET", "u", "u"]);
    assert.equal(r.build("w", { word: "a b?c#d%" }), "/w/a%20b%3Fc%23d%25");
    assert.equal(r.build("u", { x: "瓶" }), "/uni/%E7%93%B6/%E7%93%B6");
    // Decoding the built path gives a path that matches, with the same value.
    const built = r.build("w", { word: "Grüße & co" });
    assert.deepEqual(found(r.match("GET", decodeURIComponent(built))).params, { word: "Grüße & co" });
  });

  test("build by rule string and anonymous wildcards as anon0, anon1", () => {
    const r = routerWith(["/a/<>/<:int>", "GET", "a"]);
    assert.equal(r.build("/a/<>/<:int>", { anon0: "x", anon1: 3 }), "/a/x/3");
  });

  test("build errors: unknown name, missing param, value not fitting", () => {
    const r = routerWith(["/item/<id:int>", "GET", "item", "item"], ["/w/<word>", "GET", "w", "w"]);
    assert.throws(() => r.build("nope"), (e: unknown) => e instanceof RouteBuildError && /No route named "nope"/.test(e.message));
    assert.throws(() => r.build("item"), (e: unknown) => e instanceof RouteBuildError && /Missing URL argument "id"/.test(e.message));
    assert.throws(() => r.build("item", { id: "abc" }), RouteBuildError);
    assert.throws(() => r.build("item", { id: 1.5 }), RouteBuildError);
    assert.throws(() => r.build("w", { word: "a/b" }), (e: unknown) => e instanceof RouteBuildError && /does not fit/.test(e.message));
  });

  test("routes() lists everything in definition order", () => {
    const r = routerWith(["/", "GET", "home", "home"], ["/<x>", "POST", "post"]);
    assert.deepEqual(r.routes(), [
      { method: "GET", path: "/", name: "home", target: "home" },
      { method: "POST", path: "/<x>", target: "post" },
    ]);
  });
});

describe("syntax errors", () => {
  const cases: Array<[string, RegExp]> = [
    ["/x/<id:nope>", /Unknown filter "nope".*addFilter/],
    ["/x/<id:re:(>", /Invalid regular expression/],
    ["/x/<id:re:[a-z>", /Invalid regular expression/],
    ["/x/<1bad>", /Invalid wildcard name "1bad"/],
    ["/x/<id", /Unterminated wildcard/],
    ["/x/<a>/<a>", /appears twice/],
    ["/x/<a:re:(a)\\1>", /Back-references/],
    ["/x/<a:re:(?<n>a)>", /write \\> for ">"/],
  ];
  for (const [rule, message] of cases) {
    test(`rejects ${rule}`, () => {
      assert.throws(() => new Router().add(rule, "GET", 1), (e: unknown) => e instanceof RouteSyntaxError && message.test(e.message));
    });
  }

  test("rejects a bad method and a bad filter name", () => {
    assert.throws(() => new Router().add("/", "GE T", 1), RouteSyntaxError);
    assert.throws(() => new Router().addFilter("no-dash", () => ({ pattern: "x" })), RouteSyntaxError);
  });

  test("a failed add leaves the router usable", () => {
    const r = routerWith(["/ok/<x>", "GET", "ok"]);
    assert.throws(() => r.add("/bad/<x:re:(>", "GET", "bad"));
    assert.equal(found(r.match("GET", "/ok/1")).target, "ok");
  });
});

describe("scale", () => {
  test("300 routes (static and dynamic, several methods) all match their own paths", () => {
    const r = new Router<number>();
    const probes: Array<[string, string, number, Record<string, unknown>]> = [];
    let n = 0;
    for (let i = 0; i < 60; i++) {
      const id = n++;
      r.add(`/res${i}`, "GET", id);
      probes.push(["GET", `/res${i}`, id, {}]);
      const id2 = n++;
      r.add(`/res${i}/<id:int>`, "GET", id2);
      probes.push(["GET", `/res${i}/${i * 3}`, id2, { id: i * 3 }]);
      const id3 = n++;
      r.add(`/res${i}/<id:int>/sub/<name>`, "PUT", id3);
      probes.push(["PUT", `/res${i}/5/sub/x${i}`, id3, { id: 5, name: `x${i}` }]);
      const id4 = n++;
      r.add(`/res${i}/<id:int>/sub`, "POST", id4);
      probes.push(["POST", `/res${i}/9/sub`, id4, { id: 9 }]);
      const id5 = n++;
      r.add(`/org/<org>/res${i}/<rest:path>`, "GET", id5);
      probes.push(["GET", `/org/o/res${i}/a/b`, id5, { org: "o", rest: "a/b" }]);
    }
    assert.equal(r.routes().length, 300);
    for (const [method, path, id, params] of probes) {
      const m = found(r.match(method, path));
      assert.equal(m.target, id, `${method} ${path}`);
      assert.deepEqual(m.params, params, `${method} ${path}`);
    }
    assert.deepEqual(r.match("DELETE", "/res7/1/sub"), { kind: "methodNotAllowed", allow: ["POST"] });
    assert.equal(r.match("GET", "/res60").kind, "notFound");
  });
});

describe("typed params", () => {
  test("PathParams derives types from the rule (compile-time checks)", () => {
    type P = PathParams<"/item/<id:int>/<rest:path>">;
    const p: P = { id: 1, rest: "a/b" };
    const id: number = p.id;
    const rest: string = p.rest;
    type F = PathParams<"/f/<x:float>/<name>/<r:re:[a-z]+>/<>/<:int>/<c:custom>">;
    const f: F = { x: 1.5, name: "n", r: "abc", c: { anything: true } };
    const x: number = f.x;
    const name: string = f.name;
    // @ts-expect-error: an int param is not a string
    const wrong: string = p.id;
    // @ts-expect-error: anonymous wildcards add no keys
    f.anon0;
    type S = PathParams<"/static">;
    const s: S = {};
    type Escaped = PathParams<"/lit/\\<x>/<y>">;
    const e: Escaped = { y: "y" };
    assert.deepEqual([id, rest, x, name, wrong, s, e.y], [1, "a/b", 1.5, "n", 1, {}, "y"]);
  });

  test("app.get/route/post hand the handler req.params typed from the path (compile-time checks)", async () => {
    const app = new Carafe();
    app.get("/item/<id:int>/<slug>", (req) => {
      const id: number = req.params.id;
      const slug: string = req.params.slug;
      // @ts-expect-error: an int param is not a string
      const wrong: string = req.params.id;
      // @ts-expect-error: no such param in the path
      req.params.other;
      return { id, slug, wrong };
    });
    app.route("/r/<n:float>", ["GET", "PUT"], (req) => {
      const n: number = req.params.n;
      return { n };
    });
    app.post("/p/<rest:path>", (req) => {
      // @ts-expect-error: a path param is a string
      const n: number = req.params.rest;
      return { n };
    });
    const res = await app.fetch(new Request("http://localhost/item/7/seven"));
    assert.deepEqual(await res.json(), { id: 7, slug: "seven", wrong: 7 });
    assert.deepEqual(await (await app.fetch(new Request("http://localhost/r/1.5", { method: "PUT" }))).json(), { n: 1.5 });
  });
});

describe("against a reference matcher", () => {
  /** Small deterministic PRNG (mulberry32) so a failure can be replayed. */
  function prng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const pick = <X>(rand: () => number, xs: X[]): X => xs[Math.floor(rand() * xs.length)];

  // Pieces of rules: [rule text, reference regex, param kind or undefined].
  const ruleSegments: Array<[string, string, "str" | "int" | null]> = [
    ["a", "a", null], ["b", "b", null], ["ab", "ab", null], ["", "", null],
    ["<p>", "([^/]+)", "str"], ["<p:int>", "(-?\\d+)", "int"], ["<p:path>", "(.+?)", "str"],
    ["<p:re:[ab]+>", "([ab]+)", "str"], ["a<p>", "a([^/]+)", "str"], ["<>", "(?:[^/]+)", null], ["<p>.<q>", "([^/]+)\\.([^/]+)", "str"],
  ];
  const pathSegments = ["a", "b", "ab", "", "1", "-2", "ba", "a.b", "aa.1"];

  for (const seed of [1, 2, 3, 4]) {
    test(`random table and paths agree with a linear scan (seed ${seed})`, () => {
      const rand = prng(seed);
      const router = new Router<number>();
      type Ref = { method: string; rule: string; regex: RegExp; kinds: Array<[string, "str" | "int"]>; id: number; isStatic: boolean };
      const refs: Ref[] = [];
      for (let id = 0; id < 300; id++) {
        const count = 1 + Math.floor(rand() * 4);
        let rule = "";
        let source = "";
        const kinds: Array<[string, "str" | "int"]> = [];
        for (let i = 0; i < count; i++) {
          const [text, re, kind] = pick(rand, ruleSegments);
          let named = text;
          if (kind) {
            // Number the params so names are unique within a rule.
            named = text.replace("<p", `<p${i}`).replace("<q", `<q${i}`);
            kinds.push([`p${i}`, kind]);
            if (text.includes("<q")) kinds.push([`q${i}`, "str"]);
          }
          rule += "/" + named;
          source += "\\/" + re;
        }
        const method = pick(rand, ["GET", "GET", "POST", "ANY"]);
        const isStatic = !rule.includes("<");
        const existing = refs.find((r) => r.method === method && r.rule === rule);
        router.add(rule, method, id);
        if (existing) existing.id = id; // replaced in place
        else refs.push({ method, rule, regex: new RegExp(`^${source}$`), kinds, id, isStatic });
      }
      const reference = (method: string, path: string): unknown => {
        const order = method === "HEAD" ? ["HEAD", "GET", "ANY"] : [method, "ANY"];
        for (const m of order) {
          const own = refs.filter((r) => r.method === m);
          const s = own.find((r) => r.isStatic && r.rule === path);
          if (s) return { kind: "found", target: s.id, params: {} };
          for (const r of own) {
            if (r.isStatic) continue;
            const hit = r.regex.exec(path);
            if (!hit) continue;
            const params: Record<string, unknown> = {};
            r.kinds.forEach(([name, kind], i) => (params[name] = kind === "int" ? Number(hit[i + 1]) : hit[i + 1]));
            return { kind: "found", target: r.id, params };
          }
        }
        const allow = new Set<string>();
        for (const r of refs) {
          if (order.includes(r.method)) continue;
          if (r.isStatic ? r.rule === path : r.regex.test(path)) allow.add(r.method);
        }
        if (allow.has("GET")) allow.add("HEAD");
        return allow.size ? { kind: "methodNotAllowed", allow: [...allow].sort() } : { kind: "notFound" };
      };
      for (let i = 0; i < 1500; i++) {
        const count = 1 + Math.floor(rand() * 5);
        let path = "";
        for (let j = 0; j < count; j++) path += "/" + pick(rand, pathSegments);
        const method = pick(rand, ["GET", "POST", "HEAD", "PUT"]);
        assert.deepEqual(router.match(method, path), reference(method, path), `${method} ${path}`);
      }
    });
  }
});

describe("results", () => {
  test("params objects are fresh and writable, also for static routes", () => {
    const r = routerWith(["/s", "GET", "s"], ["/d/<x>", "GET", "d"]);
    for (const path of ["/s", "/d/1"]) {
      const a = found(r.match("GET", path));
      a.params.extra = 1; // plugins may add to req.params
      assert.equal(found(r.match("GET", path)).params.extra, undefined);
    }
  });
});
