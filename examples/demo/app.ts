/**
 * Carafe's demo: a shared to-do list that grew up. Log in (signed cookie), add items
 * (a form that shows what was wrong), upload files and download them back, watch the
 * live activity feed (server-sent events), or use the JSON API mounted at `/api`.
 * Everything is kept in a data folder, so a restart keeps it, and several processes
 * (`--workers 2`) can share it.
 *
 * Run it on http://127.0.0.1:8080/ (PORT and HOST override):
 *
 *     npm start                 # Node: builds the npm package, then serves this app
 *     deno task start           # Deno
 *     bun run start             # Bun
 *
 * or with the `carafe` command, e.g. two workers sharing a data folder:
 *
 *     deno run -A cli.ts -w 2 -C data=/tmp/demo-data examples/demo/app.ts
 *
 * Settings (`-C key=value`, else the environment): `data` / `DEMO_DATA` (default
 * `examples/demo/data/`), `password` / `DEMO_PASSWORD` (default `carafe`), `secret` /
 * `DEMO_SECRET` (default: made once and kept in the data folder).
 *
 * @example
 * ```ts
 * import { run } from "../../mod.ts";
 * import app from "./app.ts";
 * await run({ app, server: "auto" });
 * ```
 *
 * @module
 */
import { Carafe, type CarafeRequest, type CarafeResponse, compress, HTTPError, redirect, serveDir, staticFile } from "../../mod.ts";
import { createApi } from "./api.ts";
import { besideDemo, describeEvent, LOGIN_COOKIE, openDemo, render, todoProblem, userOf } from "./context.ts";
import { activity, eventStream } from "./live.ts";
import { Store } from "./store.ts";

/** Largest upload, in bytes. */
export const MAX_UPLOAD = 1024 * 1024;
/** Most uploads kept. */
const MAX_FILES = 100;
const NAME = /^[A-Za-z0-9_-]{2,20}$/;

/** The demo app. `export default` lets `carafe examples/demo/app.ts` serve it. */
const app = new Carafe({ maxBodySize: MAX_UPLOAD + 64 * 1024 });
export default app;

app.install(compress());
app.hook("after_request", (_req, res) => {
  // Uploads are the users' files: never let a browser run or sniff them as pages.
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("x-frame-options", "DENY");
  res.setHeader("content-security-policy", "default-src 'self'; img-src 'self' data:");
});
app.mount("/api", createApi(app));
app.get("/static/<path:path>", serveDir(besideDemo("./static/"), { cacheControl: "max-age=60" }), { name: "static" });

/** The logged-in user, or a redirect to the login page. */
async function requireUser(req: CarafeRequest<unknown>): Promise<string> {
  const user = userOf(req, await openDemo(app));
  if (!user) redirect(app.url("login", {}, req));
  return user;
}

/** The home page: the list, the form (with `error` and the text typed), the activity feed. */
async function home(req: CarafeRequest<unknown>, form: { error?: string; text?: string } = {}): Promise<string> {
  const state = await (await openDemo(app)).store.state();
  const text = (id: string) => state.todos.find((t) => t.id === id)?.text;
  const feed = state.activity.map((event) => ({ ...event, message: describeEvent(event, text) })).reverse();
  return render(app, req, "home", { title: "To-do", todos: state.todos, activity: feed, lastSeq: state.lastSeq, error: "", text: "", ...form });
}

app.get("/", (req) => home(req), { name: "home" });

app.post("/todos", async (req, res: CarafeResponse) => {
  const user = await requireUser(req);
  const { store } = await openDemo(app);
  const text = String((await req.form()).get("text") ?? "");
  const problem = todoProblem(text, (await store.state()).todos.length);
  if (problem) {
    res.status = 400;
    return home(req, { error: problem, text });
  }
  await store.add({ type: "todo", id: Store.newId(), text: text.trim(), by: user });
  redirect(app.url("home", {}, req)); // after a POST, a GET: reloading the page does not add it again
}, { name: "add_todo" });

app.post("/todos/<id:re:[0-9a-f]{12}>/done", async (req) => {
  const user = await requireUser(req);
  const { store } = await openDemo(app);
  if (!(await store.state()).todos.some((t) => t.id === req.params.id)) throw new HTTPError(404, "That item does not exist (any more).");
  await store.add({ type: "done", id: req.params.id, by: user });
  redirect(app.url("home", {}, req));
}, { name: "done_todo" });

app.get("/login", (req) => login(req), { name: "login" });

async function login(req: CarafeRequest<unknown>, form: { name?: string; errors?: Record<string, string> } = {}): Promise<string> {
  const { defaultPassword } = await openDemo(app);
  return render(app, req, "login", { title: "Log in", name: "", errors: {}, hint: defaultPassword, ...form });
}

