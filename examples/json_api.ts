/**
 * A JSON API with validation and error responses: objects are sent as JSON, bad input
 * gets a 400 that says what was wrong, a missing item a 404, and every error is JSON.
 *
 *     deno run -A examples/json_api.ts        # or: bun examples/json_api.ts
 *     curl -d '{"name":"tea","price":3.5}' http://127.0.0.1:8080/items   # 201 {"id":1,...}
 *     curl -d '{"name":""}' http://127.0.0.1:8080/items                  # 400 {"error":...}
 *
 * (Node: `npm run build:npm`, then `node npm/esm/examples/json_api.js`.)
 *
 * @module
 */
import { Carafe, HTTPError, run } from "../mod.ts";

interface Item {
  id: number;
  name: string;
  price: number;
}

const app = new Carafe({ maxJsonSize: 16 * 1024 }); // a larger body answers 413
const items = new Map<number, Item>();
let nextId = 1;

/** The item described by `body`, or a 400 naming the field that is wrong. */
function validItem(body: unknown): Omit<Item, "id"> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HTTPError(400, { error: "Send a JSON object." });
  const fields = body as Record<string, unknown>;
  if (typeof fields.name !== "string" || !fields.name.trim() || fields.name.length > 100) {
    throw new HTTPError(400, { error: "name: a non-empty string of at most 100 characters.", field: "name" });
  }
  if (typeof fields.price !== "number" || !(fields.price >= 0)) {
    throw new HTTPError(400, { error: "price: a number, 0 or more.", field: "price" });
  }
  return { name: fields.name.trim(), price: fields.price };
}

app.get("/items", () => [...items.values()]);
app.get("/items/<id:int>", (req) => items.get(req.params.id) ?? new HTTPError(404, { error: `No item ${req.params.id}.` }), { name: "item" });
app.post("/items", async (req, res) => {
  const item = { id: nextId++, ...validItem(await req.json()) }; // bad JSON: 400 from req.json()
  items.set(item.id, item);
  res.status = 201;
  res.setHeader("location", app.url("item", { id: item.id }, req));
  return item;
});
// Errors raised by Carafe itself (no route, bad JSON, too large) are JSON too.
for (const status of [400, 404, 405, 413, 500]) {
  app.error(status, (err) => (typeof err.body === "object" && err.body !== null ? err.body : { error: err.message }));
}

await run({ app });
