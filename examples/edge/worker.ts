/**
 * A Carafe app as a Cloudflare Worker (docs/deployment.md, "Edge and serverless"). The app's
 * `fetch(request)` is the Worker's entry point: `export default app` is all it takes.
 * Import from `app.ts` (Carafe without the servers), not `mod.ts`: `run()` and the
 * adapters need `node:` modules that a Worker without `nodejs_compat` does not have.
 *
 * Deploy with wrangler (wrangler.toml next to this file), or bundle it yourself:
 *   esbuild examples/edge/worker.ts --bundle --format=esm --platform=neutral --outfile=worker.js
 *
 * `staticFile` and `serveDir` read a file system, which a Worker has not: serve assets
 * with Workers Static Assets (`[assets]` in wrangler.toml) instead.
 *
 * @module
 */
import { Carafe, escapeHtml } from "../../app.ts";

const app = new Carafe();

app.get("/", () => "Hello from Carafe on the edge!\n");
// A string answer is HTML: request data in it is escaped.
app.get("/hello/<name>", (req) => `Hello ${escapeHtml(req.params.name)}!\n`);
app.get("/json", (req) => ({ hello: "world", query: Object.fromEntries(req.query) }));
// The Worker's bindings (wrangler.toml's [vars], KV, D1, secrets) are req.env; work that
// should go on after the answer is handed to req.waitUntil (ctx.waitUntil underneath).
app.get("/greeting", (req) => `${String(req.env.GREETING ?? "Hello")} from the edge!\n`);

export default app;
