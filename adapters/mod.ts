/**
 * `run()`: serve an app on any server by name (Bottle's `run(app, server=...)`). The
 * names and what `auto` means are in ./registry.ts, signal handling in ./signals.ts.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
 * const app = new Carafe().get("/", () => "Hello!");
 * const server = await run({ app, port: 0, quiet: true });
 * console.log(server.url);
 * await server.close();
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Adapter, FetchApp, ServeInfo, ServeOptions, Server, TlsOptions, TrustProxy } from "./adapter.ts";
import type { NodeHandlerOptions } from "./node/mod.ts";
import { DEFAULT_MAX_BODY_SIZE, DEFAULT_SHUTDOWN_TIMEOUT } from "./common.ts";
import { clusterWorkerId, isClusterWorker } from "./cluster/worker_id.ts";
import { env, exit, writeStderr } from "../shims/runtime.ts";
import { type PassengerHost, passengerHost } from "./passenger.ts";
import { autoServerName, getAdapter, type Loader, registerAdapter, serverNames } from "./registry.ts";
import { holdSighup, installSignals, type Running, running, SINGLE_PROCESS_SERVERS } from "./signals.ts";

export { autoServerName, getAdapter, type Loader, registerAdapter, serverNames };

export type { Adapter, FetchApp, ServeInfo, ServeOptions, Server, TlsOptions, TrustProxy };

import { VERSION } from "../core/settings.ts";
import type { FastPathApp } from "../core/contract.ts";
import type { CarafeOptions } from "../core/handlers.ts";
export { VERSION };

/**
 * What {@linkcode run} accepts. Everything is optional. The app's settings
 * (`CarafeOptions`: `debug`, `trustProxy`, `maxBodySize` and the form and JSON limits)
 * may be given here too: they are copied to the app's config when the app is a Carafe
 * app and did not set them itself.
 *
 * @example
 * ```ts
 * import type { RunOptions } from "./mod.ts";
 * const options: RunOptions = { server: "node", host: "::1", port: 0, shutdownTimeout: 5000 };
 * ```
 */
export interface RunOptions extends Omit<CarafeOptions, "logger"> {
  /** The app to serve; default: the module-level default app (`defaultApp()`). */
  app?: FetchApp;
  /** An adapter name from {@linkcode serverNames} or an adapter object. Default `"auto"`. */
  server?: string | Adapter;
  /** Interface to bind. Default: the `HOST` environment variable, else `"127.0.0.1"`. */
  host?: string;
  /**
   * TCP port; `0` picks a free one (see `Server.url`). Default: the `PORT` environment
   * variable (as App Engine, Cloud Run, Heroku, Render and Fly set it), else `8080`.
   */
  port?: number;
  /** Listen on this Unix socket path instead of host/port. */
  socket?: string;
  /** File mode of the Unix socket. Default `0o660`. */
  socketMode?: number;
  /** Serve HTTPS with this certificate and key (file paths or PEM text). */
  tls?: TlsOptions;
  /** No banner and no access log (errors are still written to stderr). */
  quiet?: boolean;
  /** Milliseconds graceful shutdown may take before connections are forced closed. Default 10 000. */
  shutdownTimeout?: number;
  /** Largest request-header block in bytes, where the runtime lets us set it (node; deno and bun warn that they cannot). */
  maxHeaderSize?: number;
  /**
   * Milliseconds a connection may stay idle: a client must send its request headers
   * within it, a kept-alive connection may wait that long for the next request, and a
   * client that stops sending an announced body or stops reading the response is cut
   * after that long. The app's own time (a long poll, a quiet stream) does not count.
   * Default 30 000; `0` (or `Infinity`) disables it. Node applies all of it; Bun in
   * whole seconds up to 255, with its own ~10 s header clock; Deno cannot (warning).
   */
  idleTimeout?: number;
  /** Worker processes (cluster). */
  workers?: number;
  /** Adapter each cluster worker runs. */
  worker?: string;
  /** Recycle a cluster worker after this many requests. */
  maxRequestsPerWorker?: number;
  /**
   * Restart the program when one of its files changes (Bottle's `run(reloader=True)`).
   * The process that calls `run()` becomes a watcher and never serves: it runs the same
   * program again in a child (which serves; there `run()` works as usual), polls the
   * `.ts/.js/.mjs/.json/.tpl/.html` files under the main module's directory every
   * 500 ms and restarts the child when one changes. `run()` does not return in the
   * watcher; SIGINT/SIGTERM stop the child and exit. For development.
   */
  reloader?: boolean;
  /**
   * Install SIGINT/SIGTERM handlers that shut the server down gracefully and exit the
   * process with 0 (a second signal exits at once). Default `true`. A single-process
   * server (`deno`, `bun`, `node`, or `fastcgi` on its own socket) also survives SIGHUP
   * (`systemctl reload`): it logs that it has nothing to restart in place (the
   * `cluster` server restarts its workers one at a time on SIGHUP) and keeps serving.
   */
  handleSignals?: boolean;
  /** Where the banner, access log and errors go. Default: standard error. */
  log?: (line: string) => void;
}

