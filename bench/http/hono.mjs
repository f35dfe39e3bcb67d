// Hono on the runtime running this file (Deno.serve, Bun.serve, @hono/node-server).
import { Hono } from "hono";
const port = Number(globalThis.process?.env?.PORT ?? globalThis.Deno?.env.get("PORT") ?? 3000);
const app = new Hono();
app.get("/", (c) => c.text("Hello, World!"));
app.get("/user/:id", (c) => c.text(`User ${c.req.param("id")} ${c.req.query("name")}`));
app.get("/json", (c) => c.json({ hello: "world" }));
app.post("/json", async (c) => c.json(await c.req.json()));

if (globalThis.Deno) globalThis.Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, app.fetch);
else if (globalThis.Bun) globalThis.Bun.serve({ port, hostname: "127.0.0.1", fetch: app.fetch });
else {
  const { serve } = await import("@hono/node-server");
  serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
}
