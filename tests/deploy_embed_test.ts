/**
 * Bottle's "start the server yourself" (the guide's paste example): the app handed to
 * `Deno.serve(app.fetch)`, `Bun.serve(app)`, `Bun.serve({ fetch: app.fetch })` and
 * `http.createServer(toNodeHandler(app))` serves correctly: routing, a POST body, the
 * client's address, 404. And the platform convention: `run()` and the `carafe` command
 * take the port from `PORT` and the host from `HOST` when none is given; an explicit
 * option wins.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { here, runtime, spawnScript, stop, waitForOutput, collect } from "./_helpers.ts";
import { request } from "./_native_helpers.ts";
import { freePort } from "./_deploy_helpers.ts";

const ways = [
  { way: "deno-serve", code: "Deno.serve(app.fetch)", on: ["deno"] },
  { way: "bun-serve-app", code: "Bun.serve(app)", on: ["bun"] },
  { way: "bun-serve-fetch", code: "Bun.serve({ fetch: app.fetch })", on: ["bun"] },
  { way: "node-http", code: "http.createServer(toNodeHandler(app))", on: ["deno", "bun", "node"] },
];

describe(`deploy: start the server yourself (${runtime})`, () => {
  for (const w of ways) {
    const skip = w.on.includes(runtime) ? undefined : `${w.code} runs under ${w.on.join(", ")}`;
    test(`${w.code}: routing, a POST body, the client's address, 404`, { skip }, async () => {
      const port = await freePort();
      const child = spawnScript(here("tests/fixtures/deploy_embed_app.ts"), [w.way], { env: { PORT: String(port) } });
      const done = collect(child);
      try {
        await waitForOutput(child, /Listening on \d+/, 20_000);
        const base = `http://127.0.0.1:${port}`;
        const hello = await request(base, { path: "/" });
        assert.deepEqual([hello.status, hello.body.toString()], [200, "Hello from Carafe!\n"]);
        const who = JSON.parse((await request(base, { path: "/whoami" })).body.toString());
        assert.equal(who.pid, child.pid);
        assert.match(who.remote, /^(::ffff:)?127\.0\.0\.1$/);
        const body = "posted ".repeat(20_000);
        const echo = await request(base, { method: "POST", path: "/echo", body, headers: { "content-type": "text/plain" } });
        assert.deepEqual([echo.status, echo.body.toString()], [200, body]);
        assert.equal((await request(base, { path: "/nowhere" })).status, 404);
      } finally {
        await stop(child);
        await done;
      }
    });
  }
});

describe(`deploy: PORT and HOST from the environment (${runtime})`, () => {
  const app = here("examples/deploy/app.ts");
  async function banner(args: string[], env: Record<string, string>): Promise<string> {
    const child = spawnScript(here("cli.ts"), [...args, app], { env });
    const done = collect(child);
    try {
      return (await waitForOutput(child, /Listening on (\S+)/, 20_000))[1];
    } finally {
      await stop(child);
      await done;
    }
  }

  test("carafe without --bind listens on $HOST:$PORT, and answers there", async () => {
    const port = await freePort();
    const child = spawnScript(here("cli.ts"), [app], { env: { PORT: String(port), HOST: "127.0.0.1" } });
    const done = collect(child);
    try {
      assert.equal((await waitForOutput(child, /Listening on (\S+)/, 20_000))[1], `http://127.0.0.1:${port}/`);
      assert.equal((await request(`http://127.0.0.1:${port}`, { path: "/" })).status, 200);
    } finally {
      await stop(child);
      await done;
    }
  });

  test("an explicit --bind wins over PORT and HOST", async () => {
    const [port, other] = [await freePort(), await freePort()];
    assert.equal(await banner(["--bind", `127.0.0.1:${port}`], { PORT: String(other), HOST: "0.0.0.0" }), `http://127.0.0.1:${port}/`);
  });

  test("a PORT that is not a port number stops the start with a message naming PORT", async () => {
    const child = spawnScript(here("cli.ts"), [app], { env: { PORT: "eighty" } });
    const end = await collect(child);
    assert.notEqual(end.code, 0);
    assert.match(end.stderr, /PORT environment variable is "eighty", not a port number/);
  });
});
