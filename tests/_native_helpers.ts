/**
 * Helpers for the native adapter suites: start tests/fixtures/native_app.ts with a given
 * server under the runtime running the tests, and a small node:http client (it runs on
 * Deno, Bun and Node alike, speaks Unix sockets and HTTPS, and streams request bodies).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { here, spawnScript, waitForOutput } from "./_helpers.ts";

/** A started fixture server. */
export interface Started {
  child: ChildProcess;
  url: string;
  /** Everything written to stderr so far. */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Starts the native fixture app with `server` and extra NA_* environment. */
export async function startFixture(server: string, env: Record<string, string> = {}): Promise<Started> {
  const child = spawnScript(here("tests/fixtures/native_app.ts"), [], { env: { NA_SERVER: server, ...env } });
  let err = "";
  let out = "";
  child.stderr?.on("data", (d) => (err += d));
  child.stdout?.on("data", (d) => (out += d));
  // The fixture prints "exit code N" as it exits (see there why); prefer that when present.
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.once("close", (code, signal) => {
      const stated = out.match(/exit code (\d+)/);
      r(stated ? { code: Number(stated[1]), signal: null } : { code, signal });
    })
  );
  const m = await waitForOutput(child, /Listening on (\S+)\n/, 20000);
  return { child, url: m[1], stderr: () => err, exited };
}

/** A response as the test client saw it. */
export interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Request options for {@linkcode request}. */
export interface Req {
  method?: string;
  path?: string;
  headers?: Record<string, string | number>;
  /** Body: a Buffer/string, or a generator of chunks written with back-pressure. */
  body?: string | Buffer | (() => AsyncGenerator<Uint8Array | string>);
  socketPath?: string;
  /** Count body bytes instead of keeping them (big downloads). */
  countOnly?: boolean;
  agent?: http.Agent | false;
}

/** Sends one request to `base` (an http(s):// or unix: URL) and reads the whole answer. */
export function request(base: string, opts: Req = {}): Promise<Got & { bytes: number }> {
  return new Promise((resolve, reject) => {
    const isUnix = base.startsWith("unix:");
    const u = isUnix ? undefined : new URL(base);
    const mod = u?.protocol === "https:" ? https : http;
    const req = mod.request({
      method: opts.method ?? "GET",
      host: u ? u.hostname.replace(/^\[|\]$/g, "") : undefined,
      port: u ? Number(u.port) : undefined,
      socketPath: isUnix ? base.slice(5) : undefined,
      path: opts.path ?? "/",
      headers: opts.headers,
      agent: opts.agent ?? false,
      rejectUnauthorized: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on("data", (c: Buffer) => {
        bytes += c.length;
        if (!opts.countOnly) chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), bytes }));
      res.on("error", reject);
    });
    req.on("error", reject);
    const body = opts.body;
    if (typeof body === "function") {
      (async () => {
        for await (const chunk of body()) {
          if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
        }
        req.end();
      })().catch(() => req.destroy());
    } else req.end(body);
  });
}

/** `count` bytes as chunks of 64 KiB, generated on the fly. */
export function bytesOf(count: number): () => AsyncGenerator<Uint8Array> {
  return async function* () {
    const chunk = new Uint8Array(64 * 1024).fill(98);
    let left = count;
    while (left > 0) {
      const n = Math.min(left, chunk.byteLength);
      yield n === chunk.byteLength ? chunk : chunk.subarray(0, n);
      left -= n;
    }
  };
}

/** Is the IPv6 loopback usable here? */
export function hasIpv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(0, "::1", () => s.close(() => resolve(true)));
  });
}

/** Opens a raw TCP connection, writes `data`, resolves with what came back when the server closes (or `ms` passes). */
export function rawExchange(port: number, data: string, ms: number): Promise<{ closed: boolean; text: string; after: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, "127.0.0.1", () => s.write(data));
    let text = "";
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ closed, text, after: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), ms);
    s.on("data", (d) => (text += d));
    s.on("close", () => finish(true));
    s.on("error", () => finish(true));
  });
}

/** Polls `fn` until it returns true or `ms` pass. */
export async function eventually(fn: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * Uploads `file` with curl (which, like browsers, reads an early answer while it is
 * still sending) and returns the status code; `Expect: 100-continue` is turned off so
 * the body really is sent. `chunked` sends it without Content-Length.
 */
export function curlUpload(curl: string, url: string, file: string, chunked: boolean): Promise<number> {
  const args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:", "-X", "POST", "--data-binary", `@${file}`, "--max-time", "20"];
  if (chunked) args.push("-H", "Transfer-Encoding: chunked");
  args.push(url);
  return new Promise((resolve) => {
    const child = spawn(curl, args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", () => resolve(Number(out.trim() || "0")));
  });
}

/** A raw TCP connection whose every byte and moment the test controls. */
export interface RawConn {
  socket: net.Socket;
  /** Everything received so far (when kept). */
  text(): string;
  /** Bytes received so far. */
  received(): number;
  /** Resolves when the connection is closed (by either side, or an error). */
  closed: Promise<void>;
  isClosed(): boolean;
}

/**
 * Connects to 127.0.0.1:`port`; `keepText: false` only counts what arrives (big
 * downloads); `pauseAfter` stops reading (pauses the socket) as soon as that many bytes
 * have arrived.
 */
export function rawConnect(port: number, options: { keepText?: boolean; pauseAfter?: number } = {}): Promise<RawConn> {
  const keep = options.keepText ?? true;
  let pauseAfter = options.pauseAfter ?? Infinity;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    let bytes = 0;
    let isClosed = false;
    const closed = new Promise<void>((r) => {
      socket.on("close", () => {
        isClosed = true;
        r();
      });
    });
    socket.on("data", (d: Buffer) => {
      bytes += d.length;
      if (keep) text += d.toString("latin1");
      if (bytes > pauseAfter) {
        socket.pause();
        pauseAfter = Infinity; // once: resume() is the test's to call
      }
    });
    socket.on("error", () => {});
    socket.once("connect", () =>
      resolve({ socket, text: () => text, received: () => bytes, closed, isClosed: () => isClosed })
    );
    socket.once("error", reject);
  });
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for `p` at most `ms`; resolves with whether it settled in time. */
export function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true, () => true), sleep(ms).then(() => false)]);
}

/** The status codes of every HTTP response head in `text`, in order. */
export function statuses(text: string): number[] {
  // Not anchored to a line start: a response follows the previous body without a CRLF.
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}
