/**
 * The contract between `run()` and a server adapter. Every adapter
 * (`deno`, `bun`, `node`, `cluster`, `fastcgi`, `cgi`, or one of yours)
 * implements {@linkcode Adapter}.
 *
 * @example
 * ```ts
 * import type { Adapter } from "./adapter.ts";
 * const echo: Adapter = {
 *   name: "echo",
 *   label: "EchoServer()",
 *   serve(options) {
 *     return { url: "echo://", close: async () => {}, finished: Promise.resolve() };
 *   },
 * };
 * ```
 *
 * @module
 */

import type { FetchHandler, ServeInfo } from "../core/contract.ts";
import type { TrustProxy } from "../core/proxy.ts";

export type { FetchHandler, ServeInfo, TrustProxy };

/**
 * What `run()` serves: anything with a web-standard `fetch` handler (a Carafe app, a
 * Hono app, a plain object). The same interface as the core's
 * {@linkcode FetchHandler}, under the name the adapters' options have always used.
 */
export type FetchApp = FetchHandler;

/** TLS material, as file paths or PEM text. */
export interface TlsOptions {
  /** Certificate chain: a file path or PEM text. */
  cert: string;
  /** Private key: a file path or PEM text. */
  key: string;
}

/** The options an adapter receives: `run()`'s options with every default filled in. */
export interface ServeOptions {
  /** The application to serve. */
  app: FetchApp;
  /** Interface to bind (`"127.0.0.1"`, `"::1"`, `"0.0.0.0"`). */
  host: string;
  /** TCP port; `0` picks a free one. */
  port: number;
  /** Listen on this Unix socket path instead of host/port. */
  socket?: string;
  /** File mode for the Unix socket (default `0o660`). */
  socketMode?: number;
  /** Serve HTTPS. */
  tls?: TlsOptions;
  /** No banner and no access log. */
  quiet: boolean;
  /** Largest request body accepted, in bytes (`Infinity` disables the check). */
  maxBodySize: number;
  /** Milliseconds graceful shutdown may take before connections are forced closed. */
  shutdownTimeout: number;
  /** Worker processes (cluster adapter). */
  workers?: number;
  /** Adapter each cluster worker runs. */
  worker?: string;
  /** Largest request-header block in bytes, where the runtime lets us set it. */
  maxHeaderSize?: number;
  /** Milliseconds a connection may stay idle (and a slow client may take to send its headers). */
  idleTimeout?: number;
  /** Recycle a cluster worker after this many requests. */
  maxRequestsPerWorker?: number;
  /** Writes one log line (access log, errors). Adapters log through this, never `console`. */
  log: (line: string) => void;
}

/** A running server, as `run()` returns it. */
export interface Server {
  /** Where it listens: `http://127.0.0.1:8080/`, `http://[::1]:8080/`, `unix:/path.sock`, `cgi:`. */
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to `shutdownTimeout`), then resolves. */
  close(): Promise<void>;
  /** Resolves when the server has stopped, for whatever reason. */
  finished: Promise<void>;
}

/** A server kind `run()` can start. */
export interface Adapter {
  /** The name users pass as `server` (`"node"`, `"fastcgi"`…). */
  name: string;
  /** What the banner shows after "using", e.g. `"NodeServer()"`. Defaults to `name`. */
  label?: string;
  /** Whether the adapter prints its own banner/URL (CGI must keep stdout and stderr quiet). */
  silent?: boolean;
  /** Starts serving. */
  serve(options: ServeOptions): Server | Promise<Server>;
}
