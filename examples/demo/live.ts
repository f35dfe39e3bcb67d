/**
 * The live part of the demo: the activity feed as server-sent events. Every process
 * polls the shared store, so an item added through one cluster worker reaches browsers
 * connected to another.
 *
 * @example
 * ```ts
 * import { Carafe } from "../../mod.ts";
 * import { Store } from "./store.ts";
 * import { activity, eventStream } from "./live.ts";
 * const app = new Carafe();
 * const store = new Store("/tmp/demo-data");
 * app.get("/events", (req) => eventStream(activity({ store, since: 0, signal: req.signal })));
 * ```
 *
 * @module
 */
import { HTTPResponse } from "../../mod.ts";
import { describeEvent } from "./context.ts";
import type { Store } from "./store.ts";

/** One server-sent event. */
export interface LiveEvent {
  id?: number;
  data: string;
}

/**
 * The one place that writes the `text/event-stream` format: when Carafe ships its own
 * server-sent-events helper, this function becomes a call to it.
 */
export function eventStream(events: AsyncIterable<LiveEvent>): HTTPResponse {
  async function* lines() {
    // Sent at once, so the browser sees the stream open before the first event.
    yield "retry: 2000\n\n";
    for await (const event of events) yield `${event.id === undefined ? "" : `id: ${event.id}\n`}data: ${event.data}\n\n`;
  }
  return new HTTPResponse(lines(), 200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    // nginx buffers FastCGI and proxied answers unless told not to.
    "x-accel-buffering": "no",
  });
}

/** Options of {@linkcode activity}. */
export interface ActivityOptions {
  store: Store;
  /** Send the events after this `seq` (the page says which it already shows). */
  since: number;
  /** Ends the feed (the client went away). */
  signal: AbortSignal;
  /** How often the store is read, in ms. */
  pollMs?: number;
  /**
   * How long one stream lasts, in ms. The browser reconnects by itself (with
   * `Last-Event-ID`), so a stream never holds a connection, or a server's shutdown, for long.
   */
  lifetimeMs?: number;
}

/** The store's new events, as they are appended, until the client leaves or the lifetime ends. */
export async function* activity(o: ActivityOptions): AsyncGenerator<LiveEvent> {
  const until = Date.now() + (o.lifetimeMs ?? 30_000);
  let seen = o.since;
  while (!o.signal.aborted && Date.now() < until) {
    const state = await o.store.state();
    if (seen > state.lastSeq) seen = state.lastSeq; // a data folder that was reset
    const text = (id: string) => state.todos.find((t) => t.id === id)?.text;
    for (const event of state.activity) {
      if (event.seq <= seen) continue;
      seen = event.seq;
      yield { id: event.seq, data: JSON.stringify({ seq: event.seq, type: event.type, at: event.at, message: describeEvent(event, text) }) };
    }
    await sleep(o.pollMs ?? 400, o.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
