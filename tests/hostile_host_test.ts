// Hostile Host headers, sent over raw node:net connections: no Host, an empty one, and
// values that would change a URL built from them (`x/admin`, `x?y`, `u@x`…) or cannot
// be parsed (`x:99999`, `[::1`). Each request is answered 400 or routed strictly by its
// request target (never by a path built from Host), and the server keeps serving.
// The deno/bun adapter runs under its own runtime, node everywhere; the FastCGI gateway
// gets the same values as HTTP_HOST.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { runtime, stop } from "./_helpers.ts";
import { rawExchange, startFixture, type Started } from "./_native_helpers.ts";
import { FcgiClient, get, request as fcgiRequest, startFcgiApp } from "./_gateway_peers.ts";

/** Host header values: `undefined` sends none. */
const HOSTS: Array<string | undefined> = [undefined, "", "x/admin", "x?y", "x#y", "u@x", "x y", "x:99999", "x:abc", "[::1", "x\\y", "x%2fy"];

const servers = runtime === "node" ? ["node"] : [runtime, "node"];

/** One raw request; resolves with the status and body once the server closes. */
async function raw(port: number, target: string, host: string | undefined, version = "1.0"): Promise<{ status: number; body: string }> {
  const head = `GET ${target} HTTP/${version}\r\n${host === undefined ? "" : `Host: ${host}\r\n`}Connection: close\r\n\r\n`;
  const { text } = await rawExchange(port, head, 5000);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

/** The path of an absolute URL string as a server built it: what follows the authority. */
function pathAfterAuthority(url: string): string {
  const start = url.indexOf("://") + 3;
  const slash = url.indexOf("/", start);
  return slash < 0 ? "" : url.slice(slash);
}

for (const server of servers) {
  describe(`${server} adapter under ${runtime}: hostile Host headers`, () => {
    let s: Started;
    let port = 0;
    before(async () => {
      s = await startFixture(server, { NA_QUIET: "1" });
      port = Number(new URL(s.url).port);
    });
    after(async () => {
      await stop(s.child);
    });

    for (const host of HOSTS) {
      for (const version of host === undefined ? ["1.0", "1.1"] : ["1.1"]) {
        const label = host === undefined ? `no Host (HTTP/${version})` : `Host ${JSON.stringify(host)}`;
        test(`${label}: 400, or routed by the request target alone; the server keeps serving`, async () => {
          const routed = await raw(port, "/user/7", host, version);
          if (routed.status !== 400) {
            assert.equal(routed.status, 200, `GET /user/7 with ${label}: ${routed.body}`);
            assert.equal(JSON.parse(routed.body).id, 7);
            const seen = await raw(port, "/ip", host, version);
            assert.equal(seen.status, 200, seen.body);
            // The URL the app saw: its path is the request target, nothing from Host.
            assert.equal(pathAfterAuthority(JSON.parse(seen.body).url), "/ip");
          }
          // Bun would answer "/" for a bare "/health": the first segment must not be dropped.
          const probe = await raw(port, "/", host, version);
          assert.ok(probe.status === 400 || probe.body === "Hello, World!", `GET / with ${label}: ${probe.status} ${probe.body}`);
          assert.equal((await raw(port, "/", "127.0.0.1")).body, "Hello, World!");
        });
      }
    }

    test("a Host that is not host[:port] is a 400 (RFC 9112 §3.2), as nginx answers", async () => {
      for (const host of ["x/admin", "x?y", "x#y", "u@x", "x y", "x:99999", "x:abc", "[::1", "x\\y", "x%2fy"]) {
        assert.equal((await raw(port, "/user/7", host, "1.1")).status, 400, `Host ${JSON.stringify(host)}`);
      }
      for (const host of ["example.com", "example.com:8080", "127.0.0.1:1", "[::1]:8080", "[::1]"]) {
        assert.equal((await raw(port, "/user/7", host, "1.1")).status, 200, `Host ${JSON.stringify(host)}`);
      }
    });
  });
}

describe(`FastCGI gateway under ${runtime}: hostile HTTP_HOST`, () => {
  let app: ChildProcess;
  let port = 0;
  before(async () => {
    const started = await startFcgiApp({ port: 0 }, { FIXTURE_APP: "carafe" });
    app = started.child;
    port = Number(started.url.split(":").pop());
  });
  after(async () => {
    await stop(app);
  });

  test("routing follows SCRIPT_NAME/PATH_INFO whatever HTTP_HOST says; the URL's host falls back to SERVER_NAME", async () => {
    for (const host of HOSTS) {
      const c = await FcgiClient.connect(port);
      try {
        const extra: [string, string][] = host === undefined ? [] : [["HTTP_HOST", host]];
        c.send(fcgiRequest(1, get("/where", extra)));
        await c.ended(1);
        const r = c.response(1);
        assert.equal(r.status, 200, `HTTP_HOST ${JSON.stringify(host)}: ${r.text}`);
        const url = JSON.parse(r.text).url;
        assert.equal(pathAfterAuthority(url), "/app/where", url);
        assert.equal(new URL(url).pathname, "/app/where", url);
      } finally {
        c.close();
      }
    }
  });
});
