// WebSocket routes on real sockets: the runtime's own server (Deno.upgradeWebSocket,
// Bun's server.upgrade) and `node` (Carafe's RFC 6455 code) under every runtime, with
// the runtime's own WebSocket client where it has one, and a raw client
// (tests/_websocket_client.ts) for what real clients never send. Also the cluster,
// shutdown, app.fetch() without a server, and run()'s refusal of FastCGI/CGI.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { collect, here, peer, runtime, spawnScript, stop, waitForOutput } from "./_helpers.ts";
import { connect, connectRaw, type RawWebSocket } from "./_websocket_client.ts";
import { freePort } from "./_gateway_peers.ts";
import { closePayload, encodeFrame, Opcode } from "../adapters/websocket/frames.ts";
import { Carafe } from "../mod.ts";
import { run } from "../adapters/mod.ts";
import { websocket } from "../core/websocket.ts";
import { webSocketNotice } from "../adapters/websocket/unsupported.ts";

const servers = runtime === "node" ? ["node"] : [runtime, "node"];
const chromium = peer("chromium");
const utf8 = (s: string) => new TextEncoder().encode(s);

interface Fixture {
  child: ChildProcess;
  port: number;
  stderr(): string;
}

async function startApp(env: Record<string, string>): Promise<Fixture> {
  const child = spawnScript(here("tests/fixtures/websocket_app.ts"), [], { env });
  let err = "";
  child.stderr?.on("data", (d) => (err += d));
  const m = await waitForOutput(child, /Listening on http:\/\/127\.0\.0\.1:(\d+)\//, 30_000);
  return { child, port: Number(m[1]), stderr: () => err };
}

type Stats = { closes: Array<{ route: string; code: number; reason: string }>; errors: string[]; open: number };
async function stats(port: number): Promise<Stats> {
  return await (await fetch(`http://127.0.0.1:${port}/stats`)).json() as Stats;
}
/** Polls /stats until a close of `route` is recorded. */
async function closeOf(port: number, route: string): Promise<{ code: number; reason: string }> {
  for (let i = 0; i < 200; i++) {
    const c = (await stats(port)).closes.find((x) => x.route === route);
    if (c) return c;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no close recorded for ${route}`);
}

/** Polls `check` until it holds (or fails after 10 s). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition not reached within 10 s");
}

/** The runtime's own client: resolves with the messages received once it has `count` of them. */
function nativeExchange(url: string, send: Array<string | Uint8Array>, count: number): Promise<Array<string | Uint8Array>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const got: Array<string | Uint8Array> = [];
    ws.onopen = () => send.forEach((m) => ws.send(m as string | Uint8Array<ArrayBuffer>));
    ws.onmessage = (e) => {
      got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
      if (got.length === count) {
        ws.close(1000);
        resolve(got);
      }
    };
    ws.onerror = () => reject(new Error(`WebSocket error on ${url}`));
  });
}

for (const server of servers) {
  describe(`websocket on ${server} under ${runtime}`, () => {
    let f: Fixture;
    before(async () => {
      f = await startApp({ WS_SERVER: server });
    });
    after(async () => {
      await stop(f.child);
    });

    test("echo, text and binary (raw client)", async () => {
      const ws = await connect(f.port, { path: "/echo" });
      ws.send("héllo");
      assert.equal(await ws.message(), "héllo");
      ws.send(new Uint8Array([0, 1, 255]));
      assert.deepEqual([...(await ws.message()) as Uint8Array], [0, 1, 255]);
      ws.close(1000, "done");
      assert.equal((await ws.closeFrame())?.code, 1000);
      await ws.tcpClosed();
      assert.deepEqual((await closeOf(f.port, "echo")), { route: "echo", code: 1000, reason: "done" });
    });

    test("echo with the runtime's own WebSocket client", { skip: typeof WebSocket !== "function" && "no global WebSocket in this runtime (Node 20)" }, async () => {
      const got = await nativeExchange(`ws://127.0.0.1:${f.port}/echo`, ["one", new Uint8Array([7, 8])], 2);
      assert.equal(got[0], "one");
      assert.deepEqual([...(got[1] as Uint8Array)], [7, 8]);
    });

    test("a real browser page opens the socket and gets its text and bytes back", { skip: chromium.skip }, async () => {
      const browser = spawn(chromium.path!, [
        "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "--virtual-time-budget=10000",
        `http://127.0.0.1:${f.port}/page`,
      ], { stdio: ["ignore", "pipe", "pipe"] });
      const guard = setTimeout(() => browser.kill("SIGKILL"), 30_000); // a browser we started, by its handle
      const out = await collect(browser);
      clearTimeout(guard);
      assert.match(out.stdout, /echoed: from the browser \| 1,2,250/, out.stderr.slice(-2000));
    });

    test("a plain request to a WebSocket route gets 426 with Upgrade: websocket; a bad handshake 400/426", async () => {
      const plain = await fetch(`http://127.0.0.1:${f.port}/echo`);
      assert.equal(plain.status, 426);
      assert.equal(plain.headers.get("upgrade"), "websocket");
      await plain.text();
      const oldVersion = await connectRaw(f.port, { path: "/echo", headers: { "Sec-WebSocket-Version": "8" } });
      assert.ok("refused" in oldVersion && oldVersion.status === 426, JSON.stringify(oldVersion));
      assert.match(oldVersion.head, /sec-websocket-version: 13/i);
      const badKey = await connectRaw(f.port, { path: "/echo", headers: { "Sec-WebSocket-Key": "short" } });
      assert.ok("refused" in badKey && badKey.status === 400, JSON.stringify(badKey));
    });

    test("an upgrade to a normal route gets that route's answer, not 101, and the server keeps serving", async () => {
      const r = await connectRaw(f.port, { path: "/plain" });
      assert.ok("refused" in r, "the server switched protocols on a normal route");
      assert.equal(r.status, 200);
      assert.equal(r.body, "just HTTP");
      const missing = await connectRaw(f.port, { path: "/nope" });
      assert.ok("refused" in missing && missing.status === 404);
      assert.equal(await (await fetch(`http://127.0.0.1:${f.port}/plain`)).text(), "just HTTP");
    });

    test("auth before accepting: signed cookie, params, remoteAddr, subprotocol, origin, Set-Cookie on the 101", async () => {
      const anonymous = await connectRaw(f.port, { path: "/auth/lobby", headers: { Origin: "http://good.example" } });
      assert.ok("refused" in anonymous && anonymous.status === 403, JSON.stringify(anonymous));
      const signed = await fetch(`http://127.0.0.1:${f.port}/sign`);
      const cookie = signed.headers.get("set-cookie")!.split(";")[0];
      await signed.text();
      const foreign = await connectRaw(f.port, { path: "/auth/lobby", headers: { Cookie: cookie, Origin: "http://evil.example" } });
      assert.ok("refused" in foreign && foreign.status === 403);
      const ws = await connect(f.port, {
        path: "/auth/lobby",
        headers: { Cookie: cookie, Origin: "http://good.example", "Sec-WebSocket-Protocol": "other, chat.v1" },
      });
      assert.match(ws.head, /^set-cookie: seen=1/im);
      assert.match(ws.head, /^sec-websocket-protocol: chat\.v1$/im);
      const hello = JSON.parse(await ws.message() as string);
      assert.equal(hello.user, "ada");
      assert.equal(hello.room, "lobby");
      assert.equal(hello.protocol, "chat.v1");
      assert.match(hello.remoteAddr, /127\.0\.0\.1$/);
      ws.destroy();
    });

    test("chat: 100 clients, each message broadcast to all of them", async () => {
      const clients: RawWebSocket[] = [];
      for (let i = 0; i < 100; i++) clients.push(await connect(f.port, { path: "/chat" }));
      clients.forEach((c, i) => c.send(`from ${i}`));
      const seen = await Promise.all(clients.map(async (c) => {
        const got = new Set<string>();
        while (got.size < 100) got.add(await c.message() as string);
        return got;
      }));
      for (const got of seen) assert.equal(got.size, 100);
      clients.forEach((c) => c.destroy());
    });

    test("a message over maxMessageSize closes with 1009", async () => {
      const ws = await connect(f.port, { path: "/echo" });
      ws.send(new Uint8Array(100_001));
      assert.equal((await ws.closeFrame())?.code, 1009);
      ws.destroy();
    });

    test("a client that stops reading: send() past maxBufferedAmount closes with 1008; drained() paces the sender", async () => {
      const flood = await connect(f.port, { path: "/flood" });
      flood.pause();
      // The server gives up on the non-reader (its error handler hears of it); once the
      // client reads again, the close frame (1008) is behind what was buffered.
      await waitFor(async () => (await stats(f.port)).errors.some((e) => e.startsWith("flood:") && e.includes("maxBufferedAmount")));
      flood.resume();
      assert.equal((await flood.closeFrame(20_000))?.code, 1008);
      flood.close(1008);
      assert.equal((await closeOf(f.port, "flood")).code, 1008);
      flood.destroy();
      const paced = await connect(f.port, { path: "/paced" });
      paced.pause();
      await new Promise((r) => setTimeout(r, 300));
      paced.resume();
      let binary = 0;
      for (;;) {
        const m = await paced.message();
        if (m === "done") break;
        binary++;
      }
      assert.equal(binary, 64);
      paced.destroy();
      assert.equal((await fetch(`http://127.0.0.1:${f.port}/plain`)).status, 200);
    });

    test("a peer that answers no ping is dropped after idleTimeout", async () => {
      const ws = await connect(f.port, { path: "/idle" });
      // The raw client never answers pings: the server must give up on it.
      const ping = await ws.next(5000);
      assert.equal(ping?.kind, "ping");
      await ws.tcpClosed(10_000);
      const closed = await closeOf(f.port, "idle");
      assert.ok([1006, 1001, 1011].includes(closed.code), `idle close code ${closed.code}`);
    });

    test("an exception in open closes with 1011 and reaches the error handler", async () => {
      const ws = await connect(f.port, { path: "/boom" });
      assert.equal((await ws.closeFrame())?.code, 1011);
      ws.destroy();
      const s = await stats(f.port);
      assert.ok(s.errors.some((e) => e.includes("open failed on purpose")), JSON.stringify(s.errors));
    });

    test("server-initiated close: the app's code and reason arrive, the echo ends the TCP connection", async () => {
      const ws = await connect(f.port, { path: "/bye" });
      assert.deepEqual(await ws.closeFrame(), { code: 4000, reason: "bye now" });
      ws.close(4000);
      await ws.tcpClosed();
    });
  });
}

