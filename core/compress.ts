/**
 * Response compression as a plugin: {@linkcode compress}.
 *
 * The compressors come from `shims/compress.ts` (gzip and deflate as the web-standard
 * `CompressionStream` where that is best, brotli where the runtime offers it, loaded on
 * first use). The coding is chosen from `Accept-Encoding` with its q-values
 * (RFC 9110 §12.5.3).
 *
 * It acts on the finished reply, so every reply shape is covered (string, JSON, bytes,
 * stream, a returned `Response`, `staticFile`'s answer, error pages). Left alone:
 * `HEAD`, `204`/`304` and other bodyless answers, `206` ranges, bodies below the
 * threshold, bodies that already have a `Content-Encoding` (a handler's own, a
 * precompressed file), `Cache-Control: no-transform`, and types that do not shrink
 * (images, audio, video, archives, fonts other than TTF/OTF) or must not wait
 * (`text/event-stream`).
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * import { compress } from "./compress.ts";
 * const app = new Carafe();
 * app.install(compress());                       // br, gzip, deflate; 1 KiB threshold
 * app.get("/data", () => ({ rows: [] }));
 * app.get("/raw", () => "…", { skip: ["compress"] }); // this route never compressed
 * ```
 *
 * @module
 */
import type { CarafeRequest } from "./request.ts";
import type { Plugin } from "./app.ts";
import { transformReply, type Reply, type ReplyBody } from "./reply.ts";
import { isBodyless } from "./status.ts";
import { addVary } from "./vary.ts";
import { utf8Length } from "./utf8.ts";
import { compressor } from "../shims/compress.ts";

/** A content coding {@linkcode compress} can produce. */
export type Encoding = "br" | "gzip" | "deflate";

/** Options of {@linkcode compress}. */
export interface CompressOptions {
  /** Bodies smaller than this many bytes are sent as they are. Default 1024. Streams of unknown length are always compressed. */
  threshold?: number;
  /** The codings offered, in the server's order of preference for equal q-values. Default `["br", "gzip", "deflate"]`. */
  encodings?: Encoding[];
  /** Brotli quality, 0–11. Default 4: close to gzip's speed, smaller output (11 is for precompressing, far too slow per request). */
  brotliQuality?: number;
  /** Whether a `Content-Type` is worth compressing. Default {@linkcode isCompressible}. */
  compressible?: (contentType: string) => boolean;
}

const DEFAULT_ENCODINGS: Encoding[] = ["br", "gzip", "deflate"];
const encoder = new TextEncoder();

/**
 * The compression plugin: install it on an app (or pass it in a route's `apply`).
 * Skip it on a route with the route option `skip: ["compress"]`.
 *
 * Streamed bodies are compressed as they flow, with back-pressure (nothing is read
 * ahead of the client); a compressor may hold a few small chunks back until it has
 * enough to emit, so a route whose pieces must reach the client at once (a long poll,
 * progress lines) should skip it. Server-sent events are never compressed.
 *
 * A strong `ETag` becomes weak on a compressed answer (the bytes differ from the
 * identity ones); `Content-Length` and `Accept-Ranges` are dropped;
 * `Vary: Accept-Encoding` is added to every answer whose form depends on it.
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * import { compress } from "./compress.ts";
 * const app = new Carafe();
 * app.install(compress({ threshold: 2048, encodings: ["gzip"] }));
 * ```
 */
export function compress(options: CompressOptions = {}): Plugin {
  const settings = settingsOf(options);
  return {
    name: "compress",
    apply: (handler) => (req: CarafeRequest, res) => {
      if (req.method === "HEAD") return handler(req, res);
      let outcome: unknown;
      try {
        outcome = handler(req, res);
      } catch (err) {
        outcome = Promise.reject(err); // rendered as the error it is, then considered like any answer
      }
      return transformReply<CarafeRequest>(outcome, (reply, r) => compressWith(reply, r.headers.get("accept-encoding"), settings));
    },
  };
}

interface Settings {
  threshold: number;
  encodings: Encoding[];
  brotliQuality: number;
  compressible: (contentType: string) => boolean;
}

