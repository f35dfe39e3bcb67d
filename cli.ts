#!/usr/bin/env node
/**
 * The command line, Bottle's `python -m bottle`: serves the app a module exports.
 *
 * ```sh
 * carafe [options] module[:export]
 * deno run -A cli.ts app.ts            # Deno
 * bun cli.ts app.ts                    # Bun
 * npx carafe app.js                    # Node (the npm build)
 * ```
 *
 * `module` is a file path (relative to the current directory) or a URL; `:export`
 * names the export to serve (default: the default export). The export may be a
 * Carafe app or anything with a `fetch(request)` method (a Hono app, a plain
 * object).
 *
 * Options:
 *
 * | option | meaning |
 * |---|---|
 * | `-b, --bind ADDRESS` | `HOST:PORT`, `HOST` (port 8080), `:PORT`, `[::1]:PORT`, or `unix:/path.sock`; without it (and without `host`/`port` in a config file), the `HOST` and `PORT` environment variables, else 127.0.0.1:8080 |
 * | `-s, --server NAME` | adapter name (`auto`, `deno`, `bun`, `node`, `cluster`, `fastcgi`, `cgi`) |
 * | `-w, --workers N` | worker processes: the `cluster` server (with `-s deno|bun|node`, the server each worker runs) |
 * | `--reload` | restart the server when a file under the module's directory changes |
 * | `--debug` | debug mode (stack traces on error pages) |
 * | `-c, --conf FILE` | configuration file (repeatable; see below) |
 * | `-C, --param KEY=VALUE` | one configuration value (repeatable; `KEY` alone means `true`) |
 * | `--quiet` | no banner, no access log |
 * | `--version`, `-h, --help` | |
 *
 * Configuration (`-c` files, then `-C` values, then the options above, later wins):
 * a file ending in `.json` holds one JSON object (nested objects are flattened to
 * dotted keys); any other file is INI-ish: `key = value` lines, `[section]`
 * headers prefixing `section.` to the keys that follow, `#` or `;` comments.
 * Values `true`/`false` and numbers are converted. A key that names a `run()`
 * option (`host`, `port`, `server`, `workers`, `worker`, `debug`, `quiet`,
 * `maxBodySize`, `maxFormSize`, `maxFormFields`, `maxFormFieldSize`, `maxJsonSize`,
 * `maxJsonDepth`, `trustProxy`, `shutdownTimeout`, `maxRequestsPerWorker`,
 * `idleTimeout`, `maxHeaderSize`, `socket`; also written in snake_case or
 * kebab-case) sets that option; any other key is stored in the app's `config`
 * (Bottle's `app.config`), e.g. `db.url`.
 *
 * `--reload`: the command runs twice, as a watcher and as the server. The watcher
 * re-runs the same command line in a child (env `CARAFE_RELOADER_CHILD=1`), polls
 * the modification times of the `.ts/.js/.mjs/.json/.tpl/.html` files under the
 * module's directory every 500 ms, and restarts the child when one changes. A child
 * that crashes is restarted on the next change. Under Deno the child runs with `-A`.
 *
 * @example
 * ```ts
 * import { parseBind } from "./cli.ts";
 * parseBind("[::1]:9000"); // { host: "::1", port: 9000 }
 * ```
 *
 * @module
 */
import { CLI_LOADING, isClusterWorker, VERSION, run, type RunOptions } from "./adapters/mod.ts";
export type { Adapter, Server, ServeOptions } from "./adapters/adapter.ts";
import type { FetchApp, ServeInfo, TlsOptions, TrustProxy } from "./adapters/adapter.ts";
export type { FetchApp, RunOptions, ServeInfo, TlsOptions, TrustProxy };
import { args as runtimeArgs, exit, mainScript, runtimeVersion, writeStderr } from "./shims/runtime.ts";
import { absolutePath, dirname, fileUrl, isFile, pathFromUrl, readTextFileSync, realPath } from "./shims/files.ts";
import { isReloaderChild, runReloader } from "./shims/reloader.ts";
import { syntaxErrorReport } from "./shims/processes.ts";

