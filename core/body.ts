/**
 * Reading request bodies within limits: `maxBodySize` for any body, the smaller
 * `maxFormSize` and `maxJsonSize` for the bodies parsed in memory, `maxJsonDepth` for
 * JSON nesting (see {@linkcode BodyLimits}).
 *
 * The declared `Content-Length` is checked before a byte is read; without one (a
 * chunked body) the bytes are counted as they arrive, so an endless stream cannot
 * exhaust memory. With one, the whole body is read by the runtime at once: every
 * Carafe adapter frames a body by its declared length, so it cannot be longer. Only a
 * `Request` built in code and handed to `app.fetch()` can lie; `bytes()` and `text()`
 * then still refuse a body over the limit once it is read, `json()` of a short
 * declared body (the runtime's parser) sees neither its size nor its depth.
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

/**
 * How much of a request body the app reads and parses. Each is a setting of the app
 * (`new Carafe({ maxFormFields: 50_000 })`, `run({ maxJsonSize })`, the command line's
 * `-C max_json_size=…`); {@linkcode DEFAULT_BODY_LIMITS} has the defaults.
 *
 * @example
 * ```ts
 * import type { BodyLimits } from "./body.ts";
 * const strict: Partial<BodyLimits> = { maxFormFields: 100, maxJsonDepth: 32 };
 * ```
 */
export interface BodyLimits {
  /** Largest body in bytes, for every reader (`body`, `bytes()`, `text()`, multipart). */
  maxBodySize: number;
  /**
   * Largest `application/x-www-form-urlencoded` body in bytes, and the most bytes a
   * `multipart/form-data` body's text fields (not its files) may hold together.
   */
  maxFormSize: number;
  /** Most fields in a form: urlencoded pairs, or multipart parts (files included). */
  maxFormFields: number;
  /** Largest form field name or value in bytes as sent (percent-escapes count as sent). */
  maxFormFieldSize: number;
  /** Largest JSON body in bytes. */
  maxJsonSize: number;
  /** Deepest nesting of arrays and objects in a JSON body. */
  maxJsonDepth: number;
}

/**
 * The default limits. None should stop a real form or API request: 10,000 fields is
 * several times the largest admin forms (Django stops at 1,000, PHP's `max_input_vars`
 * at 1,000); 256 KiB a field holds a long article even percent-encoded (a non-ASCII
 * character takes 6 to 9 bytes); 1 MiB of form or JSON is 10 times Bottle's
 * `MEMFILE_MAX` and Express's JSON limit, the same as Fastify's; 1,000 levels is
 * Jackson's default, and deeper JSON breaks `JSON.stringify` on some runtimes. They
 * bound the work one request can make: parsing 1 MiB of JSON takes 10–40 ms.
 *
 * @example
 * ```ts
 * import { DEFAULT_BODY_LIMITS } from "./body.ts";
 * DEFAULT_BODY_LIMITS.maxFormFields; // 10000
 * ```
 */
export const DEFAULT_BODY_LIMITS: Readonly<BodyLimits> = Object.freeze({
  maxBodySize: 100 * 1024 * 1024,
  maxFormSize: 1024 * 1024,
  maxFormFields: 10_000,
  maxFormFieldSize: 256 * 1024,
  maxJsonSize: 1024 * 1024,
  maxJsonDepth: 1000,
});

/** The names of the {@linkcode BodyLimits}, in a stable order. */
export const BODY_LIMIT_NAMES: readonly (keyof BodyLimits)[] = Object.freeze(
  Object.keys(DEFAULT_BODY_LIMITS) as (keyof BodyLimits)[],
);

/**
 * Throws a `RangeError` naming the setting when a limit in `limits` is not a number
 * ≥ 0 (`Infinity` disables a limit; 0 refuses every body, field or nesting).
 *
 * @example
 * ```ts
 * import { checkBodyLimits } from "./body.ts";
 * checkBodyLimits({ maxFormFields: 500 }, "new Carafe()"); // fine
 * checkBodyLimits({ maxFormFields: -1 }, "new Carafe()"); // RangeError
 * ```
 */
export function checkBodyLimits(limits: Partial<Record<keyof BodyLimits, unknown>>, where: string): void {
  for (const name of BODY_LIMIT_NAMES) {
    const value = limits[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !(value >= 0)) {
      throw new RangeError(`${where}: ${name} must be a number ≥ 0 (Infinity disables it), got ${String(value)}`);
    }
  }
}

/**
 * A byte limit on a body and the 413 for a body over it, which says which setting
 * refused it.
 *
 * @example
 * ```ts
 * import { byteLimit } from "./body.ts";
 * const limit = byteLimit({ maxBodySize: 10_000, maxFormSize: 1000 }, "maxFormSize", "The form body");
 * limit.bytes; // 1000
 * ```
 */
export interface ByteLimit {
  /** The most bytes accepted. */
  readonly bytes: number;
  /** The 413 for a body over `bytes`. */
  tooLarge(): HTTPError;
}