describe(`node's RFC 6455 implementation over raw sockets (under ${runtime})`, () => {
  let f: Fixture;
  before(async () => {
    f = await startApp({ WS_SERVER: "node" });
  });
  after(async () => {
    await stop(f.child);
  });

  const frame = (ws: RawWebSocket, opcode: number, payload: Uint8Array | string, fin = true) => ws.frame(opcode, payload, fin);

  test("a fragmented message (with a ping between fragments) is echoed whole; the ping gets its pong", async () => {
    const ws = await connect(f.port, { path: "/echo" });
    frame(ws, Opcode.Text, "frag", false);
    frame(ws, Opcode.Ping, "are you there");
    frame(ws, Opcode.Continuation, "men", false);
    frame(ws, Opcode.Continuation, "ted");
    const pong = await ws.next();
    assert.deepEqual(pong, { kind: "pong", payload: utf8("are you there") });
    assert.equal(await ws.message(), "fragmented");
    ws.destroy();
  });

  test("16-bit and 64-bit payload lengths, both ways", async () => {
    const ws = await connect(f.port, { path: "/echo" });
    for (const size of [126, 300, 65535, 65536, 70_000]) {
      const data = new Uint8Array(size).map((_, i) => i & 0xff);
      ws.send(data);
      const back = await ws.message() as Uint8Array;
      assert.equal(back.byteLength, size);
      assert.deepEqual(back, data);
    }
    ws.destroy();
  });

  test("an unmasked client frame closes with 1002", async () => {
    const ws = await connect(f.port, { path: "/echo" });
    ws.sendRaw(encodeFrame({ opcode: Opcode.Text, payload: utf8("naked") }));
    assert.equal((await ws.closeFrame())?.code, 1002);
    await ws.tcpClosed();
  });

  test("invalid UTF-8 in a text message closes with 1007", async () => {
    const ws = await connect(f.port, { path: "/echo" });
    frame(ws, Opcode.Text, new Uint8Array([0x68, 0xc3, 0x28]));
    assert.equal((await ws.closeFrame())?.code, 1007);
    await ws.tcpClosed();
  });

  test("an oversize frame closes with 1009 from its header alone", async () => {
    const ws = await connect(f.port, { path: "/echo" });
    const whole = encodeFrame({ opcode: Opcode.Binary, payload: new Uint8Array(200_000), mask: true });
    ws.sendRaw(whole.subarray(0, 14)); // header and mask key; the 200 000 bytes never come
    assert.equal((await ws.closeFrame())?.code, 1009);
    await ws.tcpClosed();
  });

  test("control-frame rules: a fragmented ping or a 126-byte ping closes with 1002", async () => {
    for (const bad of [{ payload: "x", fin: false }, { payload: new Uint8Array(126), fin: true }]) {
      const ws = await connect(f.port, { path: "/echo" });
      frame(ws, Opcode.Ping, bad.payload, bad.fin);
      assert.equal((await ws.closeFrame())?.code, 1002);
      ws.destroy();
    }
  });

  test("client-initiated close: the server echoes the code and ends the TCP connection; nothing after it is read", async () => {
    const ws = await connect(f.port, { path: "/echo" });
    ws.sendRaw(new Uint8Array([
      ...encodeFrame({ opcode: Opcode.Close, payload: closePayload(4001, "leaving"), mask: true }),
      ...encodeFrame({ opcode: Opcode.Text, payload: utf8("too late"), mask: true }),
    ]));
    assert.equal((await ws.closeFrame())?.code, 4001);
    await ws.tcpClosed();
    const next = await ws.next(1000);
    assert.equal(next, undefined, "the server answered a message sent after the close frame");
  });
});

