/**
 * A complete FastCGI 1.0 responder: `run({ server: "fastcgi" })`.
 *
 * How FastCGI works, in the order this folder implements it (`records.ts` for 1 and
 * the codecs, `params.ts` for name-value pairs, `connection.ts` for 2–7 with `body.ts`
 * for a request's body and its share of the flow control, `limits.ts`,
 * `access_log.ts`, `engine.ts` and `server.ts` for 8):
 *
 * 1. **Records.** Everything on a connection is a record: an 8-byte header
 *    `version(1) type requestId(2) contentLength(2) paddingLength reserved`, then
 *    `contentLength` (0–65535) bytes of content and `paddingLength` bytes to skip.
 *    TCP delivers them split or packed in any way, so {@linkcode RecordParser} is a
 *    streaming parser; a version other than 1 closes the connection.
 * 2. **A request** is `BEGIN_REQUEST(id, role, flags)`, then a PARAMS stream (CGI
 *    meta-variables as name-value pairs with 1- or 4-byte lengths, ended by an empty
 *    PARAMS record), then a STDIN stream (the body, ended by an empty STDIN record).
 *    We answer as soon as PARAMS ends and hand STDIN to `request.body` as it comes:
 *    exactly `CONTENT_LENGTH` bytes (the excess is ignored; fewer fail the body).
 * 3. **The answer** is a STDOUT stream: the CGI header block (headers, `Status:` line,
 *    blank line — see `gateway.ts`) then the body, in records of at most 65535 bytes,
 *    an empty STDOUT record, and `END_REQUEST(appStatus, protocolStatus)`. Each record
 *    goes to the socket in one write, so records of concurrent requests never
 *    interleave mid-record.
 * 4. **Multiplexing.** Several request ids may be active on one connection at once
 *    (HAProxy does this), up to `maxRequestsPerConnection`; one more is refused with
 *    `END_REQUEST(FCGI_OVERLOADED)`. Records for inactive ids are ignored (nginx keeps
 *    sending STDIN after an early answer).
 * 5. **Connection lifetime.** `FCGI_KEEP_CONN` in BEGIN_REQUEST: when 0 we close after
 *    END_REQUEST; when 1 the web server owns the connection and we never close it
 *    (but for the idle timeout). EOF or `ABORT_REQUEST` before the end of STDIN aborts
 *    `request.signal` and fails the body reader; ABORT_REQUEST is answered with
 *    END_REQUEST at once.
 * 6. **Management records** (request id 0): `GET_VALUES` is answered with
 *    `FCGI_MAX_CONNS`, `FCGI_MAX_REQS` (per connection), `FCGI_MPXS_CONNS`; any other
 *    type gets `UNKNOWN_TYPE`. Roles: RESPONDER and AUTHORIZER (answered right after
 *    PARAMS, since Apache sends no STDIN to authorizers); FILTER and others get
 *    `END_REQUEST(UNKNOWN_ROLE)`.
 * 7. **Flow control.** FastCGI has none of its own: a connection is simply not read
 *    while its output waits for the web server (over `outputHighWaterMark`) or while
 *    more request body is buffered than the apps have read (over `maxBufferedBody`, all
 *    requests of the connection together). Streamed answers wait for the output to
 *    drain. Memory per connection stays bounded whatever the peer does.
 * 8. **Listeners.** TCP (`host`/`port`), a Unix socket (`socket`, `socketMode`), or
 *    the listening socket a web server passes as fd 0 (spawn-fcgi, lighttpd
 *    `bin-path`, `cgi-fcgi -start`). The socket layer is `shims/socket.ts`: Bun's
 *    native sockets where possible, `node:net` otherwise (and for fd 0).
 *
 * A request whose PARAMS are too large or too many ({@linkcode FastCgiLimits.maxRequestParamsSize},
 * {@linkcode FastCgiLimits.maxParamCount}) is answered `431`, one whose URI is longer
 * than the HTTP servers accept (8 KiB) `414`, without the app; the connection lives on.
 * A hostile stream (bad version, wrong BEGIN_REQUEST size, more PARAMS than
 * {@linkcode FastCgiLimits.maxParamsSize} on a connection, a BEGIN_REQUEST for an
 * active id) closes that connection with a log line; so does a connection with no
 * request in the app for `idleTimeout`, and one beyond `maxConns`. Other connections
 * are unaffected. Unless `quiet`, every answered request gets a Common Log Format
 * access line, as on the HTTP servers.
 *
 * @example
 * ```ts
 * import { fastcgiAdapter } from "./mod.ts";
 * const server = await fastcgiAdapter.serve({
 *   app: { fetch: () => new Response("hello") },
 *   host: "127.0.0.1", port: 9000, quiet: true,
 *   maxBodySize: Infinity, shutdownTimeout: 5000, log: console.error,
 * });
 * // nginx: location / { include fastcgi_params; fastcgi_pass 127.0.0.1:9000; }
 * await server.close();
 * ```
 *
 * @module
 */
export { createFastCgiEngine, FastCgiEngine, type FastCgiEngineOptions, type FastCgiServeOptions } from "./engine.ts";
export { DEFAULT_LIMITS, type FastCgiLimits } from "./limits.ts";
export { ParamBlock } from "./params.ts";
export {
  decodeParams,
  encodeParams,
  encodeRecord,
  FastCgiProtocolError,
  type FastCgiRecord,
  FCGI,
  RecordParser,
} from "./records.ts";
export { fastcgiAdapter, isFastCgiListener, serveFastCgi } from "./server.ts";
export type { Adapter, ServeOptions, Server, TlsOptions, TrustProxy } from "../adapter.ts";
export type { StreamHandlers, StreamSocket } from "../../shims/socket.ts";