/** A time or size option must be a number ≥ 0 (> 0 unless `zeroOk`); else a clear error. */
function checkLimit(name: string, value: unknown, zeroOk: boolean, expected: string): void {
  if (value === undefined) return;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0 || (!zeroOk && value === 0)) {
    throw new RangeError(`run: ${name} must be ${expected}, got ${String(value)}`);
  }
}

/** The options a Carafe app also has as settings: `run()` copies those given to its `config`. */
const APP_SETTINGS = [
  "debug", "maxBodySize", "maxFormSize", "maxFormFields", "maxFormFieldSize", "maxJsonSize", "maxJsonDepth", "trustProxy",
] as const;

/** The body limits among them: numbers ≥ 0 (`Infinity` disables one). */
const BODY_LIMITS = ["maxBodySize", "maxFormSize", "maxFormFields", "maxFormFieldSize", "maxJsonSize", "maxJsonDepth"] as const;

/**
 * The port a hosting platform asks for in `PORT` (App Engine, Cloud Run, Heroku,
 * Render, Fly), or undefined when it is unset or empty. A value that is not a port
 * number is an error naming the variable, not a silent fallback to 8080: the platform
 * would then wait for a port the app never opens.
 */
function portFromEnvironment(): number | undefined {
  const text = env("PORT")?.trim();
  if (!text) return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new RangeError(`run: the PORT environment variable is ${JSON.stringify(text)}, not a port number (0-65535); fix it or pass run({ port })`);
  }
  return port;
}

interface ConfigurableApp {
  config?: Partial<Pick<RunOptions, (typeof APP_SETTINGS)[number]>>;
}

/**
 * Set (to `true`, on `globalThis`) by the `carafe` command while it imports the app's
 * module: a `run()` called by that module then steps aside, with a log line, because
 * the command serves the app itself. A registered symbol, so that the npm build and
 * the sources agree.
 *
 * @example
 * ```ts
 * import { CLI_LOADING } from "./mod.ts";
 * const servedByCli = (globalThis as Record<symbol, unknown>)[CLI_LOADING] === true;
 * ```
 */
export const CLI_LOADING: unique symbol = Symbol.for("carafe.cli.loading") as typeof CLI_LOADING;

/**
 * Serves `app` on the chosen server (Bottle's `run()`): `auto` picks CGI or FastCGI when
 * started by a web server that way, else the runtime's native server (`Deno.serve`,
 * `Bun.serve`, `node:http`). Prints the banner on stderr unless `quiet`, logs each
 * request in Common Log Format, and on SIGINT/SIGTERM stops accepting, finishes the
 * requests in flight (at most `shutdownTimeout` ms) and exits with 0.
 *
 * Options that the app also has (`debug`, `trustProxy` and the body limits
 * `maxBodySize`, `maxFormSize`, `maxFormFields`, `maxFormFieldSize`, `maxJsonSize`,
 * `maxJsonDepth`) are copied to a Carafe app's `config` when given.
 * Without `port` or `host`, the `PORT` and `HOST` environment variables (set by
 * hosting platforms) are used, else 127.0.0.1:8080.
 *
 * @example
 * ```ts
 * import { Carafe } from "../mod.ts";
 * import { run } from "./mod.ts";
 * const app = new Carafe().get("/", () => "Hello!");
 * const server = await run({ app, host: "::1", port: 0 });
 * // Carafe v0.1.0 server starting up (using DenoServer())...
 * // Listening on http://[::1]:43117/
 * // Hit Ctrl-C to quit.
 * await server.close();
 * ```
 */
