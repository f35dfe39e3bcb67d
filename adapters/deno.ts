/**
 * The `deno` adapter: `Deno.serve`, Deno's native HTTP/1.1 + HTTP/2 server.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
 * await run({ app: new Carafe().get("/", () => "hi"), server: "deno", port: 0 });
 * ```
 *
 * @module
 */
import type { Adapter, ServeOptions, Server } from "./adapter.ts";
import { accessLine, MAX_URL_LENGTH, uriTooLong, chmodSocket, delay, displayUrl, logError, pathOf, removeStaleSocket, responder, unlinkQuietly } from "./common.ts";
import { readPem } from "../shims/tls.ts";

// The type-checker runs with Node's types only; Deno's API is reached through globalThis.
// deno-lint-ignore no-explicit-any
type Any = any;

const remoteOf = (info: Any): string | undefined => {
  const a = info?.remoteAddr;
  return a?.hostname ?? (a?.transport === "unix" ? "unix" : undefined);
};

/**
 * `ServeInfo` whose `remoteAddr` is read from Deno only when asked for: reading
 * `info.remoteAddr` costs about 0.3 µs per request (measured), a tenth of a bare request.
 */
class LazyInfo {
  #info: Any;
  constructor(info: Any) {
    this.#info = info;
  }
  get remoteAddr(): string | undefined {
    return remoteOf(this.#info);
  }
}

/**
 * Serves with `Deno.serve`. Graceful shutdown uses `server.shutdown()`; if in-flight
 * requests outlast `shutdownTimeout`, `close()` resolves anyway and `run()` exits the
 * process (Deno has no API to drop open connections).
 *
 * @example
 * ```ts
 * import { denoAdapter } from "./deno.ts";
 * import { run } from "./mod.ts";
 * import { Carafe } from "../mod.ts";
 * await run({ app: new Carafe(), server: denoAdapter, port: 0 });
 * ```
 */
export const denoAdapter: Adapter = {
  name: "deno",
  label: "DenoServer()",
  async serve(o: ServeOptions): Promise<Server> {
    const Deno = (globalThis as Any).Deno;
    if (!Deno?.serve) throw new Error('server "deno" needs the Deno runtime; use "auto" or "node" here');
    const app = o.app;
    const log = o.log;
    const onError = (err: unknown) => {
      logError(log, "Unhandled error while serving a request", err);
      return new Response("Internal Server Error", { status: 500, headers: { "content-type": "text/plain" } });
    };
    const answer = responder(app);
    const handler = o.quiet
      ? (req: Request, info: Any) => req.url.length > MAX_URL_LENGTH ? uriTooLong() : answer(req, new LazyInfo(info))
      : (req: Request, info: Any) => {
        const remoteAddr = remoteOf(info);
        const logged = (res: Response) => {
          const len = res.headers.get("content-length");
          log(accessLine(remoteAddr, req.method, pathOf(req.url), "1.1", res.status, len === null ? undefined : Number(len)));
          return res;
        };
        const res = req.url.length > MAX_URL_LENGTH ? uriTooLong() : answer(req, { remoteAddr });
        return res instanceof Promise ? res.then(logged) : logged(res);
      };
    let ready!: (addr: Any) => void;
    const listening = new Promise<Any>((r) => (ready = r));
    const common: Any = { handler, onError, onListen: (addr: Any) => ready(addr) };
    if (o.tls) {
      common.cert = await readPem(o.tls.cert);
      common.key = await readPem(o.tls.key);
    }
    let server: Any;
    if (o.socket) {
      await removeStaleSocket(o.socket);
      server = Deno.serve({ ...common, transport: "unix", path: o.socket });
    } else {
      // reusePort: cluster workers (adapters/cluster.ts) each bind the same port.
      const reusePort = (o as ServeOptions & { reusePort?: boolean }).reusePort;
      server = Deno.serve({ ...common, hostname: o.host, port: o.port, ...(reusePort ? { reusePort: true } : {}) });
    }
    const addr = await listening;
    {
      let url: string;
      if (o.socket) {
        await chmodSocket(o.socket, o.socketMode);
        url = `unix:${o.socket}`;
      } else {
        url = displayUrl(o.tls ? "https" : "http", o.host, addr.port);
      }
      let closing: Promise<void> | undefined;
      const finished = (server.finished as Promise<void>).then(async () => {
        if (o.socket) await unlinkQuietly(o.socket);
      });
      return {
        url,
        finished,
        close() {
          return (closing ??= Promise.race([server.shutdown() as Promise<void>, delay(o.shutdownTimeout)]).then(async () => {
            if (o.socket) await unlinkQuietly(o.socket);
          }));
        },
      };
    }
  },
};
