/**
 * What a FastCGI request's access line shows, taken from its params (the HTTP servers
 * write the same Common Log Format line from the request itself).
 *
 * @example
 * ```ts
 * import { requestLine } from "./access_log.ts";
 * const line = requestLine(new Map([["REQUEST_METHOD", "GET"], ["REQUEST_URI", "/x"]]), "127.0.0.1");
 * console.log(line.method, line.target); // GET /x
 * ```
 *
 * @module
 */
import type { GatewayParams } from "../gateway.ts";

/** The request as an access line shows it, taken from its params. */
export interface RequestLine {
  remote: string | undefined;
  method: string;
  target: string;
  version: string;
  /** When the PARAMS ended (the line is stamped with it). */
  arrived: number;
}

/**
 * The request target as the client sent it: `REQUEST_URI` (every web server sends
 * it), else rebuilt from the CGI variables; `undefined` when there is none of them.
 */
export function targetOf(params: GatewayParams): string | undefined {
  const uri = params.get("REQUEST_URI");
  if (uri !== undefined) return uri;
  const path = (params.get("SCRIPT_NAME") ?? "") + (params.get("PATH_INFO") ?? "");
  const query = params.get("QUERY_STRING");
  return path || query ? `${path || "/"}${query ? "?" + query : ""}` : undefined;
}

/** The access-line fields of a request (`-` for what its params do not say). */
export function requestLine(params: GatewayParams, peer: string | undefined): RequestLine {
  const protocol = params.get("SERVER_PROTOCOL");
  return {
    remote: params.get("REMOTE_ADDR") || peer,
    method: params.get("REQUEST_METHOD") || "-",
    target: targetOf(params) ?? "-",
    version: protocol?.startsWith("HTTP/") ? protocol.slice(5) : "1.1",
    arrived: Date.now(),
  };
}
