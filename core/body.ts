/**
 * Reading request bodies within `maxBodySize`.
 *
 * The declared `Content-Length` is checked before a byte is read, and the bytes that
 * actually arrive are counted too (chunked bodies and gateways without a length), so
 * neither a lying header nor an endless stream can exhaust memory.
 *
 * @example
 * ```ts
 * import { readLimited } from "./body.ts";
 * const bytes = await readLimited(new Request("http://x/", { method: "POST", body: "hi" }), 1024);
 * ```
 *
 * @module
 */
import { HTTPError } from "./errors.ts";

function tooLarge(limit: number): HTTPError {
  return new HTTPError(413, `Request body is larger than the limit of ${limit} bytes.`);
}

/** The parts of a `Request` body readers use. */
export interface BodySource {
  /** The request headers (for `Content-Length`). */
  readonly headers: Headers;
  /** The body stream, or null. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body at once (a web `Request` has it; used when the length is declared). */
  arrayBuffer?(): Promise<ArrayBuffer>;
}

/**
 * Throws a 413 `HTTPError` when the declared `Content-Length` exceeds `limit`.
 *
 * @example
 * ```ts
 * import { checkDeclaredLength } from "./body.ts";
 * checkDeclaredLength(new Headers({ "content-length": "10" }), 100);
 * ```
 */
export function checkDeclaredLength(headers: Headers, limit: number): void {
  if (limit === Infinity) return;
  const declared = headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
}

/**
 * Reads the whole body into one `Uint8Array`, failing with 413 past `limit` bytes.
 *
 * @example
 * ```ts
 * import { readLimited } from "./body.ts";
 * const req = new Request("http://x/", { method: "PUT", body: "abc" });
 * (await readLimited(req, 10)).length; // 3
 * ```
 */
export async function readLimited(source: BodySource, limit: number): Promise<Uint8Array> {
  checkDeclaredLength(source.headers, limit);
  // With a declared length the server frames the body (it cannot deliver more than
  // declared), so the runtime's native whole-body read is safe and several times faster
  // than pulling chunks through a reader.
  if (source.arrayBuffer && source.headers.has("content-length")) {
    let buffer: ArrayBuffer;
    try {
      buffer = await source.arrayBuffer();
    } catch (err) {
      throw new HTTPError(400, "The request body could not be read completely.", { cause: err });
    }
    // No server frames a Request built in code and handed to app.fetch(): its header can
    // lie. The bytes are in memory by now, but the handler must still not get them.
    if (buffer.byteLength > limit) throw tooLarge(limit);
    return new Uint8Array(buffer);
  }
  const stream = source.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        reader.cancel().catch(() => {});
        throw tooLarge(limit);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof HTTPError) throw err;
    throw new HTTPError(400, "The request body could not be read completely.", { cause: err });
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Wraps a body stream so that reading past `limit` bytes errors it with a 413 `HTTPError`.
 *
 * @example
 * ```ts
 * import { limitStream } from "./body.ts";
 * const limited = limitStream(new Response("hello").body!, 3);
 * ```
 */
export function limitStream(stream: ReadableStream<Uint8Array>, limit: number): ReadableStream<Uint8Array> {
  if (limit === Infinity) return stream;
  let total = 0;
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        total += value.byteLength;
        if (total > limit) {
          reader.cancel().catch(() => {});
          return controller.error(tooLarge(limit));
        }
        controller.enqueue(value);
      } catch (err) {
        controller.error(err);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
