/**
 * HTTP status reason phrases, for `Status:` lines and error pages.
 *
 * @example
 * ```ts
 * import { statusText } from "./status.ts";
 * statusText(404); // "Not Found"
 * ```
 *
 * @module
 */

const REASONS: Record<number, string> = {
  100: "Continue", 101: "Switching Protocols", 103: "Early Hints",
  200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
  205: "Reset Content", 206: "Partial Content", 207: "Multi-Status",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
  409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
  414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed",
  418: "I'm a teapot", 421: "Misdirected Request", 422: "Unprocessable Content", 425: "Too Early",
  426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout", 505: "HTTP Version Not Supported", 507: "Insufficient Storage",
};

/**
 * The reason phrase of a status code; `"Unknown"` for codes without one.
 *
 * @example
 * ```ts
 * import { statusText } from "./status.ts";
 * statusText(200); // "OK"
 * statusText(599); // "Unknown"
 * ```
 */
export function statusText(status: number): string {
  return REASONS[status] ?? "Unknown";
}

/**
 * Whether a response with this status carries no body (1xx, 204, 205, 304). A web
 * `Response` with one of these statuses and a body cannot even be constructed.
 *
 * @example
 * ```ts
 * import { isBodyless } from "./status.ts";
 * isBodyless(204); // true
 * ```
 */
export function isBodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 205 || status === 304;
}

/**
 * Returns `status` when it can be the status of an answer: an integer from 200 to 599,
 * the range a web `Response` accepts. Throws a `RangeError` saying so otherwise; 1xx
 * statuses are interim responses that servers send themselves (`100 Continue`) or that
 * need a protocol switch (`101`), never the answer a handler gives.
 *
 * @example
 * ```ts
 * import { checkStatus } from "./status.ts";
 * checkStatus(404); // 404
 * ```
 */
export function checkStatus(status: number): number {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(
      `Invalid HTTP status ${status}: use an integer from 200 to 599` +
        (status >= 100 && status < 200 ? " (1xx are interim responses and cannot be the answer)." : "."),
    );
  }
  return status;
}
