/**
 * Compressors for `core/compress.ts`: {@linkcode compressor} makes a `TransformStream`
 * (bytes in, compressed bytes out) for `br`, `gzip` or `deflate`.
 *
 * gzip and deflate use the web-standard `CompressionStream`, except on Node, whose
 * `CompressionStream` (v20) reads its source without limit while its output waits
 * (a 256 MiB stream was read whole ahead of a client that had stopped): there
 * `node:zlib` is used, wrapped so that back-pressure holds. Brotli, which
 * `CompressionStream` does not offer, comes from `node:zlib` on Deno, Bun and Node.
 * `node:zlib` is imported lazily, on first use, so that the core loads (and bundles
 * for an edge host) without it; where it is missing, brotli is `undefined` and the
 * core negotiates gzip or deflate instead.
 *
 * @example
 * ```ts
 * import { compressor } from "./compress.ts";
 * const gzip = await compressor("gzip");
 * const body = new Blob(["hello ".repeat(1000)]).stream().pipeThrough(gzip!);
 * ```
 *
 * @module
 */
import { runtime } from "./runtime.ts";

/** A coding a {@linkcode compressor} can produce. */
export type Coding = "br" | "gzip" | "deflate";

/** Options of {@linkcode compressor}. */
export interface CompressorOptions {
  /** Brotli quality, 0 (fastest) to 11 (smallest). Default 4. */
  brotliQuality?: number;
  /** The body's size when known: lets the brotli encoder size its window. */
  sizeHint?: number;
}

// The slice of node:zlib used here, typed locally so that type checkers and doc tools
// need no @types/node to read this module.
interface NodeZlibStream {
  write(chunk: Uint8Array, callback: (err?: Error | null) => void): boolean;
  end(): void;
  destroy(): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  once(event: "end", listener: () => void): void;
}
interface NodeZlib {
  createBrotliCompress(options: { params: Record<number, number> }): NodeZlibStream;
  createGzip(): NodeZlibStream;
  createDeflate(): NodeZlibStream;
  constants: Record<string, number>;
}

let loading: Promise<NodeZlib | undefined> | undefined;

function nodeZlib(): Promise<NodeZlib | undefined> {
  // A variable keeps bundlers for the edge from trying to resolve it eagerly.
  const name = "node:zlib";
  return loading ??= import(name).then(
    (zlib: NodeZlib) => typeof zlib?.createBrotliCompress === "function" ? zlib : undefined,
    () => undefined,
  );
}

/**
 * A compressor for `coding`, or `undefined` when this runtime cannot make one (brotli
 * without `node:zlib`).
 *
 * @example
 * ```ts
 * import { compressor } from "./compress.ts";
 * const br = await compressor("br", { brotliQuality: 5 });
 * console.log(br ? "br available" : "gzip/deflate only");
 * ```
 */
export async function compressor(coding: Coding, options: CompressorOptions = {}): Promise<TransformStream<Uint8Array, Uint8Array> | undefined> {
  if (coding !== "br" && runtime !== "node") return new CompressionStream(coding) as unknown as TransformStream<Uint8Array, Uint8Array>;
  const zlib = await nodeZlib();
  if (zlib === undefined) {
    return coding === "br" ? undefined : new CompressionStream(coding) as unknown as TransformStream<Uint8Array, Uint8Array>;
  }
  if (coding === "gzip") return webStream(zlib.createGzip());
  if (coding === "deflate") return webStream(zlib.createDeflate());
  const c = zlib.constants;
  const params: Record<number, number> = { [c.BROTLI_PARAM_QUALITY]: options.brotliQuality ?? 4 };
  if (options.sizeHint !== undefined && options.sizeHint > 0) params[c.BROTLI_PARAM_SIZE_HINT] = options.sizeHint;
  return webStream(zlib.createBrotliCompress({ params }));
}

/**
 * A node:zlib stream as a web `TransformStream`. Back-pressure: `transform` resolves
 * once zlib has taken the chunk, and the TransformStream calls it only while its
 * readable side wants more; output is enqueued as zlib produces it.
 */
function webStream(encoder: NodeZlibStream): TransformStream<Uint8Array, Uint8Array> {
  let failure: Error | undefined;
  let ended: Promise<void> | undefined;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      encoder.on("data", (chunk) => {
        try {
          // A Buffer is a Uint8Array; a plain view keeps consumers from seeing Buffer methods.
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        } catch {
          // The reader went away (the client disconnected) and this runtime's TransformStream
          // has no cancel() callback: stop zlib here, or the throw would be uncaught.
          encoder.destroy();
        }
      });
      encoder.on("error", (err) => {
        failure = err;
        try {
          controller.error(err);
        } catch { /* already closed or errored */ }
      });
      ended = new Promise((resolve) => encoder.once("end", resolve));
    },
    transform(chunk) {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => encoder.write(chunk, (err) => err ? reject(err) : resolve()));
    },
    flush() {
      encoder.end();
      return ended;
    },
    // Called where TransformStream supports it (the reader went away): free zlib's memory now.
    cancel() {
      encoder.destroy();
    },
  } as Transformer<Uint8Array, Uint8Array>);
}
