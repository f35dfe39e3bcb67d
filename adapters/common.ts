/**
 * What the native adapters (`deno`, `bun`, `node`) share: defaults, the printed URL,
 * the Common Log Format access line, Unix-socket housekeeping and in-flight request
 * bookkeeping for graceful shutdown.
 *
 * @example
 * ```ts
 * import { displayUrl } from "./common.ts";
 * displayUrl("http", "::1", 8080); // "http://[::1]:8080/"
 * ```
 *
 * @module
 */

import type { FetchApp, ServeInfo, Server } from "./adapter.ts";
import { DEFAULT_BODY_LIMITS } from "../core/body.ts";
import type { FastPathApp } from "../core/contract.ts";
import { type Reply, replyToResponse, TypedReply } from "../core/reply.ts";
import { isBodyless } from "../core/status.ts";
import { utf8Length } from "../core/utf8.ts";

export { isBodyless, utf8Length };

// node:fs is imported only when a Unix socket is used, so that this module (and
// adapters/mod.ts, which reads its constants) loads on hosts without node:fs (edge).
const nodeFs = () => import("node:fs");

/** Default largest request body: 100 MiB (the app's default, core/body.ts). */
export const DEFAULT_MAX_BODY_SIZE: number = DEFAULT_BODY_LIMITS.maxBodySize;
/** Default milliseconds graceful shutdown may take before connections are forced closed. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;
/**
 * Longest request URL accepted (8 KiB, as nginx's default header buffer); longer ones
 * get `414 URI Too Long` where the runtime's own header limit has not refused them first.
 */
export const MAX_URL_LENGTH = 8192;

/**
 * The `414 URI Too Long` answer.
 *
 * @example
 * ```ts
 * import { uriTooLong } from "./common.ts";
 * const res = uriTooLong();
 * ```
 */
export function uriTooLong(): Response {
  return new Response("URI Too Long", { status: 414, headers: { "content-type": "text/plain", "content-length": "12", connection: "close" } });
}

/** Default milliseconds a connection may stay idle / a client may take to send its headers. */
export const DEFAULT_IDLE_TIMEOUT = 30_000;

/**
 * The idle timeout in effect for `options`, in milliseconds: the default when unset,
 * `0` when disabled (`idleTimeout: 0` or `Infinity`).
 *
 * @example
 * ```ts
 * import { idleTimeoutOf } from "./common.ts";
 * idleTimeoutOf({}); // 30000
 * idleTimeoutOf({ idleTimeout: 0 }); // 0: no timeout
 * ```
 */
export function idleTimeoutOf(options: { idleTimeout?: number }): number {
  const v = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
  return v > 0 && Number.isFinite(v) ? v : 0;
}

/**
 * The URL a server prints for a host and port: IPv6 addresses in brackets, the
 * unspecified address kept as given (it is what the user asked for).
 *
 * @example
 * ```ts
 * import { displayUrl } from "./common.ts";
 * displayUrl("https", "127.0.0.1", 8443); // "https://127.0.0.1:8443/"
 * ```
 */
