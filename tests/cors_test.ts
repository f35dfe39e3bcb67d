// cors(): the exact CORS header sets of the Fetch standard (§3.2.3 preflight, §3.2.5
// actual answers) over a real socket: preflights answered before routing, Vary: Origin,
// disallowed origins served without CORS headers, every kind of origin option.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Carafe } from "../mod.ts";
import { cors, type CorsOptions } from "../core/cors.ts";
import { type Got, request } from "./_native_helpers.ts";
import { serveInProcess, type Serving } from "./_serve.ts";

const SITE = "https://app.example";
const OTHER = "https://evil.example";

function makeApp(options: CorsOptions): Carafe {
  const app = new Carafe({ logger: () => {} });
  app.install(cors(options));
  app.put("/items/<id:int>", (req) => ({ id: req.params.id }));
  app.get("/items", (_req, res) => {
    res.setHeader("x-total-count", "2");
    return [1, 2];
  });
  app.get("/own-vary", () => new Response("hi", { headers: { vary: "Accept-Encoding", "content-type": "text/plain" } }));
  app.get("/fail", () => {
    throw new Error("boom");
  });
  return app;
}

/** The CORS headers (and Vary) of an answer, as one comparable object. */
function corsHeaders(got: Got): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(got.headers)) {
    if (name.startsWith("access-control-") || name === "vary") out[name] = String(value);
  }
  return out;
}

const servers: Serving[] = [];
async function serve(options: CorsOptions): Promise<Serving> {
  const s = await serveInProcess(makeApp(options));
  servers.push(s);
  return s;
}
after(async () => {
  for (const s of servers) await s.close();
});

const preflight = (s: Serving, path: string, origin: string, method: string, requestHeaders?: string) =>
  request(s.url, {
    method: "OPTIONS",
    path,
    headers: {
      origin,
      "access-control-request-method": method,
      ...(requestHeaders ? { "access-control-request-headers": requestHeaders } : {}),
    },
  });

describe("cors(): a list of origins, with credentials", () => {
  let s: Serving;
  before(async () => {
    s = await serve({ origin: [SITE], credentials: true, exposeHeaders: ["X-Total-Count"], maxAge: 600 });
  });

  test("a preflight is answered 204 before routing (the route has no OPTIONS handler), with exactly the preflight headers", async () => {
    const got = await preflight(s, "/items/7", SITE, "PUT", "content-type, x-requested-with");
    assert.equal(got.status, 204);
    assert.equal(got.body.byteLength, 0);
    assert.deepEqual(corsHeaders(got), {
      "access-control-allow-origin": SITE,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, HEAD, PUT, POST, DELETE, PATCH",
      "access-control-allow-headers": "content-type, x-requested-with",
      "access-control-max-age": "600",
      vary: "Origin, Access-Control-Request-Headers",
    });
  });

  test("the actual answer carries Allow-Origin, Allow-Credentials and Expose-Headers, nothing of a preflight", async () => {
    const got = await request(s.url, { method: "PUT", path: "/items/7", headers: { origin: SITE } });
    assert.equal(got.status, 200);
    assert.deepEqual(JSON.parse(got.body.toString()), { id: 7 });
    assert.deepEqual(corsHeaders(got), {
      "access-control-allow-origin": SITE,
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": "X-Total-Count",
      vary: "Origin",
    });
  });

  test("a disallowed origin gets no CORS header and is served as usual; its preflight is routed like any OPTIONS", async () => {
    const got = await request(s.url, { path: "/items", headers: { origin: OTHER } });
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), "[1,2]");
    assert.deepEqual(corsHeaders(got), { vary: "Origin" });
    const pre = await preflight(s, "/items/7", OTHER, "PUT");
    assert.equal(pre.status, 405);
    assert.deepEqual(corsHeaders(pre), { vary: "Origin" });
  });

  test("no Origin (same-origin, curl): no CORS header, but Vary: Origin since the answer depends on it", async () => {
    const got = await request(s.url, { path: "/items" });
    assert.equal(got.status, 200);
    assert.deepEqual(corsHeaders(got), { vary: "Origin" });
  });

  test("errors and 404s carry the headers too, so that the script can read them", async () => {
    for (const [path, status] of [["/fail", 500], ["/nothing", 404]] as const) {
      const got = await request(s.url, { path, headers: { origin: SITE } });
      assert.equal(got.status, status);
      assert.equal(got.headers["access-control-allow-origin"], SITE, path);
      assert.equal(got.headers["access-control-allow-credentials"], "true", path);
    }
  });

  test("a handler's own Vary is kept and Origin added to it", async () => {
    const got = await request(s.url, { path: "/own-vary", headers: { origin: SITE } });
    assert.equal(got.headers.vary, "Accept-Encoding, Origin");
    assert.equal(got.headers["access-control-allow-origin"], SITE);
  });

  test("an OPTIONS without Access-Control-Request-Method is no preflight: routed", async () => {
    const got = await request(s.url, { method: "OPTIONS", path: "/items/7", headers: { origin: SITE } });
    assert.equal(got.status, 405);
    assert.equal(got.headers["access-control-allow-origin"], SITE);
    assert.equal(got.headers["access-control-allow-methods"], undefined);
  });
});

