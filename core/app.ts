/**
 * The application: routes, hooks, error handlers, plugins, mounts — and `fetch`, the
 * one entry point every adapter calls.
 *
 * Read top to bottom: the {@linkcode Carafe} class — registration, then request
 * dispatch (hooks, mounts, the route's handler, error handlers). Nearby, one concept
 * each: `handlers.ts` (the types an app is made of), `settings.ts` (defaults and
 * inheritance), `cast.ts` (a return value → a reply), `reply.ts` (a reply → a
 * `Response`), `html.ts` (escaping and the error page), `default_app.ts` (Bottle's
 * default app and module-level shortcuts).
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * const app = new Carafe();
 * app.get("/hello/<name>", (req) => `Hello ${req.params.name}!`);
 * const res = await app.fetch(new Request("http://localhost/hello/world"));
 * console.log(await res.text()); // Hello world!
 * ```
 *
 * @module
 */
import { checkBodyLimits } from "./body.ts";
import {
  AppliedError,
  applyResponse,
  discard,
  HTML,
  logFor,
  MountedReply,
  sendable,
  Settled,
  toReply,
} from "./cast.ts";
import type { FetchHandler, IncomingRequest, ServeInfo } from "./contract.ts";
import { describeError, HTTPError, HTTPResponse } from "./errors.ts";
import type { AnyHandler, CarafeOptions, ErrorHandler, Handler, Hook, HookName, Plugin, Route, RouteOptions } from "./handlers.ts";
import { errorPage } from "./html.ts";
import { platformInfo } from "./platform.ts";
import { compileTrust } from "./proxy.ts";
import { ANSWER_FOR, type AnswersForRequest, ReplyTransform, replyToResponse, type Reply } from "./reply.ts";
import { CarafeRequest, encodePath, type RequestTarget, SERVER_PREFIX } from "./request.ts";
import { CarafeResponse } from "./response.ts";
import { Router, type PathParams } from "./router.ts";
import { compileTrustSafely, type Config, CONFIG_DEFAULTS, makeSettings, sameSettings, SETTING_NAMES, settingOf, type Settings } from "./settings.ts";

export type { FetchHandler, IncomingRequest, ServeInfo };
export type { AnyHandler, CarafeOptions, ErrorHandler, Handler, HandlerResult, Hook, HookName, Plugin, Route, RouteInfo, RouteOptions } from "./handlers.ts";
export { escapeHtml } from "./html.ts";
interface Mount {
  /** Decoded, without a trailing slash (`/api`, `/瓶`). */
  prefix: string;
  child: Carafe | FetchHandler;
}

/** Where an app was first mounted: enough for `url()` to walk up to the top. */
interface MountPoint {
  parent: Carafe;
  /** The prefix as it appears in a URL (percent-encoded). */
  urlPrefix: string;
}

const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

// ---------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------

/**
 * A Carafe application.
 *
 * @example
 * ```ts
 * import { Carafe, abort } from "../mod.ts";
 * const app = new Carafe({ maxBodySize: 1024 * 1024 });
 * app.get("/item/<id:int>", (req) => {
 *   if (req.params.id > 100) abort(404, "No such item.");
 *   return { id: req.params.id };
 * });
 * const res = await app.fetch(new Request("http://localhost/item/7"));
 * ```
 */
export class Carafe {
  /**
   * Settings (Bottle's `app.config`); `run()` writes `debug`, `maxBodySize` and
   * `trustProxy` here. What was set (constructor options, assignments) are own
   * properties, the defaults are read through the prototype; `delete` a setting to go
   * back to the default. A mounted app takes the settings it did not set from the app
   * that dispatches to it (see {@linkcode Carafe.mount}).
   */
  config: Required<Omit<CarafeOptions, "logger">> & { logger: (message: string) => void };
  /** The router (use `app.router.addFilter` for custom wildcard filters). */
  readonly router: Router<Route> = new Router<Route>();
  #before: Hook[] = [];
  #after: Hook[] = [];
  #errorHandlers = new Map<number, ErrorHandler>();
  #plugins: Plugin[] = [];
  #pluginVersion = 0;
  #mounts: Mount[] = [];
  #mountedAt: MountPoint | undefined;
  #ctx: Settings;