/** What the command line asked for. */
export interface CliOptions {
  /** `module[:export]` as given, or undefined when missing. */
  target?: string;
  /** run() options collected from `--conf`, `--param` and the flags (flags win). */
  run: RunOptions;
  /** Configuration keys that are not run() options: stored in the app's `config`. */
  config: Record<string, unknown>;
  /** `--reload` was given. */
  reload: boolean;
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
}

/** The `--help` text. */
export const USAGE = `Usage: carafe [options] module[:export]

Serves the Carafe app (or any object with fetch()) that a module exports.

Options:
  -b, --bind ADDRESS     HOST:PORT, HOST, :PORT, [::1]:PORT or unix:/path.sock (default
                         $HOST:$PORT from the environment when set, else 127.0.0.1:8080)
  -s, --server NAME      server adapter: auto, deno, bun, node, cluster, fastcgi, cgi (default auto)
  -w, --workers N        worker processes: the cluster server (-s deno|bun|node: what workers run)
      --reload           restart when a file under the module's directory changes
      --debug            debug mode: stack traces on error pages
  -c, --conf FILE        configuration file: .json, or INI-style key = value (repeatable)
  -C, --param KEY=VALUE  configuration value (repeatable)
      --quiet            no banner, no access log
      --version          print the version and exit
  -h, --help             print this help and exit
`;

/** An error the user can fix from the command line: printed after the usage, exit 1. */
export class CliError extends Error {
  /**
   * Creates the error.
   *
   * @param message what is wrong, shown as `Error: <message>`
   */
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * Splits a `--bind` address into host and port, Bottle's rules: split at the last
 * `:` unless inside `[...]`; brackets are stripped; the port defaults to 8080; an
 * empty host means 127.0.0.1; `unix:/path` is a Unix socket.
 *
 * @example
 * ```ts
 * import { parseBind } from "./cli.ts";
 * parseBind("0.0.0.0:80");     // { host: "0.0.0.0", port: 80 }
 * parseBind("localhost");      // { host: "localhost", port: 8080 }
 * parseBind("unix:/tmp/a.sock"); // { socket: "/tmp/a.sock" }
 * ```
 */
export function parseBind(address: string): { host?: string; port?: number; socket?: string } {
  if (address.startsWith("unix:")) {
    const socket = address.slice(5);
    if (!socket) throw new CliError(`--bind ${address}: the Unix socket path is missing`);
    return { socket };
  }
  let host = address, portText: string | undefined;
  const bracket = address.match(/^\[([^\]]+)\](?::(.*))?$/);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
  } else {
    const i = address.lastIndexOf(":");
    if (i >= 0) {
      if (address.indexOf(":") !== i) {
        throw new CliError(`--bind ${address}: write IPv6 addresses in brackets, e.g. [::1]:8080`);
      }
      host = address.slice(0, i);
      portText = address.slice(i + 1);
    }
  }
  let port = 8080;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) throw new CliError(`--bind ${address}: "${portText}" is not a port number (0-65535)`);
  }
  return { host: host || "127.0.0.1", port };
}

/** Converts `"true"`, `"false"`, numbers; keeps other text. */
function convert(value: string): unknown {
  const v = value.trim();
  if (v === "true") return true;
  if (v === "false") return false;
  if (v !== "" && /^-?(\d+(\.\d+)?|Infinity)$/.test(v)) return Number(v);
  return v;
}

/**
 * Parses a configuration file's text into flat `key → value` pairs: JSON when
 * `filename` ends in `.json` (nested objects flattened to dotted keys), else
 * INI-style `key = value` lines with optional `[section]` headers.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./cli.ts";
 * parseConfig("port = 9000\n[db]\nurl = sqlite:app.db\n", "app.ini");
 * // { port: 9000, "db.url": "sqlite:app.db" }
 * ```
 */
