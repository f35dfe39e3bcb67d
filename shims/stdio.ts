/**
 * This process's standard input and output as byte streams with backpressure: what a
 * CGI program reads its request body from and writes its answer to. Pull-based stdin
 * (never reads more than asked for), stdout writes that resolve once the bytes are
 * handed over.
 *
 * No `node:` module is imported: a CGI program starts once per request, and on Bun
 * `process.stdin` and `process.stdout` alone cost ~10 ms each to set up (the node
 * stream layer), as much as Bun's whole start, so `Bun.stdin` and `Bun.write` are used
 * there; Deno uses `Deno.stdin`/`Deno.stdout`, Node `process.stdin`/`process.stdout`.
 *
 * @example
 * ```ts
 * import { openStdin, openStdout } from "./stdio.ts";
 * const stdin = openStdin();
 * const stdout = openStdout();
 * for (let chunk = await stdin.read(); chunk; chunk = await stdin.read()) await stdout.write(chunk); // cat
 * await stdout.close();
 * ```
 *
 * @module
 */
import { runtime } from "./runtime.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** A pull-based reader of stdin that never reads more than asked for. */
export interface StdinReader {
  /** The next chunk, or `null` at end of input (or when stdin failed). */
  read(): Promise<Uint8Array | null>;
  /** Stops reading; further input is left unread. */
  close(): void;
}

/** Writes to stdout, waiting when the pipe is full. */
export interface StdoutWriter {
  /** Resolves once the bytes are handed over; rejects when stdout is gone. */
  write(bytes: Uint8Array): Promise<void>;
  /** Resolves once everything written has been handed over. */
  close(): Promise<void>;
}

/**
 * Opens stdin for reading, one chunk per `read()`.
 *
 * @example
 * ```ts
 * import { openStdin } from "./stdio.ts";
 * const stdin = openStdin();
 * const first = await stdin.read();
 * stdin.close();
 * ```
 */
export function openStdin(): StdinReader {
  if (runtime === "deno" || runtime === "bun") {
    const readable = runtime === "deno" ? g.Deno.stdin.readable : g.Bun.stdin.stream();
    const reader = readable.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    return {
      read: async () => {
        const { done, value } = await reader.read();
        return done ? null : value;
      },
      close: () => void reader.cancel().catch(() => {}),
    };
  }
  return nodeStdin(g.process.stdin);
}

/** Node: `process.stdin` in paused mode, one chunk per read. */
// deno-lint-ignore no-explicit-any
function nodeStdin(stdin: any): StdinReader {
  let ended = false;
  stdin.on("end", () => (ended = true));
  stdin.on("error", () => (ended = true));
  const bytes = (chunk: { buffer: ArrayBuffer; byteOffset: number; byteLength: number }) =>
    new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return {
    read: () =>
      new Promise((resolve) => {
        const chunk = stdin.read();
        if (chunk) return resolve(bytes(chunk));
        if (ended) return resolve(null);
        const onReadable = () => {
          const c = stdin.read();
          if (c) {
            cleanup();
            resolve(bytes(c));
          }
        };
        const onEnd = () => {
          cleanup();
          resolve(null);
        };
        const cleanup = () => {
          stdin.off("readable", onReadable);
          stdin.off("end", onEnd);
          stdin.off("error", onEnd);
        };
        stdin.on("readable", onReadable);
        stdin.on("end", onEnd);
        stdin.on("error", onEnd);
      }),
    close: () => {
      stdin.pause?.();
      stdin.destroy?.();
    },
  };
}

/**
 * Opens stdout for binary writes.
 *
 * @example
 * ```ts
 * import { openStdout } from "./stdio.ts";
 * const stdout = openStdout();
 * await stdout.write(new TextEncoder().encode("Status: 200 OK\r\n\r\n"));
 * await stdout.close();
 * ```
 */
export function openStdout(): StdoutWriter {
  if (runtime === "deno") {
    const writer = g.Deno.stdout.writable.getWriter() as WritableStreamDefaultWriter<Uint8Array>;
    return {
      write: (bytes) => writer.write(bytes),
      close: async () => {
        await writer.ready;
        writer.releaseLock();
      },
    };
  }
  if (runtime === "bun") {
    return {
      write: async (bytes) => void await g.Bun.write(g.Bun.stdout, bytes),
      close: () => Promise.resolve(),
    };
  }
  const stdout = g.process.stdout;
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        stdout.write(bytes, (error: Error | null | undefined) => (error ? reject(error) : resolve()));
      }),
    close: () => Promise.resolve(),
  };
}

/**
 * Whether stdin is a terminal (a program started by hand, whose stdin would only end
 * with a ^D nobody types); false when it cannot tell.
 *
 * @example
 * ```ts
 * import { stdinIsTerminal } from "./stdio.ts";
 * if (stdinIsTerminal()) console.error("reading from the keyboard");
 * ```
 */
export function stdinIsTerminal(): boolean {
  try {
    if (runtime === "deno") return g.Deno.stdin.isTerminal();
    const tty = g.process?.getBuiltinModule?.("node:tty");
    if (tty) return tty.isatty(0);
    return g.process?.stdin?.isTTY === true;
  } catch {
    return false;
  }
}