/**
 * The byte limit for a body parsed in memory: the smaller of `maxBodySize` and the
 * parser's own setting `name`, with a 413 that names the one that applies.
 *
 * @example
 * ```ts
 * import { byteLimit } from "./body.ts";
 * byteLimit({ maxBodySize: 100, maxJsonSize: 1000 }, "maxJsonSize", "The JSON body").bytes; // 100
 * ```
 */
export function byteLimit(
  limits: Pick<BodyLimits, "maxBodySize"> & Partial<BodyLimits>,
  name: "maxFormSize" | "maxJsonSize",
  what: string,
): ByteLimit {
  const own = limits[name] ?? Infinity;
  if (limits.maxBodySize <= own) return plainLimit(limits.maxBodySize);
  return { bytes: own, tooLarge: () => overLimit(`${what} is larger than`, own, "bytes", name) };
}

/**
 * The 413 for input over a limit: what was too large, the limit and the setting that
 * sets it, so that the client knows what to send and the app's author what to raise.
 *
 * @example
 * ```ts
 * import { overLimit } from "./body.ts";
 * overLimit("The form has more fields than", 10_000, "fields", "maxFormFields").message;
 * // "The form has more fields than the limit of 10000 fields (maxFormFields)."
 * ```
 */
export function overLimit(what: string, limit: number, unit: string, setting: string): HTTPError {
  return new HTTPError(413, `${what} the limit of ${limit} ${unit} (${setting}).`);
}

function tooLarge(limit: number): HTTPError {
  return new HTTPError(413, `Request body is larger than the limit of ${limit} bytes.`);
}

/** `maxBodySize` as a {@linkcode ByteLimit}; its 413 is the one the adapters send too. */
function plainLimit(bytes: number): ByteLimit {
  return { bytes, tooLarge: () => tooLarge(bytes) };
}

function asLimit(limit: number | ByteLimit): ByteLimit {
  return typeof limit === "number" ? plainLimit(limit) : limit;
}

/** The parts of a `Request` body readers use. */
export interface BodySource {
  /** The request headers (for `Content-Length`). */
  readonly headers: Headers;
  /** The body stream, or null. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body at once (a web `Request` has it; used when the length is declared). */
  arrayBuffer?(): Promise<ArrayBuffer>;
  /** The whole body decoded as UTF-8 (a web `Request` has it; used when the length is declared). */
  text?(): Promise<string>;
  /** The whole body parsed as JSON (a web `Request` has it; used when the length is declared). */
  json?(): Promise<unknown>;
  /**
   * The declared `Content-Length`, `-1` when there is none (chunked): adapters' lazy
   * requests know it without building a `Headers` object.
   */
  readonly declaredLength?: number;
}

/**
 * The declared `Content-Length` of a request, or `-1` when it has none.
 *
 * @example
 * ```ts
 * import { declaredLength } from "./body.ts";
 * declaredLength(new Request("http://x/", { method: "POST", body: "hi", headers: { "content-length": "2" } })); // 2
 * ```
 */
export function declaredLength(source: BodySource): number {
  const known = source.declaredLength;
  if (typeof known === "number") return known;
  const header = source.headers.get("content-length");
  const n = header === null ? NaN : Number(header);
  return Number.isInteger(n) && n >= 0 ? n : -1;
}

/**
 * Throws a 413 `HTTPError` when the declared `Content-Length` exceeds `limit` (bytes,
 * or a {@linkcode ByteLimit} whose 413 names its setting).
 *
 * @example
 * ```ts
 * import { checkDeclaredLength } from "./body.ts";
 * checkDeclaredLength(new Request("http://x/", { method: "POST", body: "0123456789" }), 100);
 * ```
 */
export function checkDeclaredLength(source: BodySource, limit: number | ByteLimit): void {
  const { bytes, tooLarge } = asLimit(limit);
  if (bytes !== Infinity && declaredLength(source) > bytes) throw tooLarge();
}

function unreadable(err: unknown): HTTPError {
  return new HTTPError(400, "The request body could not be read completely.", { cause: err });
}

/**
 * Reads the whole body into one `Uint8Array`, failing with 413 past `limit` bytes (or
 * past a {@linkcode ByteLimit}, with its 413). Reading stops at the limit.
 *
 * @example
 * ```ts
 * import { readLimited } from "./body.ts";
 * const req = new Request("http://x/", { method: "PUT", body: "abc" });
 * (await readLimited(req, 10)).length; // 3
 * ```
 */
