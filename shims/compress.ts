/**
 * Brotli for `core/compress.ts`, which web standards do not offer: `CompressionStream`
 * knows gzip and deflate only. Deno, Bun and Node all provide `node:zlib`'s brotli;
 * it is imported lazily, on the first call, so that the core loads (and bundles for an
 * edge host) without `node:zlib`. Where it is missing, {@linkcode brotliCompressor}
 * resolves to `undefined` and the core negotiates gzip or deflate instead.
 *
 * @example
 * ```ts
 * import { brotliCompressor } from "./compress.ts";
 * const make = await brotliCompressor();
 * const body = new Blob(["hello ".repeat(1000)]).stream();
 * if (make) body.pipeThrough(make({ quality: 4 }));
 * ```
 *
 * @module
 */

/** Options of a brotli compressor. */
export interface BrotliOptions {
  /** 0 (fastest) to 11 (smallest). */
  quality: number;
  /** The body's size when known: lets the encoder size its window. */
  sizeHint?: number;
}

/** Makes one brotli `TransformStream` (bytes in, compressed bytes out). */
export type BrotliCompressor = (options: BrotliOptions) => TransformStream<Uint8Array, Uint8Array>;

// The slice of node:zlib used here, typed locally so that type checkers and doc tools
// need no @types/node to read this module.
interface NodeBrotliStream {
  write(chunk: Uint8Array, callback: (err?: Error | null) => void): boolean;
  end(): void;
  destroy(): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  once(event: "end", listener: () => void): void;
}
interface NodeZlib {
  createBrotliCompress(options: { params: Record<number, number> }): NodeBrotliStream;
  constants: Record<string, number>;
}

let loading: Promise<BrotliCompressor | undefined> | undefined;

/**
 * A maker of brotli compressors, or `undefined` where the runtime has no `node:zlib`
 * brotli (loaded on the first call, then remembered).
 *
 * @example
 * ```ts
 * import { brotliCompressor } from "./compress.ts";
 * const make = await brotliCompressor();
 * console.log(make ? "br available" : "gzip/deflate only");
 * ```
 */
export function brotliCompressor(): Promise<BrotliCompressor | undefined> {
  return loading ??= loadBrotli();
}

async function loadBrotli(): Promise<BrotliCompressor | undefined> {
  // A variable keeps bundlers for the edge from trying to resolve it eagerly.
  const name = "node:zlib";
  let zlib: NodeZlib;
  try {
    zlib = await import(name);
  } catch {
    return undefined;
  }
  if (typeof zlib?.createBrotliCompress !== "function") return undefined;
  return (options) => brotliStream(zlib, options);
}

/**
 * A node:zlib brotli stream as a web `TransformStream`. Back-pressure: `transform`
 * resolves only once zlib has taken the chunk, and the TransformStream calls it only
 * while its readable side wants more; output is enqueued as zlib produces it.
 */
function brotliStream(zlib: NodeZlib, options: BrotliOptions): TransformStream<Uint8Array, Uint8Array> {
  const c = zlib.constants;
  const params: Record<number, number> = { [c.BROTLI_PARAM_QUALITY]: options.quality };
  if (options.sizeHint !== undefined && options.sizeHint > 0) params[c.BROTLI_PARAM_SIZE_HINT] = options.sizeHint;
  const encoder = zlib.createBrotliCompress({ params });
  let failure: Error | undefined;
  let ended: Promise<void> | undefined;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      // A Buffer is a Uint8Array; a view of it keeps consumers from seeing Buffer methods.
      encoder.on("data", (chunk) => controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
      encoder.on("error", (err) => {
        failure = err;
        controller.error(err);
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
