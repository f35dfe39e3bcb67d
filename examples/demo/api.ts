/**
 * The demo's JSON API, a Carafe app of its own that `app.ts` mounts at `/api`:
 *
 * - `GET /api/todos` lists the to-dos;
 * - `GET /api/todos/<id>` shows one (`404` with a JSON error when there is none);
 * - `POST /api/todos` with `{"text": "..."}` adds one for the logged-in user (`201`),
 *   `401` without the login cookie, `400` saying which field is wrong.
 *
 * Every error is JSON: `{ "error": "what was wrong and what to do" }`.
 *
 * @example
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { createApi } from "./api.ts";
 * const app = new Carafe();
 * app.mount("/api", createApi(app));
 * ```
 *
 * @module
 */
import { Carafe, HTTPError } from "../../mod.ts";
import type { HandlerResult } from "../../mod.ts";
import { openDemo, todoProblem, userOf } from "./context.ts";
import { Store } from "./store.ts";

/** Errors as JSON: an object body is sent as it is, text becomes `{ error }`. */
function jsonError(err: HTTPError): unknown {
  if (err.body !== null && typeof err.body === "object") return err.body;
  return { error: typeof err.body === "string" && err.body ? err.body : err.message };
}

/** The API app; `main` is the app it is mounted in, whose configuration names the data folder. */
export function createApi(main: Carafe): Carafe {
  const api = new Carafe();
  for (const status of [400, 401, 405, 413, 500]) api.error(status, jsonError);
  api.error(404, (err, req) => (typeof err.body === "object" && err.body ? err.body : { error: `Nothing at ${req.path} in the API; GET /api/todos lists the to-dos.` }));

  api.get("/todos", async () => {
    const { store } = await openDemo(main);
    return { todos: (await store.state()).todos };
  }, { name: "todos" });

  api.get("/todos/<id:re:[0-9a-f]{12}>", async (req) => {
    const { store } = await openDemo(main);
    const todo = (await store.state()).todos.find((t) => t.id === req.params.id);
    if (!todo) throw new HTTPError(404, { error: `No to-do has the id ${req.params.id}; GET /api/todos lists them.` });
    return todo;
  }, { name: "todo" });

  api.post("/todos", async (req, res) => {
    const demo = await openDemo(main);
    const user = userOf(req, demo);
    if (!user) return reply(res, 401, { error: "Log in first (POST the login form at /login); the API uses the same cookie." });
    const body = await req.json();
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return reply(res, 400, { error: 'Send a JSON object such as {"text": "Buy milk"}.' });
    }
    const text = (body as { text?: unknown }).text;
    const problem = todoProblem(text, (await demo.store.state()).todos.length);
    if (problem) return reply(res, 400, { error: problem, field: "text" });
    const id = Store.newId();
    await demo.store.add({ type: "todo", id, text: (text as string).trim(), by: user });
    res.setHeader("location", api.url("todo", { id }, req));
    return reply(res, 201, (await demo.store.state()).todos.find((t) => t.id === id));
  });
  return api;
}

function reply(res: { status: number }, status: number, body: HandlerResult): HandlerResult {
  res.status = status;
  return body;
}
