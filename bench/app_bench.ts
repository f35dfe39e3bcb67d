// In-process framework overhead per request (no server): Carafe vs Hono vs a bare fetch handler.
// npx deno run -A bench/app_bench.ts | npx bun bench/app_bench.ts
import { Carafe } from "../mod.ts";
import { Hono } from "hono";
const app = new Carafe();
app.get("/", () => "Hello, World!");
app.get("/user/<id>", (req) => `User ${req.params.id} ${req.query.get("name")}`);
app.get("/json", () => ({ hello: "world" }));
const hono = new Hono();
hono.get("/", (c) => c.text("Hello, World!"));
hono.get("/user/:id", (c) => c.text(`User ${c.req.param("id")} ${c.req.query("name")}`));
hono.get("/json", (c) => c.json({ hello: "world" }));
const bare = (req: Request) => {
  const u = req.url; const p = u.slice(u.indexOf("/", 8));
  if (p === "/") return new Response("Hello, World!", { headers: { "content-type": "text/plain" } });
  return new Response("x");
};
const reqs = { "/": new Request("http://localhost/"), "/user": new Request("http://localhost/user/42?name=x"), "/json": new Request("http://localhost/json") };
async function bench(fn: (r: Request) => Response | Promise<Response>, r: Request) {
  const N = 200_000;
  for (let i = 0; i < 20000; i++) await fn(r);
  const t = performance.now();
  for (let i = 0; i < N; i++) await fn(r);
  return ((performance.now() - t) * 1e6) / N;
}
for (let round = 0; round < 3; round++) {
  const row: string[] = [];
  for (const [k, r] of Object.entries(reqs)) {
    const c = await bench((x) => app.respond(x), r);
    const h = await bench((x) => hono.fetch(x), r);
    const b = k === "/" ? await bench(bare, r) : 0;
    row.push(`${k}: carafe ${c.toFixed(0)}ns hono ${h.toFixed(0)}ns${b ? ` bare ${b.toFixed(0)}ns` : ""}`);
  }
  console.log(row.join(" | "));
}
