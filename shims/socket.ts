/**
 * Stream sockets for servers that speak their own protocol over TCP or a Unix socket
 * (the FastCGI adapter): listen, accept, read with pause/resume, write with a
 * high-water mark and a drain signal, half-close.
 *
 * One small interface, three transports:
 * - Bun: `Bun.listen` (native sockets; node:net on Bun is a compatibility layer over
 *   them and costs more per read and write);
 * - Node and Deno: `node:net`. On Deno a `Deno.listen` transport (read loop plus
 *   write queue) was tried: the FastCGI adapter behind nginx used the same CPU per
 *   request either way (bench/fastcgi_bench.mjs, three interleaved A/B runs), so there
 *   is one code path less;
 * - an inherited listening fd (`{ fd: 0 }`): `node:net` on every runtime, the only API
 *   that can adopt a listening descriptor.
 *
 * Reads deliver a chunk that is only valid during the `data` call (Bun may reuse it):
 * copy what you keep.
 *
 * @example
 * ```ts
 * import { listenStream } from "./socket.ts";
 * const listener = await listenStream({ host: "127.0.0.1", port: 0 }, (socket) => ({
 *   data: (chunk) => void socket.write(chunk), // echo
 *   end: () => socket.end(),
 *   drain: () => {},
 *   close: () => {},
 * }));
 * console.log(listener.address);
 * await listener.close();
 * ```
 *
 * @module
 */
import { runtime } from "./runtime.ts";

/** What a connection's owner hears from its socket. */
export interface StreamHandlers {
  /** Bytes arrived (valid only during the call). */
  data(chunk: Uint8Array): void;
  /** The peer closed its side (FIN); we may still write. */
  end(): void;
  /** Buffered output fell to zero after a `write()` returned `false`. */
  drain(): void;
  /** The socket is gone (both sides done, error, or `destroy()`); called once. */
  close(): void;
}

/** An accepted connection. */
export interface StreamSocket {
  /** The peer's IP address (`undefined` on a Unix socket). */
  readonly remoteAddress: string | undefined;
  /** Output accepted by `write()` and not yet taken by the operating system. */
  readonly buffered: number;
  /** Whether the socket is closed (nothing more is written or read). */
  readonly closed: boolean;
  /**
   * Queues bytes (never copies them: do not modify them afterwards). Returns `false`
   * when the buffered output is over the high-water mark: wait for `drain`.
   */
  write(bytes: Uint8Array): boolean;
  /** Stops delivering `data` until {@linkcode StreamSocket.resume}. */
  pause(): void;
  /** Delivers `data` again. */
  resume(): void;
  /** Half-closes: sends FIN once the buffered output is written; reading goes on. */
  end(): void;
  /** Closes at once, dropping buffered output. */
  destroy(): void;
}

/** Where to listen: TCP, a Unix socket path, or an inherited listening descriptor. */
export type ListenTarget = { host: string; port: number } | { path: string } | { fd: number };

/** A listening socket. */
export interface StreamListener {
  /** The bound address: `{ host, port }` (the real port when 0 was asked), `{ path }` or `{ fd }`. */
  readonly address: { host: string; port: number } | { path: string } | { fd: number };
  /** Which implementation serves it: `"bun"` (native) or `"node:net"`. */
  readonly transport: "bun" | "node:net";
  /** Stops accepting (open connections stay). */
  close(): Promise<void>;
}

/** Options of {@linkcode listenStream}. */
export interface ListenStreamOptions {
  /** Bytes of buffered output above which `write()` returns `false` (default 64 KiB). */
  highWaterMark?: number;
  /** Use `node:net` even where a native transport exists (tests, comparisons). */
  forceNodeNet?: boolean;
}

/** Error raised when listening fails; `code` is the system error (`EADDRINUSE`, `EACCES`…). */
export interface ListenError extends Error {
  /** The system error code, when known. */
  code?: string;
}

const DEFAULT_HWM = 64 * 1024;

/**
 * Listens on `target` and calls `accept(socket)` for every connection; `accept`
 * returns the handlers for that socket's events.
 *
 * @example
 * ```ts
 * import { listenStream } from "./socket.ts";
 * const l = await listenStream({ path: "/tmp/echo.sock" }, (s) => ({
 *   data: (c) => void s.write(c.slice()), end: () => s.end(), drain: () => {}, close: () => {},
 * }));
 * await l.close();
 * ```
 */
export function listenStream(
  target: ListenTarget,
  accept: (socket: StreamSocket) => StreamHandlers,
  options: ListenStreamOptions = {},
): Promise<StreamListener> {
  const hwm = options.highWaterMark ?? DEFAULT_HWM;
  if (runtime === "bun" && !("fd" in target) && !options.forceNodeNet) return listenBun(target, accept, hwm);
  return listenNodeNet(target, accept, hwm);
}

// ---------------------------------------------------------------------------
// node:net (Node, Deno, and fd 0 everywhere)