export async function run(options: RunOptions = {}): Promise<Server> {
  const log = options.log ?? ((line: string) => writeStderr(line + "\n"));
  if ((globalThis as Record<symbol, unknown>)[CLI_LOADING] === true) {
    // `carafe app.ts` imports the module to get its app, then serves it: a run() in the
    // module would listen a second time (on another port, unasked).
    log("run(): not starting a second server: the carafe command serves this module's exported app. " +
      "(Start the module directly to use its run() call.)");
    return { url: "", close: () => Promise.resolve(), finished: Promise.resolve() };
  }
  let app = options.app;
  if (!app) app = (await import("../core/default_app.ts")).defaultApp();
  if (typeof (app as FetchApp | undefined)?.fetch !== "function") {
    throw new TypeError("run: `app` must have a fetch(request) method (a Carafe app, or any fetch handler)");
  }
  const port = checkOptions(options);
  const config = (app as ConfigurableApp).config;
  if (config && typeof config === "object") {
    for (const name of APP_SETTINGS) {
      if (options[name] !== undefined) (config as Record<string, unknown>)[name] = options[name];
    }
  }
  if (options.reloader && !isClusterWorker()) {
    const { isReloaderChild, mainModuleDir, runReloader } = await import("../shims/reloader.ts");
    if (!isReloaderChild()) {
      await runReloader(mainModuleDir(), { quiet: options.quiet });
      exit(0);
    }
  }
  const adapter = typeof options.server === "object" && options.server !== null
    ? options.server
    : await getAdapter(options.server ?? "auto");
  // Inside Passenger, node:http listens on Passenger's socket and gets the whole path:
  // the app is mounted at PassengerBaseURI so that it routes as it would at "/" and
  // req.scriptName carries the base.
  const host = adapter.name === "node" ? passengerHost() : undefined;
  if (host) app = await forPassenger(host.baseUri, app);
  // FastCGI and CGI cannot carry a WebSocket: say so (adapters/websocket/unsupported.ts,
  // loaded only when websocket() was used, which sets this mark: a CGI start loads nothing more).
  if ((adapter.name === "fastcgi" || adapter.name === "cgi") && Symbol.for("carafe.websocket") in globalThis) {
    const notice = (await import("./websocket/unsupported.ts")).webSocketNotice(app, adapter.name);
    if (notice) log(`Carafe warning: ${notice}`);
  }
  const serveOptions: ServeOptions = {
    app,
    host: options.host ?? (env("HOST") || "127.0.0.1"),
    port,
    socket: options.socket,
    socketMode: options.socketMode,
    tls: options.tls,
    quiet: options.quiet ?? false,
    maxBodySize: options.maxBodySize ?? config?.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
    shutdownTimeout: options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT,
    workers: options.workers,
    worker: options.worker,
    maxHeaderSize: options.maxHeaderSize,
    idleTimeout: options.idleTimeout,
    maxRequestsPerWorker: options.maxRequestsPerWorker,
    log,
  };
  const server = await adapter.serve(serveOptions);
  if (!serveOptions.quiet && !adapter.silent) log(banner(adapter, server, host));
  track(server, { adapter, options, shutdownTimeout: serveOptions.shutdownTimeout, log, host });
  return server;
}

/** The options run() checks itself (the app checks its own settings); returns the port to use. */
function checkOptions(options: RunOptions): number {
  for (const name of BODY_LIMITS) checkLimit(name, options[name], true, "a number ≥ 0 (Infinity disables it)");
  const port = options.port ?? portFromEnvironment() ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`run: port must be an integer from 0 to 65535, got ${options.port}`);
  }
  checkLimit("idleTimeout", options.idleTimeout, true, "a number of milliseconds ≥ 0 (0 or Infinity disables it)");
  checkLimit("maxHeaderSize", options.maxHeaderSize, false, "a number of bytes > 0");
  checkLimit("shutdownTimeout", options.shutdownTimeout, true, "a number of milliseconds ≥ 0");
  return port;
}