export async function readLimited(source: BodySource, limit: number | ByteLimit): Promise<Uint8Array> {
  const { bytes: most, tooLarge } = asLimit(limit);
  const declared = declaredLength(source);
  if (declared > most) throw tooLarge();
  // With a declared length the server frames the body (it cannot deliver more than
  // declared), so the runtime's native whole-body read is safe and several times faster
  // than pulling chunks through a reader.
  if (declared >= 0 && source.arrayBuffer) {
    let buffer: ArrayBuffer;
    try {
      buffer = await source.arrayBuffer();
    } catch (err) {
      throw unreadable(err);
    }
    // No server frames a Request built in code and handed to app.fetch(): its header can
    // lie. The bytes are in memory by now, but the handler must still not get them.
    if (buffer.byteLength > most) throw tooLarge();
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
      if (total > most) {
        reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof HTTPError) throw err;
    throw unreadable(err);
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

const utf8 = new TextDecoder();

/**
 * Reads the whole body as UTF-8 text (malformed bytes become U+FFFD, as `Request.text()`
 * does), failing with 413 past `limit` (as {@linkcode readLimited}). With a declared length it is the
 * runtime's native `text()`: no intermediate buffer, no decoder in JavaScript.
 *
 * @example
 * ```ts
 * import { readTextLimited } from "./body.ts";
 * await readTextLimited(new Request("http://x/", { method: "PUT", body: "abc" }), 10); // "abc"
 * ```
 */
export function readTextLimited(source: BodySource, limit: number | ByteLimit): Promise<string> {
  const { bytes: most, tooLarge } = asLimit(limit);
  const declared = declaredLength(source);
  if (declared > most) return Promise.reject(tooLarge());
  if (declared < 0 || !source.text) return readLimited(source, limit).then((bytes) => utf8.decode(bytes));
  return source.text().then((text) => {
    // The same after-the-fact check as readLimited's, for a lying header: a string has
    // at most one UTF-16 unit per byte and 3 bytes per unit, so only a long one is counted.
    if (text.length > most || (text.length * 3 > most && new TextEncoder().encode(text).byteLength > most)) {
      throw tooLarge();
    }
    return text;
  }, (err) => {
    throw unreadable(err);
  });
}

/**
 * Parses a request body's text as JSON: `undefined` for an empty body, a 400
 * `HTTPError` for anything that is not JSON (a blank body included, as the runtimes'
 * native `json()` has it), a 413 for arrays and objects nested deeper than `maxDepth`
 * (checked before parsing).
 *
 * @example
 * ```ts
 * import { parseJsonBody } from "./body.ts";
 * parseJsonBody('{"a":1}'); // { a: 1 }
 * parseJsonBody("[[[]]]", 2); // throws a 413 HTTPError
 * ```
 */
export function parseJsonBody(text: string, maxDepth: number = Infinity): unknown {
  if (text === "") return undefined;
  if (nestedDeeperThan(text, maxDepth)) {
    throw overLimit("The JSON body is nested deeper than", maxDepth, "levels", "maxJsonDepth");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    // A SyntaxError, or a RangeError where a runtime's parser recurses: either way the
    // client sent what cannot be read, never a server error.
    throw invalidJson(err);
  }
}

/**
 * Whether some array or object in `text` opens more than `max` levels deep. Brackets
 * inside strings do not count; the scan stops at the first level too deep. JSON text
 * nested `max + 1` deep has at least `2 × (max + 1)` characters, so a shorter text is not
 * scanned (if it is not JSON, the parser refuses it).
 */
function nestedDeeperThan(text: string, max: number): boolean {
  const n = text.length;
  if (n < 2 * (max + 1)) return false;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = closingQuote(text, i);
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;

/** The index of the quote that closes the string opened at `open` (not one escaped by a backslash), or the end. */
function closingQuote(text: string, open: number): number {
  for (let at = text.indexOf('"', open + 1); at >= 0; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return text.length;
}

function invalidJson(err: unknown): HTTPError {
  return new HTTPError(400, "Invalid JSON in the request body.", { cause: err });
}

/**
 * Reads the whole body and parses it as JSON (see {@linkcode parseJsonBody}), failing
 * with 413 past `limit` (as {@linkcode readLimited}) or when nested deeper than
 * `maxDepth`. A declared length too short to nest that deep is parsed by the runtime's
 * native `json()` (measured up to 1 µs per request faster than `text()` +
 * `JSON.parse`); the size check is then the declared one, which every Carafe adapter
 * frames.
 *
 * @example
 * ```ts
 * import { readJsonLimited } from "./body.ts";
 * await readJsonLimited(new Request("http://x/", { method: "PUT", body: "[1]" }), 10); // [1]
 * ```
 */
export function readJsonLimited(source: BodySource, limit: number | ByteLimit, maxDepth: number = Infinity): Promise<unknown> {
  const { bytes: most, tooLarge } = asLimit(limit);
  const declared = declaredLength(source);
  if (declared > most) return Promise.reject(tooLarge());
  if (declared === 0) return Promise.resolve(undefined);
  if (declared < 0 || !source.json || declared >= 2 * (maxDepth + 1)) {
    return readTextLimited(source, limit).then((text) => parseJsonBody(text, maxDepth));
  }
  return source.json().then(undefined, (err) => {
    throw err instanceof SyntaxError ? invalidJson(err) : unreadable(err);
  });
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
