/**
 * The smallest useful Carafe app: `npm start` (Node), `deno task start`, or
 * `bun examples/hello.ts` serves it on http://127.0.0.1:8080/ with the `auto` server.
 *
 * @module
 */
import { Carafe, run } from "../mod.ts";

const app = new Carafe();

app.get("/", () => "Hello from Carafe! Try /hello/world or /json.\n");
app.get("/hello/<name>", (req) => `Hello ${req.params.name}!\n`);
app.get("/json", (req) => ({ hello: "world", query: Object.fromEntries(req.query) }));

run({ app, server: "auto", host: "127.0.0.1", port: Number(globalThis.process?.env?.PORT ?? 8080) });
