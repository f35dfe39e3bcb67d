/**
 * Server-sent events: {@linkcode sse} makes a route that streams events from a
 * generator (or any iterable, sync or async) in the `text/event-stream` format, with
 * the headers a browser's `EventSource` and a proxy need, a comment heartbeat, the
 * client's `Last-Event-ID`, and the generator stopped when the client leaves.
 *
 * An item is a string (sent as the event's data) or a {@linkcode ServerSentEvent}
 * (`data`, `event`, `id`, `retry`, `comment`); `data` that is not a string is sent as
 * its JSON. Multi-line data becomes one `data:` line per line, as the format requires.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { sse } from "./sse.ts";
 * const app = new Carafe();
 * app.get("/clock", sse(async function* (_req, { lastEventId, signal }) {
 *   let n = Number(lastEventId ?? 0);
 *   while (!signal.aborted) {
 *     yield { id: ++n, event: "tick", data: { now: new Date().toISOString() } };
 *     await new Promise((r) => setTimeout(r, 1000));
 *   }
 * }));
 * ```
 *
 * @module
 */
import { HTTPError } from "./errors.ts";
import type { CarafeRequest } from "./request.ts";
import type { CarafeResponse } from "./response.ts";

/**
 * One event. Every field is optional; an event with neither `data` nor `event` only
 * sets the id or retry (a browser dispatches nothing for it).
 *
 * @example
 * ```ts
 * import type { ServerSentEvent } from "./sse.ts";
 * const e: ServerSentEvent = { event: "price", id: 7, data: { symbol: "ACME", price: 12.5 } };
 * ```
 */
export interface ServerSentEvent {
  /** The payload: a string as it is (any newlines become several `data:` lines), anything else as JSON. */
  data?: unknown;
  /** The event type (`addEventListener(type)` in the browser); no newlines. */
  event?: string;
  /** The id the browser sends back as `Last-Event-ID` when it reconnects; no newlines or NUL. */
  id?: string | number;
  /** Milliseconds the browser waits before reconnecting. */
  retry?: number;
  /** A comment line (ignored by browsers; keeps proxies from timing out). */
  comment?: string;
}

/** What the event source gets besides the request. */
export interface SSEContext {
  /** The `Last-Event-ID` the browser sent on reconnecting (`undefined` on a first connection). */
  lastEventId: string | undefined;
  /** Aborted when the client leaves: a generator waiting for something should stop waiting. */
  signal: AbortSignal;
}

/** Options of {@linkcode sse}. */
export interface SSEOptions {
  /** Milliseconds between heartbeat comments while no event is sent. Default 15 000; `0` disables. */
  heartbeat?: number;
  /** A `retry:` (milliseconds) sent first, telling browsers how soon to reconnect. */
  retry?: number;
}

/** What an event source may yield. */
export type SSEItem = string | ServerSentEvent;

/** The function that makes a connection's events. */
export type SSESource<P> = (
  req: CarafeRequest<P>,
  context: SSEContext,
) => Iterable<SSEItem> | AsyncIterable<SSEItem> | Promise<Iterable<SSEItem> | AsyncIterable<SSEItem>>;

/** Longest `Last-Event-ID` accepted (ids are for the server's own bookkeeping; 1 KiB is plenty). */
const MAX_LAST_EVENT_ID = 1024;
const LINE_BREAK = /\r\n|\r|\n/;

function field(name: string, value: string, forbidden: RegExp): string {
  if (forbidden.test(value)) throw new TypeError(`A server-sent event's ${name} cannot contain a line break${name === "id" ? " or NUL" : ""}: ${JSON.stringify(value)}`);
  return `${name}: ${value}\n`;
}

/**
 * One event in the `text/event-stream` format, blank line included.
 *
 * @example
 * ```ts
 * import { formatEvent } from "./sse.ts";
 * formatEvent({ event: "greeting", data: "hello\nworld" }); // "event: greeting\ndata: hello\ndata: world\n\n"
 * formatEvent("plain"); // "data: plain\n\n"
 * ```
 */