  /**
   * Makes an app.
   *
   * @param options debug, the body limits (maxBodySize, maxFormSize, maxFormFields,
   *   maxFormFieldSize, maxJsonSize, maxJsonDepth), trustProxy, logger
   */
  constructor(options: CarafeOptions = {}) {
    checkBodyLimits(options, "new Carafe()");
    const config: Config = Object.create(CONFIG_DEFAULTS);
    for (const name of SETTING_NAMES) {
      if (options[name] !== undefined) (config as Record<string, unknown>)[name] = options[name];
    }
    this.config = config;
    // Compiled now, so that a bad trustProxy fails here rather than on the first request.
    this.#ctx = makeSettings(config, undefined, compileTrust(config.trustProxy));
  }

  // -- Registration ---------------------------------------------------------

  /**
   * Adds a route. `method` may be one method, a list, or `"ANY"`; default `GET`.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe();
   * app.route("/item/<id:int>", ["GET", "PUT"], (req) => ({ id: req.params.id }), { name: "item" });
   * app.route("/ping", () => "pong");
   * ```
   */
  route<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this;
  /** Adds a route for one method, a list of methods, or `"ANY"`. */
  route<Path extends string>(
    path: Path,
    method: string | string[],
    handler: Handler<PathParams<Path>>,
    options?: RouteOptions,
  ): this;
  route(
    path: string,
    methodOrHandler: string | string[] | AnyHandler,
    handlerOrOptions?: AnyHandler | RouteOptions,
    maybeOptions?: RouteOptions,
  ): this {
    let methods: string[], handler: AnyHandler, options: RouteOptions;
    if (typeof methodOrHandler === "function") {
      methods = ["GET"];
      handler = methodOrHandler;
      options = (handlerOrOptions as RouteOptions | undefined) ?? {};
    } else {
      methods = Array.isArray(methodOrHandler) ? methodOrHandler : [methodOrHandler];
      handler = handlerOrOptions as AnyHandler;
      options = maybeOptions ?? {};
    }
    if (typeof handler !== "function") {
      throw new TypeError(`The handler for ${JSON.stringify(path)} must be a function.`);
    }
    for (const method of methods) this.#addRoute(method.toUpperCase(), path, handler, options, this);
    return this;
  }

