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
import { env } from "../../shims/runtime.ts";

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
export function createFastCgiEngine(options: FastCgiEngineOptions): FastCgiEngine {
  return new FastCgiEngine(options);
}

/** Handlers for a connection that is refused: its events are ignored. */
const IGNORE: StreamHandlers = { data() {}, end() {}, drain() {}, close() {} };

/** See {@linkcode createFastCgiEngine}. */
export class FastCgiEngine {
  readonly #options: FastCgiEngineOptions;
  readonly #limits: FastCgiLimits;
  readonly #connections = new Set<Connection>();
  readonly #ctx: Context;
  /** `FCGI_WEB_SERVER_ADDRS`: the only peers allowed over TCP, when set. */
  readonly #allowed: string[] | undefined;
  readonly #sweeper: ReturnType<typeof setInterval>;
  #stopping = false;
  #idleWaiter: (() => void) | null = null;
  #refused = 0;
  #refusedLogged = 0;

  /** Use {@linkcode createFastCgiEngine}. */
  constructor(options: FastCgiEngineOptions) {
    this.#options = options;
    const limits = this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#ctx = {
      app: options.app,
      log: options.log,
      accessLog: options.accessLog ?? false,
      limits,
      inflight: new Set(),
      onIdle: () => {
        if (this.#idleWaiter && this.#ctx.inflight.size === 0) this.#idleWaiter();
      },
    };
    this.#allowed = env("FCGI_WEB_SERVER_ADDRS")?.split(",").map((s) => s.trim()).filter(Boolean);
    // The idle timeout: a sweep every quarter of it closes connections that had neither
    // a byte nor a request in the app for the whole period (no per-request timers).
    const step = Math.max(10, Math.floor(limits.idleTimeout / 4));
    const sweeps = Math.ceil(limits.idleTimeout / step);
    this.#sweeper = setInterval(() => this.#sweep(sweeps), step);
    (this.#sweeper as { unref?: () => void }).unref?.();
  }

  #sweep(sweeps: number): void {
    for (const c of this.#connections) {
      if (c.active || c.busy) {
        c.active = false;
        c.idleSweeps = 0;
      } else if (++c.idleSweeps >= sweeps) {
        c.fail(`no request for ${this.#limits.idleTimeout} ms (idle, or a partial record)`);
      }
    }
  }

  /** Serves one accepted connection; returns the handlers for its socket events. */
  accept = (socket: StreamSocket): StreamHandlers => {
    if (this.#refuses(socket)) {
      socket.destroy();
      return IGNORE;
    }
    const connection = new Connection(socket, this.#ctx);
    this.#connections.add(connection);
    return {
      data: (chunk) => connection.data(chunk),
      end: () => connection.end(),
      drain: () => connection.drain(),
      close: () => {
        this.#connections.delete(connection);
        connection.close();
      },
    };
  };

  /** Whether `socket` must be refused (stopping, a peer not allowed, or `maxConns` reached), logged. */
  #refuses(socket: StreamSocket): boolean {
    if (this.#stopping) return true;
    const peer = socket.remoteAddress;
    const allowed = this.#allowed;
    if (allowed?.length && peer && !allowed.includes(peer.replace(/^::ffff:/, ""))) {
      this.#options.log(`FastCGI: refused connection from ${peer} (not in FCGI_WEB_SERVER_ADDRS)`);
      return true;
    }
    if (this.#connections.size < this.#limits.maxConns) return false;
    // Logged once per second at most: a flood must not flood the log too.
    this.#refused++;
    const now = Date.now();
    if (now - this.#refusedLogged >= 1000) {
      this.#options.log(`FastCGI: refused ${this.#refused} connection(s): already serving maxConns = ${this.#limits.maxConns}`);
      this.#refusedLogged = now;
      this.#refused = 0;
    }
    return true;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Stops accepting, ends idle connections, waits up to `timeout` ms for requests in flight, then closes the rest. */
  async close(timeout: number): Promise<void> {
    this.#stopping = true;
    for (const c of this.#connections) c.shutdown();
    if (this.#ctx.inflight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeout);
        this.#idleWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    // Connections were ended (half-closed) after their last answer; give the peers a
    // moment to read it and close, so no queued bytes are lost to a hard destroy.
    const grace = Date.now() + Math.min(1000, timeout);
    while (this.#connections.size > 0 && Date.now() < grace) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.#connections) c.socket.destroy();
    clearInterval(this.#sweeper);
  }
}
