/**
 * The framework's answer before it becomes a web `Response`.
 *
 * `app.fetch()` turns a {@linkcode Reply} into a `Response`. Adapters that write to a
 * socket themselves (node:http, FastCGI, CGI) can call `app.handle()` instead and
 * write the reply directly, skipping the `Response` allocation: same behaviour,
 * less work per request.
 *
 * @example
 * ```ts
 * import { replyToResponse, type Reply } from "./reply.ts";
 * const reply: Reply = { status: 200, headers: new Headers({ "content-type": "text/plain" }), body: "hi" };
 * const response = replyToResponse(reply);
 * ```
 *
 * @module
 */

/** A body Carafe may hand to an adapter. Strings are UTF-8. */
export type ReplyBody = string | Uint8Array | ReadableStream<Uint8Array> | Blob | null;

/** Status, headers and body of an answer; `body` is `null` for an empty one. */
export interface Reply {
  /** HTTP status code. */
  status: number;
  /** Response headers, `Set-Cookie` lines included. `Content-Length` is set for string/bytes bodies. */
  headers: Headers;
  /** The entity body. */
  body: ReplyBody;
}

/**
 * Builds a web `Response` from a reply.
 *
 * @example
 * ```ts
 * import { replyToResponse } from "./reply.ts";
 * const res = replyToResponse({ status: 204, headers: new Headers(), body: null });
 * ```
 */
export function replyToResponse(reply: Reply): Response {
  return new Response(reply.body as BodyInit | null, { status: reply.status, headers: reply.headers });
}
