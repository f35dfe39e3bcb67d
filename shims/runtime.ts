/**
 * Which JavaScript runtime we run on, and the few process-level services
 * (environment, arguments, exit, signals) that differ between them.
 *
 * This is the one module that sniffs the runtime. Everything else asks it.
 *
 * @example
 * ```ts
 * import { runtime, env } from "./runtime.ts";
 * if (runtime === "deno") console.log("hello from Deno", env("HOME"));
 * ```
 *
 * @module
 */

/** The runtimes Carafe knows. `"edge"` is any other host with `fetch` (Workers, Deno Deploy without `Deno.serve`…). */
export type RuntimeName = "deno" | "bun" | "node" | "edge";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

function detect(): RuntimeName {
  if (typeof g.Bun === "object" && g.Bun !== null) return "bun";
  if (typeof g.Deno === "object" && g.Deno !== null && typeof g.Deno.serve === "function") return "deno";
  if (typeof g.process === "object" && g.process?.versions?.node && !g.Deno && !g.Bun) return "node";
  return "edge";
}

/**
 * The runtime this code is running on, detected once at import.
 *
 * @example
 * ```ts
 * import { runtime } from "./runtime.ts";
 * console.log(runtime); // "deno" | "bun" | "node" | "edge"
 * ```
 */
export const runtime: RuntimeName = detect();

/**
 * The runtime and its version, as `carafe --version` prints it (`bun 1.4.5`).
 *
 * @example
 * ```ts
 * import { runtimeVersion } from "./runtime.ts";
 * console.log(runtimeVersion()); // e.g. "deno 2.9.6"
 * ```
 */
export function runtimeVersion(): string {
  if (runtime === "deno") return `deno ${g.Deno.version.deno}`;
  if (runtime === "bun") return `bun ${g.Bun.version}`;
  if (runtime === "node") return `node ${g.process.versions.node}`;
  return runtime;
}

/**
 * Reads an environment variable; `undefined` when unset or when the runtime
 * does not allow access (Deno without `--allow-env`, edge hosts).
 *
 * @example
 * ```ts
 * import { env } from "./runtime.ts";
 * const port = Number(env("PORT") ?? 8080);
 * ```
 */
export function env(name: string): string | undefined {
  try {
    if (runtime === "deno") return g.Deno.env.get(name);
    return g.process?.env?.[name];
  } catch {
    return undefined;
  }
}

/**
 * All environment variables as a plain object (empty when not permitted).
 *
 * @example
 * ```ts
 * import { envAll } from "./runtime.ts";
 * const isCgi = "GATEWAY_INTERFACE" in envAll();
 * ```
 */
export function envAll(): Record<string, string> {
  try {
    if (runtime === "deno") return g.Deno.env.toObject();
    return { ...(g.process?.env ?? {}) };
  } catch {
    return {};
  }
}

/**
 * Command-line arguments after the script name.
 *
 * @example
 * ```ts
 * import { args } from "./runtime.ts";
 * if (args().includes("--debug")) console.log("debugging");
 * ```
 */
export function args(): string[] {
  if (runtime === "deno") return [...g.Deno.args];
  return g.process?.argv?.slice(2) ?? [];
}

/**
 * Ends the process with `code`.
 *
 * @example
 * ```ts
 * import { exit } from "./runtime.ts";
 * exit(0);
 * ```
 */
export function exit(code = 0): never {
  if (runtime === "deno") g.Deno.exit(code);
  g.process?.exit(code);
  throw new Error(`exit(${code}) is not supported on this runtime`);
}

/** The process signals Carafe listens to. */
export type SignalName = "SIGINT" | "SIGTERM" | "SIGHUP";

/**
 * Calls `handler` whenever the process receives `signal`; returns a function
 * that removes the listener. On runtimes without signals it is a no-op.
 *
 * @example
 * ```ts
 * import { onSignal } from "./runtime.ts";
 * const off = onSignal("SIGTERM", () => console.log("stopping"));
 * off();
 * ```
 */
