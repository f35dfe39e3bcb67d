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
import {
  chmodSocket,
  delay,
  displayUrl,
  handleOf,
  unhandledError,
  MAX_URL_LENGTH,
  removeStaleSocket,
  responder,
  responseLogLine,
  responseOf,
  replyLogLine,
  unlinkQuietly,
  uriTooLong,
  warnOnce,
} from "./common.ts";
import { badHost, HostCheck } from "./host.ts";
import type { Reply } from "../core/reply.ts";
import { readPem } from "../shims/tls.ts";
import { denoWebSockets } from "./websocket/deno.ts";

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
 * The answer to a request Carafe refuses before the app sees it, else `undefined`: 414
 * for a URL past {@linkcode MAX_URL_LENGTH}, 400 for a Host header that is not
 * `host[:port]` (Deno pastes Host into `Request.url` unchecked, so `Host: x/admin`
 * would put `/admin` in front of the path). No Host (HTTP/1.0) or an empty one is
 * fine: Deno then uses its own address.
 */
function refusalOf(hosts: HostCheck): (req: Request) => Response | undefined {
  return (req) => {
    if (req.url.length > MAX_URL_LENGTH) return uriTooLong();
    const host = req.headers.get("host");
    return host === null || host === "" || hosts.ok(host) ? undefined : badHost();
  };
}

/**
 * What `Deno.serve` cannot do, said once at start-up when the user asked for it.
 */
export const DENO_LIMITS_WARNING =
  'server "deno": Deno.serve (Deno 2.9) has no header-read or idle timeout and no header-size setting, so ' +
  "idleTimeout and maxHeaderSize are not applied: a client that sends its headers slowly keeps its connection. " +
  'Put a reverse proxy with a header timeout in front (nginx client_header_timeout), or use server: "node".';

/** What {@linkcode loggingHandler} answers with. */
interface Answering {
  log: (line: string) => void;
  answer: ReturnType<typeof responder>;
  handle: ReturnType<typeof handleOf>;
  refusal: (req: Request) => Response | undefined;
}

/**
 * The `Deno.serve` handler that also writes the access line: stamped with the arrival
 * time, written once Deno is done with the answer (its `completed` promise; 499 if it
 * rejects). Deno 2.9 resolves it even when the client left, so aborts mostly go unseen;
 * req.signal is not read instead: reading it makes Deno warn about its legacy
 * abort-on-success behaviour.
 */
function loggingHandler({ log, answer, handle, refusal }: Answering): (req: Request, info: Any) => Response | Promise<Response> {
  return (req, info) => {
    const start = Date.now();
    const remoteAddr = remoteOf(info);
    const when = (write: (aborted: boolean) => void) => {
      const completed: Promise<void> | undefined = info?.completed;
      if (completed) completed.then(() => write(false), () => write(true));
      else write(false);
    };
    const refused = refusal(req);
    if (refused === undefined && handle) {
      // A Carafe app: log from the reply, which knows its body's size.
      const finish = (reply: Reply) => {
        when((aborted) => log(replyLogLine(req, reply, remoteAddr, start, aborted)));
        return responseOf(reply, log);
      };
      const reply = handle(req, { remoteAddr });
      return reply instanceof Promise ? reply.then(finish) : finish(reply);
    }
    const logged = (res: Response) => {
      when((aborted) => log(responseLogLine(req, res, remoteAddr, start, aborted)));
      return res;
    };
    const res = refused ?? answer(req, { remoteAddr });
    return res instanceof Promise ? res.then(logged) : logged(res);
  };
}

/**
 * Serves with `Deno.serve`. Graceful shutdown uses `server.shutdown()`; if in-flight
 * requests outlast `shutdownTimeout`, `close()` resolves anyway and `run()` exits the
 * process (Deno has no API to drop open connections). `shutdown()` also closes at once
 * every connection without a request in flight (kept-alive or just accepted).
 *
 * `Deno.serve` has no timeouts and no header-size option: `idleTimeout` and
 * `maxHeaderSize` are not applied (a warning says so when they are given); Deno's own
 * header limit answers 400.
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
    const onError = unhandledError(log);
    const idleAsked = o.idleTimeout !== undefined && o.idleTimeout > 0 && Number.isFinite(o.idleTimeout);
    if (idleAsked || o.maxHeaderSize !== undefined) warnOnce(log, "deno-limits", DENO_LIMITS_WARNING);
    const answer = responder(app);
    const handle = handleOf(app);
    const refusal = refusalOf(new HostCheck());
    const handler = o.quiet
      ? (req: Request, info: Any) => refusal(req) ?? answer(req, new LazyInfo(info))
      : loggingHandler({ log, answer, handle, refusal });
    let ready!: (addr: Any) => void;
    const listening = new Promise<Any>((r) => (ready = r));
    const webSockets = denoWebSockets(log); // WebSocket routes: adapters/websocket/deno.ts
    const common: Any = { handler: webSockets.wrap(handler), onError, onListen: (addr: Any) => ready(addr) };
    if (o.tls) {
      common.cert = await readPem(o.tls.cert);
      common.key = await readPem(o.tls.key);
    }
    let server: Any;
    if (o.socket) {
      await removeStaleSocket(o.socket);
      server = Deno.serve({ ...common, transport: "unix", path: o.socket });
    } else {
      // reusePort: cluster workers (adapters/cluster/) each bind the same port.
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
          // Open WebSockets get a 1001 close while the HTTP side drains.
          const drained = () => Promise.all([server.shutdown() as Promise<void>, webSockets.sessions.closeAll(1001, "server shutting down", o.shutdownTimeout)]);
          return (closing ??= Promise.race([drained(), delay(o.shutdownTimeout)]).then(async () => {
            if (o.socket) await unlinkQuietly(o.socket);
          }));
        },
      };
    }
  },
};