describe("cors(): any origin", () => {
  test('"*" (the default): Allow-Origin *, no Vary, configured headers listed as given', async () => {
    const s = await serve({ allowHeaders: ["Content-Type", "Authorization"], methods: ["GET", "PUT"] });
    const pre = await preflight(s, "/items/1", OTHER, "PUT", "authorization");
    assert.equal(pre.status, 204);
    assert.deepEqual(corsHeaders(pre), {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, PUT",
      "access-control-allow-headers": "Content-Type, Authorization",
    });
    const got = await request(s.url, { path: "/items", headers: { origin: OTHER } });
    assert.deepEqual(corsHeaders(got), { "access-control-allow-origin": "*" });
  });

  test('"*" with credentials is refused at once, with what to do', () => {
    assert.throws(() => cors({ credentials: true }), /cannot be combined with credentials.*list the origins/);
  });
});

describe("cors(): a pattern and a function", () => {
  test("a RegExp is tested on the whole origin (a /g pattern too, every time)", async () => {
    const s = await serve({ origin: /^https:\/\/([a-z0-9-]+\.)?example\.org$/g });
    for (let i = 0; i < 2; i++) {
      const ok = await request(s.url, { path: "/items", headers: { origin: "https://shop.example.org" } });
      assert.equal(ok.headers["access-control-allow-origin"], "https://shop.example.org");
    }
    const no = await request(s.url, { path: "/items", headers: { origin: "https://example.org.evil.example" } });
    assert.equal(no.headers["access-control-allow-origin"], undefined);
  });

  test("an async function decides per origin and request", async () => {
    const seen: string[] = [];
    const s = await serve({
      origin: async (origin, req) => {
        seen.push(`${req.method} ${origin}`);
        await Promise.resolve();
        return origin.endsWith(".trusted.example");
      },
    });
    const pre = await preflight(s, "/items/1", "https://a.trusted.example", "PUT");
    assert.equal(pre.status, 204);
    assert.equal(pre.headers["access-control-allow-origin"], "https://a.trusted.example");
    const no = await request(s.url, { path: "/items", headers: { origin: "https://untrusted.example" } });
    assert.equal(no.headers["access-control-allow-origin"], undefined);
    assert.deepEqual(seen, ["OPTIONS https://a.trusted.example", "GET https://untrusted.example"]);
  });
});

describe("cors(): options and uninstall", () => {
  test("invalid names and ages are refused", () => {
    assert.throws(() => cors({ allowHeaders: ["bad header"] }), /not a header or method name/);
    assert.throws(() => cors({ maxAge: -1 }), /maxAge/);
  });

  test("uninstall turns it off", async () => {
    const app = makeApp({ origin: [SITE] });
    const res1 = await app.fetch(new Request("http://x/items", { headers: { origin: SITE } }));
    assert.equal(res1.headers.get("access-control-allow-origin"), SITE);
    assert.equal(app.uninstall("cors"), 1);
    const res2 = await app.fetch(new Request("http://x/items", { headers: { origin: SITE } }));
    assert.equal(res2.headers.get("access-control-allow-origin"), null);
    assert.equal(res2.headers.get("vary"), null);
  });
});
