/**
 * Processes other than this one, and this one's ending: start a copy of this program
 * with an IPC channel (`node:cluster` `fork()`, or the runtime's executable with given
 * arguments), talk to the parent that started us, notice when it is gone, and run a
 * last synchronous step however this process exits. Used by the cluster adapter.
 *
 * Built on `node:cluster`, `node:child_process`, `node:process` and `node:timers`, which
 * Deno, Bun and Node all provide (Deno's `cluster.fork()` cannot add flags, hence
 * {@linkcode runtimeSpawner}). They are imported on first use, so importing this module
 * costs nothing.
 *
 * @example
 * ```ts
 * import { clusterForker } from "./processes.ts";
 * const fork = await clusterForker();
 * const child = fork({ ROLE: "worker" });
 * child.onMessage((m) => console.log("child says", m));
 * child.onExit((code, signal) => console.log("child ended", code ?? signal));
 * ```
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { runtime } from "./runtime.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** A started child process with an IPC channel, whichever way it was started. */
export interface ChildProcessHandle {
  /** Its process id (0 when the runtime did not report one). */
  pid: number;
  /** Sends a message over the IPC channel; a child already gone is ignored (its exit tells). */
  send(message: unknown): void;
  /** Sends a signal (`"SIGTERM"`, `"SIGKILL"`…); a child already gone is ignored. */
  kill(signal: string): void;
  /** Calls `fn` with every message the child sends. */
  onMessage(fn: (message: unknown) => void): void;
  /** Calls `fn` once the child has exited, with its exit code or the signal that ended it. */
  onExit(fn: (code: number | null, signal: string | null) => void): void;
}

/** Starts one child with `env` added to this process's environment. */
export type Spawn = (env: Record<string, string>) => ChildProcessHandle;

/**
 * `node:cluster`'s `fork()`: the child re-runs this program (same runtime, script and
 * arguments) with `env` added. On Node the children share the parent's listening
 * sockets (the parent hands connections round-robin); on Bun they do not.
 *
 * @example
 * ```ts
 * import { clusterForker } from "./processes.ts";
 * const fork = await clusterForker();
 * fork({ CARAFE_WORKER: "1" }).kill("SIGTERM");
 * ```
 */
export async function clusterForker(): Promise<Spawn> {
  const { default: cluster } = await import("node:cluster");
  return (extra) => {
    const worker = cluster.fork(extra);
    return {
      pid: worker.process.pid ?? 0,
      send: (m) => {
        try {
          worker.send(m as object);
        } catch { /* already gone: its exit handler takes over */ }
      },
      kill: (s) => {
        try {
          worker.process.kill(s as NodeJS.Signals);
        } catch { /* already gone */ }
      },
      onMessage: (fn) => worker.on("message", fn),
      onExit: (fn) => worker.on("exit", (code, signal) => fn(code, signal)),
    };
  };
}

/**
 * Starts this runtime's executable with `argv` (e.g. `["run", "-A", "app.ts"]` on Deno),
 * standard streams inherited, an IPC channel, and `env` added to this process's
 * environment.
 *
 * @example
 * ```ts
 * import { runtimeSpawner } from "./processes.ts";
 * const spawn = await runtimeSpawner(["run", "-A", "worker.ts"]);
 * const child = spawn({ ROLE: "worker" });
 * ```
 */
export async function runtimeSpawner(argv: string[]): Promise<Spawn> {
  const { spawn } = await import("node:child_process");
  const { default: process } = await import("node:process");
  return (extra) =>
    fromChildProcess(
      spawn(process.execPath, argv, { stdio: ["inherit", "inherit", "inherit", "ipc"], env: { ...process.env, ...extra } }),
      (pid, signal) => process.kill(pid, signal),
    );
}

function fromChildProcess(child: ChildProcess, killPid: (pid: number, signal: string) => void): ChildProcessHandle {
  const pid = child.pid ?? 0;
  return {
    pid,
    send: (m) => {
      try {
        if (child.connected) child.send(m as object);
      } catch { /* already gone */ }
    },
    kill: (s) => {
      // process.kill rather than child.kill: Deno's ChildProcess reports a signal sent
      // with child.kill() as the cause of exit even when the worker exited with a code.
      try {
        if (child.exitCode === null && child.signalCode === null) killPid(pid, s);
      } catch { /* already gone */ }
    },
    onMessage: (fn) => child.on("message", fn),
    onExit: (fn) => child.on("exit", (code, signal) => fn(code, signal)),
  };
}

/**
 * The script this program was started with and the arguments after it
 * (`process.argv[1]` and the rest).
 *
 * @example
 * ```ts
 * import { commandLine } from "./processes.ts";
 * const { script, args } = await commandLine(); // "/srv/app.ts", ["--port", "8080"]
 * ```
 */
export async function commandLine(): Promise<{ script: string; args: string[] }> {
  const { default: process } = await import("node:process");
  return { script: process.argv[1], args: process.argv.slice(2) };
}

