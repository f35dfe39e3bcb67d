/**
 * One answer in flight per connection for `node:http` (and the node:http of Bun and
 * Deno): HTTP/1.1 pipelining without a flood.
 *
 * node:http parses every pipelined request of a read at once and emits `request` for
 * each; the `ServerResponse` of every one but the first waits in a queue (its
 * `socket` is `null` until the one ahead has finished, then it gets a `socket` event).
 * Handling them all at once would open every file, pull every stream and buffer every
 * answer before the first one is sent. {@linkcode waitForTurn} instead starts a
 * pipelined request's handler only when its response is at the head of the connection,
 * as nginx, Go's net/http, `Deno.serve` and `Bun.serve` do; a queued request costs one
 * callback. Past {@linkcode MAX_PIPELINED} queued requests the connection is no longer
 * read until the queue shrinks.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { waitForTurn } from "./pipelining.ts";
 * const answer = (_im: unknown, res: import("node:http").ServerResponse) => res.end("hi");
 * createServer((im, res) => {
 *   if (res.socket === null) waitForTurn(im, res, answer);
 *   else answer(im, res);
 * });
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Most pipelined requests queued on one connection before it stops being read.
 *
 * Like nginx and Go, which read the next request only once they are ready for it, the
 * adapter applies back-pressure rather than refusing: pipelining is legal HTTP/1.1,
 * and a client that sent too much simply waits, its bytes left in the kernel's buffers.
 * Requests already read when the cap is reached (node:http parses a whole read at a
 * time: 64 KiB on Node) still queue, at O(1) each. 32 leaves room for well-behaved pipelining clients
 * (wrk's pipeline script sends 16 at a time).
 *
 * @example
 * ```ts
 * import { MAX_PIPELINED } from "./pipelining.ts";
 * console.log(`at most ${MAX_PIPELINED} queued requests per connection`);
 * ```
 */
export const MAX_PIPELINED = 32;

/** What node:http's connection keeps that this module reads or sets. */
type HttpSocket = Socket & {
  /**
   * node:http's own flood guard: while set, it pauses its parser after the current
   * read and does not resume the socket for a request body.
   */
  _paused?: boolean;
  /** The connection's parser (node:http, Deno's port of it; Bun has no pause here). */
  parser?: { pause?: () => void; resume?: () => void } | null;
  [QUEUE]?: Queue;
};

/** The per-connection count, made on the first pipelined request of a connection. */
interface Queue {
  /** Requests waiting for their turn. */
  waiting: number;
  /** Whether reading is stopped because `waiting` reached the cap. */
  held: boolean;
}

const QUEUE = Symbol("carafe.pipelined");

/**
 * Starts `start(im, res)` once `res` is at the head of its connection (when node:http
 * assigns it the socket), never before; call it for a response whose `socket` is
 * `null`. If the client leaves first, `start` is never called. Stops reading the
 * connection while more than {@linkcode MAX_PIPELINED} requests wait.
 *
 * @example
 * ```ts
 * import type { IncomingMessage, ServerResponse } from "node:http";
 * import { waitForTurn } from "./pipelining.ts";
 * function handler(im: IncomingMessage, res: ServerResponse): void {
 *   if (res.socket === null) return waitForTurn(im, res, handler);
 *   res.end("your turn");
 * }
 * ```
 */
export function waitForTurn(
  im: IncomingMessage,
  res: ServerResponse,
  start: (im: IncomingMessage, res: ServerResponse) => void,
): void {
  const socket = im.socket as HttpSocket | null;
  if (!socket) return;
  const queue = socket[QUEUE] ??= { waiting: 0, held: false };
  if (++queue.waiting >= MAX_PIPELINED && !queue.held) {
    queue.held = true;
    socket.on("resume", holdAgain);
    hold(socket);
  }
  res.on("socket", () => {
    if (--queue.waiting < MAX_PIPELINED && queue.held) {
      queue.held = false;
      socket.off("resume", holdAgain);
      release(socket);
    }
    // After node:http's assignSocket() has finished flushing: a reply ended inside its
    // `socket` event would be finished twice.
    queueMicrotask(() => {
      if (!socket.destroyed) start(im, res);
    });
  });
}

/** Stops reading, the way node:http's own flood guard does (the parser follows after this read). */
function hold(socket: HttpSocket): void {
  socket._paused = true;
  socket.pause();
}

/**
 * node:http resumes a paused connection by itself whenever the response being sent
 * drains: while the queue is full, pause again (parser included: this runs between
 * reads, where pausing it is safe).
 */
function holdAgain(this: HttpSocket): void {
  if (!this[QUEUE]?.held) return;
  hold(this);
  if (typeof this.parser?.pause === "function") this.parser.pause();
}

function release(socket: HttpSocket): void {
  socket._paused = false;
  if (typeof socket.parser?.resume === "function") socket.parser.resume();
  socket.resume();
}
