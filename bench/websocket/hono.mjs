// Hono's upgradeWebSocket on Deno and Bun (on Node it needs @hono/node-ws and the ws
// package: not measured). A WebSocket echo at /echo. PORT from the environment.
import { Hono } from "hono";
const port = Number(globalThis.process?.env?.PORT ?? globalThis.Deno?.env.get("PORT") ?? 3000);
const app = new Hono();
if (globalThis.Deno) {
  const { upgradeWebSocket } = await import("hono/deno");
  app.get("/echo", upgradeWebSocket(() => ({ onMessage: (e, ws) => ws.send(e.data) })));
  globalThis.Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, app.fetch);
} else if (globalThis.Bun) {
  const { upgradeWebSocket, websocket } = await import("hono/bun");
  app.get("/echo", upgradeWebSocket(() => ({ onMessage: (e, ws) => ws.send(e.data) })));
  globalThis.Bun.serve({ port, hostname: "127.0.0.1", fetch: app.fetch, websocket });
} else {
  throw new Error("hono.mjs: Deno and Bun only");
}
