/**
 * Load-generation helpers for the cluster and deployment tests: bounded, real
 * sockets, optional retry of idempotent GETs on connection errors. Two kinds of
 * client:
 *
 * - `get()`: one fresh connection per request (`Connection: close`);
 * - `KeepAliveClient`: one persistent HTTP/1.1 connection reused request after
 *   request, like a browser or a proxy's upstream pool. It opens a new connection
 *   only when the server said `Connection: close` or closed the idle connection
 *   before the next request was written. A connection that closes after a request
 *   was written and before its response arrived is a failed request: that is the
 *   keep-alive close race a graceful server must not cause.
 *
 * The keep-alive client is written on `node:net` (not `node:http`'s Agent), so that
 * it behaves the same under Deno, Bun and Node, whose `node:http` clients differ.
 *
 * @module
 */
import http from "node:http";
import net from "node:net";

/** The outcome of one GET. */
export interface Hit {
  status: number;
  body: string;
}

/** One GET on a fresh connection; rejects on a connection error. */
export function get(url: string, timeoutMs = 10_000): Promise<Hit> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/**
 * A persistent HTTP/1.1 connection for GETs (Content-Length or chunked responses).
 * `connections` counts the TCP connections it opened.
 */
export class KeepAliveClient {
  #socket?: net.Socket;
  /** The server ended the current connection (FIN seen) or it failed. */
  #gone = true;
  #pending?: { feed(): void; fail(err: Error): void };
  #buffer = Buffer.alloc(0);
  /** Requests written on the current connection. */
  #uses = 0;
  connections = 0;

  /** GET `url` on the current connection (a new one if there is none). */
  get(url: string, timeoutMs = 10_000): Promise<Hit> {
    const u = new URL(url);
    if (this.#gone) this.#connect(u);
    const socket = this.#socket!;
    return new Promise<Hit>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`GET ${url}: timed out after ${timeoutMs} ms`)), timeoutMs);
      const finish = (err: Error | undefined, hit?: Hit, close?: boolean) => {
        clearTimeout(timer);
        this.#pending = undefined;
        if (err || close) this.close();
        if (err) reject(err);
        else resolve(hit!);
      };
      this.#pending = {
        feed: () => {
          const parsed = parseResponse(this.#buffer);
          if (!parsed) return;
          this.#buffer = this.#buffer.subarray(parsed.used);
          finish(undefined, { status: parsed.status, body: parsed.body }, parsed.close);
        },
        fail: (err) => finish(new Error(`GET ${url} on a ${uses > 1 ? "reused" : "new"} keep-alive connection: ${err.message}`)),
      };
      const uses = ++this.#uses;
      socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
    });
  }

  /** Closes the current connection (a new one is opened by the next `get`). */
  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#gone = true;
  }

  #connect(u: URL): void {
    const socket = net.connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ""));
    this.connections++;
    this.#socket = socket;
    this.#gone = false;
    this.#buffer = Buffer.alloc(0);
    this.#uses = 0;
    const lost = (why: string) => {
      if (this.#socket !== socket) return;
      this.#gone = true;
      this.#pending?.fail(new Error(why));
    };
    socket.on("data", (d: Buffer) => {
      if (this.#socket !== socket) return;
      this.#buffer = Buffer.concat([this.#buffer, d]);
      this.#pending?.feed();
    });
    socket.on("end", () => lost("the server closed the connection before the response"));
    socket.on("error", (e: Error & { code?: string }) => lost(e.code ?? e.message));
    socket.on("close", () => lost("connection closed before the response"));
  }
}

/** Parses one complete response at the start of `buf`, or returns undefined if more bytes are needed. */
function parseResponse(buf: Buffer): { status: number; body: string; close: boolean; used: number } | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(head[0].split(" ")[1]);
  const headers = new Map<string, string>();
  for (const line of head.slice(1)) {
    const i = line.indexOf(":");
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const close = /(^|,)\s*close\s*(,|$)/i.test(headers.get("connection") ?? "");
  let at = end + 4;
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) return undefined;
      const size = parseInt(buf.subarray(at, eol).toString("latin1"), 16);
      if (buf.length < eol + 2 + size + 2) return undefined;
      if (size === 0) return { status, body: Buffer.concat(parts).toString("utf8"), close, used: eol + 4 };
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  const length = Number(headers.get("content-length") ?? 0);
  if (buf.length < at + length) return undefined;
  return { status, body: buf.subarray(at, at + length).toString("utf8"), close, used: at + length };
}

/** A GET retried (up to `retries` times) on connection errors, as HTTP lets a client do for idempotent requests. */
export async function getWithRetry(url: string, retries: number, client?: KeepAliveClient): Promise<Hit & { retried: number }> {
  for (let attempt = 0;; attempt++) {
    try {
      return { ...(await (client ? client.get(url) : get(url))), retried: attempt };
    } catch (e) {
      if (attempt >= retries) throw e;
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
    }
  }
}

/** One request of a load run: when it started and ended (Date.now()), and the body of a 200. */
export interface LoadRecord {
  start: number;
  end: number;
  body?: string;
}

/** What a load run saw. */
export interface LoadResult {
  ok: number;
  /** Responses with a status other than 200, as "status body". */
  badStatus: string[];
  /** Requests that failed even after retries (connection errors). */
  errors: string[];
  retries: number;
  /** Count of 200 responses per body. */
  bodies: Map<string, number>;
  /** Every request, in completion order. */
  records: LoadRecord[];
  /** TCP connections the keep-alive clients opened (0 for fresh-connection load). */
  connections: number;
}

/**
 * Sends GETs with `concurrency` in flight until `total` requests are done or
 * `until()` turns true (checked between requests) or `maxMs` passes. Each lane
 * uses a fresh connection per request, or with `keepAlive` one persistent
 * connection (see {@linkcode KeepAliveClient}). `onProgress` is called with the
 * count of completed requests.
 */
export async function load(
  url: string,
  opts: {
    total: number;
    concurrency: number;
    retries?: number;
    maxMs?: number;
    keepAlive?: boolean;
    until?: () => boolean;
    onProgress?: (done: number) => void;
  },
): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, badStatus: [], errors: [], retries: 0, bodies: new Map(), records: [], connections: 0 };
  const deadline = Date.now() + (opts.maxMs ?? 20_000);
  let started = 0, done = 0;
  const more = () => started < opts.total && Date.now() < deadline && !(opts.until?.() ?? false);
  async function lane() {
    const client = opts.keepAlive ? new KeepAliveClient() : undefined;
    try {
      while (more()) {
        started++;
        const record: LoadRecord = { start: Date.now(), end: 0 };
        try {
          const hit = await getWithRetry(url, opts.retries ?? 0, client);
          result.retries += hit.retried;
          if (hit.status === 200) {
            result.ok++;
            record.body = hit.body;
            result.bodies.set(hit.body, (result.bodies.get(hit.body) ?? 0) + 1);
          } else result.badStatus.push(`${hit.status} ${hit.body.slice(0, 80)}`);
        } catch (e) {
          result.errors.push(String((e as Error).message ?? e));
        }
        record.end = Date.now();
        result.records.push(record);
        opts.onProgress?.(++done);
      }
    } finally {
      client?.close();
      result.connections += client?.connections ?? 0;
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  return result;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every 50 ms until it returns true; rejects after `ms`. */
export async function waitUntil(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
