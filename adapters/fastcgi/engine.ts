/**
 * The FastCGI connection engine, transport-neutral: accepts connections, keeps the
 * per-server limits, and stops them gracefully. `./server.ts` puts it on a listener.
 *
 * @module
 */
import type { FetchApp, ServeOptions } from "../adapter.ts";
import type { StreamHandlers, StreamSocket } from "../../shims/socket.ts";
import { Connection, type Context } from "./connection.ts";
import { DEFAULT_LIMITS, type FastCgiLimits } from "./limits.ts";

/** Extra options of the FastCGI adapter (besides the common {@linkcode ServeOptions}). */
export interface FastCgiServeOptions extends ServeOptions {
  /** Listen on the socket inherited as fd 0 (default: when no `socket` is given and fd 0 is a listening socket). */
  fd0?: boolean;
  /** Protocol bounds (see {@linkcode FastCgiLimits}). */
  limits?: Partial<FastCgiLimits>;
  /** Serve over `node:net` even where a native transport exists (Bun): for comparisons. */
  forceNodeNet?: boolean;
}

/** What {@linkcode createFastCgiEngine} serves, and how. */
export interface FastCgiEngineOptions {
  /** The application. */
  app: FetchApp;
  /** Writes a log line (errors, refused connections, access lines). */
  log: (line: string) => void;
  /** One Common Log Format line per answered request, through `log` (default `false`; `serveFastCgi` sets it unless `quiet`). */
  accessLog?: boolean;
  /** Protocol bounds (see {@linkcode FastCgiLimits}). */
  limits?: Partial<FastCgiLimits>;
}

/**
 * The connection engine behind {@linkcode serveFastCgi}, usable over any transport:
 * `accept(socket)` serves one accepted connection; `close()` stops them gracefully.
 *
 * @example
 * ```ts
 * import { createFastCgiEngine } from "./mod.ts";
 * const engine = createFastCgiEngine({ app: { fetch: () => new Response("hi") }, log: console.error });
 * // listenStream(target, engine.accept) — see shims/socket.ts
 * await engine.close(1000);
 * ```
 */
export function createFastCgiEngine(options: FastCgiEngineOptions): {
  /** Serves one accepted connection; returns the handlers for its socket events. */
  accept(socket: StreamSocket): StreamHandlers;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting, ends idle connections, waits up to `timeout` ms for requests in flight, then closes the rest. */
  close(timeout: number): Promise<void>;
} {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const connections = new Set<Connection>();
  let stopping = false;
  let idleWaiter: (() => void) | null = null;
  const ctx: Context = {
    app: options.app,
    log: options.log,
    accessLog: options.accessLog ?? false,
    limits,
    inflight: new Set(),
    onIdle: () => {
      if (idleWaiter && ctx.inflight.size === 0) idleWaiter();
    },
  };
  const allowed = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    ?.FCGI_WEB_SERVER_ADDRS?.split(",").map((s) => s.trim()).filter(Boolean);
  const ignore: StreamHandlers = { data() {}, end() {}, drain() {}, close() {} };
  let refused = 0, refusedLogged = 0;

  // The idle timeout: a sweep every quarter of it closes connections that had neither
  // a byte nor a request in the app for the whole period (no per-request timers).
  const step = Math.max(10, Math.floor(limits.idleTimeout / 4));
  const sweeps = Math.ceil(limits.idleTimeout / step);
  const sweeper = setInterval(() => {
    for (const c of connections) {
      if (c.active || c.busy) {
        c.active = false;
        c.idleSweeps = 0;
      } else if (++c.idleSweeps >= sweeps) {
        c.fail(`no request for ${limits.idleTimeout} ms (idle, or a partial record)`);
      }
    }
  }, step);
  (sweeper as { unref?: () => void }).unref?.();

  return {
    accept(socket: StreamSocket): StreamHandlers {
      if (stopping) {
        socket.destroy();
        return ignore;
      }
      const peer = socket.remoteAddress;
      if (allowed?.length && peer && !allowed.includes(peer.replace(/^::ffff:/, ""))) {
        options.log(`FastCGI: refused connection from ${peer} (not in FCGI_WEB_SERVER_ADDRS)`);
        socket.destroy();
        return ignore;
      }
      if (connections.size >= limits.maxConns) {
        // Logged once per second at most: a flood must not flood the log too.
        refused++;
        const now = Date.now();
        if (now - refusedLogged >= 1000) {
          options.log(`FastCGI: refused ${refused} connection(s): already serving maxConns = ${limits.maxConns}`);
          refusedLogged = now;
          refused = 0;
        }
        socket.destroy();
        return ignore;
      }
      const connection = new Connection(socket, ctx);
      connections.add(connection);
      return {
        data: (chunk) => connection.data(chunk),
        end: () => connection.end(),
        drain: () => connection.drain(),
        close: () => {
          connections.delete(connection);
          connection.close();
        },
      };
    },
    get connections() {
      return connections.size;
    },
    async close(timeout: number): Promise<void> {
      stopping = true;
      for (const c of connections) c.shutdown();
      if (ctx.inflight.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeout);
          idleWaiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      // Connections were ended (half-closed) after their last answer; give the peers a
      // moment to read it and close, so no queued bytes are lost to a hard destroy.
      const grace = Date.now() + Math.min(1000, timeout);
      while (connections.size > 0 && Date.now() < grace) await new Promise((r) => setTimeout(r, 10));
      for (const c of connections) c.socket.destroy();
      clearInterval(sweeper);
    },
  };
}