app.post("/login", async (req, res) => {
  const demo = await openDemo(app);
  const form = await req.form();
  const name = String(form.get("name") ?? "").trim();
  const errors: Record<string, string> = {};
  if (!NAME.test(name)) errors.name = "A name is 2 to 20 letters, digits, '-' or '_'.";
  if (form.get("password") !== demo.password) errors.password = "Wrong password.";
  if (Object.keys(errors).length) {
    res.status = 400;
    return login(req, { name, errors });
  }
  // Signed, not encrypted: the name is visible but cannot be changed. SameSite=Lax keeps
  // other sites from posting forms with it.
  res.setSignedCookie(LOGIN_COOKIE, name, demo.secret, { httpOnly: true, sameSite: "lax", maxAge: 7 * 24 * 3600 });
  await demo.store.add({ type: "login", by: name });
  redirect(app.url("home", {}, req));
});

app.post("/logout", async (req, res) => {
  const demo = await openDemo(app);
  const user = userOf(req, demo);
  res.deleteCookie(LOGIN_COOKIE);
  if (user) await demo.store.add({ type: "logout", by: user });
  redirect(app.url("home", {}, req));
}, { name: "logout" });

async function files(req: CarafeRequest<unknown>, error = ""): Promise<string> {
  const state = await (await openDemo(app)).store.state();
  return render(app, req, "files", { title: "Files", files: state.files, error, maxKiB: MAX_UPLOAD / 1024 });
}

app.get("/files", (req) => files(req), { name: "files" });

app.post("/files", async (req, res) => {
  const user = await requireUser(req);
  const { store } = await openDemo(app);
  const file = (await req.form()).get("file");
  let problem = "";
  if (!(file instanceof Blob) || file.size === 0) problem = "Choose a file to upload.";
  else if (file.size > MAX_UPLOAD) problem = `That file has ${file.size} bytes; the limit is ${MAX_UPLOAD / 1024} KiB.`;
  else if ((await store.state()).files.length >= MAX_FILES) problem = `The demo keeps at most ${MAX_FILES} files.`;
  if (problem) {
    res.status = 400;
    return files(req, problem);
  }
  const upload = file as File;
  const id = await store.saveUpload(new Uint8Array(await upload.arrayBuffer()));
  await store.add({ type: "file", id, name: displayName(upload.name), size: upload.size, by: user });
  redirect(app.url("files", {}, req));
});

/** The client's file name, for showing and for the download: no folders, no control characters, not too long. */
function displayName(name: string | undefined): string {
  // deno-lint-ignore no-control-regex
  const base = (name ?? "").split(/[\\/]/).pop()!.replace(/[\x00-\x1f\x7f]/g, "").trim().slice(-100);
  return base && base !== "." && base !== ".." ? base : "upload";
}

app.get("/files/<id:re:[0-9a-f]{12}>", async (req) => {
  const { store } = await openDemo(app);
  const upload = (await store.state()).files.find((f) => f.id === req.params.id);
  if (!upload) throw new HTTPError(404, "No such file.");
  // Stored under its id; the client's name only goes in Content-Disposition.
  return staticFile(upload.id, { root: store.uploads, download: upload.name });
}, { name: "download" });

app.get("/events", async (req) => {
  const { store } = await openDemo(app);
  const resumeFrom = Number(req.headers.get("last-event-id") ?? req.query.get("since") ?? NaN);
  const since = Number.isSafeInteger(resumeFrom) && resumeFrom >= 0 ? resumeFrom : (await store.state()).lastSeq;
  return eventStream(activity({ store, since, signal: req.signal }));
}, { name: "events" });

app.get("/oops", () => {
  throw new Error("This route fails on purpose, to show the 500 page.");
}, { name: "oops" });

const MESSAGES: Record<number, [string, string]> = {
  400: ["Bad request", "The request could not be understood."],
  403: ["Forbidden", "That is not allowed."],
  404: ["Not found", "There is nothing at this address."],
  405: ["Method not allowed", "This address does not take that method."],
  413: ["Too large", `Uploads may have up to ${MAX_UPLOAD / 1024} KiB.`],
  500: ["Something broke", "The server failed to answer; the details are in its log."],
};
for (const [status, [title, message]] of Object.entries(MESSAGES)) {
  app.error(Number(status), (err, req) => {
    // The handlers' own messages (HTTPError bodies) are meant for the user; a crash's are
    // not, and the body-size one speaks in bytes of the whole request.
    const ours = Number(status) !== 413 && Number(status) < 500 && typeof err.body === "string" && err.body;
    const detail = ours ? err.body : message;
    return render(app, req, "error", { title, status, message: detail });
  });
}
