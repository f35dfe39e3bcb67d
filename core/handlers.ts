/**
 * What an app is made of, as types: its options, handlers, error handlers, hooks,
 * plugins and routes. `core/app.ts` registers and dispatches them.
 *
 * @example
 * ```ts
 * import type { Handler, Hook } from "./handlers.ts";
 * const hello: Handler<{ name: string }> = (req) => `Hello ${req.params.name}!`;
 * const timing: Hook = (_req, res) => res.setHeader("x-served-by", "carafe");
 * ```
 *
 * @module
 */
import type { HTTPError } from "./errors.ts";
import type { TrustProxy } from "./proxy.ts";
import type { CarafeRequest } from "./request.ts";
import type { CarafeResponse } from "./response.ts";
// Type-only: erased at run time, so no import circle.
import type { Carafe } from "./app.ts";


/** Settings of an app. `run()` copies its options of the same names here. */
export interface CarafeOptions {
  /** Stack traces on error pages. Default `false`. */
  debug?: boolean;
  /** Largest request body in bytes; bigger ones get 413. Default 100 MiB; `Infinity` disables. */
  maxBodySize?: number;
  /**
   * Largest urlencoded `form()` body in bytes, read no further (and the most bytes a
   * multipart form's text fields may hold together; its files count towards
   * `maxBodySize` only). Default 1 MiB. Over it: 413 naming `maxFormSize`.
   */
  maxFormSize?: number;
  /** Most fields in a `form()`: urlencoded pairs or multipart parts. Default 10,000. */
  maxFormFields?: number;
  /** Largest form field name or value in bytes, as sent. Default 256 KiB. */
  maxFormFieldSize?: number;
  /** Largest `json()` body in bytes, read no further. Default 1 MiB. */
  maxJsonSize?: number;
  /** Deepest nesting of arrays and objects `json()` accepts. Default 1,000. */
  maxJsonDepth?: number;
  /** Which proxies' `X-Forwarded-*` headers to believe. Default `false`. */
  trustProxy?: TrustProxy;
  /** Where errors are logged. Default: `console.error`. */
  logger?: (message: string) => void;
}


/**
 * What a handler returns, or what its promise resolves to: a string (sent as HTML),
 * `null`/`undefined` (an empty body), or an object: plain objects and arrays become
 * JSON; a `Response`, an `HTTPResponse`, bytes, a `Blob`, a stream or an iterable are
 * sent as they are. Anything else is a 500 at run time, so the type refuses what it
 * can: numbers, booleans, a `Date` (has `getTime`) and a promise of a promise.
 *
 * @example
 * ```ts
 * import type { HandlerResult } from "./handlers.ts";
 * const ok: HandlerResult = { id: 1, done: false }; // JSON
 * // const no: HandlerResult = new Date(); // does not type-check: send date.toISOString()
 * ```
 */
export type HandlerResult =
  | string
  | null
  | undefined
  | void
  | Record<string, unknown>
  | (object & { getTime?: never; then?: never });

/**
 * A route handler: gets the request and response, returns the body (see
 * {@linkcode HandlerResult}) or throws an `HTTPResponse`/`HTTPError`.
 */
export type Handler<P = Record<string, unknown>> = (
  req: CarafeRequest<P>,
  res: CarafeResponse,
) => HandlerResult | Promise<HandlerResult>;

/**
 * A handler of any route: what plugins and the route table hold. Its parameters are
 * `any` on purpose: a handler typed for `<id:int>` must fit where any handler goes.
 */
// deno-lint-ignore no-explicit-any
export type AnyHandler = Handler<any>;

/** Renders an error: gets the `HTTPError` (its `cause` is the exception for a 500). */
export type ErrorHandler = (err: HTTPError, req: CarafeRequest, res: CarafeResponse) => unknown;

/** A `before_request` or `after_request` hook. */
export type Hook = (req: CarafeRequest, res: CarafeResponse) => void | Promise<void>;

/** The hook names, Bottle's. */
export type HookName = "before_request" | "after_request";

/** What a plugin sees of a route when it wraps its handler. */
export interface RouteInfo {
  /** The method (`GET`, `ANY`…). */
  method: string;
  /** The route's path rule. */
  path: string;
  /** Its name, if given. */
  name?: string;
  /** The original handler. */
  handler: AnyHandler;
  /** Every option passed when the route was added (plugins read their own keys here). */
  options: RouteOptions;
  /** The app the route was defined on. */
  app: Carafe;
}

/**
 * A plugin wraps route handlers (Bottle's plugin API). A plain function is treated as
 * `{ apply: fn }`.
 */
export interface Plugin {
  /** Used by `uninstall(name)` and route option `skip`. */
  name?: string;
  /** Called once by `install`. */
  setup?(app: Carafe): void;
  /** Returns the handler to use for `route` (the same one to leave it alone). */
  apply(handler: AnyHandler, route: RouteInfo): AnyHandler;
  /** Called by `uninstall`. */
  close?(): void;
}

/** Options of a route. Unknown keys are kept for plugins. */
export interface RouteOptions {
  /** Name for `app.url(name, params)`. */
  name?: string;
  /** Extra plugins for this route only. */
  apply?: Array<Plugin | Plugin["apply"]>;
  /** Installed plugins (objects or names) this route skips; `true` skips all. */
  skip?: Array<Plugin | string> | true;
  /** Anything else, for plugins. */
  [key: string]: unknown;
}

/** A registered route, as the router stores it. */
export interface Route extends RouteInfo {
  /** The handler wrapped by the plugins that apply (built on first use). */
  prepared?: AnyHandler;
  /** The plugin-list version `prepared` was built for. */
  preparedFor?: number;
}


