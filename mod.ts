/**
 * Carafe: Bottle's idea in TypeScript. A micro web framework you learn in an
 * afternoon, with one `run()` that serves the same app on any server.
 *
 * @example
 * ```ts
 * import { Carafe, escapeHtml, run } from "./mod.ts";
 *
 * const app = new Carafe();
 * // A string answer is HTML: escape what comes from the request.
 * app.get("/hello/<name>", (req) => `Hello ${escapeHtml(req.params.name)}!`);
 * app.get("/item/<id:int>", (req) => ({ id: req.params.id }));
 *
 * await run({ app, port: 8080 }); // or `export default app` for `deno serve` / `bun run` — not both
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
export { websocket, WebSocketState } from "./core/websocket.ts";
export type { CarafeWebSocket, WebSocketHandlers, WebSocketOptions, WebSocketSetup } from "./core/websocket.ts";
export { formatEvent, sse } from "./core/sse.ts";
export type { ServerSentEvent, SSEContext, SSEItem, SSEOptions, SSESource } from "./core/sse.ts";
export { clearTemplateCache, Template, template, TemplateError, templatePath, view } from "./core/template.ts";
export type { TemplateOptions, TemplateVars } from "./core/template.ts";
// toNodeHandler, clusterWorkerId and isClusterWorker come from adapters/mod.ts, which
// loads adapters/node/ only when toNodeHandler is called and of adapters/cluster/ only
// worker_id.ts: importing Carafe (a CGI program starts with it on every request) loads
// neither adapter.
export {
  clusterWorkerId,
  getAdapter,
  isClusterWorker,
  registerAdapter,
  run,
  serverNames,
  toNodeHandler,
  VERSION,
} from "./adapters/mod.ts";
export type { Loader, RunOptions } from "./adapters/mod.ts";
export type { Adapter, FetchApp, ServeOptions, Server, TlsOptions } from "./adapters/adapter.ts";
export type { NodeHandlerOptions } from "./adapters/node/mod.ts";
