/**
 * What every page of the demo needs: the data folder and its {@linkcode Store}, the
 * cookie secret, who is logged in, the rules a to-do must follow, and rendering a view
 * of `views/` with the helpers the layout uses.
 *
 * Configuration, first found wins: the app's config (`carafe -C data=DIR -C password=…`),
 * then the environment (`DEMO_DATA`, `DEMO_PASSWORD`, `DEMO_SECRET`), then the defaults
 * (`data/` next to this file, password `carafe`, a secret created in the data folder).
 *
 * @example
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { openDemo, render } from "./context.ts";
 * const app = new Carafe();
 * app.get("/", async (req) => render(app, req, "home", { todos: (await (await openDemo(app)).store.state()).todos }));
 * ```
 *
 * @module
 */
import process from "node:process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Carafe, type CarafeRequest, template } from "../../mod.ts";
import { type Logged, Store } from "./store.ts";

/** A file or folder next to this module (not the working directory): views, static files, data. */
export function besideDemo(path: string): string {
  return fileURLToPath(new URL(path, import.meta.url));
}

/** The name of the signed login cookie. */
export const LOGIN_COOKIE = "user";
/** Longest to-do text, in characters. */
export const MAX_TODO = 200;
/** Most to-dos the list holds. */
export const MAX_TODOS = 500;

/** The demo's resources, shared by the pages and the API. */
export interface Demo {
  store: Store;
  /** Signs the login cookie. */
  secret: string;
  /** The one password of the demo (any name may log in with it). */
  password: string;
  /** True when the password is the default one, which the login page then shows. */
  defaultPassword: boolean;
}

const opened = new Map<string, Promise<Demo>>();

/** The demo's resources for `app`'s configuration, opened once per data folder. */
export function openDemo(app: Carafe): Promise<Demo> {
  const config = app.config as unknown as Record<string, unknown>;
  const setting = (key: string, env: string) => (config[key] ?? process.env[env]) as string | undefined;
  const dir = resolve(setting("data", "DEMO_DATA") ?? besideDemo("./data/"));
  let demo = opened.get(dir);
  if (!demo) {
    demo = (async () => {
      const store = new Store(dir);
      const password = setting("password", "DEMO_PASSWORD");
      return {
        store,
        secret: setting("secret", "DEMO_SECRET") ?? await store.secret(),
        password: password ?? "carafe",
        defaultPassword: password === undefined,
      };
    })();
    demo.catch(() => opened.delete(dir)); // a folder that could not be opened is tried again next time
    opened.set(dir, demo);
  }
  return demo;
}

/** The logged-in user's name, from the signed cookie (forged or missing: `undefined`). */
export function userOf(req: CarafeRequest<unknown>, demo: Demo): string | undefined {
  return req.getSignedCookie(LOGIN_COOKIE, demo.secret);
}

/** What is wrong with a to-do's text, or `undefined` when it is fine. Pages and API share it. */
export function todoProblem(text: unknown, count: number): string | undefined {
  if (typeof text !== "string" || text.trim() === "") return "Write something to do.";
  if (text.length > MAX_TODO) return `Keep it under ${MAX_TODO} characters (this one has ${text.length}).`;
  if (count >= MAX_TODOS) return `The list is full (${MAX_TODOS} items).`;
  return undefined;
}

/** One line of the activity feed, as the pages and the live stream show it. */
export function describeEvent(event: Logged, todoText: (id: string) => string | undefined): string {
  switch (event.type) {
    case "todo":
      return `${event.by} added “${event.text}”`;
    case "done":
      return `${event.by} finished “${todoText(event.id) ?? "an item"}”`;
    case "file":
      return `${event.by} uploaded ${event.name}`;
    case "login":
      return `${event.by} logged in`;
    case "logout":
      return `${event.by} logged out`;
  }
}

/**
 * Renders `views/<name>.tpl` with `vars`, plus what the layout (`views/base.tpl`) uses:
 * `user`, `title` and `url(name, params)`, which includes the server's prefix (a
 * FastCGI `SCRIPT_NAME` such as `/app`), so links work wherever the demo is mounted.
 */
export async function render(app: Carafe, req: CarafeRequest<unknown>, name: string, vars: Record<string, unknown> = {}): Promise<string> {
  const demo = await openDemo(app);
  const url = (route: string, params: Record<string, unknown> = {}) => app.url(route, params, req);
  return template(name, { title: "", user: userOf(req, demo), url, ...vars }, { lookup: [besideDemo("./views/")] });
}
