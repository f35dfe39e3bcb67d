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
// Everything of app.ts (the app without the servers), then what needs a server.
export * from "./app.ts";
export { websocket, WebSocketState } from "./core/websocket.ts";
export type { CarafeWebSocket, WebSocketHandlers, WebSocketOptions, WebSocketSetup } from "./core/websocket.ts";
export { formatEvent, sse } from "./core/sse.ts";
export type { ServerSentEvent, SSEContext, SSEItem, SSEOptions, SSESource } from "./core/sse.ts";

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
