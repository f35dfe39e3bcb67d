/**
 * Mounting: a Carafe sub-app at `/api` sees its own paths (`req.scriptName` is
 * `/api/`), and any app with a `fetch(request)` method, such as a Hono app, mounts the
 * same way at `/hono`. When the `hono` package is installed (`npm i hono`; it is in
 * bench/package.json here), this file mounts a real Hono app; otherwise a plain
 * `{ fetch }` object stands in for it.
 *
 *     deno run -A examples/mount.ts           # or: bun examples/mount.ts
 *     curl http://127.0.0.1:8080/api/users/7  # {"id":7,"mountedAt":"/api/"}
 *     curl http://127.0.0.1:8080/hono/hi      # Hello from a fetch app at /hi
 *
 * @module
 */
import { Carafe, run } from "../mod.ts";

const api = new Carafe();
api.get("/users/<id:int>", (req) => ({ id: req.params.id, mountedAt: req.scriptName }));

/** A Hono app when `hono` can be imported, else the same thing as a bare `{ fetch }` app. */
async function fetchApp(): Promise<{ fetch(request: Request): Response | Promise<Response> }> {
  try {
    const name = "hono"; // a variable: the example type-checks without Hono installed
    const { Hono } = await import(name);
    const hono = new Hono();
    hono.get("/hi", (c: { text(s: string): Response }) => c.text("Hello from Hono at /hi\n"));
    return hono;
  } catch {
    // The mounted app gets the URL without the prefix: /hono/hi arrives as /hi.
    return { fetch: (request) => new Response(`Hello from a fetch app at ${new URL(request.url).pathname}\n`) };
  }
}

const app = new Carafe();
app.mount("/api", api);
app.mount("/hono", await fetchApp());
app.get("/", () => "Try /api/users/7 or /hono/hi\n");

await run({ app });
