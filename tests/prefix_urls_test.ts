// URLs and redirects of a Carafe app behind a web server that puts it under a prefix
// (FastCGI SCRIPT_NAME), with the deploy recipes from examples/deploy/: nginx (/app/,
// Debian's fastcgi_params sends HTTP_HOST without the port), Apache (/gapp/) and
// lighttpd (/app). url(name, params, req) and a redirect to it land inside the app; a
// redirect to "/todo" means the host's /todo, as in Bottle; req.url keeps the port.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { ChildProcess } from "node:child_process";
import { peer, stop, tempDir } from "./_helpers.ts";
import { apacheConf, freePort, lighttpdConf, nginxConf, startApache, startFcgiApp, startLighttpd, startNginx } from "./_gateway_peers.ts";

interface Answer {
  status: number;
  location?: string;
  text: string;
}

function httpReq(port: number, path: string, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, agent: false, headers: { "content-length": "0" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The checks every server must pass with the app under `prefix`. */
function prefixChecks(at: () => { port: number; prefix: string }): void {
  test("url(name, params, req) in a page links inside the app, and the link works", async () => {
    const { port, prefix } = at();
    const list = await httpReq(port, `${prefix}/todo`);
    assert.equal(list.status, 200);
    const href = /href="([^"]+)"/.exec(list.text)?.[1];
    assert.equal(href, `${prefix}/todo/0`);
    assert.deepEqual([(await httpReq(port, href!)).status, (await httpReq(port, href!)).text], [200, "item 0: write tests"]);
  });

  test("a POST redirects to redirect(app.url(name, params, req)): a relative Location inside the app", async () => {
    const { port, prefix } = at();
    const posted = await httpReq(port, `${prefix}/todo?text=deploy`, "POST");
    assert.equal(posted.status, 303);
    const id = /\/todo\/(\d+)$/.exec(posted.location ?? "")?.[1];
    assert.equal(posted.location, `${prefix}/todo/${id}`);
    assert.equal((await httpReq(port, posted.location!)).text, `item ${id}: deploy`);
  });

  test('redirect("todo/0") is relative to the request (inside the app); redirect("/todo") is the host\'s /todo', async () => {
    const { port, prefix } = at();
    assert.deepEqual(await httpReq(port, `${prefix}/to-relative`), { status: 303, location: `${prefix}/todo/0`, text: "" });
    assert.deepEqual(await httpReq(port, `${prefix}/to-root`), { status: 303, location: "/todo", text: "" });
  });

  test("req.url has the port the client used, and the prefix", async () => {
    const { port, prefix } = at();
    const where = JSON.parse((await httpReq(port, `${prefix}/where`)).text);
    assert.deepEqual(where, { url: `http://127.0.0.1:${port}${prefix}/where`, scriptName: `${prefix}/` });
  });
}

/** Starts the Carafe FastCGI fixture, then the web server from `start`; stops both after. */
function behind(
  name: string,
  prefix: string,
  start: (dir: string, port: number, app: number) => Promise<ChildProcess>,
): void {
  const found = peer(name);
  describe(`${name}: the app under ${prefix}`, { skip: found.skip }, () => {
    const dir = tempDir(`carafe-prefix-${name}-`);
    let web: ChildProcess | undefined, app: ChildProcess | undefined, port = 0;
    before(async () => {
      const appPort = await freePort();
      port = await freePort();
      app = (await startFcgiApp({ port: appPort }, { FIXTURE_APP: "carafe" })).child;
      web = await start(dir.path, port, appPort);
    });
    after(async () => {
      await Promise.all([web && stop(web), app && stop(app)]);
      dir.remove();
    });
    prefixChecks(() => ({ port, prefix }));
  });
}

behind("nginx", "/app", (dir, port, app) => {
  nginxConf(dir, { port, app });
  return startNginx(peer("nginx").path!, dir, port);
});
behind("apache2", "/gapp", (dir, port, app) => {
  apacheConf(dir, { port, app });
  return startApache(peer("apache2").path!, dir, port);
});
behind("lighttpd", "/app", (dir, port, app) => {
  lighttpdConf(dir, { port, app });
  return startLighttpd(peer("lighttpd").path!, dir, port);
});