export function displayUrl(scheme: "http" | "https", host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `${scheme}://${h}:${port}/`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => (n < 10 ? "0" + n : String(n));

/**
 * One access-log line in Common Log Format (as Apache, nginx and Bottle's wsgiref print it):
 * `127.0.0.1 - - [25/Nov/2026:08:00:00 +0000] "GET /path?q HTTP/1.1" 200 13`.
 *
 * `bytes` is the number of body bytes sent; `undefined` or `0` print as `-` (Apache's
 * `%b`: a HEAD answer, a 204/304, or a streamed body the adapter did not count). `date`
 * is when the request arrived (all adapters stamp the line with that moment).
 *
 * @example
 * ```ts
 * import { accessLine } from "./common.ts";
 * accessLine("127.0.0.1", "GET", "/", "1.1", 200, 13);
 * ```
 */
export function accessLine(
  remote: string | undefined,
  method: string,
  target: string,
  httpVersion: string,
  status: number,
  bytes: number | undefined,
  date: Date = new Date(),
): string {
  const d = date;
  const stamp = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  // Quotes and control characters in the request line would let a client forge log entries.
  // deno-lint-ignore no-control-regex
  const line = `${method} ${target} HTTP/${httpVersion}`.replace(/["\\\x00-\x1f\x7f]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
  return `${remote ?? "-"} - - [${stamp}] "${line}" ${status} ${bytes ? bytes : "-"}`;
}

/**
 * Status logged for a request whose client went away before the answer was sent
 * (nginx's convention: "client closed request").
 */
export const CLIENT_CLOSED = 499;

/**
 * The access-log line for a `Response` handed to `Deno.serve` / `Bun.serve`: body
 * bytes from `Content-Length` (none for HEAD and bodyless statuses, `-` for a stream,
 * which these servers send without telling us its size); 499 and no bytes when
 * `aborted` (the client left before the answer was delivered).
 *
 * @example
 * ```ts
 * import { responseLogLine } from "./common.ts";
 * const req = new Request("http://localhost/a?b");
 * responseLogLine(req, new Response("hi"), "127.0.0.1", Date.now(), false);
 * ```
 */
export function responseLogLine(req: Request, res: Response, remote: string | undefined, start: number, aborted: boolean): string {
  const status = aborted ? CLIENT_CLOSED : res.status;
  let bytes: number | undefined;
  if (!aborted && req.method !== "HEAD" && !isBodyless(res.status)) {
    const len = res.headers.get("content-length");
    if (len !== null) bytes = Number(len);
  }
  return accessLine(remote, req.method, pathOf(req.url), "1.1", status, bytes, new Date(start));
}

/**
 * The access-log line for a Carafe `Reply` sent by `Deno.serve` / `Bun.serve`: body
 * bytes counted from the reply (a string's UTF-8 length, bytes, a Blob's size; `-` for
 * HEAD, bodyless statuses and streams); 499 and no bytes when `aborted` (the client
 * left before the answer was delivered).
 *
 * @example
 * ```ts
 * import { replyLogLine } from "./common.ts";
 * const req = new Request("http://localhost/");
 * replyLogLine(req, { status: 200, headers: new Headers(), body: "hé" }, "::1", Date.now(), false); // ... 200 3
 * ```
 */
export function replyLogLine(req: Request, reply: Reply, remote: string | undefined, start: number, aborted: boolean): string {
  const status = aborted ? CLIENT_CLOSED : reply.status;
  let bytes: number | undefined;
  // A handler's own Response: its body is not touched (on Bun that changes the Response).
  const body = reply.response === undefined ? reply.body : undefined;
  if (!aborted && req.method !== "HEAD" && !isBodyless(reply.status) && body !== null) {
    if (typeof body === "string") bytes = utf8Length(body);
    else if (body instanceof Uint8Array) bytes = body.byteLength;
    else if (body instanceof Blob) bytes = body.size;
    else if (!(reply instanceof TypedReply)) {
      const len = reply.headers.get("content-length");
      if (len !== null) bytes = Number(len);
    }
  }
  return accessLine(remote, req.method, pathOf(req.url), "1.1", status, bytes, new Date(start));
}


/** A Carafe app's `handle()` (reply before `Response`), bound; `undefined` for other fetch apps. */
export type HandleFn = FastPathApp["handle"];

/**
 * The app's `handle()` when it is a Carafe app, for adapters that look at the reply
 * before it becomes a `Response`; else `undefined`.
 *
 * @example
 * ```ts
 * import { handleOf } from "./common.ts";
 * handleOf({ fetch: () => new Response("") }); // undefined
 * ```
 */
export function handleOf(app: FetchApp): HandleFn | undefined {
  const handle = (app as Partial<FastPathApp>).handle;
  return typeof handle === "function" ? handle.bind(app) : undefined;
}

/**
 * `replyToResponse`, answering a (logged) 500 when the reply cannot become a
 * `Response` (a locked stream), as a Carafe app's own `respond()` does.
 *
 * @example
 * ```ts
 * import { responseOf } from "./common.ts";
 * const res = responseOf({ status: 200, headers: new Headers(), body: "hi" }, console.error);
 * ```
 */
export function responseOf(reply: Reply, log: (line: string) => void): Response {
  try {
    return replyToResponse(reply);
  } catch (err) {
    logError(log, `Could not build the response (status ${reply.status})`, err);
    if (reply.body instanceof ReadableStream) reply.body.cancel().catch(() => {});
    return internalError();
  }
}

/**
 * The plain `500` a server sends when no handler could answer (the app threw past
 * `fetch`, or its answer could not be built): no details, which go to the log.
 *
 * @example
 * ```ts
 * import { internalError } from "./common.ts";
 * internalError().status; // 500
 * ```
 */
export function internalError(): Response {
  return new Response("Internal Server Error", { status: 500, headers: { "content-type": "text/plain; charset=UTF-8" } });
}

/**
 * The `error` handler of `Deno.serve` and `Bun.serve`: logs what escaped the app and
 * answers {@linkcode internalError}.
 *
 * @example
 * ```ts
 * import { unhandledError } from "./common.ts";
 * const onError = unhandledError(console.error);
 * onError(new Error("boom")).status; // 500
 * ```
 */
export function unhandledError(log: (line: string) => void): (err: unknown) => Response {
  return (err) => {
    logError(log, "Unhandled error while serving a request", err);
    return internalError();
  };
}


/**
 * The path part (with query) of an absolute URL string, cheaply: for access lines.
 *
 * @example
 * ```ts
 * import { pathOf } from "./common.ts";
 * pathOf("http://x:1/a?b"); // "/a?b"
 * ```
 */
export function pathOf(url: string): string {
  if (url.charCodeAt(0) === 47) return url; // already a path (Bun, for a request without a usable Host)
  const i = url.indexOf("/", url.indexOf("://") + 3);
  return i < 0 ? "/" : url.slice(i);
}

/**
 * Removes a stale Unix socket file left by a previous run. Only a socket is removed
 * (never a regular file someone pointed us at by mistake), and only a dead one: when
 * something still accepts connections on it, this throws instead of stealing the path
 * from a live server.
 *
 * @example
 * ```ts
 * import { removeStaleSocket } from "./common.ts";
 * await removeStaleSocket("/tmp/app.sock");
 * ```
 */
export async function removeStaleSocket(path: string): Promise<void> {
  const { lstatSync, unlinkSync } = await nodeFs();
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) throw new Error(`socket: "${path}" exists and is not a socket; refusing to replace it`);
  const probe = await probeSocket(path);
  if (probe === "live") {
    throw new Error(`socket: a server is already listening on "${path}"; stop it first or choose another path`);
  }
  if (probe !== "dead") throw new Error(`socket: cannot tell whether "${path}" is in use (${probe}); refusing to replace it`);
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw err;
  }
}

/**
 * Connects to a Unix socket to learn whether a server is behind it: `"live"` when the
 * connection is accepted (or still pending after a second: a busy server), `"dead"`
 * when refused or gone, else the error code.
 */
async function probeSocket(path: string): Promise<"live" | "dead" | string> {
  const net = await import("node:net");
  return await new Promise((resolve) => {
    const s = net.connect(path);
    const finish = (result: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish("live"), 1000);
    s.once("connect", () => finish("live"));
    s.once("error", (err: Error & { code?: string }) =>
      finish(err.code === "ECONNREFUSED" || err.code === "ENOENT" ? "dead" : err.code ?? err.message)
    );
  });
}

/**
 * Sets the file mode of a freshly bound Unix socket (default `0o660`: the owner and
 * its group, typically the web server's, may connect).
 *
 * @example
 * ```ts
 * import { chmodSocket } from "./common.ts";
 * await chmodSocket("/tmp/app.sock", 0o666);
 * ```
 */
export async function chmodSocket(path: string, mode = 0o660): Promise<void> {
  (await nodeFs()).chmodSync(path, mode);
}

/**
 * Removes the Unix socket file at shutdown; ignores errors (it may be gone already).
 *
 * @example
 * ```ts
 * import { unlinkQuietly } from "./common.ts";
 * await unlinkQuietly("/tmp/app.sock");
 * ```
 */
export async function unlinkQuietly(path: string): Promise<void> {
  try {
    (await nodeFs()).unlinkSync(path);
  } catch { /* already gone */ }
}

/**
 * Counts requests in flight so that graceful shutdown knows when it is done.
 *
 * @example
 * ```ts
 * import { InFlight } from "./common.ts";
 * const inflight = new InFlight();
 * inflight.start();
 * inflight.end();
 * await inflight.idle();
 * ```
 */
export class InFlight {
  /** Requests currently being answered. */
  count = 0;
  #waiters: (() => void)[] = [];

  /** A request began. */
  start(): void {
    this.count++;
  }

  /** A request ended (its response was fully written or the client left). */
  end(): void {
    if (--this.count <= 0) {
      this.count = 0;
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }
}

/**
 * Resolves after `ms` milliseconds with `"timeout"`, without keeping the process alive
 * (never, for `Infinity`).
 *
 * @example
 * ```ts
 * import { delay } from "./common.ts";
 * await delay(10);
 * ```
 */
export function delay(ms: number): Promise<"timeout"> {
  // Past setTimeout's range (2^31 - 1 ms, `Infinity`) timers fire at once: never resolve.
  if (!(ms <= 0x7fffffff)) return new Promise(() => {});
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve("timeout"), ms) as unknown as { unref?: () => void };
    t.unref?.();
  });
}

