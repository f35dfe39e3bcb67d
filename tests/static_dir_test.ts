// serveDir(): a whole folder over a real socket (the runtime's own server): index
// files, the trailing-slash redirect, dotfiles, Cache-Control, precompressed siblings
// (their encoding, type, length, ranges and validators), and compress() next to it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { Carafe } from "../mod.ts";
import { compress } from "../core/compress.ts";
import { IMMUTABLE_CACHE_CONTROL, serveDir } from "../core/serve_dir.ts";
import { request } from "./_native_helpers.ts";
import { serveInProcess, type Serving } from "./_serve.ts";
import { tempDir } from "./_helpers.ts";

const APP_JS = "export const greet = (name) => `Hello, ${name}!`;\n".repeat(120);
const STYLE = "body { color: #333; margin: 0 auto; }\n".repeat(80);
const BR = zlib.brotliCompressSync(APP_JS);
const GZ = zlib.gzipSync(APP_JS);
const STYLE_GZ = zlib.gzipSync(STYLE);

const dir = tempDir("carafe-serve-dir-");
const root = join(dir.path, "public");
let s: Serving;

before(async () => {
  for (const sub of ["docs", "empty", ".well-known", "img"]) mkdirSync(join(root, sub), { recursive: true });
  writeFileSync(join(root, "index.html"), "<p>home</p>");
  writeFileSync(join(root, "docs", "index.html"), "<p>docs</p>");
  writeFileSync(join(root, "docs", "guide.html"), "<p>guide</p>");
  writeFileSync(join(root, "app.js"), APP_JS);
  writeFileSync(join(root, "app.js.br"), BR);
  writeFileSync(join(root, "app.js.gz"), GZ);
  writeFileSync(join(root, "style.css"), STYLE);
  writeFileSync(join(root, "style.css.gz"), STYLE_GZ);
  writeFileSync(join(root, ".env"), "SECRET=1");
  writeFileSync(join(root, ".well-known", "security.txt"), "Contact: me");
  writeFileSync(join(root, "img", "logo.3f9a1c.svg"), "<svg/>");

  const app = new Carafe({ logger: () => {} });
  const cached = (path: string) => /\.[0-9a-f]{6,}\./.test(path) ? IMMUTABLE_CACHE_CONTROL : "max-age=60";
  const site = serveDir(root, { precompressed: true, cacheControl: cached });
  app.get("/static/<path:path>", site);
  app.get("/static/", site);
  app.get("/plain/<path:path>", serveDir(root));
  app.get("/assets/<path:path>", serveDir(root, { cacheControl: "immutable" }));
  app.get("/open/<path:path>", serveDir(root, { dotfiles: "allow" }));
  app.get("/gzip-only/<path:path>", serveDir(root, { precompressed: ["gzip"] }));
  app.get("/no-index/<path:path>", serveDir(root, { index: [] }));
  const child = new Carafe();
  child.get("/<path:path>", serveDir(root));
  app.mount("/mounted", child);
  const compressed = new Carafe();
  compressed.install(compress());
  compressed.get("/<path:path>", serveDir(root, { precompressed: true }));
  app.mount("/z", compressed);
  s = await serveInProcess(app);
});
after(async () => {
  await s?.close();
  dir.remove();
});

const get = (path: string, headers: Record<string, string> = {}, method = "GET") => request(s.url, { path, headers, method });

describe("serveDir(): folders", () => {
  test("a folder with a trailing slash sends its index file; the top folder too", async () => {
    const home = await get("/static/");
    assert.equal(home.status, 200);
    assert.equal(home.body.toString(), "<p>home</p>");
    assert.equal(home.headers["content-type"], "text/html; charset=UTF-8");
    const docs = await get("/static/docs/");
    assert.equal(docs.body.toString(), "<p>docs</p>");
    assert.equal((await get("/static/docs/guide.html")).body.toString(), "<p>guide</p>");
  });

  test("a folder without its slash is redirected (301) to it, query kept, mount prefix kept", async () => {
    const docs = await get("/static/docs?lang=en");
    assert.equal(docs.status, 301);
    assert.equal(docs.headers.location, "/static/docs/?lang=en");
    const mounted = await get("/mounted/docs");
    assert.equal(mounted.status, 301);
    assert.equal(mounted.headers.location, "/mounted/docs/");
    assert.equal((await get("/mounted/docs/")).body.toString(), "<p>docs</p>");
  });

  test("no index file, or index: [] → 404 (never a listing); missing → 404; climbing out → 403", async () => {
    assert.equal((await get("/static/empty/")).status, 404);
    assert.equal((await get("/no-index/docs/")).status, 404);
    assert.equal((await get("/static/nothing.txt")).status, 404);
    // 403 from the app's dot-segment check; Bun's server resolves %2e%2e in the URL
    // itself first, and the path it hands over (/etc/passwd) has no route: 404.
    const climb = await get("/static/%2e%2e/%2e%2e/etc/passwd");
    assert.ok(climb.status === 403 || climb.status === 404, `status ${climb.status}`);
    assert.doesNotMatch(climb.body.toString(), /root:/);
    assert.equal((await get("/static/docs/%2e%2e%2f%2e%2e%2fpackage.json")).status, 403);
  });

  test("dotfiles and dot-folders → 404 unless dotfiles: \"allow\"", async () => {
    assert.equal((await get("/static/.env")).status, 404);
    assert.equal((await get("/static/.well-known/security.txt")).status, 404);
    assert.equal((await get("/open/.well-known/security.txt")).body.toString(), "Contact: me");
  });
});

