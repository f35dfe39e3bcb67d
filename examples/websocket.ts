/**
 * WebSockets with Carafe: an echo at `/echo` (every message sent back as it came, text
 * as text and binary as binary) and a chat room at `/chat`, with a page at `/` to try
 * the room in a browser. Listens on the port in `PORT` (default 8080):
 *
 *     deno run -A examples/websocket.ts
 *     bun examples/websocket.ts
 *     node npm/esm/examples/websocket.js     (after `npm run build:npm`)
 *
 * @module
 */
import { Carafe, type CarafeWebSocket, run, websocket } from "../mod.ts";

const app = new Carafe();

app.get("/echo", websocket({
  message: (ws, data) => void ws.send(data),
}));

/** Everyone in the room; a name per socket, from `?name=` at connect time. */
const room = new Map<CarafeWebSocket, string>();
const broadcast = (text: string) => {
  for (const peer of room.keys()) peer.send(text);
};

app.get("/chat", websocket((req) => {
  const name = (req.query.get("name") ?? "").trim().slice(0, 32) || `guest-${room.size + 1}`;
  return {
    open(ws) {
      room.set(ws, name);
      broadcast(`* ${name} joined (${room.size} here)`);
    },
    message(_ws, data) {
      if (typeof data === "string") broadcast(`${name}: ${data.slice(0, 1000)}`);
    },
    close(ws) {
      room.delete(ws);
      broadcast(`* ${name} left`);
    },
  };
}, { maxMessageSize: 4096 }));

app.get("/", (_req, res) => {
  res.contentType = "text/html; charset=UTF-8";
  return `<!doctype html><meta charset="utf-8"><title>Carafe chat</title>
<pre id="log"></pre><form id="f"><input id="msg" autofocus autocomplete="off"> <button>Send</button></form>
<script>
const log = document.getElementById("log");
const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/chat?name=" + encodeURIComponent(prompt("Your name?") || ""));
ws.onmessage = (e) => { log.textContent += e.data + "\\n"; };
ws.onclose = (e) => { log.textContent += "(closed " + e.code + ")\\n"; };
document.getElementById("f").onsubmit = (e) => { e.preventDefault(); const m = document.getElementById("msg"); ws.send(m.value); m.value = ""; };
</script>`;
});

run({ app, port: Number(globalThis.process?.env?.PORT ?? 8080) });
