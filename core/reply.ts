/**
 * The framework's answer before it becomes a web `Response`.
 *
 * `app.fetch()` turns a {@linkcode Reply} into a `Response`. Adapters that write to a
 * socket themselves (the node adapter, FastCGI, CGI) can call `app.handle()` instead and
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
  /**
   * The handler's own `Response`, to be sent as it is (the runtime then frames its body
   * with the `Content-Length` it knows); `headers` is that Response's own header list.
   */
  response?: Response;
}

/**
 * The key of a handler's return value that builds its answer from the request when the
 * app concludes it (`staticFile()` does: it needs the conditional and range headers, but
 * a handler calls it without the request). A key rather than a class the app checks for,
 * so that an app that never serves files does not carry the file code (edge bundles).
 *
 * @example
 * ```ts
 * import { ANSWER_FOR, type AnswersForRequest } from "./reply.ts";
 * const later: AnswersForRequest = { [ANSWER_FOR]: (req) => Promise.resolve(`Answered a ${req.method}`) };
 * ```
 */
export const ANSWER_FOR: unique symbol = Symbol("carafe.answerFor");

/** A return value answered by {@linkcode ANSWER_FOR}: what its promise gives is concluded like a handler's return value. */
export interface AnswersForRequest {
  /** Builds the answer for the request from its method and headers. */
  [ANSWER_FOR](req: { readonly method: string; readonly headers: Headers }): Promise<unknown>;
}

/**
 * A reply whose only header is its content type. `fetch()` turns it into a `Response`
 * with a plain, shared init object, which is much cheaper than a `Headers` per
 * Response; anyone reading `headers` gets a real `Headers` (made on first access).
 *
 * @example
 * ```ts
 * import { TypedReply } from "./reply.ts";
 * const reply = new TypedReply(200, "<p>hi</p>", "text/html; charset=UTF-8");
 * reply.headers.get("content-type"); // "text/html; charset=UTF-8"
 * ```
 */
export class TypedReply implements Reply {
  /** HTTP status code. */
  status: number;
  /** The entity body. */
  body: ReplyBody;
  /** The `Content-Type` header. */
  readonly contentType: string;
  #headers: Headers | undefined;

  /**
   * Makes a reply with one header.
   *
   * @param status HTTP status code
   * @param body the entity body
   * @param contentType the `Content-Type` header
   * @param json the value `body` is the JSON text of, if it is one
   */
  constructor(status: number, body: ReplyBody, contentType: string, json?: unknown) {
    this.status = status;
    this.body = body;
    this.contentType = contentType;
    this.json = json;
  }

  /**
   * The value whose JSON `body` is (a handler returned a plain object or array): a small
   * one becomes its `Response` through `Response.json()`, which a runtime can build much
   * faster than a `Response` with a header (up to ~0.4 µs per request, BENCHMARKS.md).
   */
  readonly json: unknown;

  /** The headers, as a `Headers` (created on first access). */
  get headers(): Headers {
    return (this.#headers ??= new Headers({ "content-type": this.contentType }));
  }

  set headers(headers: Headers) {
    this.#headers = headers;
  }

  /** Whether `headers` was ever materialised (and so may have been changed). */
  get headersMaterialised(): boolean {
    return this.#headers !== undefined;
  }
}

const JSON_TYPE = "application/json";
/** Longest JSON text (in UTF-16 units) that `replyToResponse` re-serialises with `Response.json()`. */
const JSON_AGAIN_MAX = 1024;
/** Whether `Response.json()` types its answer exactly `application/json` (found on first use, not at load: on some runtimes the first touch of `Response` loads its implementation). */
let nativeJsonSameType: boolean | undefined;

// One shared init per content type. Its headers are a `Headers` object, not a plain
// one: `new Response` copies them without validating each value again, measured 100 ns
// of the ~400 ns a one-header Response costs. Sharing is safe because the
// Response copies the init's headers into its own list.
const initCache = new Map<string, { headers: Headers }>();

function typedInit(status: number, contentType: string): ResponseInit {
  let init = initCache.get(contentType);
  if (!init) {
    init = { headers: new Headers({ "content-type": contentType }) };
    if (initCache.size < 64) initCache.set(contentType, init);
  }
  return status === 200 ? init : { status, headers: init.headers };
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
  if (reply instanceof TypedReply && !reply.headersMaterialised) {
    const { body, json, status } = reply;
    // Serialising a small value again costs less than the header Response.json() saves;
    // a large one is sent as the text it is already. (`json` is set for JSON bodies only.)
    if (json !== undefined && typeof body === "string" && body.length <= JSON_AGAIN_MAX) {
      // (Only where Response.json() sends that very type: some add ";charset=utf-8".)
      if ((nativeJsonSameType ??= Response.json(0).headers.get("content-type") === JSON_TYPE)) {
        return status === 200 ? Response.json(json) : Response.json(json, { status });
      }
    }
    return new Response(body as BodyInit | null, typedInit(status, reply.contentType));
  }
  if (reply.response !== undefined) return reply.response;
  return new Response(reply.body as BodyInit | null, { status: reply.status, headers: reply.headers });
}

/**
 * Changes a finished reply: what {@linkcode transformReply} is given. Gets the reply
 * the route's outcome became (after the after_request hooks, error pages included) and
 * the request; returns the reply to send (the same one to leave it alone).
 */
export type ReplyTransformer<Req = unknown> = (reply: Reply, req: Req) => Reply | Promise<Reply>;

/**
 * A handler's outcome with a function to apply to the reply it becomes. Made by
 * {@linkcode transformReply}; the app recognises it when a handler (or a plugin's
 * wrapper) returns it.
 */
export class ReplyTransform {
  /**
   * Use {@linkcode transformReply} instead.
   *
   * @param outcome what the handler returned (a value, a promise, a StaticFile…)
   * @param transformer applied to the reply the outcome becomes
   */
  constructor(readonly outcome: unknown, readonly transformer: ReplyTransformer) {}
}

/**
 * For plugins that work on the finished answer rather than on the handler's return
 * value (compression, for one): wrap the outcome, and `transformer` gets the
 * {@linkcode Reply} it became — whatever the handler returned (string, object, bytes,
 * stream, Response, a StaticFile), with status and headers final. A rejected promise
 * as the outcome is rendered as the error it is, and that error page is transformed.
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * import { transformReply } from "./reply.ts";
 * const app = new Carafe();
 * app.install({
 *   name: "stamp",
 *   apply: (handler) => (req, res) =>
 *     transformReply(handler(req, res), (reply) => {
 *       reply.headers.set("x-final-status", String(reply.status));
 *       return reply;
 *     }),
 * });
 * ```
 */
export function transformReply<Req = unknown>(outcome: unknown, transformer: ReplyTransformer<Req>): ReplyTransform {
  return new ReplyTransform(outcome, transformer as ReplyTransformer);
}
