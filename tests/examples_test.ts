/**
 * Every runnable file of examples/ is started as its header says (a child process under
 * the runtime running the tests; Node runs the npm build's copy), on a free port given
 * in PORT, and answers the request its header shows. So no example rots unnoticed.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { here, runtime, spawnScript, stop, tempDir, waitForOutput } from "./_helpers.ts";
import { freePort } from "./_gateway_peers.ts";

interface Example {
  /** The file under examples/ (the `carafe` command serves it when `cli` is set). */
  file: string;
  title: string;
  env?: Record<string, string>;
  cli?: string[];
  check(base: string): Promise<void>;
}

const examples: Example[] = [
  {
    file: "hello.ts",
    title: "hello: a path parameter",
    check: async (base) => assert.equal(await (await fetch(`${base}hello/world`)).text(), "Hello world!\n"),
  },
  {
    file: "json_api.ts",
    title: "JSON API: a valid item is created, an invalid one gets a JSON 400 naming the field",
    check: async (base) => {
      const post = (body: string) => fetch(`${base}items`, { method: "POST", body, headers: { "content-type": "application/json" } });
      const created = await post('{"name":"tea","price":3.5}');
      assert.equal(created.status, 201);
      assert.deepEqual(await created.json(), { id: 1, name: "tea", price: 3.5 });
      assert.equal(created.headers.get("location"), "/items/1");
      const bad = await post('{"name":""}');
      assert.equal(bad.status, 400);
      assert.equal((await bad.json()).field, "name");
      const missing = await fetch(`${base}items/99`);
      assert.equal(missing.status, 404);
      assert.match((await missing.json()).error, /No item 99/);
    },
  },
  {
    file: "forms.ts",
    title: "forms and uploads: errors shown in the page (escaped), an upload downloadable",
    check: async (base) => {
      const bad = new FormData();
      bad.set("name", "<i>x</i>");
      const page = await fetch(`${base}upload`, { method: "POST", body: bad });
      assert.equal(page.status, 400);
      const html = await page.text();
      assert.match(html, /Choose a file\./);
      assert.match(html, /value="&lt;i&gt;x&lt;\/i&gt;"/);
      const good = new FormData();
      good.set("name", "Ada");
      good.set("file", new Blob(["hello upload"]), "../../notes.txt");
      const sent = await fetch(`${base}upload`, { method: "POST", body: good, redirect: "manual" });
      assert.equal(sent.status, 303);
      const link = (await (await fetch(base)).text()).match(/href="(\/files\/[^"]+)">notes\.txt</)?.[1];
      assert.ok(link, "the upload is listed under its own name, without the folders");
      const download = await fetch(new URL(link, base));
      assert.equal(await download.text(), "hello upload");
      assert.match(download.headers.get("content-disposition") ?? "", /attachment; filename="notes\.txt"/);
    },
  },
  {
    file: "sessions.ts",
    title: "signed cookies: a login is remembered, a forged cookie is not",
    check: async (base) => {
      const login = await fetch(`${base}login`, { method: "POST", body: new URLSearchParams({ name: "ada" }), redirect: "manual" });
      assert.equal(login.status, 303);
      const cookie = login.headers.get("set-cookie")!.split(";")[0];
      assert.equal(await (await fetch(base, { headers: { cookie } })).text(), "Hello ada! You have been here 1 time(s).\n");
      const forged = cookie.replace("ada", "eve");
      assert.match(await (await fetch(base, { headers: { cookie: forged } })).text(), /Nobody is logged in/);
    },
  },
  {
    file: "streaming.ts",
    title: "streaming: a generator's chunks, and an event stream",
    check: async (base) => {
      assert.equal(await (await fetch(`${base}count`)).text(), "1\n2\n3\n4\n5\n");
      const events = await fetch(`${base}events`);
      assert.match(events.headers.get("content-type") ?? "", /^text\/event-stream/);
      const reader = events.body!.getReader();
      let text = "";
      while (!text.includes("data: ")) text += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      assert.match(text, /data: \{"tick":1,/);
    },
  },
  {
    file: "static_site.ts",
    title: "static site: the folder's index.html",
    check: async (base) => {
      const page = await fetch(base);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<h1>A static site served by Carafe<\/h1>/);
      assert.equal((await fetch(`${base}missing.html`)).status, 404);
    },
  },
  {
    file: "templates.ts",
    title: "templates: a layout through rebase, and what the client sent is escaped",
    check: async (base) => {
      const html = await (await fetch(`${base}hello/${encodeURIComponent("<script>")}`)).text();
      assert.match(html, /<h1>Hello &lt;script&gt;!<\/h1>/);
      assert.match(html, /<footer>Rendered by Carafe's templates\.<\/footer>/);
      assert.match(await (await fetch(base)).text(), /<li>The Pragmatic Programmer \(1999\)<\/li>/);
    },
  },
  {
    file: "mount.ts",
    title: "mounting: a Carafe sub-app and a fetch app",
    check: async (base) => {
      assert.deepEqual(await (await fetch(`${base}api/users/7`)).json(), { id: 7, mountedAt: "/api/" });
      assert.match(await (await fetch(`${base}hono/hi`)).text(), /^Hello from (Hono|a fetch app) at \/hi\n$/);
    },
  },
  {
    file: "plugins.ts",
    title: "plugins and hooks: their headers, and a route option a plugin acts on",
    check: async (base) => {
      const home = await fetch(base);
      assert.match(home.headers.get("x-response-time") ?? "", /^\d+\.\dms$/);
      assert.match(home.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
      assert.equal((await fetch(`${base}admin`)).status, 401);
      assert.equal(await (await fetch(`${base}admin`, { headers: { "x-token": "secret" } })).text(), "Welcome, admin.\n");
    },
  },
  {
    file: "servers.ts",
    title: "run() on the auto server",
    check: async (base) => assert.match(await (await fetch(base)).text(), /^Served by the "auto" server on (Deno|Bun|Node) \(pid \d+\)\n$/),
  },
  {
    file: "servers.ts",
    title: "run() on the cluster server, two workers",
    env: { SERVER: "cluster", WORKERS: "2" },
    check: async (base) => assert.match(await (await fetch(base)).text(), /^Served by the "cluster" server on /),
  },
  {
    file: "cli_app.ts",
    title: "the carafe command serves an exported app, with -C config",
    cli: ["-C", "greeting=Hi"],
    check: async (base) => assert.equal(await (await fetch(base)).text(), "Hi from the carafe command!\n"),
  },
  {
    file: "demo/main.ts",
    title: "the demo, as npm start serves it",
    check: async (base) => assert.match(await (await fetch(base)).text(), /<title>To-do · Carafe demo<\/title>[\s\S]*Nothing to do yet\./),
  },
];

/** Starts an example on a free port and runs its check. */
async function tryExample(example: Example): Promise<void> {
  const port = await freePort();
  const data = tempDir("carafe-example-");
  const env = { PORT: String(port), HOST: "127.0.0.1", DEMO_DATA: data.path, ...example.env };
  const child = example.cli
    ? spawnScript(here("cli.ts"), [...example.cli, "--bind", `127.0.0.1:${port}`, here(`examples/${example.file}`)], { env })
    : spawnScript(here(`examples/${example.file}`), [], { env });
  child.stdout?.resume();
  try {
    await waitForOutput(child, /Listening on /, 30_000);
    await example.check(`http://127.0.0.1:${port}/`);
  } finally {
    await stop(child);
    data.remove();
  }
}

describe(`examples (${runtime})`, { concurrency: false }, () => {
  for (const example of examples) test(`examples/${example.file}: ${example.title}`, () => tryExample(example));

  test("every runnable example is started above", () => {
    const dir = here("examples/hello.ts").replace(/hello\.[jt]s$/, "");
    const runnable = readdirSync(dir).filter((f) => /\.[jt]s$/.test(f) && !f.endsWith(".d.ts")).map((f) => f.replace(/\.js$/, ".ts"));
    // examples/websocket.ts needs a WebSocket client: tests/websocket_test.ts starts it.
    const tested = new Set([...examples.map((e) => e.file), "websocket.ts"]);
    assert.deepEqual(runnable.filter((f) => !tested.has(f)), [], "add a check for each new example to tests/examples_test.ts");
  });
});
