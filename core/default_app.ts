/**
 * Bottle's default app: a stack of apps, and module-level shortcuts (`route`, `get`,
 * `post` …, `error`, `hook`, `mount`, `install`, `url`) that act on the app on top of
 * it, for scripts written the Bottle way.
 *
 * @example
 * ```ts
 * import { defaultApp, get } from "./default_app.ts";
 * get("/", () => "Hello from the default app");
 * const res = await defaultApp().fetch(new Request("http://localhost/"));
 * ```
 *
 * @module
 */
import { Carafe } from "./app.ts";
import type { FetchHandler } from "./contract.ts";
import type { ErrorHandler, Handler, Hook, HookName, Plugin, RouteOptions } from "./handlers.ts";
import type { CarafeRequest } from "./request.ts";
import type { PathParams } from "./router.ts";

// ---------------------------------------------------------------------------
// The default app and Bottle's module-level shortcuts
// ---------------------------------------------------------------------------

const appStack: Carafe[] = [];

/**
 * The current default app (created on first use). Module-level `get`, `post`, `route`…
 * and `run()` without `app` act on it.
 *
 * @example
 * ```ts
 * import { defaultApp, get } from "../mod.ts";
 * get("/", () => "hi");
 * const res = await defaultApp().fetch(new Request("http://localhost/"));
 * ```
 */
export function defaultApp(): Carafe {
  if (appStack.length === 0) appStack.push(new Carafe());
  return appStack[appStack.length - 1];
}

/**
 * Makes `app` (or a new app) the default app until {@linkcode popDefaultApp}.
 *
 * @example
 * ```ts
 * import { popDefaultApp, pushDefaultApp, get } from "../mod.ts";
 * const app = pushDefaultApp();
 * get("/", () => "hi"); // on app
 * popDefaultApp();
 * ```
 */
export function pushDefaultApp(app: Carafe = new Carafe()): Carafe {
  appStack.push(app);
  return app;
}

/**
 * Removes the current default app from the stack and returns it.
 *
 * @example
 * ```ts
 * import { popDefaultApp, pushDefaultApp } from "../mod.ts";
 * pushDefaultApp();
 * popDefaultApp();
 * ```
 */
export function popDefaultApp(): Carafe | undefined {
  return appStack.pop();
}

/**
 * `defaultApp().route(...)`.
 *
 * @example
 * ```ts
 * import { route } from "../mod.ts";
 * route("/ping", ["GET", "POST"], () => "pong");
 * ```
 */
export const route: Carafe["route"] = ((...args: unknown[]) =>
  (defaultApp().route as (...a: unknown[]) => Carafe)(...args)) as Carafe["route"];

/**
 * `defaultApp().get(...)`.
 *
 * @example
 * ```ts
 * import { get } from "../mod.ts";
 * get("/hello/<name>", (req) => `Hello ${req.params.name}`);
 * ```
 */
export function get<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): Carafe {
  return defaultApp().get(path, handler, options);
}

/**
 * `defaultApp().post(...)`.
 *
 * @example
 * ```ts
 * import { post } from "../mod.ts";
 * post("/items", async (req) => await req.json());
 * ```
 */
export function post<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): Carafe {
  return defaultApp().post(path, handler, options);
}

/**
 * `defaultApp().put(...)`.
 *
 * @example
 * ```ts
 * import { put } from "../mod.ts";
 * put("/items/<id:int>", (req) => ({ id: req.params.id }));
 * ```
 */
export function put<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): Carafe {
  return defaultApp().put(path, handler, options);
}

/**
 * `defaultApp().patch(...)`.
 *
 * @example
 * ```ts
 * import { patch } from "../mod.ts";
 * patch("/items/<id:int>", (req) => ({ id: req.params.id }));
 * ```
 */
export function patch<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): Carafe {
  return defaultApp().patch(path, handler, options);
}

/**
 * `defaultApp().error(...)`.
 *
 * @example
 * ```ts
 * import { error } from "../mod.ts";
 * error(404, () => "Nothing here.");
 * ```
 */
export function error(status: number, handler: ErrorHandler): Carafe {
  return defaultApp().error(status, handler);
}

/**
 * `defaultApp().hook(...)`.
 *
 * @example
 * ```ts
 * import { hook } from "../mod.ts";
 * hook("before_request", (req) => console.log(req.method, req.path));
 * ```
 */
export function hook(name: HookName, fn: Hook): Carafe {
  return defaultApp().hook(name, fn);
}

/**
 * `defaultApp().mount(...)`.
 *
 * @example
 * ```ts
 * import { Carafe, mount } from "../mod.ts";
 * mount("/api", new Carafe().get("/", () => "api"));
 * ```
 */
export function mount(prefix: string, child: Carafe | FetchHandler): Carafe {
  return defaultApp().mount(prefix, child);
}

/**
 * `defaultApp().install(...)`.
 *
 * @example
 * ```ts
 * import { install } from "../mod.ts";
 * install({ name: "noop", apply: (handler) => handler });
 * ```
 */
export function install(plugin: Plugin | Plugin["apply"]): Plugin {
  return defaultApp().install(plugin);
}

/**
 * `defaultApp().uninstall(...)`.
 *
 * @example
 * ```ts
 * import { uninstall } from "../mod.ts";
 * uninstall(true);
 * ```
 */
export function uninstall(plugin: Plugin | string | true): number {
  return defaultApp().uninstall(plugin);
}

/**
 * `defaultApp().url(...)`: pass `req` to include the server's prefix (`SCRIPT_NAME`).
 *
 * @example
 * ```ts
 * import { get, url } from "../mod.ts";
 * get("/item/<id:int>", () => "", { name: "item" });
 * url("item", { id: 1 }); // "/item/1"
 * get("/first", (req) => url("item", { id: 1 }, req)); // "/app/item/1" under SCRIPT_NAME /app
 * ```
 */
export function url(name: string, params?: Record<string, unknown>, req?: CarafeRequest<unknown>): string {
  return defaultApp().url(name, params, req);
}