/** This process's IPC channel to the parent that started it (no-ops without one). */
export interface ParentChannel {
  /** Sends a message; a parent already gone is ignored. */
  send(message: unknown): void;
  /** Calls `fn` with every message from the parent. */
  onMessage(fn: (message: unknown) => void): void;
  /** Calls `fn` when the channel closes (not on every runtime: see {@linkcode watchParent}). */
  onDisconnect(fn: () => void): void;
}

/**
 * The IPC channel to the parent process.
 *
 * @example
 * ```ts
 * import { parentChannel } from "./processes.ts";
 * const parent = parentChannel();
 * parent.onMessage((m) => console.log("parent says", m));
 * parent.send({ hello: "parent" });
 * ```
 */
export function parentChannel(): ParentChannel {
  const proc = g.process;
  return {
    send: (m) => {
      try {
        proc?.send?.(m);
      } catch { /* the parent is gone: watchParent tells */ }
    },
    onMessage: (fn) => proc?.on?.("message", fn),
    onDisconnect: (fn) => proc?.on?.("disconnect", fn),
  };
}

/**
 * Calls `onGone` once this process has been re-parented (its parent died, even with
 * SIGKILL, which closes no IPC channel on some runtimes). Checks every 500 ms on a
 * timer that does not keep the process alive; does nothing where there is no parent
 * id.
 *
 * @example
 * ```ts
 * import { watchParent } from "./processes.ts";
 * await watchParent(() => console.error("parent gone: stopping"));
 * ```
 */
export async function watchParent(onGone: () => void): Promise<void> {
  const proc = g.process;
  const parent = proc?.ppid;
  if (!parent) return;
  const { setInterval, clearInterval } = await import("node:timers");
  const watch = setInterval(() => {
    if (proc.ppid !== parent) {
      clearInterval(watch);
      onGone();
    }
  }, 500);
  watch.unref();
}

/** This process as a `node:cluster` worker (see {@linkcode nodeClusterMember}). */
export interface ClusterMember {
  /**
   * Leaves the cluster: closes this worker's servers, so the primary stops handing it
   * connections, and waits (at most `timeoutMs`) until the connections it has are
   * closed and the IPC channel is down. Nothing happens when not connected.
   */
  leave(timeoutMs: number): Promise<void>;
}

/**
 * This process's membership in a `node:cluster` (Node's handle sharing).
 *
 * @example
 * ```ts
 * import { nodeClusterMember } from "./processes.ts";
 * const member = await nodeClusterMember();
 * await member.leave(5000);
 * ```
 */
export async function nodeClusterMember(): Promise<ClusterMember> {
  const { default: cluster } = await import("node:cluster");
  return {
    async leave(timeoutMs) {
      const worker = cluster.worker;
      if (!worker?.isConnected()) return;
      const disconnected = new Promise<void>((r) => worker.once("disconnect", () => r()));
      worker.disconnect();
      await Promise.race([disconnected, unrefDelay(timeoutMs)]);
    },
  };
}

/** Resolves after `ms` without keeping the process alive; never past setTimeout's range (`Infinity`). */
function unrefDelay(ms: number): Promise<void> {
  if (!(ms <= 0x7fffffff)) return new Promise(() => {});
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms) as unknown as { unref?: () => void };
    t.unref?.();
  });
}

/**
 * Calls `fn` synchronously when the process exits, however it exits (`exit()`, an
 * uncaught error, the end of the event loop). Deno: the `unload` event.
 *
 * @example
 * ```ts
 * import { onProcessExit } from "./processes.ts";
 * onProcessExit(() => console.error("bye"));
 * ```
 */
export function onProcessExit(fn: () => void): void {
  if (runtime === "deno") g.addEventListener?.("unload", fn);
  else g.process?.on?.("exit", fn);
}

/**
 * Where a module's syntax error is, as the runtime's own syntax check says it
 * (`node --check file`: the file and line, the line, a caret, the message): Node's
 * `import()` rejects with the message alone. `undefined` when the check finds nothing
 * or cannot run (Deno and Bun put the place in the error itself).
 *
 * @example
 * ```ts
 * import { syntaxErrorReport } from "./processes.ts";
 * console.log(await syntaxErrorReport("/srv/app/app.mjs") ?? "no syntax error");
 * ```
 */
export async function syntaxErrorReport(file: string): Promise<string | undefined> {
  if (runtime !== "node") return undefined;
  const { spawnSync } = await import("node:child_process");
  const { default: process } = await import("node:process");
  const check = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 10_000 });
  if (check.status === 0 || !check.stderr) return undefined;
  // "file:line\n<code>\n   ^^^\n\nSyntaxError: …\n    at …": up to the message.
  const lines = check.stderr.split("\n");
  const end = lines.findIndex((l) => /^\w*Error: /.test(l));
  return (end < 0 ? lines.slice(0, 4) : lines.slice(0, end + 1)).filter((l) => l !== "").join("\n");
}
