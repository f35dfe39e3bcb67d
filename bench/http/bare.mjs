// Bare server of the runtime running this file: Deno.serve, Bun.serve or node:http.
// Same four routes as the framework servers, written by hand. PORT from the environment.
const port = Number(globalThis.process?.env?.PORT ?? globalThis.Deno?.env.get("PORT") ?? 3000);
const hello = "Hello, World!";

function route(method, url) {
  // url: path + query
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  if (path === "/") return [200, "text/plain; charset=UTF-8", hello];
  if (path === "/json" && method === "GET") return [200, "application/json", JSON.stringify({ hello: "world" })];
  if (path.startsWith("/user/")) {
    const name = new URLSearchParams(q < 0 ? "" : url.slice(q + 1)).get("name");
    return [200, "text/plain; charset=UTF-8", `User ${path.slice(6)} ${name}`];
  }
  return [404, "text/plain", "Not Found"];
}

if (globalThis.Deno) {
  globalThis.Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    if (req.method === "POST") return Response.json(await req.json());
    const u = req.url;
    const [status, type, text] = route(req.method, u.slice(u.indexOf("/", 8)));
    return new Response(text, { status, headers: { "content-type": type } });
  });
} else if (globalThis.Bun) {
  globalThis.Bun.serve({
    port,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (req.method === "POST") return Response.json(await req.json());
      const u = req.url;
      const [status, type, text] = route(req.method, u.slice(u.indexOf("/", 8)));
      return new Response(text, { status, headers: { "content-type": type } });
    },
  });
} else {
  const { createServer } = await import("node:http");
  createServer((req, res) => {
    if (req.method === "POST") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const out = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString()));
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
        res.end(out);
      });
      return;
    }
    const [status, type, text] = route(req.method, req.url);
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
    res.end(text);
  }).listen(port, "127.0.0.1");
}
