// Carafe: a WebSocket echo at /echo, served by run() with the runtime's own server
// (Deno.upgradeWebSocket, Bun's server.upgrade, Carafe's RFC 6455 code on node:http).
// Deno and Bun run the TypeScript sources; Node runs the npm build. PORT from the environment.
const ts = !!(globalThis.Deno || globalThis.Bun);
const { Carafe, run, websocket } = await import(ts ? "../../mod.ts" : "../../npm/esm/mod.js");
const port = Number(globalThis.process?.env?.PORT ?? globalThis.Deno?.env.get("PORT") ?? 3000);
const app = new Carafe();
app.get("/echo", websocket({ message: (ws, data) => void ws.send(data) }));
await run({ app, port, quiet: true });