function settingsOf(options: CompressOptions): Settings {
  const threshold = options.threshold ?? 1024;
  if (!(threshold >= 0)) throw new RangeError(`compress(): threshold must be a number of bytes ≥ 0, got ${options.threshold}.`);
  const encodings = options.encodings ?? DEFAULT_ENCODINGS;
  for (const e of encodings) {
    if (!DEFAULT_ENCODINGS.includes(e)) throw new TypeError(`compress(): unknown encoding ${JSON.stringify(e)}; use "br", "gzip" or "deflate".`);
  }
  const brotliQuality = options.brotliQuality ?? 4;
  if (!(brotliQuality >= 0 && brotliQuality <= 11)) {
    throw new RangeError(`compress(): brotliQuality must be 0 to 11, got ${options.brotliQuality}.`);
  }
  return { threshold, encodings: [...encodings], brotliQuality, compressible: options.compressible ?? isCompressible };
}

/**
 * `reply` compressed for a client that sent `acceptEncoding` (or left as it is, with
 * `Vary` added when the decision depended on it).
 *
 * @example
 * ```ts
 * import { compressReply } from "./compress.ts";
 * const reply = { status: 200, headers: new Headers({ "content-type": "text/plain" }), body: "a".repeat(5000) };
 * const sent = await compressReply(reply, "gzip, br;q=0");
 * sent.headers.get("content-encoding"); // "gzip"
 * ```
 */
export function compressReply(reply: Reply, acceptEncoding: string | null, options: CompressOptions = {}): Promise<Reply> {
  return compressWith(reply, acceptEncoding, settingsOf(options));
}

async function compressWith(reply: Reply, acceptEncoding: string | null, settings: Settings): Promise<Reply> {
  const { status, headers, body: original } = reply;
  if (original === null || isBodyless(status) || status === 206) return reply;
  if (headers.has("content-encoding") || headers.has("content-range")) return reply;
  if (/\bno-transform\b/i.test(headers.get("cache-control") ?? "")) return reply;
  if (!settings.compressible(headers.get("content-type") ?? "")) return reply;
  // A string has at least as many UTF-8 bytes as UTF-16 units: count them only near the threshold.
  const size = typeof original === "string"
    ? (original.length >= settings.threshold ? undefined : utf8Length(original))
    : knownSize(original, headers);
  if (size !== undefined && size < settings.threshold) return reply;
  const sizeHint = size ?? (typeof original === "string" ? original.length : undefined);

  let offered = settings.encodings;
  let encoding: Encoding | undefined, stream: TransformStream<Uint8Array, Uint8Array> | undefined;
  // A coding this runtime cannot make (shims/compress.ts has none for it) is dropped from the offer.
  while ((encoding = negotiateEncoding(acceptEncoding, offered)) !== undefined) {
    stream = await compressor(encoding, { brotliQuality: settings.brotliQuality, sizeHint });
    if (stream !== undefined) break;
    offered = offered.filter((e) => e !== encoding);
  }
  if (encoding === undefined || stream === undefined) return withVary(reply);
  // Encoded only now that a coding is chosen: a client that accepts none costs no copy.
  const body = typeof original === "string" ? encoder.encode(original) : original;
  const out = new Headers(headers);
  addVary(out, "Accept-Encoding");
  out.set("content-encoding", encoding);
  out.delete("content-length");
  // Ranges of an answer encoded on the fly cannot be served: a client must not resume into one.
  out.delete("accept-ranges");
  const etag = out.get("etag");
  if (etag !== null && etag.startsWith('"')) out.set("etag", `W/${etag}`);
  return { status, headers: out, body: asStream(body).pipeThrough(stream) };
}

function knownSize(body: Exclude<ReplyBody, string | null>, headers: Headers): number | undefined {
  if (body instanceof Uint8Array) return body.byteLength;
  if (body instanceof Blob) return body.size;
  const declared = headers.get("content-length");
  return declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
}

