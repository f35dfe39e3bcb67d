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

import type { FetchApp, ServeInfo } from "./adapter.ts";

// node:fs is imported only when a Unix socket is used, so that this module (and
// adapters/mod.ts, which reads its constants) loads on hosts without node:fs (edge).
const nodeFs = () => import("node:fs");

/** Default largest request body: 100 MiB. */
export const DEFAULT_MAX_BODY_SIZE: number = 100 * 1024 * 1024;
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
  return new Response("URI Too Long", { status: 414, headers: { "content-type": "text/plain", connection: "close" } });
}

/** Default milliseconds a connection may stay idle / a client may take to send its headers. */
export const DEFAULT_IDLE_TIMEOUT = 30_000;

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
  const line = `${method} ${target} HTTP/${httpVersion}`.replace(/["\\\x00-\x1f\x7f]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
  return `${remote ?? "-"} - - [${stamp}] "${line}" ${status} ${bytes === undefined ? "-" : bytes}`;
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
 * Resolves after `ms` milliseconds with `"timeout"`, without keeping the process alive.
 *
 * @example
 * ```ts
 * import { delay } from "./common.ts";
 * await delay(10);
 * ```
 */
export function delay(ms: number): Promise<"timeout"> {
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
  const respond = (app as { respond?: (request: Request, info?: ServeInfo) => Response | Promise<Response> }).respond;
  return typeof respond === "function" ? respond.bind(app) : app.fetch.bind(app);
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
