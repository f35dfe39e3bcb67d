// Templates: syntax, escaping, include/rebase/get/defined, lookup, caching, errors
// with the template's name and line, and view() through a real app.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Carafe } from "../mod.ts";
import { clearTemplateCache, Template, template, TemplateError, templatePath, view } from "../core/template.ts";
import { collect, compiled, spawnScript, tempDir } from "./_helpers.ts";

// Fixtures stay in the source tree; the compiled tests under npm/esm/tests reach back to them.
const VIEWS = fileURLToPath(new URL(compiled ? "../../../tests/fixtures/views/" : "./fixtures/views/", import.meta.url));
const lookup = [VIEWS];

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<TemplateError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TemplateError, `expected a TemplateError, got ${err}`);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a rejection matching ${pattern}`);
}

describe("template: expressions", () => {
  test("{{ }} escapes & < > \" '; {{! }} is raw", async () => {
    const out = await template("<p title=\"{{ t }}\">{{ t }}</p>{{! t }}", { t: `<a href="x">Tom & 'Jerry'</a>` });
    assert.equal(
      out,
      `<p title="&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;">&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;</p><a href="x">Tom & 'Jerry'</a>`,
    );
  });

  test("null and undefined print nothing; numbers, booleans, bytes and objects print as text", async () => {
    const out = await template("[{{ a }}][{{ b }}][{{ n }}][{{ f }}][{{ u8 }}][{{ d }}]", {
      a: null,
      b: undefined,
      n: 4.5,
      f: false,
      u8: new TextEncoder().encode("<é>"),
      d: { toString: () => "obj" },
    });
    assert.equal(out, "[][][4.5][false][&lt;é&gt;][obj]");
  });

  test("expressions are JavaScript: calls, ternaries, object literals, strings with braces", async () => {
    const out = await template(
      "{{ items.map((i) => i.toUpperCase()).join(', ') }}|{{ n > 1 ? 'many' : 'one' }}|{{ ({ a: { b: 7 } }).a.b }}|{{ '}}' + \"{{\" }}",
      { items: ["x", "y"], n: 2 },
    );
    assert.equal(out, "X, Y|many|7|}}{{");
  });

  test("an expression may span lines, and a trailing // comment cannot break it", async () => {
    assert.equal(await template("a {{ [1,\n 2].join('-') }} b\nc {{ x // a note\n}}", { x: 1 }), "a 1-2 b\nc 1");
  });

  test("{{! x }} is raw, so negation needs parentheses", async () => {
    assert.equal(await template("{{ (!flag) }}/{{!flag}}", { flag: true }), "false/true");
  });

  test("noescape flips the markers", async () => {
    assert.equal(await template("{{ x }}|{{! x }}", { x: "<b>" }, { noescape: true }), "<b>|&lt;b&gt;");
  });

  test("await works inside a template", async () => {
    assert.equal(await template("{{ await load() }}!", { load: () => Promise.resolve("later") }), "later!");
  });
});

describe("template: code lines and blocks", () => {
  test("% lines are statements; blocks close with % } or Bottle's % end; indentation is free", async () => {
    const src = [
      "<ul>",
      "  % for (const i of items) {",
      "  % if (i % 2) {",
      "  <li>odd {{ i }}</li>",
      "    % } else {",
      "  <li>even {{ i }}</li>",
      "  % end",
      "% }",
      "</ul>",
    ].join("\n");
    assert.equal(await template(src, { items: [1, 2] }), "<ul>\n  <li>odd 1</li>\n  <li>even 2</li>\n</ul>");
  });

  test("<% %> holds several lines of code; text after %> stays", async () => {
    const src = "a\n<%\n  let total = 0;\n  for (const n of ns) total += n;\n%>\nsum={{ total }}\n<% const z = 1; %> z={{ z }}\n";
    assert.equal(await template(src, { ns: [1, 2, 3] }), "a\nsum=6\n z=1\n");
  });

  test("\\% and \\<% print literally; a line ending in \\\\ joins the next", async () => {
    assert.equal(await template("\\% not code\n  \\<% neither %>\nab\\\\\ncd\n", {}), "% not code\n  <% neither %>\nabcd\n");
    // Bottle's %% escape too: one % is dropped, the line is text.
    assert.equal(await template("%% test\n  %%% {{ 1 }}\n", {}), "% test\n  %% 1\n");
  });

  test("the output keeps the source's trailing newline or lack of one; CRLF sources work", async () => {
    assert.equal(await template("x {{ 1 }}", {}), "x 1");
    assert.equal(await template("x {{ 1 }}\n", {}), "x 1\n");
    // CRLF in, CRLF out (Bottle's test_winbreaks); code lines leave no line break behind.
    assert.equal(await template("a\r\n% if (true) {\r\nb\r\n% }\r\n", {}), "a\r\nb\r\n");
    assert.equal(await template("% n += 1\r\n{{ n }}\r\n", { n: 5 }), "6\r\n");
    assert.equal(await template("<% const x = 1 %> {{ x }}\r\nnext", {}), " 1\r\nnext");
  });

  test("variables named like reserved words stay reachable through get()", async () => {
    assert.equal(await template("{{ get('class') }} {{ get('default', 'd') }}", { class: "c" }), "c d");
  });

  test("get(name, default) and defined(name) test optional variables", async () => {
    const src = "{{ get('title', 'Untitled') }}|{{ defined('user') ? 'in' : 'out' }}|{{ get('zero', 5) }}";
    assert.equal(await template(src, {}), "Untitled|out|5");
    assert.equal(await template(src, { title: "T", user: "ada", zero: 0 }), "T|in|0");
  });

  test("the same source with different variable sets renders correctly each time", async () => {
    const src = "{{ get('a', '-') }}{{ defined('b') ? b : '' }}";
    assert.equal(await template(src, { a: 1 }), "1");
    assert.equal(await template(src, { b: 2 }), "-2");
    assert.equal(await template(src, { a: 1, b: 2 }), "12");
  });
});

describe("template: named templates, include and rebase", () => {
  test("a name is looked up with .tpl / .html; include and rebase compose a page", async () => {
    const out = await template("page", { heading: "Fruit & Veg", items: ["<apple>", "pear"] }, { lookup });
    assert.equal(
      out,
      [
        "<!doctype html>",
        "<title>Page: Fruit &amp; Veg</title>",
        "<body>",
        "<h1>Fruit &amp; Veg</h1>",
        "<ul>",
        "  <li>&lt;apple&gt;</li>",
        "  <li>pear</li>",
        "</ul>",
        "<footer>2024 Fruit &amp; Veg</footer>",
        "",
        "</body>",
        "",
      ].join("\n"),
    );
  });

  test("a name with its extension works too", async () => {
    assert.equal(await template("item.tpl", { id: 3, owner: "ada" }, { lookup }), "<p>Item 3 of ada</p>\n");
  });

  test("include() from an inline template, inside a loop and inside {{! }}", async () => {
    const src = "% for (const id of [1, 2]) {\n% include('item', { id })\n% }\n[{{! include('item', { id: 9 }) }}]";
    assert.equal(await template(src, { owner: "bob" }, { lookup }), "<p>Item 1 of bob</p>\n<p>Item 2 of bob</p>\n[<p>Item 9 of bob</p>\n]");
  });

  test("templatePath is the default lookup (./ and ./views/ first)", async () => {
    assert.deepEqual(templatePath.slice(0, 2), ["./", "./views/"]);
    templatePath.push(VIEWS);
    try {
      assert.equal(await template("item", { id: 1, owner: "x" }), "<p>Item 1 of x</p>\n");
    } finally {
      templatePath.splice(templatePath.indexOf(VIEWS), 1);
    }
  });

  test("a missing template names itself and where it was looked for", async () => {
    await rejects(template("no-such-view", {}, { lookup }), /Template 'no-such-view': not found in .*views/);
  });

  test("names that leave the lookup directories are refused", async () => {
    for (const name of ["../static/hello.txt", "/etc/passwd", "a\\b", "sub/../../x"]) {
      await rejects(template(name, {}, { lookup }), /relative paths inside the lookup directories/);
    }
  });
});

describe("template: errors name the template and the line", () => {
  test("an undefined variable → ReferenceError at its line", async () => {
    const err = await rejects(template("ok\n\n<p>{{ nobody }}</p>\n", {}), /^Template '<string>', line 3: ReferenceError: nobody is not defined/);
    assert.equal(err.line, 3);
    assert.ok(err.cause instanceof ReferenceError);
  });

  test("an exception in a named template gives that file's name and line, even through include()", async () => {
    await rejects(template("broken", { items: [] }, { lookup }), /^Template 'broken', line 3: TypeError: reduce of empty array/i);
    await rejects(
      template("a\n% include('broken', { items: [] })\n", {}, { lookup }),
      /^Template 'broken', line 3: TypeError/,
    );
  });

  test("a JavaScript syntax error in an expression or code line is located", async () => {
    await rejects(template("a\nb {{ 1 + }}\n", {}), /^Template '<string>', line 2: SyntaxError: .* in \{\{ 1 \+ \}\}/);
    await rejects(template("a\n% for (const x of xs {\n% }\n", { xs: [] }), /^Template '<string>', line 2: SyntaxError/);
  });

  test("an unclosed block or a stray } is located", async () => {
    await rejects(template("a\n% if (x) {\nb\n", { x: 1 }), /line 2: .*never closed/);
    await rejects(template("a\n% }\n", {}), /line 2: .*closes no block/);
  });

  test("template syntax errors: unclosed {{ and <%, empty {{ }}", async () => {
    await rejects(template("a\n{{ x \n", { x: 1 }), /line 2: '\{\{' is never closed/);
    await rejects(template("a\n<% let y = 1;\n", {}), /line 2: '<%' is never closed/);
    assert.throws(() => new Template("{{ }}"), /Empty/);
  });

  test("a template that is not a string is a TypeError", async () => {
    await assert.rejects(template(42 as unknown as string), TypeError);
  });
});

describe("template: caching", () => {
  let tmp: { path: string; remove(): void };
  before(() => {
    tmp = tempDir("carafe-views-");
    writeFileSync(join(tmp.path, "greet.tpl"), "v1 {{ name }}");
  });
  after(() => tmp.remove());

  test("named templates are compiled once; clearTemplateCache() or cache: false re-read the file", async () => {
    // cache: true, explicitly: the default depends on whether a debug app ran last (next tests).
    const look = { lookup: [tmp.path], cache: true };
    assert.equal(await template("greet", { name: "a" }, look), "v1 a");
    writeFileSync(join(tmp.path, "greet.tpl"), "v2 {{ name }}");
    assert.equal(await template("greet", { name: "a" }, look), "v1 a", "served from the cache");
    assert.equal(await template("greet", { name: "a" }, { ...look, cache: false }), "v2 a");
    clearTemplateCache();
    assert.equal(await template("greet", { name: "a" }, look), "v2 a");
  });

  test("once an app runs with debug, as in Bottle, named templates are read again on every render", async () => {
    // A child process: the switch is process-wide and stays on (Bun runs every test file in one process).
    const script = `
      import { writeFileSync } from "node:fs";
      import { Carafe, template } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href.replace(/\.ts$/, compiled ? ".js" : ".ts"))};
      const file = ${JSON.stringify(join(tmp.path, "page.tpl"))};
      const page = (debug) => {
        const app = new Carafe({ debug });
        app.get("/", () => template("page", {}, { lookup: [${JSON.stringify(tmp.path)}] }));
        return async () => await (await app.fetch(new Request("http://localhost/"))).text();
      };
      const out = [];
      writeFileSync(file, "one");
      const normal = page(false);
      out.push(await normal());
      writeFileSync(file, "two");
      out.push(await normal()); // cached
      const debug = page(true);
      out.push(await debug()); // read again
      writeFileSync(file, "three");
      out.push(await debug(), await normal());
      console.log(out.join(" "));`;
    const scriptFile = join(tmp.path, "debug_templates.mjs");
    writeFileSync(scriptFile, script);
    const r = await collect(spawnScript(scriptFile, []));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "one one two three three");
  });

  test("lookup directories may be file: URLs, found wherever the app was started from", async () => {
    writeFileSync(join(tmp.path, "where.tpl"), "found {{ x }}");
    const url = pathToFileURL(tmp.path + "/");
    assert.equal(await template("where", { x: 1 }, { lookup: [url], cache: false }), "found 1");
    templatePath.unshift(url);
    try {
      assert.equal(await template("where", { x: 2 }, { cache: false }), "found 2");
    } finally {
      templatePath.shift();
    }
    await assert.rejects(template("where", {}, { lookup: [new URL("https://example.com/views/")] }), /not a file: URL/);
  });

  test("a template not found is not cached: it is found once it exists", async () => {
    const look = { lookup: [tmp.path] };
    await rejects(template("later", {}, look), /not found/);
    writeFileSync(join(tmp.path, "later.html"), "here");
    assert.equal(await template("later", {}, look), "here");
  });

  test("a Template object renders many times with different data", async () => {
    const t = new Template("{{ n * 2 }}", { name: "double" });
    assert.equal(t.name, "double");
    const outs = await Promise.all([1, 2, 3].map((n) => t.render({ n })));
    assert.deepEqual(outs, ["2", "4", "6"]);
  });
});

describe("view()", () => {
  test("renders the object a handler returns, as text/html, through the app", async () => {
    const app = new Carafe();
    app.get("/item/<id:int>", view("item", { owner: "nobody" }, { lookup })((req) => ({ id: req.params.id * 10 })));
    app.get("/mine/<id:int>", view("item", {}, { lookup })((req) => Promise.resolve({ id: req.params.id, owner: "me" })));
    const res = await app.fetch(new Request("http://localhost/item/4"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=UTF-8");
    assert.equal(await res.text(), "<p>Item 40 of nobody</p>\n");
    assert.equal(await (await app.fetch(new Request("http://localhost/mine/2"))).text(), "<p>Item 2 of me</p>\n");
  });

  test("null/undefined render with the defaults; other values pass through", async () => {
    const app = new Carafe({ logger: () => {} });
    app.get("/none", view("item", { id: 0, owner: "default" }, { lookup })(() => undefined));
    app.get("/resp", view("item", {}, { lookup })(() => new Response("raw", { status: 202 })));
    app.get("/text", view("item", {}, { lookup })(() => "plain string"));
    assert.equal(await (await app.fetch(new Request("http://localhost/none"))).text(), "<p>Item 0 of default</p>\n");
    const resp = await app.fetch(new Request("http://localhost/resp"));
    assert.equal(resp.status, 202);
    assert.equal(await resp.text(), "raw");
    assert.equal(await (await app.fetch(new Request("http://localhost/text"))).text(), "plain string");
  });

  test("a template error becomes a 500 and is logged with the template's name and line", async () => {
    const logged: string[] = [];
    const app = new Carafe({ logger: (m) => logged.push(m) });
    app.get("/", view("broken", {}, { lookup })(() => ({ items: [] })));
    const res = await app.fetch(new Request("http://localhost/"));
    assert.equal(res.status, 500);
    await res.body?.cancel();
    assert.match(logged.join("\n"), /Template 'broken', line 3/);
  });
});