  #addRoute(method: string, path: string, handler: AnyHandler, options: RouteOptions, app: Carafe): void {
    const route: Route = { method, path, name: options.name, handler, options, app };
    this.router.add(path, method, route, options.name);
  }

  /** Adds a `GET` route (also answers `HEAD`). */
  get<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this {
    return this.route(path, "GET", handler, options);
  }
  /** Adds a `POST` route. */
  post<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this {
    return this.route(path, "POST", handler, options);
  }
  /** Adds a `PUT` route. */
  put<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this {
    return this.route(path, "PUT", handler, options);
  }
  /** Adds a `PATCH` route. */
  patch<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this {
    return this.route(path, "PATCH", handler, options);
  }
  /** Adds a `DELETE` route. */
  delete<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this {
    return this.route(path, "DELETE", handler, options);
  }
  /** Adds a `HEAD` route (without one, `HEAD` uses the `GET` route). */
  head<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this {
    return this.route(path, "HEAD", handler, options);
  }
  /** Adds an `OPTIONS` route. */
  options<Path extends string>(path: Path, handler: Handler<PathParams<Path>>, options?: RouteOptions): this {
    return this.route(path, "OPTIONS", handler, options);
  }

  /**
   * Renders errors with this status (404, 500…) instead of the default page.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe();
   * app.error(404, (err, req) => `Nothing at ${req.path}`);
   * ```
   */
  error(status: number, handler: ErrorHandler): this {
    this.#errorHandlers.set(status, handler);
    return this;
  }

  /**
   * Runs `fn` before every request (`before_request`) or after it (`after_request`,
   * in reverse order of registration, also after 404/405 and exceptions).
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe();
   * app.hook("after_request", (req, res) => res.setHeader("X-Frame-Options", "DENY"));
   * ```
   */
  hook(name: HookName, fn: Hook): this {
    if (name === "before_request") this.#before.push(fn);
    else if (name === "after_request") this.#after.unshift(fn);
    else throw new TypeError(`Unknown hook ${JSON.stringify(name)}: use "before_request" or "after_request".`);
    return this;
  }

  /**
   * Installs a plugin for every route (Bottle's plugin API). Returns the plugin.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe();
   * app.install({
   *   name: "timer",
   *   apply: (handler) => async (req, res) => {
   *     const t = performance.now();
   *     const out = await handler(req, res);
   *     res.setHeader("Server-Timing", `app;dur=${performance.now() - t}`);
   *     return out;
   *   },
   * });
   * ```
   */
  install(plugin: Plugin): Plugin;
  /** Installs a plain function as a plugin (`{ apply: fn }`). */
  install(plugin: Plugin["apply"]): Plugin;
  install(plugin: Plugin | Plugin["apply"]): Plugin {
    const p = typeof plugin === "function" ? { apply: plugin } : plugin;
    if (typeof p.apply !== "function") throw new TypeError("A plugin needs an apply(handler, route) function.");
    p.setup?.(this);
    this.#plugins.push(p);
    this.#pluginVersion++;
    return p;
  }

  /**
   * Removes plugins: a plugin object, every plugin with a name, or all (`true`).
   * Returns how many were removed.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe();
   * app.install({ name: "noop", apply: (h) => h });
   * app.uninstall("noop"); // 1
   * ```
   */
  uninstall(plugin: Plugin | string | true): number {
    const removed = this.#plugins.filter((p) => plugin === true || p === plugin || p.name === plugin);
    this.#plugins = this.#plugins.filter((p) => !removed.includes(p));
    for (const p of removed) p.close?.();
    if (removed.length) this.#pluginVersion++;
    return removed.length;
  }

  /**
   * Serves another app under `prefix`: a Carafe app (it sees its own paths;
   * `req.scriptName` carries the prefix) or anything with `fetch` (its request URL is
   * rewritten to the path inside the prefix).
   *
   * The prefix is a decoded path like a route's (`/瓶`, not `/%E7%93%B6`) and matches
   * whole segments of the decoded request path, so `/%61pi/x` is under `/api`.
   *
   * Settings: a mounted Carafe app uses the settings it set itself (constructor options
   * or assignments to its `config`); those it did not set (`debug`, `maxBodySize`,
   * `trustProxy`, `logger`) are taken from the app that dispatches the request to it,
   * as they are at that moment. So `run({ maxBodySize })` on the top app limits every
   * mounted app without a limit of its own, and a mounted app can still raise or lower
   * its own limit deliberately.
   *
   * URLs: `child.url()` includes the prefixes of the apps it is mounted in, resolved
   * when `url()` is called, so the order in which apps are mounted does not matter. An
   * app may be mounted in several places; it serves in all of them and `url()` uses the
   * first (as in Bottle). Mounting an app inside itself, directly or further down,
   * throws.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const api = new Carafe();
   * api.get("/users", () => []);
   * const app = new Carafe();
   * app.mount("/api", api); // GET /api/users
   * ```
   */
  mount(prefix: string, child: Carafe | FetchHandler): this {
    if (!prefix.startsWith("/")) throw new TypeError(`Mount prefix ${JSON.stringify(prefix)} must start with "/".`);
    const clean = prefix.replace(/\/+$/, "");
    if (clean === "") throw new TypeError('Cannot mount at "/": add the routes with app.merge(child) instead.');
    if (!child || typeof (child as FetchHandler).fetch !== "function") {
      throw new TypeError("mount() needs a Carafe app or an object with a fetch(request) method.");
    }
    if (child instanceof Carafe) {
      if (this.#isOrIsMountedIn(child)) throw new TypeError(`Cannot mount an app inside itself (at ${JSON.stringify(prefix)}).`);
      // Only the first mount point is remembered: url() needs one answer.
      child.#mountedAt ??= { parent: this, urlPrefix: encodePath(clean) };
    }
    this.#mounts.push({ prefix: clean, child });
    // Longest prefix first, so /api/v2 wins over /api.
    this.#mounts.sort((a, b) => b.prefix.length - a.prefix.length);
    return this;
  }

  /** Whether `app` is this app or one it is mounted in, directly or further up (first mount points). */
  #isOrIsMountedIn(app: Carafe): boolean {
    if (app === this) return true;
    for (let at = this.#mountedAt; at !== undefined; at = at.parent.#mountedAt) if (at.parent === app) return true;
    return false;
  }

  /**
   * Adds all routes of another app to this one. They keep the other app's plugins, and
   * they come as the other app's router compiled them, so its custom filters work
   * without being added to this app's router.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const users = new Carafe().get("/users", () => []);
   * const app = new Carafe().merge(users);
   * ```
   */
  merge(other: Carafe): this {
    // A fresh record per route: its prepared handler is cached on it.
    this.router.merge(other.router, (r) => ({ method: r.method, path: r.path, name: r.name, handler: r.handler, options: r.options, app: r.app }));
    return this;
  }

  /**
   * Builds the URL of a named route; parameters not in the path become the query.
   * Includes the mount prefixes of the apps this app is mounted in (the first mount
   * point of each, see {@linkcode Carafe.mount}), looked up now.
   *
   * Pass the request being answered (`req`) to include the prefix the server put the
   * app under (FastCGI/CGI `SCRIPT_NAME`), as Bottle's `get_url` does: behind nginx at
   * `/app/`, `app.url("item", { id: 7 }, req)` is `"/app/item/7"`. Without `req` the
   * URL starts at the app's own root.
   *
   * @param name the route's `name` option
   * @param params path parameters; the others become the query string
   * @param req the request being answered, for the server's prefix
   *
   * @example
   * ```ts
   * import { Carafe, redirect } from "../mod.ts";
   * const app = new Carafe();
   * app.get("/item/<id:int>", () => "", { name: "item" });
   * app.url("item", { id: 7, tab: "info" }); // "/item/7?tab=info"
   * app.post("/items", (req) => redirect(app.url("item", { id: 8 }, req)));
   * ```
   */
  url(name: string, params?: Record<string, unknown>, req?: CarafeRequest<unknown>): string {
    let prefix = "";
    for (let at = this.#mountedAt; at !== undefined; at = at.parent.#mountedAt) prefix = at.urlPrefix + prefix;
    if (req !== undefined) prefix = req[SERVER_PREFIX] + prefix;
    return prefix + this.router.build(name, params);
  }

  // -- Dispatch -------------------------------------------------------------

  /**
   * Answers one request. Every adapter ends up here; tests call it directly. It does
   * not reject: even a reply that cannot become a `Response` gives a (logged) 500.
   * On Cloudflare Workers (`export default app`) the runtime calls it as
   * `fetch(request, env, ctx)`: `env` becomes `req.env` and `ctx.waitUntil`
   * `req.waitUntil` (core/platform.ts).
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe().get("/", () => "hi");
   * const res = await app.fetch(new Request("http://localhost/"));
   * ```
   */
  fetch = (request: Request, info?: ServeInfo, ctx?: unknown): Promise<Response> =>
    Promise.resolve(this.respond(request, platformInfo(request, info, ctx)));

  /**
   * Like `fetch`, but answers synchronously when nothing had to wait (no async
   * handler, hook or body read), for servers that take either: a server that gets a
   * `Response` rather than a promise sends it without a trip through the microtask
   * queue, which is a measurable part of a small request's cost. Never throws.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe().get("/", () => "hi");
   * const res = app.respond(new Request("http://localhost/")); // a Response, not a promise
   * ```
   */
  respond(request: Request, info?: ServeInfo): Response | Promise<Response> {
    const reply = this.handle(request, info);
    return reply instanceof Promise ? reply.then(this.#toResponse) : this.#toResponse(reply);
  }

  // A field, not a method: `then` gets the same function every time, no closure per request.
  #toResponse = (reply: Reply): Response => {
    try {
      return replyToResponse(reply);
    } catch (err) {
      // e.g. a handler returned a locked stream: `new Response` throws, and nothing else would answer.
      this.#ctx.log(`Could not build the response (status ${reply.status}): ${describeError(err)}`);
      if (reply.body instanceof ReadableStream) reply.body.cancel().catch(() => {});
      return new Response("Internal Server Error", { status: 500, headers: { "content-type": "text/plain; charset=UTF-8" } });
    }
  };

  /**
   * Like `respond`, but returns the {@linkcode Reply} before it becomes a `Response`:
   * for adapters that write to a socket themselves. A promise only when something had
   * to wait; `await` it either way.
   *
   * @example
   * ```ts
   * import { Carafe } from "../mod.ts";
   * const app = new Carafe().get("/", () => "hi");
   * const reply = await app.handle(new Request("http://localhost/"));
   * reply.status; // 200
   * ```
   */
  handle(request: IncomingRequest, info?: ServeInfo): Reply | Promise<Reply> {
    const url = request.url;
    const pathStart = url.indexOf("/", url.indexOf("://") + 3);
    const queryStart = pathStart < 0 ? -1 : url.indexOf("?", pathStart);
    const rawPath = pathStart < 0 ? "/" : url.slice(pathStart, queryStart < 0 ? undefined : queryStart);
    const search = queryStart < 0 ? "" : url.slice(queryStart);
    // The one place an adapter's request becomes `req.raw`: core reads only what
    // IncomingRequest names (the contract, core/contract.ts), and `raw` says so.
    const target: RequestTarget = { raw: request as Request, info, rawPath, path: rawPath, search, scriptName: scriptNameOf(info?.scriptName), rawBase: undefined };
    return this.#dispatch(target, this.#settings(undefined));
  }

  /**
   * The settings in effect: the app's config, and in a mounted app, for what it did not
   * set itself, the settings of the app dispatching to it (`parent`). Rebuilt only when
   * something changed, so a request costs a few comparisons.
   */
  #settings(parent: Settings | undefined): Settings {
    const c = this.config;
    const s = this.#ctx;
    if (s.parent === parent && sameSettings(s, c, parent)) return s;
    const trustProxy = settingOf(c, parent, "trustProxy");
    const trust = trustProxy === s.trustProxy
      ? s.trust
      : parent !== undefined && trustProxy === parent.trustProxy
      ? parent.trust
      : compileTrustSafely(trustProxy, settingOf(c, parent, "logger"));
    return (this.#ctx = makeSettings(c, parent, trust));
  }

  /**
   * Answers a request for the path `rawPath` inside this app. `rawBase` is the path
   * before it as the client sent it (mount prefixes), `undefined` at the top.
   *
   * The order of steps is Bottle's: before_request hooks, mounts, the route's handler,
   * then {@linkcode Carafe.#conclude} (after_request hooks, error pages, casting the
   * return value). Without hooks or mounts, and with a handler that returns a value
   * rather than a promise, no step waits and the reply is returned synchronously.
   */
  #dispatch(target: RequestTarget, ctx: Settings): Reply | Promise<Reply> {
    let path = target.rawPath;
    let badPath: HTTPError | undefined;
    if (path.includes("%")) {
      try {
        path = target.path = decodeURIComponent(path);
      } catch {
        badPath = new HTTPError(400, "The request path has invalid percent-encoding.");
      }
    }
    // Clients remove "." and ".." segments before sending; one that arrives (literally, or
    // as %2E and %2F) could walk past a prefix check or a mount into a sibling path. It
    // is refused as staticFile refuses a traversal (403), before any hook or mount runs.
    if (badPath === undefined && path.includes("/.") && DOT_SEGMENT.test(path)) {
      badPath = new HTTPError(403, "Access denied: the request path has a '.' or '..' segment.");
    }
    const req = new CarafeRequest(target, ctx);
    const res = new CarafeResponse();
    if (badPath !== undefined) return this.#conclude(badPath, true, req, res, ctx);
    if (this.#before.length !== 0 || this.#mounts.length !== 0) return this.#dispatchWithHooks(target, req, res, ctx);
    let out: unknown;
    try {
      out = this.#callRoute(req, res, path);
    } catch (err) {
      return this.#conclude(err, true, req, res, ctx);
    }
    return out instanceof Promise ? this.#concludeLater(out, req, res, ctx) : this.#conclude(out, false, req, res, ctx);
  }

  /** {@linkcode Carafe.#dispatch} when before_request hooks or mounts come first (each may wait). */
  async #dispatchWithHooks(target: RequestTarget, req: CarafeRequest, res: CarafeResponse, ctx: Settings): Promise<Reply> {
    let out: unknown;
    try {
      for (let i = 0; i < this.#before.length; i++) await this.#before[i](req, res);
      if (this.#mounts.length !== 0) out = await this.#tryMounts(target, ctx);
      if (out === undefined) out = await this.#callRoute(req, res, target.path);
    } catch (err) {
      return this.#conclude(err, true, req, res, ctx);
    }
    return this.#conclude(out, false, req, res, ctx);
  }

  /** Routes the request and calls the route's handler (wrapped by its plugins); throws 404, 405 or 400. */
  #callRoute(req: CarafeRequest, res: CarafeResponse, path: string): unknown {
    const match = this.router.match(req.method, path);
    if (match.kind !== "found") throw routingError(match, path);
    req.params = match.params;
    const route = match.target;
    if (route.preparedFor !== route.app.#pluginVersion) {
      route.prepared = route.app.#prepare(route);
      route.preparedFor = route.app.#pluginVersion;
    }
    return route.prepared!(req, res);
  }

  /** {@linkcode Carafe.#conclude} once a pending outcome (an async handler, a static file) settles. */
  async #concludeLater(pending: Promise<unknown>, req: CarafeRequest, res: CarafeResponse, ctx: Settings): Promise<Reply> {
    let out: unknown;
    try {
      out = await pending;
    } catch (err) {
      return this.#conclude(err, true, req, res, ctx);
    }
    return this.#conclude(out, false, req, res, ctx);
  }

  /** From the handler's outcome, returned or thrown, to the reply. */
  #conclude(out: unknown, thrown: boolean, req: CarafeRequest, res: CarafeResponse, ctx: Settings): Reply | Promise<Reply> {
    // staticFile() needs the request (conditional and range headers) but is called without it.
    if (!thrown && typeof out === "object" && out !== null && ANSWER_FOR in out) {
      return this.#concludeLater((out as AnswersForRequest)[ANSWER_FOR](req), req, res, ctx);
    }
    if (!thrown && out instanceof ReplyTransform) return this.#transformed(out, req, res, ctx);
    if (this.#after.length !== 0) return this.#afterRequest(out, thrown, req, res, ctx);
    // A thrown HTTPResponse (redirect) is an answer like a returned one; anything else thrown is an error.
    if (out instanceof HTTPError || (thrown && !(out instanceof HTTPResponse))) return this.#finishError(out, req, res, ctx);
    return this.#reply(out, req, res, ctx);
  }

  /** A {@linkcode ReplyTransform} (see `transformReply`): its outcome concluded like any, then its transformer applied. */
  async #transformed(transform: ReplyTransform, req: CarafeRequest, res: CarafeResponse, ctx: Settings): Promise<Reply> {
    const reply = await this.#concludeLater(Promise.resolve(transform.outcome), req, res, ctx);
    try {
      return sendable(await transform.transformer(reply, req));
    } catch (err) {
      discard(reply.body);
      return this.#finishError(err, req, res, ctx);
    }
  }

  async #tryMounts(target: RequestTarget, ctx: Settings): Promise<MountedReply | Response | undefined> {
    const { raw, info, rawPath, path, search, scriptName, rawBase } = target;
    for (const { prefix, child } of this.#mounts) {
      // Whole segments of the decoded path, the path routes see.
      if (!path.startsWith(prefix) || (path.length !== prefix.length && path.charCodeAt(prefix.length) !== 47)) continue;
      const cut = rawPath === path ? prefix.length : rawPrefixEnd(rawPath, prefix);
      const inner = rawPath.slice(cut) || "/";
      const childScript = scriptName + prefix.slice(1) + "/";
      if (child instanceof Carafe) {
        const childBase = (rawBase ?? scriptName.slice(0, -1)) + rawPath.slice(0, cut);
        const inside: RequestTarget = { raw, info, rawPath: inner, path: inner, search, scriptName: childScript, rawBase: childBase };
        const reply = await child.#dispatch(inside, child.#settings(ctx));
        return new MountedReply(reply);
      }
      const url = raw.url;
      const origin = url.slice(0, url.indexOf("/", url.indexOf("://") + 3));
      // A foreign app parses the URL itself: an encoded slash that ended the prefix becomes the path's "/".
      const target = inner.charCodeAt(0) === 47 ? inner : "/" + inner.slice(3);
      const request = new Request(origin + target + search, raw);
      return await child.fetch(request, { remoteAddr: info?.remoteAddr, env: info?.env, waitUntil: info?.waitUntil, scriptName: childScript.slice(0, -1) });
    }
    return undefined;
  }

  /**
   * Runs the after_request hooks. As Bottle does, the outcome is applied to `res`
   * first, so hooks see the real status and headers (a 404, a redirect's Location, a
   * mounted app's answer); error pages are rendered after them, by the handler for the
   * error's status.
   */
  async #afterRequest(out: unknown, thrown: boolean, req: CarafeRequest, res: CarafeResponse, ctx: Settings): Promise<Reply> {
    let left = this.#settle(out, thrown, req, res, ctx);
    for (let i = 0; i < this.#after.length; i++) {
      try {
        await this.#after[i](req, res);
      } catch (err) {
        discard(left); // a stream (a file, a generator) that will not be sent now
        left = this.#settle(err, true, req, res, ctx);
      }
    }
    if (left instanceof AppliedError) return this.#finishError(left.error, req, res, ctx, true);
    return this.#reply(left, req, res, ctx);
  }

  /** Applies an outcome's status and headers to `res` (Bottle's `HTTPResponse.apply`); returns what is left to send. */
  #settle(out: unknown, thrown: boolean, req: CarafeRequest, res: CarafeResponse, ctx: Settings): unknown {
    try {
      if (thrown && !(out instanceof HTTPResponse)) out = this.#internalError(out, req, ctx);
      if (out instanceof HTTPResponse) {
        applyResponse(res, out, req);
        return out instanceof HTTPError ? new AppliedError(out) : out.body;
      }
      if (out instanceof MountedReply || out instanceof Response) {
        const from = out instanceof MountedReply ? out.reply : out;
        res.status = from.status;
        for (const [name, value] of from.headers) {
          if (name === "set-cookie") res.headers.append(name, value);
          else res.headers.set(name, value);
        }
        return out instanceof MountedReply ? new Settled(from.body, true) : new Settled(null, false, out);
      }
      return out;
    } catch (err) {
      // An outcome res cannot take (a Response with a status outside 200–599) is a 500 like any failure.
      const error = this.#internalError(err, req, ctx);
      applyResponse(res, error, req);
      return new AppliedError(error);
    }
  }

  /** {@linkcode toReply}, with a failure (an unsupported value, a stream's failing first chunk) rendered as an error. */
  #reply(out: unknown, req: CarafeRequest, res: CarafeResponse, ctx: Settings): Reply | Promise<Reply> {
    try {
      const reply = toReply(out, req, res, ctx);
      return reply instanceof Promise
        ? reply.then(sendable).catch((err) => this.#finishError(err, req, res, ctx))
        : sendable(reply);
    } catch (err) {
      return this.#finishError(err, req, res, ctx);
    }
  }

  #prepare(route: Route): AnyHandler {
    const skip = route.options.skip;
    if (skip === true) return route.handler;
    const all = [...this.#plugins, ...(route.options.apply ?? []).map((p) => typeof p === "function" ? { apply: p } : p)];
    // As in Bottle: of plugins with the same name only the last (a route's own over an
    // installed one) applies, so a route can replace an app-wide plugin.
    const seen = new Set<string>();
    const plugins: Plugin[] = [];
    for (let i = all.length - 1; i >= 0; i--) {
      const p = all[i];
      if ((skip ?? []).some((s) => s === p || (typeof s === "string" && s === p.name))) continue;
      if (p.name !== undefined) {
        if (seen.has(p.name)) continue;
        seen.add(p.name);
      }
      plugins.unshift(p);
    }
    let handler = route.handler;
    // The first plugin installed ends up outermost, as in Bottle.
    for (let i = plugins.length - 1; i >= 0; i--) {
      const wrapped: unknown = plugins[i].apply(handler, route);
      if (typeof wrapped !== "function") {
        throw new TypeError(
          `Plugin ${plugins[i].name ?? "(unnamed)"} returned a ${wrapped === null ? "null" : typeof wrapped} from apply() for route ${route.method} ${route.path}; apply must return a handler function (the one it was given to leave the route alone).`,
        );
      }
      handler = wrapped as AnyHandler;
    }
    return handler;
  }

  // -- From return value to reply -------------------------------------------

  /**
   * Renders an error (HTTPError or exception) through the error handlers; never throws.
   * `applied`: the error's status and headers are on `res` already (after_request hooks ran).
   */
  async #finishError(out: unknown, req: CarafeRequest, res: CarafeResponse, ctx: Settings, applied = false): Promise<Reply> {
    let failed = 0;
    try {
      const error = out instanceof HTTPError ? out : this.#internalError(out, req, ctx);
      failed = error.status;
      return sendable(await toReply(await this.#renderError(error, req, res, ctx, applied), req, res, ctx));
    } catch (err) {
      // A value we cannot send (unsupported type, circular JSON) or an error handler that
      // failed: the page for the new error, on a fresh res (the old one may hold what
      // failed). The handler of the status that just failed is not asked again, so no
      // handler runs twice for one request.
      try {
        const error = err instanceof HTTPError ? err : this.#internalError(err, req, ctx);
        const fresh = new CarafeResponse();
        const page = await this.#renderError(error, req, fresh, ctx, false, error.status !== failed);
        return sendable(await toReply(page, req, fresh, ctx));
      } catch (fatal) {
        logFor(req, ctx, `${req.method} ${req.fullpath}: error handler failed: ${describeError(fatal)}`);
        return {
          status: 500,
          headers: new Headers({ "content-type": "text/plain; charset=UTF-8" }),
          body: "Internal Server Error",
        };
      }
    }
  }

  #internalError(err: unknown, req: CarafeRequest, ctx: Settings): HTTPError {
    logFor(req, ctx, `${req.method} ${req.fullpath}: ${describeError(err)}`);
    return new HTTPError(500, "Internal Server Error", { cause: err });
  }

  async #renderError(
    err: HTTPError,
    req: CarafeRequest,
    res: CarafeResponse,
    ctx: Settings,
    applied: boolean,
    handlers = true,
  ): Promise<unknown> {
    if (!applied) applyResponse(res, err, req);
    const handler = handlers ? this.#errorHandlers.get(err.status) : undefined;
    if (handler) return await handler(err, req, res);
    if (err.body !== undefined && typeof err.body !== "string") return err.body;
    res.setHeader("content-type", HTML);
    return errorPage(err, req, ctx.debug);
  }
}


