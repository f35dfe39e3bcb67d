/**
 * Carafe without the servers: the app, its request and response, errors, static files
 * and templates — everything a platform that owns the server needs (Cloudflare Workers,
 * Vercel's Edge Runtime, Deno Deploy, AWS Lambda through `adapters/lambda/mod.ts`).
 *
 * `mod.ts` adds `run()`, the adapters and their registry, which reach `node:` modules
 * (`node:fs`, `node:child_process`) that an edge runtime does not have. A bundle that
 * starts here leaves them out: `export default app` is the whole Worker.
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 *
 * const app = new Carafe();
 * app.get("/item/<id:int>", (req) => ({ id: req.params.id }));
 *
 * // In the Worker's entry module: export default app;
 * const res = await app.fetch(new Request("http://localhost/item/7"));
 * ```
 *
 * @module
 */
export { Carafe, escapeHtml } from "./core/app.ts";
export {
  defaultApp,
  error,
  get,
  hook,
  install,
  mount,
  patch,
  popDefaultApp,
  post,
  pushDefaultApp,
  put,
  route,
  uninstall,
  url,
} from "./core/default_app.ts";
export type {
  AnyHandler,
  CarafeOptions,
  ErrorHandler,
  FetchHandler,
  Handler,
  HandlerResult,
  Hook,
  HookName,
  IncomingRequest,
  Plugin,
  Route,
  RouteInfo,
  RouteOptions,
  ServeInfo,
} from "./core/app.ts";
export type { PlatformContext } from "./core/platform.ts";
export { abort, HTTPError, HTTPResponse, redirect } from "./core/errors.ts";
export type { HeadersLike, HTTPErrorOptions } from "./core/errors.ts";
export { CarafeRequest } from "./core/request.ts";
export { CarafeResponse } from "./core/response.ts";
export type { CookieOptions, CookieSecret } from "./core/cookies.ts";
export type { TrustProxy } from "./core/proxy.ts";
export type { Reply, ReplyBody } from "./core/reply.ts";
export { RouteBuildError, Router, RouteSyntaxError } from "./core/router.ts";
export type { FilterFactory, FilterSpec, PathParams, RouteMatch } from "./core/router.ts";
export { guessMimeType, StaticFile, staticFile } from "./core/static.ts";
export type { RequestLike, StaticFileOptions } from "./core/static.ts";
export { IMMUTABLE_CACHE_CONTROL, serveDir } from "./core/serve_dir.ts";
export type { PrecompressedEncoding, ServeDirOptions } from "./core/serve_dir.ts";
export { compress, isCompressible, negotiateEncoding } from "./core/compress.ts";
export type { CompressOptions, Encoding } from "./core/compress.ts";
export { cors } from "./core/cors.ts";
export type { CorsOptions, CorsOrigin } from "./core/cors.ts";
export { transformReply } from "./core/reply.ts";
export type { ReplyTransform, ReplyTransformer } from "./core/reply.ts";
export { clearTemplateCache, Template, template, TemplateError, templatePath, view } from "./core/template.ts";
export type { TemplateOptions, TemplateVars } from "./core/template.ts";