function asStream(body: Exclude<ReplyBody, string | null>): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body;
  if (body instanceof Blob) return body.stream() as ReadableStream<Uint8Array>;
  const bytes = body;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** The reply with `Vary: Accept-Encoding`: in place when its headers can change, else on a copy. */
function withVary(reply: Reply): Reply {
  try {
    addVary(reply.headers, "Accept-Encoding");
    return reply;
  } catch {
    // A fetch() answer's headers are immutable: send a copy (its body goes along unread).
    const headers = new Headers(reply.headers);
    addVary(headers, "Accept-Encoding");
    return { status: reply.status, headers, body: reply.body };
  }
}

/**
 * The coding to send for an `Accept-Encoding` header, or `undefined` for none
 * (identity). The highest q-value wins; on a tie, the earlier in `offered`. `*` stands
 * for codings not listed; `identity` (or `*`) with a higher q than every coding
 * means no coding, and an unnamed `identity` ranks with the lowest q listed. No
 * header, or an empty one, means identity. `x-gzip` is `gzip`.
 *
 * @example
 * ```ts
 * import { negotiateEncoding } from "./compress.ts";
 * negotiateEncoding("gzip, deflate, br", ["br", "gzip"]);   // "br"
 * negotiateEncoding("br;q=0, *", ["br", "gzip"]);           // "gzip"
 * negotiateEncoding("gzip;q=0.5, identity", ["gzip"]);      // undefined
 * ```
 */
export function negotiateEncoding(header: string | null, offered: readonly Encoding[]): Encoding | undefined {
  if (header === null) return undefined;
  const weights = parseAcceptEncoding(header);
  const star = weights.get("*");
  let best: Encoding | undefined;
  let bestQ = 0;
  for (const coding of offered) {
    const q = weights.get(coding) ?? star ?? 0;
    if (q > bestQ) [best, bestQ] = [coding, q];
  }
  // Unnamed, identity ranks with the least wanted coding listed (as Express's negotiator
  // does): a client that lists codings at all wants them rather than nothing.
  const identityQ = weights.get("identity") ?? star ?? Math.min(1, ...weights.values());
  return best !== undefined && bestQ >= identityQ ? best : undefined;
}

/** `Accept-Encoding` as coding → q. At most 32 entries are read; a malformed q drops its entry. */
function parseAcceptEncoding(header: string): Map<string, number> {
  const weights = new Map<string, number>();
  const entries = header.split(",", 32);
  for (const entry of entries) {
    const [rawName, ...params] = entry.split(";");
    let name = rawName.trim().toLowerCase();
    if (name === "") continue;
    if (name === "x-gzip") name = "gzip";
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p);
      if (m) q = Math.min(1, Number(m[1]));
      else if (/^\s*q\s*=/i.test(p)) q = NaN;
    }
    if (Number.isNaN(q)) continue;
    // The most specific (first) entry for a name wins.
    if (!weights.has(name)) weights.set(name, q);
  }
  return weights;
}

/**
 * The default test of what is worth compressing: text (except `text/event-stream`),
 * JSON, JavaScript, XML, SVG, WebAssembly, and TTF/OTF fonts. Not images, audio,
 * video, archives or WOFF fonts (compressed already).
 *
 * @example
 * ```ts
 * import { isCompressible } from "./compress.ts";
 * isCompressible("application/json");         // true
 * isCompressible("text/event-stream");        // false
 * isCompressible("image/png");                // false
 * ```
 */
export function isCompressible(contentType: string): boolean {
  const type = contentType.split(";", 1)[0].trim().toLowerCase();
  if (type.startsWith("text/")) return type !== "text/event-stream";
  if (type === "image/svg+xml" || type === "font/ttf" || type === "font/otf" || type === "application/vnd.ms-fontobject") return true;
  if (!type.startsWith("application/")) return false;
  const sub = type.slice("application/".length);
  return /^(?:json|javascript|ecmascript|x-javascript|xml|wasm|x-ndjson|graphql|x-www-form-urlencoded)$/.test(sub) ||
    sub.endsWith("+json") || sub.endsWith("+xml");
}