describe(`graceful shutdown closes open WebSockets with 1001 (under ${runtime})`, () => {
  for (const server of servers) {
    test(server, async () => {
      const f = await startApp({ WS_SERVER: server, WS_SHUTDOWN: "5000" });
      try {
        const clients = [await connect(f.port, { path: "/echo" }), await connect(f.port, { path: "/chat" })];
        const exited = collect(f.child);
        f.child.kill("SIGTERM");
        for (const ws of clients) {
          assert.equal((await ws.closeFrame())?.code, 1001);
          ws.close(1001);
        }
        const result = await exited;
        assert.equal(result.code ?? 0, 0, f.stderr());
      } finally {
        await stop(f.child); // a failed assertion must not leave the server running
      }
    });
  }
});

describe(`cluster: WebSockets on several workers (under ${runtime})`, () => {
  let f: Fixture | undefined;
  after(async () => {
    if (f) await stop(f.child, 10_000);
  });
  test("clients land on different workers and each echoes", async () => {
    f = await startApp({ WS_SERVER: "cluster", WS_WORKERS: "2" });
    const workers = new Set<number>();
    for (let i = 0; i < 60 && workers.size < 2; i++) {
      const ws = await connect(f.port, { path: "/whoami" });
      workers.add(JSON.parse(await ws.message() as string).worker);
      ws.destroy();
    }
    assert.equal(workers.size, 2, `only workers ${[...workers]} answered`);
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect(f!.port, { path: "/echo" })));
    clients.forEach((c, i) => c.send(`n${i}`));
    for (const [i, c] of clients.entries()) assert.equal(await c.message(), `n${i}`);
    clients.forEach((c) => c.destroy());
  });
});

