// Carafe served by run() with the `auto` server (Deno.serve, Bun.serve or node:http).
// Deno and Bun run the TypeScript sources; Node runs the npm build (node scripts/build_npm.mjs).
const ts = !!(globalThis.Deno || globalThis.Bun);
const { Carafe } = await import(ts ? "../../mod.ts" : "../../npm/esm/mod.js");
const { run } = await import(ts ? "../../adapters/mod.ts" : "../../npm/esm/adapters/mod.js");
const port = Number(globalThis.process?.env?.PORT ?? globalThis.Deno?.env.get("PORT") ?? 3000);
const app = new Carafe();
app.get("/", () => "Hello, World!");
app.get("/user/<id>", (req) => `User ${req.params.id} ${req.query.get("name")}`);
app.get("/json", () => ({ hello: "world" }));
app.post("/json", (req) => req.json());
await run({ app, port, quiet: true });
