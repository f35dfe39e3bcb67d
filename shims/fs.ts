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
import { runtime } from "./runtime.ts";

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
  /** Inode number (0 where the platform has none). */
  ino: number;
}

/**
 * The file-system operations Carafe's core uses. Errors carry Node's `code`
 * (`ENOENT`, `EACCES`, `ENOTDIR`, `ELOOP`…), which is what `core/` looks at.
 */
export interface FileSystem {
  /**
   * The absolute form of `path` (against the working directory), normalised; no file
   * access. A `file:` URL (`new URL("./views/", import.meta.url)`) is its path.
   */
  resolve(path: string | URL): string;
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
  /**
   * Optional: bytes `start`..`end` as a body the server can send best (Bun: a lazy
   * file Blob it sends with sendfile). Falls back to `openRange` when absent.
   */
  openBody?(path: string, start: number, end: number): ReadableStream<Uint8Array> | Blob;
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
  return loading ??= loadFileSystem().then((fs) => (current ??= fs), (err) => {
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
interface NodeUrl {
  fileURLToPath(url: URL): string;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Node's error codes for Deno's error classes, so core sees one vocabulary. */
const DENO_CODES: Record<string, string> = {
  NotFound: "ENOENT",
  PermissionDenied: "EACCES",
  NotADirectory: "ENOTDIR",
  IsADirectory: "EISDIR",
  FilesystemLoop: "ELOOP",
};

function withCode(err: unknown): unknown {
  if (err instanceof Error && (err as { code?: unknown }).code === undefined && DENO_CODES[err.name]) {
    (err as { code?: string }).code = DENO_CODES[err.name];
  }
  return err;
}

/** A lazily opened stream over bytes start..end, given a way to open and read at a position. */
function rangeStream<H>(
  open: () => Promise<H>,
  readAt: (handle: H, buffer: Uint8Array, position: number) => Promise<number>,
  closeHandle: (handle: H) => Promise<void> | void,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  let handle: H | undefined;
  let position = start;
  const close = async () => {
    const h = handle;
    handle = undefined;
    if (h !== undefined) {
      try {
        await closeHandle(h);
      } catch { /* already closed */ }
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const want = Math.min(CHUNK, end - position + 1);
        if (want <= 0) {
          await close();
          controller.close();
          return;
        }
        handle ??= await open();
        // A fresh buffer per chunk: an enqueued chunk belongs to the reader.
        const buffer = new Uint8Array(want);
        const bytesRead = await readAt(handle, buffer, position);
        if (bytesRead <= 0) {
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
        controller.error(withCode(err));
      }
    },
    cancel: close,
  }, { highWaterMark: 0 });
}

async function loadFileSystem(): Promise<FileSystem> {
  const node = await loadNodeFileSystem();
  if (runtime === "deno" && typeof g.Deno?.open === "function") return denoFileSystem(node);
  if (runtime === "bun" && typeof g.Bun?.file === "function") return bunFileSystem(node);
  return node;
}

/** Deno's own file API: fewer layers than its node:fs emulation. */
function denoFileSystem(node: FileSystem): FileSystem {
  const D = g.Deno;
  return {
    resolve: node.resolve,
    sep: node.sep,
    async stat(p) {
      try {
        const s = await D.stat(p);
        return { size: s.size, mtimeMs: s.mtime ? s.mtime.getTime() : 0, isFile: s.isFile, isDirectory: s.isDirectory, ino: s.ino ?? 0 };
      } catch (err) {
        throw withCode(err);
      }
    },
    async realPath(p) {
      try {
        return await D.realPath(p);
      } catch (err) {
        throw withCode(err);
      }
    },
    async readTextFile(p) {
      try {
        return await D.readTextFile(p);
      } catch (err) {
        throw withCode(err);
      }
    },
    openRange(p, start, end) {
      let at = 0; // where the file's cursor is: seek only when it is elsewhere
      // deno-lint-ignore no-explicit-any
      return rangeStream<any>(
        () => D.open(p, { read: true }),
        async (file, buffer, position) => {
          if (at !== position) await file.seek(position, D.SeekMode.Start);
          const n = (await file.read(buffer)) ?? 0;
          at = position + n;
          return n;
        },
        (file) => file.close(),
        start,
        end,
      );
    },
  };
}

/**
 * Bun: a slice of `Bun.file()` is a lazy Blob that Bun.serve sends with sendfile(2);
 * read as a stream it still reads in chunks. Nothing is opened until it is read.
 */
function bunFileSystem(node: FileSystem): FileSystem {
  return {
    ...node,
    openRange(p, start, end) {
      const blob: Blob = g.Bun.file(p).slice(start, end + 1);
      return blob.stream() as ReadableStream<Uint8Array>;
    },
    openBody(p, start, end) {
      return g.Bun.file(p).slice(start, end + 1) as Blob;
    },
  };
}

async function loadNodeFileSystem(): Promise<FileSystem> {
  // Variables keep bundlers for the edge from trying to resolve these eagerly.
  const fsName = "node:fs/promises", pathName = "node:path", urlName = "node:url";
  const fsp: NodeFsPromises = await import(fsName);
  const path: NodePath = await import(pathName);
  const url: NodeUrl = await import(urlName);
  return {
    resolve(p) {
      if (typeof p === "string") return path.resolve(p);
      if (p.protocol !== "file:") throw new TypeError(`${p.href} is not a file: URL; give a path or new URL("./dir/", import.meta.url).`);
      return path.resolve(url.fileURLToPath(p));
    },
    sep: path.sep,
    async stat(p) {
      const s = await fsp.stat(p);
      return { size: s.size, mtimeMs: s.mtimeMs, isFile: s.isFile(), isDirectory: s.isDirectory(), ino: s.ino ?? 0 };
    },
    realPath: (p) => fsp.realpath(p),
    readTextFile: (p) => fsp.readFile(p, "utf8"),
    openRange: (p, start, end) =>
      rangeStream<NodeFileHandle>(
        () => fsp.open(p, "r"),
        async (h, buffer, position) => (await h.read(buffer, 0, buffer.byteLength, position)).bytesRead,
        (h) => h.close(),
        start,
        end,
      ),
  };
}