describe("without a server", () => {
  test("app.fetch() answers a WebSocket route with 426, even for a valid handshake", async () => {
    const app = new Carafe().get("/ws", websocket({ message: () => {} }));
    const handshake = {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    };
    const res = await app.fetch(new Request("http://localhost/ws", { headers: handshake }));
    assert.equal(res.status, 426);
    assert.match(await res.text(), /cannot upgrade/);
    const plain = await app.fetch(new Request("http://localhost/ws"));
    assert.equal(plain.status, 426);
    assert.equal(plain.headers.get("upgrade"), "websocket");
  });

  test("websocket() refuses bad options with a clear error", () => {
    assert.throws(() => websocket({}, { maxMessageSize: -1 }), /maxMessageSize must be a number > 0/);
    assert.throws(() => websocket(null as never), /needs the handlers/);
  });

  test('run() with server "fastcgi" says WebSockets cannot work there, naming the routes', async () => {
    const app = new Carafe().get("/ws", websocket({})).get("/", () => "hi");
    const lines: string[] = [];
    const server = await run({ app, server: "fastcgi", quiet: true, handleSignals: false, port: 0, log: (l) => lines.push(l) });
    await server.close();
    assert.ok(lines.some((l) => /cannot carry WebSockets: GET \/ws will answer 426/.test(l)), lines.join("\n"));
    assert.match(webSocketNotice(app, "cgi") ?? "", /server "cgi" cannot carry WebSockets: GET \/ws/);
    assert.equal(webSocketNotice(app, "node"), undefined);
  });
});

describe(`examples/websocket.ts (under ${runtime})`, () => {
  test("echo (text and binary) at /echo, a chat room at /chat, on the port in PORT", async () => {
    const port = await freePort();
    const child = spawnScript(here("examples/websocket.ts"), [], { env: { PORT: String(port) } });
    try {
      await waitForOutput(child, /Listening on http:\/\/127\.0\.0\.1:\d+\//, 30_000);
      const echo = await connect(port, { path: "/echo" });
      echo.send("text stays text");
      assert.equal(await echo.message(), "text stays text");
      echo.send(new Uint8Array([1, 2, 3]));
      assert.deepEqual([...(await echo.message()) as Uint8Array], [1, 2, 3]);
      echo.destroy();
      const ada = await connect(port, { path: "/chat?name=ada" });
      assert.equal(await ada.message(), "* ada joined (1 here)");
      const bob = await connect(port, { path: "/chat?name=bob" });
      assert.equal(await ada.message(), "* bob joined (2 here)");
      bob.send("hi ada");
      assert.equal(await bob.message(), "* bob joined (2 here)");
      assert.equal(await bob.message(), "bob: hi ada");
      assert.equal(await ada.message(), "bob: hi ada");
      ada.destroy();
      bob.destroy();
    } finally {
      await stop(child);
    }
  });
});