async function listenNodeNet(
  target: ListenTarget,
  accept: (socket: StreamSocket) => StreamHandlers,
  hwm: number,
): Promise<StreamListener> {
  const net = await import("node:net");
  const { Buffer } = await import("node:buffer");
  // The mark is node:net's own (where the runtime takes the option): 'drain', our signal
  // to go on, only follows a write that node:net itself refused, so write() passes on
  // its verdict rather than judging the buffer by a mark of ours (a lower one waited for
  // a 'drain' that never came; Bun's node:net keeps a mark of its own).
  const server = net.createServer({ allowHalfOpen: true, highWaterMark: hwm }, (socket) => {
    socket.setNoDelay?.(true);
    let closed = false;
    const wrapped: StreamSocket = {
      get remoteAddress() {
        return socket.remoteAddress;
      },
      get buffered() {
        return socket.writableLength;
      },
      get closed() {
        return closed || socket.destroyed;
      },
      write(bytes) {
        if (closed || socket.destroyed || !socket.writable) return true;
        // A Buffer view (no copy): Deno's node:net takes a slower path for a plain Uint8Array.
        return socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
      pause: () => void socket.pause(),
      resume: () => void socket.resume(),
      end: () => void socket.end(),
      destroy: () => void socket.destroy(),
    };
    const h = accept(wrapped);
    socket.on("data", (chunk: Uint8Array) => h.data(chunk));
    socket.on("end", () => h.end());
    socket.on("drain", () => h.drain());
    socket.on("error", () => {/* reported through 'close' */});
    socket.on("close", () => {
      closed = true;
      h.close();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if ("fd" in target) server.listen({ fd: target.fd }, done);
    else if ("path" in target) server.listen(target.path, done);
    else server.listen({ host: target.host, port: target.port }, done);
  });
  server.on("error", () => {/* accept errors (EMFILE…) must not crash the process */});
  let address: StreamListener["address"];
  if ("fd" in target) address = { fd: target.fd };
  else if ("path" in target) address = { path: target.path };
  else {
    const a = server.address() as { address: string; port: number };
    address = { host: a.address, port: a.port };
  }
  return {
    address,
    transport: "node:net",
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------
// Bun.listen

// deno-lint-ignore no-explicit-any
type BunSocket = any;

/** Per-socket state for the Bun transport. */
interface BunState {
  wrapped: StreamSocket;
  handlers: StreamHandlers;
  /** Bytes `write()` accepted that the kernel did not take yet. */
  queue: Uint8Array[];
  queued: number;
  /** A `false` was returned: tell the owner when the queue empties. */
  wantDrain: boolean;
  ending: boolean;
  closed: boolean;
}

/** Writes what Bun's socket queued, as far as the kernel takes it; ends and signals drain once empty. */
function flushBun(s: BunSocket, st: BunState): void {
  while (st.queue.length > 0) {
    const head = st.queue[0];
    const n = s.write(head);
    if (n < 0) {
      st.queue.length = 0;
      st.queued = 0;
      return;
    }
    st.queued -= n;
    if (n < head.length) {
      st.queue[0] = head.subarray(n);
      return;
    }
    st.queue.shift();
  }
  if (st.ending) s.shutdown();
  if (st.wantDrain) {
    st.wantDrain = false;
    st.handlers.drain();
  }
}

/**
 * The StreamSocket view of one Bun socket: a write the kernel does not take whole is
 * queued, and `write` answers `false` once `hwm` bytes wait (back-pressure).
 */
function wrapBunSocket(s: BunSocket, st: BunState, unix: boolean, hwm: number): StreamSocket {
  return {
    get remoteAddress() {
      return unix ? undefined : s.remoteAddress;
    },
    get buffered() {
      return st.queued;
    },
    get closed() {
      return st.closed;
    },
    write(bytes) {
      if (st.closed || st.ending) return true;
      if (st.queue.length === 0) {
        const n = s.write(bytes);
        if (n === bytes.length) return true;
        if (n < 0) return true; // closing: 'close' follows
        bytes = bytes.subarray(n);
      }
      st.queue.push(bytes);
      st.queued += bytes.length;
      if (st.queued < hwm) return true;
      st.wantDrain = true;
      return false;
    },
    pause: () => void s.pause(),
    resume: () => void s.resume(),
    end() {
      if (st.closed || st.ending) return;
      st.ending = true;
      if (st.queue.length === 0) s.shutdown();
    },
    destroy() {
      if (st.closed) return;
      st.queue.length = 0;
      st.queued = 0;
      s.terminate();
    },
  };
}

/** Listens with `Bun.listen` (TCP or a Unix socket); each socket is wrapped by wrapBunSocket. */
function listenBun(
  target: { host: string; port: number } | { path: string },
  accept: (socket: StreamSocket) => StreamHandlers,
  hwm: number,
): Promise<StreamListener> {
  // deno-lint-ignore no-explicit-any
  const Bun = (globalThis as any).Bun;
  const open = (s: BunSocket): void => {
    const st = { queue: [], queued: 0, wantDrain: false, ending: false, closed: false } as unknown as BunState;
    st.wrapped = wrapBunSocket(s, st, "path" in target, hwm);
    s.data = st;
    if (!("path" in target)) s.setNoDelay?.(true);
    st.handlers = accept(st.wrapped);
  };
  const socket = {
    binaryType: "uint8array",
    open,
    data: (s: BunSocket, chunk: Uint8Array) => s.data.handlers.data(chunk),
    drain: (s: BunSocket) => flushBun(s, s.data),
    end: (s: BunSocket) => s.data.handlers.end(),
    close: (s: BunSocket) => {
      const st: BunState = s.data;
      if (!st || st.closed) return;
      st.closed = true;
      st.queue.length = 0;
      st.queued = 0;
      st.handlers.close();
    },
    error: () => {/* 'close' follows */},
  };
  return new Promise<StreamListener>((resolve, reject) => {
    let listener: BunSocket;
    try {
      listener = "path" in target
        ? Bun.listen({ unix: target.path, allowHalfOpen: true, socket })
        : Bun.listen({ hostname: target.host, port: target.port, allowHalfOpen: true, socket });
    } catch (error) {
      return reject(error);
    }
    resolve({
      address: "path" in target ? { path: target.path } : { host: listener.hostname, port: listener.port },
      transport: "bun",
      close: () => {
        listener.stop(false);
        return Promise.resolve();
      },
    });
  });
}