/**
 * The app's quickest way to a `Response` for a server that accepts a synchronous one
 * (`Deno.serve`, `Bun.serve`): a Carafe app's `respond()`, which skips the microtask
 * hop when nothing had to wait, else `fetch()`.
 *
 * @example
 * ```ts
 * import { responder } from "./common.ts";
 * const answer = responder({ fetch: () => new Response("hi") });
 * const res = answer(new Request("http://localhost/"));
 * ```
 */
export function responder(app: FetchApp): (request: Request, info?: ServeInfo) => Response | Promise<Response> {
  const respond = (app as Partial<FastPathApp>).respond;
  return typeof respond === "function" ? respond.bind(app) : app.fetch.bind(app);
}

const warned = new Set<string>();

/**
 * Writes a warning through `log` once per process and `key` (a setting an adapter
 * cannot honour, say). Warnings are written even when `quiet`, like errors.
 *
 * @example
 * ```ts
 * import { warnOnce } from "./common.ts";
 * warnOnce((l) => console.error(l), "demo", "this is printed once");
 * ```
 */
export function warnOnce(log: (line: string) => void, key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  log(`Carafe warning: ${message}`);
}

/**
 * Writes an error (with its stack) through an adapter's `log`.
 *
 * @example
 * ```ts
 * import { logError } from "./common.ts";
 * logError((l) => console.error(l), "request failed", new Error("boom"));
 * ```
 */
export function logError(log: (line: string) => void, what: string, err: unknown): void {
  log(`${what}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
}

/**
 * A running server's handle: `close()` runs `drain` once (every call gets the same
 * promise) and `finished` resolves when that drain is over. The adapters' shared way to
 * keep `close()` idempotent, as `run()` and signal handlers may call it more than once.
 *
 * @example
 * ```ts
 * import { closeOnce } from "./common.ts";
 * const server = closeOnce("http://127.0.0.1:8080/", async () => {});
 * await Promise.all([server.close(), server.close()]); // one drain
 * await server.finished;
 * ```
 */
export function closeOnce(url: string, drain: () => Promise<void>): Server {
  let closing: Promise<void> | undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  return { url, finished, close: () => (closing ??= drain().then(done)) };
}
