/**
 * What `run()` says when an app with WebSocket routes is served where WebSockets
 * cannot work: FastCGI and CGI carry one request and its answer, never a two-way
 * stream after it. Those routes then answer `426`.
 *
 * @example
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { websocket } from "../../core/websocket.ts";
 * import { webSocketNotice } from "./unsupported.ts";
 * const app = new Carafe().get("/chat", websocket({}));
 * webSocketNotice(app, "fastcgi"); // 'server "fastcgi" cannot carry WebSockets: GET /chat ...'
 * ```
 *
 * @module
 */
import { declaredWebSockets, isWebSocketHandler } from "../../core/websocket.ts";

/** Servers that cannot carry a WebSocket. */
const GATEWAYS = new Set(["fastcgi", "cgi"]);

/** Route records as a Carafe app's router lists them. */
type Routed = { router?: { routes?: () => Array<{ method: string; path: string; target: { handler?: unknown } }> } };

/**
 * The warning for serving `app` with `server`, or `undefined` when there is nothing to
 * say (a server that carries WebSockets, or no WebSocket route declared).
 *
 * @example
 * ```ts
 * import { webSocketNotice } from "./unsupported.ts";
 * webSocketNotice({ fetch: () => new Response("") }, "node"); // undefined
 * ```
 */
export function webSocketNotice(app: unknown, server: string): string | undefined {
  if (!GATEWAYS.has(server) || declaredWebSockets().routes === 0) return undefined;
  let routes: string[] = [];
  try {
    routes = ((app as Routed).router?.routes?.() ?? [])
      .filter((r) => isWebSocketHandler(r.target?.handler))
      .map((r) => `${r.method} ${r.path}`);
  } catch { /* not a Carafe app */ }
  const which = routes.length ? routes.join(", ") : "routes declared with websocket() (in a mounted app, or another app of this process)";
  return `server "${server}" cannot carry WebSockets: ${which} will answer 426 Upgrade Required. ` +
    'Serve the app with server "deno", "bun", "node" or "cluster" behind the web server\'s proxy (docs/reference.md: WebSockets, "Behind nginx").';
}
