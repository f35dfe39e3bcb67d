/**
 * Shared helpers for the test suites: which runtime runs the tests, how to start a
 * script under that same runtime, how to find real peers (nginx, lighttpd…) and
 * temporary directories. Tests may use `node:` modules freely; only core/ may not.
 *
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runtime } from "../shims/runtime.ts";

export { runtime };

/** True when CI=true: a missing peer is then a failure, not a skip. */
export const inCI = process.env.CI === "true";

/** Are we running the compiled npm build (tests/*.js under npm/esm)? */
export const compiled = import.meta.url.endsWith(".js");

/** Absolute path of a repository file, e.g. `here("examples/hello.ts")`; maps to the build under Node. */
export function here(relative: string): string {
  const path = compiled ? relative.replace(/\.ts$/, ".js") : relative;
  return fileURLToPath(new URL(`../${path}`, import.meta.url));
}

/**
 * Asks an app in-process, as a server would (`app.fetch`): `path` on http://localhost,
 * or a full URL. The shared helper of the app suites.
 *
 * @example call(app, "/hello/world", { method: "POST", body: "x" }, { remoteAddr: "192.0.2.1" })
 */
export function call(
  app: { fetch(request: Request, info?: { remoteAddr?: string }): Response | Promise<Response> },
  path: string,
  init?: RequestInit,
  info?: { remoteAddr?: string },
): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(path.includes("://") ? path : `http://localhost${path}`, init), info));
}

/** {@linkcode call}, answered as `[status, body text]`. */
export async function text(
  app: Parameters<typeof call>[0],
  path: string,
  init?: RequestInit,
): Promise<readonly [number, string]> {
  const res = await call(app, path, init);
  return [res.status, await res.text()] as const;
}

/**
 * Absolute path of a file of the source tree as it is (Markdown, recipes, templates),
 * also when the tests run from the npm build, which does not copy it.
 */
export function sourceFile(relative: string): string {
  return fileURLToPath(new URL(`${compiled ? "../../../" : "../"}${relative}`, import.meta.url));
}

/** The command line that runs a script under the runtime running the tests (or a copy of its binary at `executable`). */
export function runtimeCommand(script: string, args: string[] = [], executable: string = process.execPath): [string, string[]] {
  if (runtime === "deno") return [executable, ["run", "-A", "--no-lock", script, ...args]];
  if (runtime === "bun") return [executable, ["run", script, ...args]];
  return [executable, [script, ...args]];
}

/** Starts `script` under the current runtime. */
export function spawnScript(
  script: string,
  args: string[] = [],
  options: { env?: Record<string, string>; cwd?: string; stdin?: "pipe" | "ignore" } = {},
): ChildProcess {
  const [cmd, argv] = runtimeCommand(script, args);
  return spawn(cmd, argv, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
  });
}

/** Path of an executable on PATH (or in /usr/sbin), or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    const r = spawnSync("test", ["-x", join(dir, name)]);
    if (r.status === 0) return join(dir, name);
  }
  return undefined;
}

/**
 * Looks for a real peer program. Returns its path, or a skip reason. Under CI=true a
 * missing peer throws, so the suite fails instead of silently skipping.
 */
export function peer(name: string): { path?: string; skip?: string } {
  const path = which(name);
  if (path) return { path };
  const reason = `${name} not installed (run scripts/install-peers.sh)`;
  if (inCI) throw new Error(`CI=true but ${reason}`);
  return { skip: reason };
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = "carafe-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Resolves with everything a child wrote once it exits, plus the exit code and signal. */
export function collect(child: ChildProcess): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  let stdout = "", stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** Waits until `child` writes a line matching `pattern` to stderr or stdout; rejects after `ms`. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, ms = 15000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for ${pattern}; output so far:\n${seen}`));
    }, ms);
    const onData = (d: unknown) => {
      seen += String(d);
      const m = seen.match(pattern);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before printing ${pattern}; output:\n${seen}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", onExit);
  });
}

/** Sends SIGTERM to a child we started (by PID) and waits for it; SIGKILL after `ms`. */
export async function stop(child: ChildProcess, ms = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  await exited;
  clearTimeout(timer);
}
