// Redirect targets a browser could read as another host (`/\evil.com`, `//evil.com`,
// `/<TAB>/evil.com`…), non-ASCII ones, and requests whose Host cannot be parsed
// (`x:99999`, `x:abc`, `[::1`): a redirect is never a 500 and never leaves the host
// unless the target was an absolute URL. In-process through app.handle() with a request
// carrying an unparseable URL (as the gateways hand over), then
// over real sockets: the node adapter (which refuses such a Host with 400) and the FastCGI gateway.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { Carafe, redirect } from "../mod.ts";
import { runtime, stop } from "./_helpers.ts";
import { rawExchange, startFixture, type Started } from "./_native_helpers.ts";
import { FcgiClient, get, request as fcgiRequest, startFcgiApp } from "./_gateway_peers.ts";

/** Targets that must stay on the host, and the Location each must become. */
const SAME_HOST: Array<[string, string]> = [
  ["/\\evil.com", "/evil.com"],
  ["/\tevil.com", "/evil.com"],
  ["/\t/evil.com", "/evil.com"],
  ["//evil.com", "/evil.com"],
  ["//evil.com/x?y=1", "/evil.com/x?y=1"],
  ["\\\\evil.com", "/evil.com"],
  ["/\\/evil.com", "/evil.com"],
  [" //evil.com", "/evil.com"],
  ["/.//evil.com", "/evil.com"],
  ["/%5Cevil.com", "/%5Cevil.com"],
  ["/瓶?q=ü", "/%E7%93%B6?q=%C3%BC"],
  ["/todo", "/todo"],
  ["todo", "/app/todo"],
  ["../x", "/x"],
];

const HOSTS = ["x:99999", "x:abc", "[::1", "localhost"];

/** Where a browser on `http://victim.test/app/go` goes for `location`. */
const landsOn = (location: string) => new URL(location, "http://victim.test/app/go").host;

function app(): Carafe {
  const a = new Carafe({ logger: () => {} });
  a.get("/go", (req) => redirect(req.query.get("to") ?? "/"));
  return a;
}

/** A request as the node adapter or a gateway hands it over: its URL need not parse. */
function requestLike(url: string): Request {
  return { method: "GET", url, headers: new Headers(), signal: new AbortController().signal, body: null } as unknown as Request;
}

describe("redirect targets and unparseable Hosts, in-process", () => {
  test("each target stays on the host and becomes the exact path, whatever the Host", async () => {
    for (const host of HOSTS) {
      for (const [target, expected] of SAME_HOST) {
        const reply = await app().handle(requestLike(`http://${host}/go?to=${encodeURIComponent(target)}`), { scriptName: "/app" });
        const location = reply.headers.get("location") ?? "";
        assert.deepEqual([reply.status, location], [303, expected], `${JSON.stringify(target)} with Host ${host}`);
        assert.equal(landsOn(location), "victim.test", location);
      }
    }
  });

  test("an absolute URL is the one target that may name another host", async () => {
    const reply = await app().handle(requestLike(`http://x:abc/go?to=${encodeURIComponent("https://other.example/a")}`));
    assert.deepEqual([reply.status, reply.headers.get("location")], [303, "https://other.example/a"]);
  });
});

describe(`node adapter under ${runtime}: redirects whatever the Host`, () => {
  let s: Started;
  let port = 0;
  before(async () => {
    s = await startFixture("node", { NA_QUIET: "1" });
    port = Number(new URL(s.url).port);
  });
  after(async () => {
    await stop(s.child);
  });

  test("never a 500, never another host; a Host that is not host[:port] is a 400; the server keeps serving", async () => {
    for (const host of HOSTS) {
      const valid = host === "localhost"; // x:99999, x:abc and [::1 are refused with 400 (RFC 9112 §3.2)
      for (const [target, expected] of SAME_HOST.filter(([t]) => t.startsWith("/") || t.startsWith("\\"))) {
        const head = `GET /go?to=${encodeURIComponent(target)} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
        const { text } = await rawExchange(port, head, 5000);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        const location = /\r\nlocation: ([^\r]*)\r\n/i.exec(text)?.[1];
        assert.deepEqual([status, location], valid ? [303, expected] : [400, undefined], `${JSON.stringify(target)} with Host ${host}: ${text}`);
      }
    }
    assert.doesNotMatch(s.stderr(), /Error/, "nothing was logged as an error");
  });
});

describe(`FastCGI gateway under ${runtime}: redirects whatever HTTP_HOST says`, () => {
  let child: ChildProcess;
  let port = 0;
  before(async () => {
    const started = await startFcgiApp({ port: 0 }, { FIXTURE_APP: "carafe" });
    child = started.child;
    port = Number(started.url.split(":").pop());
  });
  after(async () => {
    await stop(child);
  });

  test("a redirect under the prefix: a path inside the app, never a 500", async () => {
    for (const host of [...HOSTS, "x/admin", "u@x"]) {
      const c = await FcgiClient.connect(port);
      try {
        c.send(fcgiRequest(1, get("/to-relative", [["HTTP_HOST", host]])));
        await c.ended(1);
        const r = c.response(1);
        assert.deepEqual([r.status, r.headers.get("location")?.[0]], [303, "/app/todo/0"], `HTTP_HOST ${host}`);
      } finally {
        c.close();
      }
    }
  });
});