export function parseConfig(text: string, filename: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (filename.endsWith(".json")) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new CliError(`${filename}: invalid JSON: ${(e as Error).message}`);
    }
    if (!data || typeof data !== "object" || Array.isArray(data)) throw new CliError(`${filename}: expected a JSON object`);
    const flatten = (obj: Record<string, unknown>, prefix: string) => {
      for (const [k, v] of Object.entries(obj)) {
        if (v && typeof v === "object" && !Array.isArray(v)) flatten(v as Record<string, unknown>, `${prefix}${k}.`);
        else out[prefix + k] = v;
      }
    };
    flatten(data as Record<string, unknown>, "");
    return out;
  }
  let section = "";
  text.split(/\r?\n/).forEach((raw, n) => {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) return;
    const head = line.match(/^\[([^\]]*)\]$/);
    if (head) {
      section = head[1].trim() ? head[1].trim() + "." : "";
      return;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new CliError(`${filename}:${n + 1}: expected "key = value", got "${line}"`);
    out[section + line.slice(0, eq).trim()] = convert(line.slice(eq + 1));
  });
  return out;
}

const RUN_KEYS = [
  "host", "port", "socket", "server", "workers", "worker", "debug", "quiet", "maxBodySize", "maxFormSize",
  "maxFormFields", "maxFormFieldSize", "maxJsonSize", "maxJsonDepth", "trustProxy", "shutdownTimeout",
  "maxRequestsPerWorker", "idleTimeout", "maxHeaderSize",
] as const;

/** `max_body_size` / `max-body-size` → `maxBodySize`, when that is a run() option. */
function runKey(key: string): (typeof RUN_KEYS)[number] | undefined {
  const camel = key.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());
  return (RUN_KEYS as readonly string[]).includes(camel) ? camel as (typeof RUN_KEYS)[number] : undefined;
}

/** A run() option's value as the option wants it: `trust_proxy = 10.0.0.1, 10.0.0.2` is a list. */
function runValue(key: (typeof RUN_KEYS)[number], value: unknown): unknown {
  if (key === "trustProxy" && typeof value === "string" && value !== "loopback") {
    return value.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  }
  return value;
}

function applyConfig(into: CliOptions, values: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(values)) {
    const k = runKey(key);
    if (k) (into.run as Record<string, unknown>)[k] = runValue(k, value);
    else into.config[key] = value;
  }
}

/**
 * Parses the command-line arguments (without the runtime and script). Throws
 * {@linkcode CliError} for anything the user must fix. `readFile` reads `--conf`
 * files (injectable for tests).
 *
 * @example
 * ```ts
 * import { parseArgs } from "./cli.ts";
 * const o = parseArgs(["-b", ":9000", "--debug", "app.ts:api"]);
 * // o.target === "app.ts:api", o.run.port === 9000, o.run.debug === true
 * ```
 */
export function parseArgs(argv: string[], readFile: (path: string) => string = readTextFileSync): CliOptions {
  const { options: o, flags, confFiles, params } = readFlags(argv);
  // Files first, then -C params, then flags: the later, the stronger.
  for (const file of confFiles) applyConfig(o, readConfigFile(file, readFile));
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq === 0) throw new CliError(`--param ${p}: the key is missing`);
    applyConfig(o, eq < 0 ? { [p]: true } : { [p.slice(0, eq)]: convert(p.slice(eq + 1)) });
  }
  Object.assign(o.run, flags);
  // --workers means the cluster; a native server named with it is what the workers run.
  if (o.run.workers !== undefined) {
    if (o.run.server === undefined || o.run.server === "auto") o.run.server = "cluster";
    else if (["deno", "bun", "node"].includes(o.run.server as string)) {
      o.run.worker = o.run.server as string;
      o.run.server = "cluster";
    }
  }
  return o;
}

/** The command line read once, in order: flags, the module, and the files and params to apply after. */
interface ReadFlags {
  options: CliOptions;
  flags: RunOptions;
  confFiles: string[];
  params: string[];
}

