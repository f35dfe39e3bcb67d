// The reference's nginx recipe for WebSockets (examples/deploy/websocket-nginx.conf, only
// its port changed) in front of tests/fixtures/websocket_app.ts on the runtime's own
// server and `node`: the handshake passes through, messages go both ways in every
// length form, the close handshake completes, ordinary requests still work, and a
// server-sent event (with its event-stream headers) arrives while its stream is open.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { here, peer, runtime, sourceFile, spawnScript, stop, tempDir, waitForOutput } from "./_helpers.ts";
import { freePort, startNginx } from "./_gateway_peers.ts";
import { connect } from "./_websocket_client.ts";

const nginx = peer("nginx");
const servers = runtime === "node" ? ["node"] : [runtime, "node"];
const deployDir = here("examples/deploy/nginx.conf").replace(/npm\/esm\/examples/, "examples").replace(/nginx\.conf$/, "");

/** nginx.conf around the recipe: its http part, and its server part in a server on `port`. */
function configFor(dir: string, port: number, app: number): void {
  const recipe = readFileSync(join(deployDir, "websocket-nginx.conf"), "utf8");
  assert.ok(recipe.includes("127.0.0.1:8080"), "the recipe no longer names port 8080: update this test");
  const text = recipe.replace("127.0.0.1:8080", `127.0.0.1:${app}`);
  const at = text.indexOf("# In server { }:");
  assert.ok(at > 0, "the recipe's '# In server { }:' part is missing");
  const conf = `
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  scgi_temp_path tmp/scgi; uwsgi_temp_path tmp/uwsgi;
  ${text.slice(0, at)}
  server {
    listen 127.0.0.1:${port};
    ${text.slice(at)}
  }
}
`;
  for (const d of ["tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/scgi", "tmp/uwsgi"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "nginx.conf"), conf);
}

for (const server of servers) {
  describe(`websocket through nginx to ${server} (under ${runtime})`, { skip: nginx.skip }, () => {
    let app: ChildProcess;
    let web: ChildProcess | undefined;
    let port = 0;
    const dir = tempDir("carafe-wsnginx-");
    before(async () => {
      app = spawnScript(here("tests/fixtures/websocket_app.ts"), [], { env: { WS_SERVER: server } });
      const m = await waitForOutput(app, /Listening on http:\/\/127\.0\.0\.1:(\d+)\//, 30_000);
      port = await freePort();
      configFor(dir.path, port, Number(m[1]));
      web = await startNginx(nginx.path!, dir.path, port);
    });
    after(async () => {
      if (web) await stop(web);
      await stop(app);
      dir.remove();
    });

    test("echo through the proxy: text, binary, 16- and 64-bit lengths, then the close handshake", async () => {
      const ws = await connect(port, { path: "/echo" });
      ws.send("through nginx");
      assert.equal(await ws.message(), "through nginx");
      for (const size of [3, 300, 70_000]) {
        const data = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
        ws.send(data);
        assert.deepEqual(await ws.message(), data);
      }
      ws.close(1000, "bye");
      assert.equal((await ws.closeFrame())?.code, 1000);
      await ws.tcpClosed();
    });

    test("a chat across 20 clients through the proxy", async () => {
      const clients = await Promise.all(Array.from({ length: 20 }, () => connect(port, { path: "/chat" })));
      clients.forEach((c, i) => c.send(`m${i}`));
      for (const c of clients) {
        const got = new Set<string>();
        while (got.size < 20) got.add(await c.message() as string);
      }
      clients.forEach((c) => c.destroy());
    });

    test("ordinary requests still pass (and a plain GET to the socket's route gets 426)", async () => {
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/plain`)).text(), "just HTTP");
      const r = await fetch(`http://127.0.0.1:${port}/echo`);
      assert.equal(r.status, 426);
      await r.text();
    });

    test("a server-sent event arrives through the proxy while its stream is still open", async () => {
      const first = await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/events", agent: false }, (res) => {
          assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
          assert.equal(res.headers["cache-control"], "no-cache");
          let seen = "";
          res.on("data", (d) => {
            seen += d;
            if (seen.includes("\n\n")) {
              req.destroy();
              resolve(seen);
            }
          });
        });
        req.on("error", (err) => (err.message.includes("socket hang up") ? undefined : reject(err)));
      });
      assert.equal(first, "id: 1\ndata: first\n\n");
    });
  });
}

test("the reference shows examples/deploy/websocket-nginx.conf verbatim (the file these tests start)", () => {
  const reference = readFileSync(sourceFile("docs/reference.md"), "utf8");
  const blocks = [...reference.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.includes(readFileSync(join(deployDir, "websocket-nginx.conf"), "utf8")), "docs/reference.md: a block must be the recipe verbatim");
});
