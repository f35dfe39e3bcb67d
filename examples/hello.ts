/**
 * The smallest useful Carafe app, on http://127.0.0.1:8080/ (PORT and HOST override)
 * with the `auto` server:
 *
 *     deno run -A examples/hello.ts           # or: bun examples/hello.ts
 *     curl http://127.0.0.1:8080/hello/world  # Hello world!
 *
 * (Node: `npm run build:npm`, then `node npm/esm/examples/hello.js`.)
 *
 * @module
 */
import { Carafe, run } from "../mod.ts";

const app = new Carafe();

app.get("/", () => "Hello from Carafe! Try /hello/world or /json.\n");
app.get("/hello/<name>", (req) => `Hello ${req.params.name}!\n`);
app.get("/json", (req) => ({ hello: "world", query: Object.fromEntries(req.query) }));

run({ app, server: "auto", host: "127.0.0.1", port: Number(globalThis.process?.env?.PORT ?? 8080) });