function readFlags(argv: string[]): ReadFlags {
  const o: CliOptions = { run: {}, config: {}, reload: false, help: false, version: false };
  const flags: RunOptions = {};
  const confFiles: string[] = [];
  const params: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    if (arg.startsWith("--") && arg.includes("=")) {
      inline = arg.slice(arg.indexOf("=") + 1);
      arg = arg.slice(0, arg.indexOf("="));
    }
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new CliError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case "-h":
      case "--help":
        o.help = true;
        break;
      case "--version":
        o.version = true;
        break;
      case "-b":
      case "--bind":
        Object.assign(flags, parseBind(value()));
        break;
      case "-s":
      case "--server":
        flags.server = value();
        break;
      case "-w":
      case "--workers": {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new CliError(`--workers ${v}: expected a whole number ≥ 1`);
        flags.workers = n;
        break;
      }
      case "--reload":
        o.reload = true;
        break;
      case "--debug":
        flags.debug = true;
        break;
      case "--quiet":
        flags.quiet = true;
        break;
      case "-c":
      case "--conf":
        confFiles.push(value());
        break;
      case "-C":
      case "--param":
        params.push(value());
        break;
      default:
        if (arg.startsWith("-") && arg !== "-") throw new CliError(`unknown option ${arg}`);
        if (o.target !== undefined) throw new CliError(`one module only (got "${o.target}" and "${arg}")`);
        o.target = arg;
    }
  }
  return { options: o, flags, confFiles, params };
}

