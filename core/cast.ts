/**
 * How a handler's return value becomes a {@linkcode Reply}: strings (HTML), plain
 * objects (JSON), bytes, blobs, streams, iterables and generators (streamed, pulled as
 * the client reads), a `Response`, an `HTTPResponse` or `HTTPError`; with `res`'s status
 * and headers; HEAD and bodyless statuses handled. `core/reply.ts` then turns the reply
 * into a web `Response`, or an adapter writes it to its socket itself.
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * const app = new Carafe().get("/", () => ({ hello: "world" }));
 * const reply = await app.handle(new Request("http://localhost/"));
 * console.log(reply.status, reply.headers.get("content-type")); // 200 application/json
 * ```
 *
 * @module
 */
import { assertHeaderSafe, describeError, HTTPError, HTTPResponse } from "./errors.ts";
import { resolveLocation } from "./location.ts";
import { TypedReply, type Reply, type ReplyBody } from "./reply.ts";
import { type CarafeRequest, ERROR_SINK, REQUEST_TARGET } from "./request.ts";
import type { CarafeResponse } from "./response.ts";
import type { Settings } from "./settings.ts";
import { isBodyless } from "./status.ts";

/** The type of a string answer. */
export const HTML = "text/html; charset=UTF-8";
const JSON_TYPE = "application/json";
const OCTET = "application/octet-stream";

/** A reply already produced by a mounted Carafe app; merged with the parent's `res`. */
export class MountedReply {
  constructor(readonly reply: Reply) {}
}

/**
 * What is left to send once a reply's status and headers were applied to `res` for the
 * after_request hooks. `complete` bodies come from a mounted app and are not finalized again.
 */
export class Settled {
  constructor(readonly body: ReplyBody, readonly complete: boolean, readonly response?: Response) {}
}

/**
 * A handler's `Response` sent as it is, with `res`'s headers merged into its own (when
 * they can be changed): a rebuilt Response would lose the length the runtime knows for
 * a string or bytes body (it would go out chunked), on some runtimes even its default
 * type. `body` is read only when an adapter asks: on some runtimes reading it changes
 * the Response (a string body's default type becomes application/octet-stream).
 */
export class ResponseReply implements Reply {
  constructor(readonly response: Response) {}
  get status(): number {
    return this.response.status;
  }
  get headers(): Headers {
    return this.response.headers;
  }
  get body(): ReplyBody {
    return this.response.body;
  }
}

/**
 * Sends `response` as it is when it can be: a body to send (not HEAD, not a bodyless
 * status), and headers that take `headers` (those of a `fetch()` answer cannot be
 * changed). `replace`: `headers` is the whole final list (after_request hooks saw and
 * may have changed it), not an addition.
 */
export function passThrough(response: Response, headers: Headers | undefined, replace: boolean, req: CarafeRequest): Reply | undefined {
  if (req.method === "HEAD" || isBodyless(response.status) || response.bodyUsed) return undefined;
  try {
    if (replace && headers !== undefined) {
      const own = response.headers;
      for (const name of [...own.keys()]) own.delete(name);
      for (const [name, value] of headers) own.append(name, value);
    } else {
      mergeInto(response.headers, headers);
    }
  } catch {
    return undefined; // immutable headers: the Response is rebuilt
  }
  return new ResponseReply(response);
}

/** An error whose status and headers are on `res` already; it is rendered after the after_request hooks. */
export class AppliedError {
  constructor(readonly error: HTTPError) {}
}

/** Logs a request's error line to the app's logger and to the adapter's channel for that request. */
export function logFor(req: CarafeRequest, ctx: Settings, message: string): void {
  ctx.log(message);
  const sink = req[ERROR_SINK];
  if (sink === undefined) return;
  try {
    sink(message);
  } catch { /* the channel is gone (the connection closed) */ }
}


// Headers a bodyless answer must not carry (Bottle's lists): a 304 stands for the
// cached entity, so it drops all that describe one; a 204 (and 205) only the body's
// framing, so that an OPTIONS answer keeps its Allow.
const NOT_MODIFIED_STRIPPED = [
  "content-type", "content-length", "content-encoding", "content-language", "content-range", "content-md5",
  "last-modified", "allow", "transfer-encoding",
];
const NO_CONTENT_STRIPPED = ["content-type", "content-length", "transfer-encoding"];

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || Array.isArray(value);
}

