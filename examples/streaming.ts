/**
 * Streaming: a generator's chunks go out as they are produced, pulled only as fast as
 * the client reads; its `finally` runs when the client leaves. `/events` is a stream of
 * server-sent events (`text/event-stream`) that a browser's `EventSource` reads.
 *
 *     deno run -A examples/streaming.ts       # or: bun examples/streaming.ts
 *     curl -N http://127.0.0.1:8080/count     # 1 2 3 4 5, one every 200 ms
 *     curl -N http://127.0.0.1:8080/events    # data: {"tick":1,...} every second
 *
 * @module
 */
import { Carafe, run } from "../mod.ts";

const app = new Carafe();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

app.get("/count", async function* (_req, res) {
  res.contentType = "text/plain; charset=utf-8";
  for (let i = 1; i <= 5; i++) {
    yield `${i}\n`;
    await sleep(200);
  }
});

app.get("/events", async function* (req, res) {
  res.setHeader("content-type", "text/event-stream");
  res.setHeader("cache-control", "no-cache");
  yield "retry: 1000\n\n"; // sends the headers now: the browser sees the stream open
  try {
    for (let tick = 1; tick <= 60 && !req.signal.aborted; tick++) {
      yield `data: ${JSON.stringify({ tick, time: new Date().toISOString() })}\n\n`;
      await sleep(1000);
    }
  } finally {
    console.error("an /events client left or the stream ended"); // runs in both cases
  }
});

app.get("/", () => `<!doctype html><title>Ticks</title><ul id="ticks"></ul>
<script>
  const source = new EventSource("/events");
  source.onmessage = (m) => {
    const li = document.createElement("li");
    li.textContent = JSON.parse(m.data).time;
    document.getElementById("ticks").prepend(li);
  };
</script>`);

await run({ app });