/** A started server as the process's signal handling sees it (./signals.ts). */
function track(
  server: Server,
  o: { adapter: Adapter; options: RunOptions; shutdownTimeout: number; log: (line: string) => void; host: PassengerHost | undefined },
): void {
  const entry: Running = { server, shutdownTimeout: o.shutdownTimeout };
  running.add(entry);
  server.finished.then(() => running.delete(entry), () => running.delete(entry));
  if (o.options.handleSignals === false) return;
  // The cluster primary and CGI manage their own lifetime; signal handling of a
  // worker process is the cluster's job too.
  if (o.adapter.name !== "cgi") installSignals(o.log, o.host);
  // A single process has no workers to restart on SIGHUP; it must not die of it either
  // (systemd's ExecReload sends it). The cluster handles SIGHUP itself (a rolling
  // restart in the primary, ignored in workers); a FastCGI app on an inherited fd 0
  // belongs to the web server that spawned it, and CGI lives for one request.
  if (SINGLE_PROCESS_SERVERS.has(o.adapter.name) && server.url !== "fcgi://fd0" && !isClusterWorker()) holdSighup(entry, o.log);
}

/** The start-up lines; inside Passenger they say so, and where Passenger serves the app. */
function banner(adapter: Adapter, server: Server, host: PassengerHost | undefined): string {
  const label = adapter.label ?? adapter.name;
  if (!host) return `Carafe v${VERSION} server starting up (using ${label})...\nListening on ${server.url}\nHit Ctrl-C to quit.\n`;
  return `Carafe v${VERSION} server starting up (using ${label} inside Phusion Passenger)...\n` +
    `Listening on ${server.url}, Passenger's socket; it serves the app at ${host.baseUri === "/" ? "/" : host.baseUri + "/"}\n` +
    "Passenger starts and stops this process (touch tmp/restart.txt to restart it).\n";
}

/**
 * `app` as Passenger should see it: mounted at `base` (unless "/"), so req.scriptName is
 * `base/`, and with the client's address from the header Passenger sets (its loader
 * makes every socket say 127.0.0.1; Passenger drops a client's own `!~` headers).
 */
async function forPassenger(base: string, app: FetchApp): Promise<FetchApp> {
  const { Carafe } = await import("../core/app.ts");
  const inner = base === "/" ? app : new Carafe().mount(base, app as Parameters<InstanceType<typeof Carafe>["mount"]>[1]);
  const handle = (inner as Partial<FastPathApp>).handle;
  const infoOf = (request: Request, info?: ServeInfo): ServeInfo => ({
    ...info,
    remoteAddr: request.headers.get("!~passenger-client-address") ?? info?.remoteAddr,
  });
  return {
    fetch: (request: Request, info?: ServeInfo) => inner.fetch(request, infoOf(request, info)),
    ...(handle && { handle: (request: Request, info?: ServeInfo) => handle.call(inner, request, infoOf(request, info)) }),
  } as FetchApp;
}

// ------------------------------------------------- small exports of mod.ts

// clusterWorkerId and isClusterWorker live in cluster/worker_id.ts, which loads nothing
// else of the cluster adapter.
export { clusterWorkerId, isClusterWorker };

/**
 * Turns an app into a `(req, res)` listener for `node:http`/`node:https` (or Express,
 * Connect and friends, as the last handler): Bottle's mod_wsgi story. The node adapter
 * module is loaded on the first call, not when Carafe is imported (a CGI program never
 * needs it); requests that arrive while it loads wait for it.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { Carafe } from "../mod.ts";
 * import { toNodeHandler } from "./mod.ts";
 * const app = new Carafe().get("/", () => "Hello from inside node:http");
 * createServer(toNodeHandler(app)).listen(3000);
 * ```
 */
export function toNodeHandler(
  app: FetchApp,
  options?: NodeHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let failure: unknown;
  const loading = import("./node/mod.ts").then(
    (m) => void (handler = m.toNodeHandler(app, options)),
    (err) => void (failure = err),
  );
  return function carafeNodeHandler(req: IncomingMessage, res: ServerResponse): void {
    if (handler) return handler(req, res);
    loading.then(() => {
      if (handler) return handler(req, res);
      writeStderr(`Carafe: cannot load the node adapter: ${(failure as Error)?.stack ?? String(failure)}\n`);
      res.writeHead(500, { "content-type": "text/plain", "content-length": "21", connection: "close" });
      res.end("Internal Server Error");
    });
  };
}