function scriptNameOf(prefix: string | undefined): string {
  if (!prefix) return "/";
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  return trimmed ? `/${trimmed}/` : "/";
}

function routingError(match: { kind: string; allow?: string[]; message?: string }, path: string): HTTPError {
  if (match.kind === "methodNotAllowed") {
    return new HTTPError(405, "Method not allowed.", { headers: { allow: match.allow!.join(",") } });
  }
  if (match.kind === "badParam") return new HTTPError(400, match.message ?? "Path has wrong format.");
  return new HTTPError(404, `Not found: '${path}'`);
}

/**
 * Where the part of `rawPath` that decodes to `prefix` ends. Only "/" and "%2F" decode
 * to "/" (no multi-byte UTF-8 sequence contains the byte 0x2F), so it is the separator
 * that follows as many separators as `prefix` has.
 */
function rawPrefixEnd(rawPath: string, prefix: string): number {
  let slashes = 0;
  for (let i = 0; i < prefix.length; i++) if (prefix.charCodeAt(i) === 47) slashes++;
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    const separator = c === 47 || (c === 37 && rawPath.charCodeAt(i + 1) === 50 && (rawPath.charCodeAt(i + 2) | 32) === 102);
    if (separator && slashes-- === 0) return i;
  }
  return rawPath.length;
}
