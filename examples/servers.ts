/**
 * One app, every server: `run()` takes the server by name, so how it is deployed is a
 * setting, not a code change (here: the SERVER environment variable).
 *
 *     deno run -A examples/servers.ts                       # auto: Deno.serve under Deno
 *     SERVER=node node npm/esm/examples/servers.js          # node:http (after npm run build:npm)
 *     SERVER=bun bun examples/servers.ts                    # Bun.serve
 *     SERVER=cluster WORKERS=2 bun examples/servers.ts      # pre-forked workers sharing the port
 *     SERVER=fastcgi PORT=9000 deno run -A examples/servers.ts   # behind nginx, Apache or lighttpd
 *     curl http://127.0.0.1:8080/                           # Served by the "auto" server on Deno (pid 1234)
 *
 * Under a web server's `cgi-bin`, `auto` (the default) answers one request as CGI.
 *
 * @module
 */
import process from "node:process";
import { Carafe, type RunOptions, run } from "../mod.ts";

const server = (process.env.SERVER ?? "auto") as RunOptions["server"];
const runtimeName = process.versions.bun ? "Bun" : process.versions.deno ? "Deno" : "Node";
const app = new Carafe();
app.get("/", () => `Served by the "${server}" server on ${runtimeName} (pid ${process.pid})\n`);

await run({
  app,
  server,
  workers: process.env.WORKERS ? Number(process.env.WORKERS) : undefined, // cluster only
  // host and port: from HOST and PORT when set, else 127.0.0.1:8080.
});
