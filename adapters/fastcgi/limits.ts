/**
 * The bounds that keep a hostile, broken or slow FastCGI peer from exhausting memory,
 * file descriptors or time, and their defaults.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "./limits.ts";
 * console.log(DEFAULT_LIMITS.maxConns); // 1024
 * ```
 *
 * @module
 */

/** Bounds that keep a hostile, broken or slow peer from exhausting memory. */
export interface FastCgiLimits {
  /**
   * Bytes of one request's PARAMS: its header block (default 64 KiB, twice nginx's
   * 32 KiB of request headers; nginx cannot send more than 64 KiB of PARAMS). More is
   * answered `431 Request Header Fields Too Large` as soon as it arrives, the rest of
   * the stream ignored. `run({ maxHeaderSize })` sets it too.
   */
  maxRequestParamsSize: number;
  /**
   * Name-value pairs in one request's PARAMS, server variables and headers together
   * (default 200: the ~20 variables of nginx plus 180 header lines; Apache lets 100
   * header lines through, HAProxy 101). More is answered `431 Request Header Fields
   * Too Large`. Keep it modest: the cost of a request's `Headers` grows faster than
   * their number on some runtimes (iterating 1000 of them takes ~0.4 s on Deno 2.9).
   */
  maxParamCount: number;
  /**
   * Bytes of unfinished PARAMS streams on one connection, all its requests together
   * (default 1 MiB; nginx never sends more than 64 KiB per request). More closes the
   * connection.
   */
  maxParamsSize: number;
  /**
   * Requests one connection may have in flight (default 100). GET_VALUES reports it
   * as `FCGI_MAX_REQS` (HAProxy takes it as its per-connection stream limit); a
   * BEGIN_REQUEST beyond it is answered `END_REQUEST(FCGI_OVERLOADED)`.
   */
  maxRequestsPerConnection: number;
  /**
   * Request-body bytes received on one connection and not yet read by the app, all
   * its requests together (default 1 MiB). Above it the connection is not read until
   * the apps catch up, so the web server's writes block. Below it records keep being
   * read, so one slow reader does not stall ABORT_REQUEST or the other requests of a
   * multiplexed connection.
   */
  maxBufferedBody: number;
  /**
   * Output bytes waiting for the web server to read them, per connection (default
   * 64 KiB). Above it the connection is not read (no new requests, no management
   * answers) until the output drains; streamed bodies wait for it too.
   */
  outputHighWaterMark: number;
  /** Connections served at once (default 1024); GET_VALUES reports it as `FCGI_MAX_CONNS`. More are closed at once, with a log line. */
  maxConns: number;
  /**
   * Milliseconds a connection may stay without a request in the app (idle, or stuck in
   * a partial record or PARAMS stream) before it is closed (default 120 000: longer
   * than nginx's 60 s upstream keepalive, so the web server normally closes first).
   * `run({ idleTimeout })` sets it too.
   */
  idleTimeout: number;
}

/** The defaults of {@linkcode FastCgiLimits}. */
export const DEFAULT_LIMITS: FastCgiLimits = {
  maxRequestParamsSize: 64 * 1024,
  maxParamCount: 200,
  maxParamsSize: 1 << 20,
  maxRequestsPerConnection: 100,
  maxBufferedBody: 1 << 20,
  outputHighWaterMark: 64 * 1024,
  maxConns: 1024,
  idleTimeout: 120_000,
};