export function onSignal(signal: SignalName, handler: () => void): () => void {
  try {
    if (runtime === "deno") {
      g.Deno.addSignalListener(signal, handler);
      return () => {
        try {
          g.Deno.removeSignalListener(signal, handler);
        } catch { /* already gone */ }
      };
    }
    if (g.process?.on) {
      g.process.on(signal, handler);
      return () => g.process.off(signal, handler);
    }
  } catch { /* signals unsupported (edge, Windows SIGHUP) */ }
  return () => {};
}

/**
 * Writes a line to standard error without the formatting `console.error` adds.
 *
 * @example
 * ```ts
 * import { writeStderr } from "./runtime.ts";
 * writeStderr("something went wrong\n");
 * ```
 */
export function writeStderr(text: string): void {
  try {
    if (runtime === "deno") {
      g.Deno.stderr.writeSync(new TextEncoder().encode(text));
      return;
    }
    if (g.process?.stderr?.write) {
      g.process.stderr.write(text);
      return;
    }
  } catch { /* stderr closed (FastCGI started with fd 2 closed) */ return; }
  console.error(text.replace(/\n$/, ""));
}

/**
 * The process id, or 0 where there is none.
 *
 * @example
 * ```ts
 * import { pid } from "./runtime.ts";
 * console.log(`worker ${pid()}`);
 * ```
 */
export function pid(): number {
  if (runtime === "deno") return g.Deno.pid;
  return g.process?.pid ?? 0;
}

/**
 * Number of CPU cores available to this process (at least 1).
 *
 * @example
 * ```ts
 * import { cpuCount } from "./runtime.ts";
 * const workers = cpuCount();
 * ```
 */
export function cpuCount(): number {
  try {
    if (runtime === "deno") return Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
    return Math.max(1, g.navigator?.hardwareConcurrency ?? g.process?.availableParallelism?.() ?? 1);
  } catch {
    return 1;
  }
}

/**
 * The path of the script the runtime was started with (`process.argv[1]`), or
 * `undefined` where there is none (edge hosts, a REPL).
 *
 * @example
 * ```ts
 * import { mainScript } from "./runtime.ts";
 * console.log(mainScript()); // "/srv/app/main.ts"
 * ```
 */
export function mainScript(): string | undefined {
  try {
    const script = g.process?.argv?.[1];
    return typeof script === "string" && script ? script : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether fd 0 may be a socket (a web server that starts us with a listening FastCGI
 * socket on stdin). On Linux `/proc/self/fd/0` answers exactly without loading
 * anything (on Bun through `Bun.file`, as loading `node:fs` there costs about 2 ms of
 * start-up); elsewhere (or on Node < 20.16, without `getBuiltinModule`) it answers
 * `true`, "cannot tell cheaply", and the caller checks properly.
 *
 * @example
 * ```ts
 * import { stdinMaybeSocket } from "./runtime.ts";
 * if (await stdinMaybeSocket()) console.log("maybe started by a FastCGI web server");
 * ```
 */
export async function stdinMaybeSocket(): Promise<boolean> {
  try {
    if (runtime === "deno") return g.Deno.readLinkSync("/proc/self/fd/0").startsWith("socket:");
    if (runtime === "bun") return (await g.Bun.file("/proc/self/fd/0").stat()).isSocket();
    const fs = g.process?.getBuiltinModule?.("node:fs");
    if (!fs) return true;
    return fs.readlinkSync("/proc/self/fd/0").startsWith("socket:");
  } catch {
    // On Linux a failed look means fd 0 is closed; elsewhere there is no /proc.
    return platform() !== "linux";
  }
}

/**
 * The operating system (`"linux"`, `"darwin"`, `"windows"`…), or `"unknown"`.
 *
 * @example
 * ```ts
 * import { platform } from "./runtime.ts";
 * if (platform() === "linux") console.log("/proc is there");
 * ```
 */
export function platform(): string {
  try {
    if (runtime === "deno") return g.Deno.build.os;
    const p = g.process?.platform;
    return p === "win32" ? "windows" : p ?? "unknown";
  } catch {
    return "unknown";
  }
}
