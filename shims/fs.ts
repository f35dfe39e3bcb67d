/**
 * The little file-system access `core/` needs: `staticFile` (stat, real path, a byte
 * range as a stream) and templates (read a text file).
 *
 * Implemented with `node:fs/promises` and `node:path`, which Deno, Bun and Node all
 * provide. They are imported lazily, on the first call, so that importing Carafe on a
 * host without them (an edge runtime) still works: only serving files or named
 * templates needs a file system there, and {@linkcode setFileSystem} can supply one.
 *
 * @example
 * ```ts
 * import { fileSystem } from "./fs.ts";
 * const fs = await fileSystem();
 * const info = await fs.stat("deno.json");
 * console.log(info.size, info.isFile);
 * ```
 *
 * @module
 */

/** What `stat` reports about a path (symlinks followed). */
export interface FileInfo {
  /** Size in bytes. */
  size: number;
  /** Last modification, milliseconds since the epoch. */
  mtimeMs: number;
  /** A regular file. */
  isFile: boolean;
  /** A directory. */
  isDirectory: boolean;
  /** Inode number (0 where the platform has none); part of the default ETag. */
  ino: number;
}

/**
 * The file-system operations Carafe's core uses. Errors carry Node's `code`
 * (`ENOENT`, `EACCES`, `ENOTDIR`, `ELOOP`…), which is what `core/` looks at.
 */
export interface FileSystem {
  /** The absolute form of `path` (against the working directory), normalised; no file access. */
  resolve(path: string): string;
  /** The path separator (`/`, or `\` on Windows). */
  readonly sep: string;
  /** File facts, following symlinks. */
  stat(path: string): Promise<FileInfo>;
  /** The canonical absolute path: symlinks resolved. Rejects if it does not exist. */
  realPath(path: string): Promise<string>;
  /**
   * Bytes `start`..`end` (inclusive) of a file, as a stream that opens the file on
   * its first read (so a stream that is cancelled unread never opens it) and closes
   * it at the end, on error or on cancel.
   */
  openRange(path: string, start: number, end: number): ReadableStream<Uint8Array>;
  /** A whole UTF-8 text file. */
  readTextFile(path: string): Promise<string>;
}

// Read in chunks of this size: large enough for throughput, small enough that a slow
// client never makes us buffer much (one chunk ahead at most).
const CHUNK = 64 * 1024;

let current: FileSystem | undefined;
let loading: Promise<FileSystem> | undefined;

/**
 * The file system in use (loaded on first call).
 *
 * @example
 * ```ts
 * import { fileSystem } from "./fs.ts";
 * const text = await (await fileSystem()).readTextFile("README.md");
 * ```
 */
export function fileSystem(): Promise<FileSystem> {
  if (current) return Promise.resolve(current);
  return loading ??= loadNodeFileSystem().then((fs) => (current ??= fs), (err) => {
    loading = undefined;
    throw new Error(
      "Carafe needs node:fs/promises to serve files and named templates, and this runtime does not provide it; " +
        "call setFileSystem() with an implementation.",
      { cause: err },
    );
  });
}

/**
 * Replaces the file system (for hosts without `node:fs`, or for tests).
 *
 * @example
 * ```ts
 * import { fileSystem, setFileSystem } from "./fs.ts";
 * const real = await fileSystem();
 * setFileSystem({ ...real, readTextFile: async () => "Hello {{ name }}" });
 * setFileSystem(real);
 * ```
 */
export function setFileSystem(fs: FileSystem): void {
  current = fs;
}

// The slices of node:fs/promises and node:path used here, typed locally so that type
// checkers and doc tools need no @types/node to read this module.
interface NodeFileHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}
interface NodeFsPromises {
  stat(path: string): Promise<{ size: number; mtimeMs: number; ino: number; isFile(): boolean; isDirectory(): boolean }>;
  realpath(path: string): Promise<string>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
  open(path: string, flags: "r"): Promise<NodeFileHandle>;
}
interface NodePath {
  resolve(path: string): string;
  sep: string;
}

async function loadNodeFileSystem(): Promise<FileSystem> {
  // Variables keep bundlers for the edge from trying to resolve these eagerly.
  const fsName = "node:fs/promises", pathName = "node:path";
  const fsp: NodeFsPromises = await import(fsName);
  const path: NodePath = await import(pathName);
  return {
    resolve: (p) => path.resolve(p),
    sep: path.sep,
    async stat(p) {
      const s = await fsp.stat(p);
      return { size: s.size, mtimeMs: s.mtimeMs, isFile: s.isFile(), isDirectory: s.isDirectory(), ino: s.ino ?? 0 };
    },
    realPath: (p) => fsp.realpath(p),
    readTextFile: (p) => fsp.readFile(p, "utf8"),
    openRange(p, start, end) {
      let handle: NodeFileHandle | undefined;
      let position = start;
      const close = async () => {
        const h = handle;
        handle = undefined;
        await h?.close().catch(() => {});
      };
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            handle ??= await fsp.open(p, "r");
            const want = Math.min(CHUNK, end - position + 1);
            if (want <= 0) {
              await close();
              controller.close();
              return;
            }
            // A fresh buffer per chunk: an enqueued chunk belongs to the reader.
            const buffer = new Uint8Array(want);
            const { bytesRead } = await handle.read(buffer, 0, want, position);
            if (bytesRead === 0) {
              // The file shrank under us: end early rather than hang.
              await close();
              controller.close();
              return;
            }
            position += bytesRead;
            controller.enqueue(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
            if (position > end) {
              await close();
              controller.close();
            }
          } catch (err) {
            await close();
            controller.error(err);
          }
        },
        cancel: close,
      }, { highWaterMark: 0 });
    },
  };
}