function readConfigFile(file: string, readFile: (path: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = readFile(file);
  } catch (e) {
    throw new CliError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  return parseConfig(text, file);
}

/** Splits `module[:export]`; a `:` that belongs to a URL scheme or a Windows drive is not a separator. */
function splitTarget(target: string): { specifier: string; exportName?: string } {
  const i = target.lastIndexOf(":");
  if (i > 1 && /^[A-Za-z_$][\w$]*$/.test(target.slice(i + 1)) && !target.slice(i + 1).startsWith("//")) {
    return { specifier: target.slice(0, i), exportName: target.slice(i + 1) };
  }
  return { specifier: target };
}

/** The URL to import for a module argument: URLs as they are, paths against the current directory. */
function moduleUrl(specifier: string): string {
  if (/^(file|https?|jsr|npm|node):/.test(specifier)) return specifier;
  return fileUrl(specifier);
}

/**
 * Imports `module[:export]` and returns the app: the named export, else the default
 * export. Throws {@linkcode CliError} when it is missing or has no `fetch`.
 *
 * @example
 * ```ts
 * import { loadApp } from "./cli.ts";
 * const app = await loadApp("examples/hello.ts");
 * ```
 */
export async function loadApp(target: string): Promise<FetchApp> {
  const { specifier, exportName } = splitTarget(target);
  let mod: Record<string, unknown>;
  const flags = globalThis as Record<symbol, unknown>;
  try {
    // While the module loads, a run() in it steps aside (adapters/mod.ts CLI_LOADING).
    flags[CLI_LOADING] = true;
    mod = await import(moduleUrl(specifier));
  } catch (e) {
    throw await loadError(e, specifier);
  } finally {
    delete flags[CLI_LOADING];
  }
  const name = exportName ?? "default";
  const app = mod[name];
  if (app === undefined) {
    const names = Object.keys(mod).filter((k) => (mod[k] as FetchApp | undefined)?.fetch);
    throw new CliError(`"${specifier}" has no export "${name}"${names.length ? ` (exports with fetch(): ${names.join(", ")})` : ""}`);
  }
  if (typeof (app as FetchApp | undefined)?.fetch !== "function") {
    throw new CliError(`export "${name}" of "${specifier}" is not an app: it has no fetch(request) method`);
  }
  return app as FetchApp;
}

/**
 * What to tell the user when the app's module did not load: a permission Deno denied
 * (Deno reports it as a missing module), a missing file, a syntax error with its file
 * and line (Node's import() gives the message alone: `node --check` says where), or
 * else the error itself, for its stack.
 */
async function loadError(e: unknown, specifier: string): Promise<unknown> {
  const err = e as Error & { code?: string; position?: { file?: string; line?: number; column?: number; lineText?: string } };
  const text = `${err?.code ?? ""} ${err?.message ?? e}`;
  if (/Requires \w+ access|--allow-\w+/.test(text)) {
    const flag = text.match(/--allow-\w+/)?.[0] ?? "-A";
    return new CliError(`Deno denied a permission while loading "${specifier}" (${flag}): run Deno with -A, e.g. deno run -A cli.ts ${specifier}`);
  }
  if (/not find|not found|ERR_MODULE_NOT_FOUND|No such file/i.test(text) && !isFile(specifier)) {
    return new CliError(`cannot find module "${specifier}" (from ${absolutePath(".")})`);
  }
  if (err?.name === "BuildMessage" && err.position) {
    // Bun: a parse error, with its place.
    const p = err.position;
    return new CliError(`cannot load "${specifier}": ${p.file}:${p.line}:${p.column}: ${err.message}${p.lineText ? `\n  ${p.lineText}` : ""}`);
  }
  if (err instanceof SyntaxError || /SyntaxError/.test(String(err?.message))) {
    const where = isFile(specifier) ? await syntaxErrorReport(absolutePath(specifier)) : undefined;
    return new CliError(`cannot load "${specifier}": ${where ?? err.message}`);
  }
  return e; // an error thrown while the module ran: its own stack trace says more
}

// ----------------------------------------------------------------------- main

/**
 * Runs the command line with `argv` (default: the process arguments) and returns
 * the exit status for the cases that end at once (help, version, errors); a server
 * keeps the process alive until it is stopped.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * await main(["--version"]); // prints "Carafe 0.1.0 (deno 2.9.6)", returns 0
 * ```
 */
export async function main(argv: string[] = runtimeArgs()): Promise<number> {
  let o: CliOptions;
  try {
    o = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    return usageError(e.message);
  }
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (o.version) {
    console.log(`Carafe ${VERSION} (${runtimeVersion()})`);
    return 0;
  }
  if (!o.target) return usageError("no application given: carafe [options] module[:export]");
  if (o.reload && !isReloaderChild() && !isClusterWorker()) {
    const file = splitTarget(o.target).specifier;
    const dir = /^[a-z]+:/.test(file) && !file.startsWith("file:") ? "." : dirname(file.startsWith("file:") ? pathFromUrl(file) : absolutePath(file));
    await runReloader(dir, { quiet: o.run.quiet ?? false });
    return 0;
  }
  let app: FetchApp;
  try {
    app = await loadApp(o.target);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    writeStderr(`carafe: ${e.message}\n`);
    return 1;
  }
  const config = (app as { config?: Record<string, unknown> }).config;
  if (Object.keys(o.config).length) {
    if (config && typeof config === "object") Object.assign(config, o.config);
    else writeStderr(`carafe: warning: the app has no config object; ignoring ${Object.keys(o.config).join(", ")}\n`);
  }
  try {
    await run({ ...o.run, app });
  } catch (e) {
    writeStderr(`carafe: ${startError(e as Error & { code?: string }, o)}\n`);
    return 1;
  }
  return -1; // serving: the process lives on
}

/** A mistake on the command line: one line, what to do, exit status 2. */
function usageError(message: string): number {
  writeStderr(`carafe: ${message}\nRun "carafe --help" for the options.\n`);
  return 2;
}

/** Why the server did not start, in one line (a port in use is the usual one). */
function startError(e: Error & { code?: string }, o: CliOptions): string {
  const where = o.run.socket ?? `${o.run.host ?? "127.0.0.1"}:${o.run.port ?? 8080}`;
  const text = `${e?.code ?? ""} ${e?.message ?? e}`;
  if (/EADDRINUSE|AddrInUse|in use|Failed to start server/i.test(text)) {
    return `${where} is already in use: choose another with --bind, or stop the server listening there.`;
  }
  if (/EACCES|permission/i.test(text)) return `no permission to listen on ${where}: use a port above 1023, or another address.`;
  return `cannot start the server on ${where}: ${e?.message ?? e}`;
}

/** True when this file is the program being run (not imported). */
function isEntryPoint(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main;
  const script = mainScript();
  if (!script) return false;
  try {
    return realPath(script) === realPath(pathFromUrl(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().then((code) => {
    if (code >= 0) exit(code);
  }, (e) => {
    writeStderr(`${(e as Error)?.stack ?? e}\n`);
    exit(1);
  });
}
