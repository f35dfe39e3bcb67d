/**
 * The `bun` adapter: `Bun.serve`, Bun's native HTTP server.
 *
 * `Bun.serve({ routes })` is not used: Carafe's router decides 404/405/HEAD and hooks
 * run for every request, so a static route table would change behaviour for a gain
 * that is within noise once the app's own routing runs anyway.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
 * await run({ app: new Carafe().get("/", () => "hi"), server: "bun", port: 0 });
 * ```
 *
 * @module
 */
import type { Adapter, ServeOptions, Server } from "./adapter.ts";
import {
  accessLine,
  chmodSocket,
  delay,
  DEFAULT_IDLE_TIMEOUT,
  displayUrl,
  logError,
  MAX_URL_LENGTH,
  pathOf,
  uriTooLong,
  removeStaleSocket,
  responder,
  unlinkQuietly,
} from "./common.ts";
import { readPem } from "../shims/tls.ts";

// The type-checker runs with Node's types only; Bun's API is reached through globalThis.
// deno-lint-ignore no-explicit-any
type Any = any;

/** `ServeInfo` whose `remoteAddr` is asked of Bun only when someone reads it. */
class LazyInfo {
  #server: Any;
  #req: Request;
  constructor(server: Any, req: Request) {
    this.#server = server;
    this.#req = req;
  }
  get remoteAddr(): string | undefined {
    return this.#server.requestIP(this.#req)?.address;
  }
}

/** Most bytes of an unread request body read and discarded after the response. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

/**
 * Reads and discards a request body the app did not read (a 413 on a declared length,
 * an early error answer). Bun closes the connection on an unread body, and a close with
 * unread data makes the kernel send a reset that can destroy the response before the
 * client reads it; draining (bounded in bytes and time) lets the response arrive.
 */
function drainUnread(req: Request): void {
  const body = req.body;
  if (!body) return;
  const reader = body.getReader();
  let seen = 0;
  const stopAt = Date.now() + 2000;
  (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      seen += value.byteLength;
      if (seen > DRAIN_LIMIT || Date.now() > stopAt) return void reader.cancel().catch(() => {});
    }
  })().catch(() => {});
}

/**
 * Serves with `Bun.serve`. Graceful shutdown is `server.stop()`; after
 * `shutdownTimeout` the remaining connections are closed with `server.stop(true)`.
 * `idleTimeout` (default 30 s, Bun caps it at 255 s) also bounds slow clients.
 *
 * @example
 * ```ts
 * import { bunAdapter } from "./bun.ts";
 * import { run } from "./mod.ts";
 * import { Carafe } from "../mod.ts";
 * await run({ app: new Carafe(), server: bunAdapter, port: 0 });
 * ```
 */
export const bunAdapter: Adapter = {
  name: "bun",
  label: "BunServer()",
  async serve(o: ServeOptions): Promise<Server> {
    const Bun = (globalThis as Any).Bun;
    if (!Bun?.serve) throw new Error('server "bun" needs the Bun runtime; use "auto" or "node" here');
    const app = o.app;
    const log = o.log;
    const answer = responder(app);
    // Bun closes the connection on an unread body: drain it once the answer is ready.
    const drained = (req: Request, res: Response | Promise<Response>) => {
      if (req.method === "GET" || req.method === "HEAD") return res;
      return Promise.resolve(res).then((r) => {
        if (!req.bodyUsed) drainUnread(req);
        return r;
      });
    };
    const fetch = o.quiet
      ? (req: Request, server: Any) => req.url.length > MAX_URL_LENGTH ? uriTooLong() : drained(req, answer(req, new LazyInfo(server, req)))
      : (req: Request, server: Any) => {
        const remoteAddr = server.requestIP(req)?.address;
        const logged = (res: Response) => {
          const len = res.headers.get("content-length");
          log(accessLine(remoteAddr, req.method, pathOf(req.url), "1.1", res.status, len === null ? undefined : Number(len)));
          return res;
        };
        const res = req.url.length > MAX_URL_LENGTH ? uriTooLong() : drained(req, answer(req, { remoteAddr }));
        return res instanceof Promise ? res.then(logged) : logged(res);
      };
    const idle = Math.min(255, Math.max(1, Math.ceil((o.idleTimeout ?? DEFAULT_IDLE_TIMEOUT) / 1000)));
    const config: Any = {
      fetch,
      error(err: unknown) {
        logError(log, "Unhandled error while serving a request", err);
        return new Response("Internal Server Error", { status: 500, headers: { "content-type": "text/plain" } });
      },
      idleTimeout: idle,
      // Carafe enforces maxBodySize itself (413 for declared and streamed bodies alike);
      // Bun's own limit (128 MiB by default) would cut the connection instead of answering.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      development: false,
    };
    if (o.tls) config.tls = { cert: await readPem(o.tls.cert), key: await readPem(o.tls.key) };
    if (o.socket) {
      await removeStaleSocket(o.socket);
      config.unix = o.socket;
    } else {
      config.hostname = o.host;
      config.port = o.port;
      // Cluster workers (adapters/cluster.ts) each bind the same port.
      if ((o as ServeOptions & { reusePort?: boolean }).reusePort) config.reusePort = true;
    }
    const server = Bun.serve(config);
    let url: string;
    if (o.socket) {
      await chmodSocket(o.socket, o.socketMode);
      url = `unix:${o.socket}`;
    } else {
      url = displayUrl(o.tls ? "https" : "http", o.host, server.port);
    }
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    let closing: Promise<void> | undefined;
    return {
      url,
      finished,
      close() {
        return (closing ??= (async () => {
          const graceful = Promise.resolve(server.stop(false));
          if (await Promise.race([graceful.then(() => "done" as const), delay(o.shutdownTimeout)]) === "timeout") {
            await server.stop(true);
          }
          if (o.socket) await unlinkQuietly(o.socket);
          done();
        })());
      },
    };
  },
};
