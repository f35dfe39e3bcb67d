// The runtime's own WebSocket server, written by hand: Deno.upgradeWebSocket, Bun.serve's
// websocket handlers, and on Node the `ws` package (what Node apps use; Node has no
// server of its own). A WebSocket echo at /echo. PORT from the environment.
const port = Number(globalThis.process?.env?.PORT ?? globalThis.Deno?.env.get("PORT") ?? 3000);

if (globalThis.Deno) {
  globalThis.Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const { socket, response } = globalThis.Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
} else if (globalThis.Bun) {
  globalThis.Bun.serve({
    port,
    hostname: "127.0.0.1",
    fetch: (req, server) => (server.upgrade(req) ? undefined : new Response("expected a WebSocket", { status: 426 })),
    websocket: { message: (ws, message) => void ws.send(message) },
  });
} else {
  const { WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ port, host: "127.0.0.1", path: "/echo" });
  wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
}