describe("serveDir(): Cache-Control", () => {
  test("a function per path, and the immutable preset", async () => {
    assert.equal((await get("/static/img/logo.3f9a1c.svg")).headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal((await get("/static/docs/guide.html")).headers["cache-control"], "max-age=60");
    assert.equal((await get("/assets/docs/guide.html")).headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal((await get("/plain/docs/guide.html")).headers["cache-control"], undefined);
  });
});

describe("serveDir(): precompressed siblings", () => {
  test("x.br / x.gz are sent when accepted: their Content-Encoding, the original's type, their own length", async () => {
    const br = await get("/static/app.js", { "accept-encoding": "gzip, deflate, br" });
    assert.equal(br.status, 200);
    assert.equal(br.headers["content-encoding"], "br");
    assert.equal(br.headers["content-type"], "text/javascript; charset=UTF-8");
    assert.equal(br.headers["content-length"], String(BR.byteLength));
    assert.equal(br.headers.vary, "Accept-Encoding");
    assert.deepEqual(br.body, BR);
    assert.equal(zlib.brotliDecompressSync(br.body).toString(), APP_JS);

    const gz = await get("/static/app.js", { "accept-encoding": "br;q=0, gzip" });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.equal(gz.headers["content-length"], String(GZ.byteLength));
    assert.deepEqual(gz.body, GZ);
  });

  test("without an accepted sibling: the original, with Vary (its form depends on Accept-Encoding)", async () => {
    const plain = await get("/static/app.js", { "accept-encoding": "deflate" });
    assert.equal(plain.headers["content-encoding"], undefined);
    assert.equal(plain.headers["content-length"], String(Buffer.byteLength(APP_JS)));
    assert.equal(plain.headers.vary, "Accept-Encoding");
    assert.equal(plain.body.toString(), APP_JS);
    assert.equal((await get("/static/app.js")).body.toString(), APP_JS); // no Accept-Encoding at all
    // br is preferred but missing for style.css: its .gz is sent.
    const css = await get("/static/style.css", { "accept-encoding": "br, gzip" });
    assert.equal(css.headers["content-encoding"], "gzip");
    assert.deepEqual(css.body, STYLE_GZ);
    // Only the codings configured are looked for.
    assert.equal((await get("/gzip-only/app.js", { "accept-encoding": "br" })).headers["content-encoding"], undefined);
    assert.equal((await get("/plain/app.js", { "accept-encoding": "br" })).headers.vary, undefined);
  });

  test("ranges, HEAD and validators are those of the file actually sent", async () => {
    const part = await get("/static/app.js", { "accept-encoding": "br", range: "bytes=0-9" });
    assert.equal(part.status, 206);
    assert.equal(part.headers["content-encoding"], "br");
    assert.equal(part.headers["content-range"], `bytes 0-9/${BR.byteLength}`);
    assert.deepEqual(part.body, BR.subarray(0, 10));

    const head = await get("/static/app.js", { "accept-encoding": "br" }, "HEAD");
    assert.equal(head.headers["content-length"], String(BR.byteLength));
    assert.equal(head.body.byteLength, 0);

    const brTag = (await get("/static/app.js", { "accept-encoding": "br" })).headers.etag!;
    const plainTag = (await get("/static/app.js")).headers.etag!;
    assert.notEqual(brTag, plainTag, "each representation has its own entity tag");
    const brMtime = statSync(join(root, "app.js.br")).mtimeMs;
    assert.equal(
      (await get("/static/app.js", { "accept-encoding": "br" })).headers["last-modified"],
      new Date(Math.floor(brMtime / 1000) * 1000).toUTCString(),
    );
    const again = await get("/static/app.js", { "accept-encoding": "br", "if-none-match": brTag });
    assert.equal(again.status, 304);
  });

  test("with compress() installed: a sibling is not encoded twice; a file without one is compressed on the fly", async () => {
    const br = await get("/z/app.js", { "accept-encoding": "br" });
    assert.equal(br.headers["content-encoding"], "br");
    assert.deepEqual(br.body, BR);
    assert.equal(br.headers.vary, "Accept-Encoding");
    const deflate = await get("/z/app.js", { "accept-encoding": "deflate" });
    assert.equal(deflate.headers["content-encoding"], "deflate");
    assert.equal(zlib.inflateSync(deflate.body).toString(), APP_JS);
    assert.equal(deflate.headers.vary, "Accept-Encoding");
  });
});

describe("serveDir(): options", () => {
  test("bad options are refused with what to do", () => {
    assert.throws(() => serveDir(""), /needs the folder to serve/);
    assert.throws(() => serveDir(root, { precompressed: ["zstd" as "br"] }), /use "br" or "gzip"/);
    assert.throws(() => serveDir(root, { index: ["a/index.html"] }), /plain file name/);
  });
});
