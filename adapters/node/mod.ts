/**
 * The `node` adapter (`node:http`, `node:https`, and `node:http2` with `tls` under
 * Node) and {@linkcode toNodeHandler} for embedding an app in an existing node:http
 * server or framework. How it works, file by file:
 *
 * | file | what it does |
 * |---|---|
 * | `request.ts` | {@linkcode NodeRequest}: the lazy request a Carafe app reads |
 * | `handler.ts` | the request listener: dispatch, access log, 414/500 answers ({@linkcode toNodeHandler}) |
 * | `reply.ts` | writing a `Reply`: headers once, lengths, streams with back-pressure, unread bodies |
 * | `pipelining.ts` | one answer at a time per connection, in order |
 * | `http2.ts` | what HTTP/2 changes: no `Connection` header, streams not sockets, GOAWAY |
 * | `server.ts` | the `node` server: timeouts, limits, `Expect: 100-continue`, WebSockets, drain |
 *
 *
 * Per request it builds no web `Request` and no `Response` when the app is a Carafe
 * app: the app gets a lazy {@linkcode NodeRequest} (URL, `Headers` and body stream are
 * made only when read) and `app.handle()` returns a `Reply` that is written with one
 * `writeHead`; strings and bytes carry a computed `Content-Length`, streams are piped
 * with back-pressure. Client disconnects abort `req.signal`; unread request bodies are
 * drained when small, else the connection is closed after the response. Pipelined
 * requests are handled one after the other, each when the answer ahead of it is sent.
 *
 * @example
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { run } from "../mod.ts";
 * await run({ app: new Carafe().get("/", () => "hi"), server: "node", port: 0 });
 * ```
 *
 * @module
 */
export { NodeRequest } from "./request.ts";
export { type NodeHandlerOptions, toNodeHandler } from "./handler.ts";
export { nodeAdapter } from "./server.ts";
