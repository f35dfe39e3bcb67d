/**
 * The FastCGI server and the `fastcgi` adapter: the engine (./engine.ts) on a TCP port,
 * a Unix socket, or the listening socket a web server passed as fd 0.
 *
 * @module
 */
import type { Adapter, ServeOptions, Server } from "../adapter.ts";
import { type ListenTarget, listenStream } from "../../shims/socket.ts";
import { stdinIsListeningSocket } from "../../shims/procfs.ts";
import { chmodSocket, closeOnce, removeStaleSocket, unlinkQuietly } from "../common.ts";
import { createFastCgiEngine, type FastCgiServeOptions } from "./engine.ts";
import { DEFAULT_LIMITS } from "./limits.ts";

/**
 * Whether fd 0 is a listening socket: the process was started by a web server
 * (spawn-fcgi, lighttpd `bin-path`, `cgi-fcgi -start`, mod_fcgid) the FastCGI way.
 * The spec's test is `getpeername(0)` failing with `ENOTCONN`; without native calls
 * we check that fd 0 is a socket and, on Linux, that `/proc/net` lists its inode as
 * listening (TCP state `0A`, or a Unix socket with the accept flag).
 *
 * @example
 * ```ts
 * import { isFastCgiListener } from "./mod.ts";
 * if (isFastCgiListener()) console.error("started by a web server as a FastCGI app");
 * ```
 */
export function isFastCgiListener(): boolean {
  return stdinIsListeningSocket();
}

/**
 * Starts a FastCGI responder. Listens on `options.socket` (a Unix socket, mode
 * `socketMode`, default `0o660`), on fd 0 when `fd0` is set, else on `host:port`.
 * `FCGI_WEB_SERVER_ADDRS` (comma-separated IPs) restricts who may connect over TCP.
 *
 * @example
 * ```ts
 * import { serveFastCgi } from "./mod.ts";
 * const server = await serveFastCgi({
 *   app: { fetch: () => new Response("hi") }, host: "127.0.0.1", port: 0, quiet: true,
 *   maxBodySize: Infinity, shutdownTimeout: 1000, log: () => {},
 * });
 * console.log(server.url); // fcgi://127.0.0.1:PORT
 * await server.close();
 * ```
 */
export async function serveFastCgi(options: FastCgiServeOptions): Promise<Server> {
  const limits = { ...options.limits };
  if (options.idleTimeout !== undefined && limits.idleTimeout === undefined) limits.idleTimeout = options.idleTimeout;
  // The PARAMS of a request are its header block.
  if (options.maxHeaderSize !== undefined && limits.maxRequestParamsSize === undefined) limits.maxRequestParamsSize = options.maxHeaderSize;
  const engine = createFastCgiEngine({ app: options.app, log: options.log, accessLog: !options.quiet, limits });
  const target: ListenTarget = options.socket ? { path: options.socket } : options.fd0 ? { fd: 0 } : { host: options.host, port: options.port };
  // A path a live server listens on is refused, a stale socket file replaced (as the HTTP adapters do).
  if (options.socket) await removeStaleSocket(options.socket);
  let listener;
  try {
    listener = await listenStream(target, engine.accept, {
      highWaterMark: options.limits?.outputHighWaterMark ?? DEFAULT_LIMITS.outputHighWaterMark,
      forceNodeNet: options.forceNodeNet,
    });
  } catch (error) {
    await engine.close(0);
    throw friendlyListenError(error as Error, options);
  }
  let url: string;
  if (options.socket) {
    try {
      await chmodSocket(options.socket, options.socketMode);
    } catch (error) {
      options.log(`FastCGI: cannot chmod ${options.socket}: ${(error as Error).message}`);
    }
    url = `unix:${options.socket}`;
  } else if (options.fd0) {
    url = "fcgi://fd0";
  } else {
    const { host, port } = listener.address as { host: string; port: number };
    url = `fcgi://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }
  return closeOnce(url, async () => {
    const stopped = listener.close(); // stops accepting now; resolves once every connection is gone
    await engine.close(options.shutdownTimeout);
    await stopped;
    if (options.socket) await unlinkQuietly(options.socket);
  });
}

function friendlyListenError(error: Error & { code?: string }, options: ServeOptions): Error {
  const where = options.socket ? options.socket : `${options.host}:${options.port}`;
  if (error.code === "EADDRINUSE") return new Error(`FastCGI: ${where} is already in use (another server is listening there).`, { cause: error });
  if (error.code === "EACCES") return new Error(`FastCGI: no permission to listen on ${where}.`, { cause: error });
  return new Error(`FastCGI: cannot listen on ${where}: ${error.message}`, { cause: error });
}

/**
 * The `fastcgi` adapter: `run({ server: "fastcgi", port: 9000 })`,
 * `run({ server: "fastcgi", socket: "/run/app.sock" })`, or just `run({ server:
 * "fastcgi" })` when a web server started us with a listening socket on fd 0.
 *
 * @example
 * ```ts
 * import { fastcgiAdapter } from "./mod.ts";
 * const server = await fastcgiAdapter.serve({
 *   app: { fetch: () => new Response("hi") }, host: "127.0.0.1", port: 0, quiet: true,
 *   maxBodySize: Infinity, shutdownTimeout: 1000, log: () => {},
 * });
 * await server.close();
 * ```
 */
export const fastcgiAdapter: Adapter = {
  name: "fastcgi",
  label: "FastCGIServer()",
  serve(options: ServeOptions): Promise<Server> {
    const o = options as FastCgiServeOptions;
    // A listening fd 0 means a web server started us and expects us to accept on it
    // (spawn-fcgi, lighttpd bin-path, cgi-fcgi -start): it wins over the default
    // host/port, which `run()` always fills in. `socket`, or `fd0: false`, opts out.
    const fd0 = o.fd0 ?? (!o.socket && isFastCgiListener());
    return serveFastCgi({ ...o, fd0 });
  },
};