export function formatEvent(item: SSEItem): string {
  if (typeof item === "string") return item.split(LINE_BREAK).map((l) => `data: ${l}\n`).join("") + "\n";
  if (item === null || typeof item !== "object") {
    throw new TypeError(`An event source yielded ${item === null ? "null" : typeof item}; yield a string or an object such as { data, event, id }.`);
  }
  let out = "";
  if (item.comment !== undefined) out += String(item.comment).split(LINE_BREAK).map((l) => `: ${l}\n`).join("");
  if (item.event !== undefined) out += field("event", String(item.event), /[\r\n]/);
  if (item.id !== undefined) out += field("id", String(item.id), /[\r\n\0]/);
  if (item.retry !== undefined) {
    if (!Number.isInteger(item.retry) || item.retry < 0) throw new TypeError(`A server-sent event's retry must be a whole number of milliseconds ≥ 0, got ${item.retry}`);
    out += `retry: ${item.retry}\n`;
  }
  if (item.data !== undefined) {
    const text = typeof item.data === "string" ? item.data : JSON.stringify(item.data);
    out += text.split(LINE_BREAK).map((l) => `data: ${l}\n`).join("");
  }
  return out + "\n";
}

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(": heartbeat\n\n");

/** The stream of one connection: events as the client reads them, heartbeats while it waits. */
function eventStream(
  open: () => Promise<Iterator<SSEItem> | AsyncIterator<SSEItem>>,
  abort: AbortController,
  options: SSEOptions,
): ReadableStream<Uint8Array> {
  let iterator: Iterator<SSEItem> | AsyncIterator<SSEItem> | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (options.retry !== undefined) controller.enqueue(encoder.encode(formatEvent({ retry: options.retry })));
      const every = options.heartbeat ?? 15_000;
      if (every > 0) {
        timer = setInterval(() => {
          // Only when the client has read what came before: a heartbeat never piles up.
          if ((controller.desiredSize ?? 0) > 0) {
            try {
              controller.enqueue(HEARTBEAT);
            } catch {
              stop();
            }
          }
        }, every);
      }
    },
    async pull(controller) {
      try {
        iterator ??= await open();
        const { done, value } = await iterator.next();
        if (done) {
          stop();
          controller.close();
        } else controller.enqueue(encoder.encode(formatEvent(value)));
      } catch (err) {
        stop();
        throw err;
      }
    },
    async cancel() {
      // The client left: wake a generator that waits, and end it (its finally blocks run).
      stop();
      abort.abort(new Error("The client closed the event stream."));
      await iterator?.return?.();
    },
  }, { highWaterMark: 1 });
}

/**
 * Makes a route handler that answers with server-sent events from `source`, called
 * per connection with the request and `{ lastEventId, signal }`. Sets
 * `Content-Type: text/event-stream`, `Cache-Control: no-cache` and
 * `X-Accel-Buffering: no` (nginx then passes each event on at once). When the client
 * leaves, `signal` aborts and the generator is ended (`return()`), so its `finally`
 * blocks run. A `Last-Event-ID` over 1 KiB gets 400.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { sse } from "./sse.ts";
 * const app = new Carafe();
 * app.get("/count", sse(function* () {
 *   for (let i = 1; i <= 3; i++) yield { id: i, data: `count ${i}` };
 * }, { heartbeat: 10_000, retry: 2000 }));
 * ```
 */
export function sse<P = Record<string, unknown>>(
  source: SSESource<P>,
  options: SSEOptions = {},
): (req: CarafeRequest<P>, res: CarafeResponse) => ReadableStream<Uint8Array> {
  if (typeof source !== "function") throw new TypeError("sse() needs a function (a generator function, say) that yields the events.");
  for (const name of ["heartbeat", "retry"] as const) {
    const v = options[name];
    if (v !== undefined && (typeof v !== "number" || !(v >= 0))) throw new RangeError(`sse(): ${name} must be a number of milliseconds ≥ 0, got ${String(v)}`);
  }
  return (req, res) => {
    const lastEventId = req.headers.get("last-event-id") ?? undefined;
    if (lastEventId !== undefined && lastEventId.length > MAX_LAST_EVENT_ID) {
      throw new HTTPError(400, `Last-Event-ID is longer than ${MAX_LAST_EVENT_ID} characters.`);
    }
    res.setHeader("content-type", "text/event-stream; charset=utf-8");
    res.setHeader("cache-control", "no-cache");
    res.setHeader("x-accel-buffering", "no");
    const abort = new AbortController();
    const open = async () => {
      const iterable = await source(req, { lastEventId, signal: abort.signal });
      if (iterable !== null && typeof iterable === "object") {
        if (Symbol.asyncIterator in iterable) return (iterable as AsyncIterable<SSEItem>)[Symbol.asyncIterator]();
        if (Symbol.iterator in iterable) return (iterable as Iterable<SSEItem>)[Symbol.iterator]();
      }
      throw new TypeError(`The event source for ${req.path} returned ${String(iterable)}; return a generator or another iterable of events.`);
    };
    return eventStream(open, abort, options);
  };
}