/** Turns a handler's return value, with `res`'s status and headers, into a {@linkcode Reply}. */
export function toReply(out: unknown, req: CarafeRequest, res: CarafeResponse, ctx: Settings): Reply | Promise<Reply> {
  if (out instanceof MountedReply) {
    // The mounted app's reply is complete (HEAD and bodyless statuses handled): finalizing
    // it again would, for one, turn a HEAD reply's Content-Length into 0.
    if (res.hasHeaders) mergeInto(out.reply.headers, res.headers);
    return out.reply;
  }
  if (out instanceof Settled) {
    const headers = res.hasHeaders ? res.headers : undefined;
    if (out.complete && !isBodyless(res.status)) return { status: res.status, headers: headers ?? new Headers(), body: out.body };
    const response = out.response;
    if (response === undefined) return finalize(res.status, headers, out.body, undefined, req);
    if (res.status === response.status) {
      const reply = passThrough(response, headers ?? new Headers(), true, req);
      if (reply !== undefined) return reply;
    }
    return finalize(res.status, headers, response.body, undefined, req);
  }
  if (out instanceof HTTPResponse) {
    applyResponse(res, out, req);
    out = out.body;
  }
  const status = res.status;
  const headers = res.hasHeaders ? res.headers : undefined;
  // Strings and plain objects first: they touch no web class (on some runtimes the
  // first use of the Response global loads its implementation, ~20 ms of a CGI request).
  if (typeof out === "string") return finalize(status, headers, out === "" ? null : out, HTML, req);
  if (out === null || out === undefined) return finalize(status, headers, null, undefined, req);
  if (typeof out !== "object") throw new TypeError(`A handler returned a ${typeof out}, which cannot be sent; return a string, an object, bytes or a stream.`);
  if (isPlainObject(out)) return finalize(status, headers, JSON.stringify(out), JSON_TYPE, req, out);
  if (out instanceof Response) {
    return passThrough(out, headers, false, req) ??
      finalize(out.status, mergeInto(new Headers(out.headers), headers), out.body, undefined, req);
  }
  if (out instanceof Uint8Array) return finalize(status, headers, out, OCTET, req);
  if (out instanceof ArrayBuffer) return finalize(status, headers, new Uint8Array(out), OCTET, req);
  if (ArrayBuffer.isView(out)) return finalize(status, headers, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), OCTET, req);
  if (out instanceof Blob) return finalize(status, headers, out, out.type || OCTET, req);
  if (out instanceof ReadableStream) return finalize(status, headers, out, OCTET, req);
  if (Symbol.asyncIterator in out || (Symbol.iterator in out && typeof (out as unknown as Iterator<unknown>).next === "function")) {
    return iterableReply(out as AsyncIterable<unknown> | Iterable<unknown>, req, res, ctx);
  }
  throw new TypeError(
    `A handler returned a ${out.constructor?.name ?? "object"}, which cannot be sent; return a plain object, a string, bytes or a stream.`,
  );
}

/**
 * Bottle's `HTTPResponse.apply`, merging instead of replacing: the status, and the
 * headers over those on `res` (Set-Cookie lines added). A `Location` without a scheme
 * is resolved against the request target, mount prefix included, and sent as an
 * absolute path (core/location.ts): the Host header is not read.
 */
export function applyResponse(res: CarafeResponse, out: HTTPResponse, req: CarafeRequest): void {
  res.status = out.status;
  let location: string | undefined;
  for (const [name, value] of out.headers) {
    if (name === "set-cookie") res.headers.append(name, value);
    else res.headers.set(name, value);
    if (name === "location") location = value;
  }
  if (location !== undefined) res.headers.set("location", resolveLocation(location, req[REQUEST_TARGET]));
}

/**
 * The reply, once its headers are known to be sendable: a control character in a value
 * (set through `res.headers` directly, or on a returned `Response`) throws here, to
 * become a 500, instead of reaching the server — a runtime's server may panic on one
 * and take the whole process down (tests/native_adapters_test.ts shows one that does).
 * A reply with only its content type has nothing to check.
 */
export function sendable(reply: Reply): Reply {
  if (reply instanceof TypedReply && !reply.headersMaterialised) return reply;
  for (const [name, value] of reply.headers) assertHeaderSafe(name, value);
  return reply;
}

/** Copies `from` into `into` (Set-Cookie lines appended; other headers only when absent). */
export function mergeInto(into: Headers, from: Headers | undefined): Headers {
  if (!from || from === into) return into;
  for (const [name, value] of from) {
    if (name === "set-cookie") into.append(name, value);
    else if (!into.has(name)) into.set(name, value);
  }
  return into;
}

const encoder = new TextEncoder();

