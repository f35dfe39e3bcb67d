/**
 * One request's body on a FastCGI connection: the chunks of its STDIN records that the
 * app has not read yet, handed over through a `ReadableStream` the app pulls one chunk
 * at a time. Bytes waiting here count against the connection, which stops reading the
 * socket past `maxBufferedBody` (its flow control, ./connection.ts): the body reports
 * every change to its {@linkcode BodyOwner}.
 *
 * @example
 * ```ts
 * import { RequestBody } from "./body.ts";
 * const body = new RequestBody({ queued: () => {}, pulled: () => {}, flow: () => {} });
 * body.push(new TextEncoder().encode("a=1"));
 * body.finish(true);
 * console.log(await new Response(body.stream()).text()); // "a=1"
 * ```
 *
 * @module
 */

/** What a body tells its connection. */
export interface BodyOwner {
  /** `delta` bytes started (> 0) or stopped (< 0) waiting for the app. */
  queued(delta: number): void;
  /** The app took a chunk: reading may resume if it was paused for the body. */
  pulled(): void;
  /** Bytes were dropped or released: re-evaluate whether to read. */
  flow(): void;
}

/** The body of one request, from STDIN records to the app's stream. */
export class RequestBody {
  readonly #owner: BodyOwner;
  /** The stream's controller, while the app may still read it. */
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  /** Chunks received and not yet taken by the app. */
  #queue: Uint8Array[] = [];
  /** Their bytes, as counted against the connection. */
  #queued = 0;
  /** Whether queued bytes count against the connection (not once the request is over). */
  #counted = true;
  /** A read waiting for the next chunk. */
  #wake: (() => void) | null = null;
  /** How the body ended, once it did: `true`, or the error the reader gets. */
  end: true | Error | null = null;

  /**
   * A body with nothing received yet.
   *
   * @param owner the connection that counts its bytes
   */
  constructor(owner: BodyOwner) {
    this.#owner = owner;
  }

  /** Whether the app's stream is open (made and neither finished nor cancelled). */
  get reading(): boolean {
    return this.#controller !== null;
  }

  /** Hands a chunk to a waiting read, or queues it (and counts it against the connection). */
  push(chunk: Uint8Array): void {
    if (this.#wake && this.#controller) {
      const wake = this.#wake;
      this.#wake = null;
      this.#controller.enqueue(chunk);
      wake();
      return;
    }
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#owner.queued(chunk.length);
  }

  /** The body is complete (`true`) or failed: tell a waiting reader, or leave it for the next read. */
  finish(end: true | Error): void {
    if (this.end !== null) return;
    this.end = end;
    if (this.#queue.length === 0 && this.#wake && this.#controller) {
      const wake = this.#wake;
      this.#wake = null;
      if (end === true) this.#controller.close();
      else this.#controller.error(end);
      this.#controller = null;
      wake();
    }
  }

  /** Drops the queued bytes (the app will not read them). */
  drop(): void {
    if (this.#queued > 0) {
      this.#owner.queued(-this.#queued);
      this.#queue = [];
      this.#queued = 0;
      this.#owner.flow();
    }
  }

  /** The rest will never come: a reader gets `error` (never a silently short body). */
  fail(error: Error): void {
    if (this.end === null) this.end = error;
    this.drop();
    if (this.#controller) {
      try {
        this.#controller.error(error);
      } catch { /* already closed */ }
      this.#controller = null;
    }
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** The request is over: what is queued stays readable but no longer counts against the connection. */
  release(): void {
    if (this.#queued > 0) {
      this.#owner.queued(-this.#queued);
      this.#queued = 0;
      this.#owner.flow();
    }
    this.#counted = false;
  }

  /** The stream handed to the app: it pulls queued chunks one by one. */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: (controller) => {
          const chunk = this.#queue.shift();
          if (chunk) {
            if (this.#counted) {
              this.#queued -= chunk.length;
              this.#owner.queued(-chunk.length);
            }
            controller.enqueue(chunk);
            this.#owner.pulled();
            return;
          }
          if (this.end !== null) {
            this.#controller = null;
            if (this.end === true) controller.close();
            else controller.error(this.end);
            return;
          }
          return new Promise<void>((resolve) => (this.#wake = resolve));
        },
        cancel: () => {
          this.#controller = null;
          this.#wake = null;
          this.drop();
        },
      },
      { highWaterMark: 0 },
    );
  }
}