export function finalize(
  status: number,
  headers: Headers | undefined,
  body: ReplyBody,
  defaultType: string | undefined,
  req: CarafeRequest,
  json?: unknown,
): Reply {
  if (headers === undefined && body !== null && defaultType !== undefined && !isBodyless(status) && req.method !== "HEAD") {
    // Nothing but a content type: let fetch() build the Response from a plain init object.
    return new TypedReply(status, body, defaultType, json);
  }
  headers ??= new Headers();
  if (isBodyless(status)) {
    if (body instanceof ReadableStream) body.cancel().catch(() => {});
    for (const name of status === 304 ? NOT_MODIFIED_STRIPPED : NO_CONTENT_STRIPPED) headers.delete(name);
    return { status, headers, body: null };
  }
  const head = req.method === "HEAD";
  if (body === null) {
    // Nothing is sent, so nothing is declared; but a HEAD handler may state the length GET would send.
    if (!head || !headers.has("content-length")) headers.set("content-length", "0");
  } else if (defaultType && !headers.has("content-type")) {
    headers.set("content-type", defaultType);
  }
  if (head) {
    // HEAD answers with the headers GET would send, Content-Length included, and no body.
    // A stream's length is unknown without reading it, and GET sends it without one too;
    // a Content-Length already set (a returned Response's own) is kept.
    if (typeof body === "string") headers.set("content-length", String(encoder.encode(body).byteLength));
    else if (body instanceof Uint8Array) headers.set("content-length", String(body.byteLength));
    else if (body instanceof Blob) headers.set("content-length", String(body.size));
    else if (body instanceof ReadableStream) body.cancel().catch(() => {});
    return { status, headers, body: null };
  }
  return { status, headers, body };
}

/**
 * Streams a (async) iterable. As in Bottle, the first chunk is produced before the
 * status is committed: a generator that fails at once, or yields something that cannot
 * be sent, gets a proper error answer instead of a 200 with a broken body, and the
 * status and headers it sets before its first chunk are sent.
 */
export async function iterableReply(
  source: AsyncIterable<unknown> | Iterable<unknown>,
  req: CarafeRequest,
  res: CarafeResponse,
  ctx: Settings,
): Promise<Reply> {
  const iterator = Symbol.asyncIterator in source
    ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
    : (source as Iterable<unknown>)[Symbol.iterator]() as unknown as AsyncIterator<unknown>;
  let step: IteratorResult<unknown>;
  let first: Uint8Array | undefined;
  try {
    step = await iterator.next();
    // As in Bottle, an HTTPResponse (or HTTPError) as the first item is the answer.
    if (!step.done && step.value instanceof HTTPResponse) throw step.value;
    if (!step.done) first = toChunk(step.value);
  } catch (err) {
    closeIterator(iterator);
    if (err instanceof HTTPResponse && !(err instanceof HTTPError)) return toReply(err, req, res, ctx);
    throw err;
  }
  const body = step.done ? null : iterableToStream(iterator, first, req, ctx);
  return finalize(res.status, res.hasHeaders ? res.headers : undefined, body, HTML, req);
}

/** A pull-based stream: the next chunk is produced only when the client is ready for it. */
export function iterableToStream(
  iterator: AsyncIterator<unknown>,
  first: Uint8Array | undefined,
  req: CarafeRequest,
  ctx: Settings,
): ReadableStream<Uint8Array> {
  // Set when the reader cancels (the client went away) while a chunk is being made:
  // the stream is closed then, and closing, erroring or enqueueing would throw.
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (first !== undefined) controller.enqueue(first);
    },
    async pull(controller) {
      let chunk: Uint8Array | undefined;
      try {
        const { done, value } = await iterator.next();
        if (cancelled) return;
        if (done) return controller.close();
        chunk = toChunk(value);
      } catch (err) {
        if (cancelled) return;
        // The status is sent: too late for an error page. Log, and abort the stream so
        // that the client sees a failed response rather than a short one that looks whole.
        logFor(req, ctx, `${req.method} ${req.fullpath}: error while streaming the response: ${describeError(err)}`);
        controller.error(err);
        closeIterator(iterator);
        return;
      }
      if (chunk !== undefined) controller.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
      // Let the generator run its finally blocks (once the chunk in progress is made).
      closeIterator(iterator);
    },
  }, { highWaterMark: 0 });
}

/** Releases what an outcome holds when it will not be sent: a stream body is cancelled, a generator closed. */
export function discard(out: unknown): void {
  const body = out instanceof Settled ? out.response?.body ?? out.body : out instanceof HTTPResponse ? out.body : out;
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
  else if (body !== null && typeof body === "object" && typeof (body as AsyncIterator<unknown>).return === "function") {
    closeIterator(body as AsyncIterator<unknown>);
  }
}

/** Lets a generator that will not be read any further run its finally blocks. */
export function closeIterator(iterator: AsyncIterator<unknown>): void {
  Promise.resolve().then(() => iterator.return?.()).catch(() => {});
}

/** A streamed value as bytes; `undefined` when there is nothing to send. */
export function toChunk(value: unknown): Uint8Array | undefined {
  if (typeof value === "string") return value === "" ? undefined : encoder.encode(value);
  if (value instanceof Uint8Array) return value.byteLength === 0 ? undefined : value;
  if (value === null || value === undefined) return undefined;
  if (value instanceof ArrayBuffer) return value.byteLength === 0 ? undefined : new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return value.byteLength === 0 ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  const kind = typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value;
  throw new TypeError(`A streamed chunk must be a string or bytes (Uint8Array, ArrayBuffer or another typed array), got ${kind}.`);
}
