/**
 * How the primary starts a worker on each runtime: `node:cluster` `fork()` on Node and
 * Bun; on Deno a child process of the same executable with the primary's own flags
 * plus `--unstable-net` (see {@linkcode denoWorkerArgs}), since Deno's `cluster.fork()`
 * cannot add that flag and `Deno.serve({ reusePort: true })` needs it.
 *
 * @example
 * ```ts
 * import { workerSpawner } from "./spawner.ts";
 * const spawn = await workerSpawner({ log: console.error, cmdline: undefined });
 * const child = spawn({ CARAFE_WORKER: "1" });
 * child.onExit((code, signal) => console.error("worker exited", code ?? signal));
 * ```
 *
 * @module
 */
import { clusterForker, commandLine, runtimeSpawner, type Spawn } from "../../shims/processes.ts";
import { runtime } from "../../shims/runtime.ts";

export type { ChildProcessHandle, Spawn } from "../../shims/processes.ts";

/**
 * The Deno command line of a worker: the primary's own flags (permissions, `--config`,
 * `--import-map`, `--env-file`, `--no-lock`…, read from `/proc/<pid>/cmdline`) plus
 * `--unstable-net` for `reusePort`, without `--inspect*` (one debugger port per process)
 * and `--watch*` (the primary restarts, not each worker). Where the command line cannot
 * be read (not Linux): `-A --unstable-net`, as Deno's own `cluster.fork()` does.
 *
 * @example
 * ```ts
 * import { denoWorkerArgs } from "./spawner.ts";
 * denoWorkerArgs(["/usr/bin/deno", "run", "--allow-net", "app.ts", ""], "/srv/app.ts", []);
 * // { argv: ["run", "--allow-net", "--unstable-net", "/srv/app.ts"], reused: true }
 * ```
 */
export function denoWorkerArgs(cmdline: string[] | undefined, script: string, args: string[]): { argv: string[]; reused: boolean } {
  const fallback = { argv: ["run", "-A", "--unstable-net", script, ...args], reused: false };
  if (!cmdline) return fallback;
  const parts = cmdline.at(-1) === "" ? cmdline.slice(0, -1) : cmdline;
  const at = parts.length - 1 - args.length; // the script's position: the arguments follow it
  if (at < 1 || args.some((a, i) => parts[at + 1 + i] !== a)) return fallback;
  // `deno run [flags] script` or `deno [flags] script`; any other subcommand: fall back.
  const flags: string[] = [];
  let sawRun = false;
  for (let i = 1; i < at; i++) {
    const f = parts[i];
    if (f.startsWith("-")) {
      if (!/^--(inspect|inspect-brk|inspect-wait|watch|watch-hmr|watch-exclude)(=|$)/.test(f)) flags.push(f);
      if (VALUE_FLAGS.test(f) && i + 1 < at) flags.push(parts[++i]);
    } else if (f === "run" && !sawRun) sawRun = true;
    else return fallback;
  }
  if (!flags.includes("--unstable-net")) flags.push("--unstable-net");
  return { argv: ["run", ...flags, script, ...args], reused: true };
}

/** Deno flags that take their value as the next argument. */
const VALUE_FLAGS = /^(-c|-L|--config|--import-map|--cert|--location|--seed|--preload|--require|--ext|--log-level|--conditions|--minimum-dependency-age)$/;

/**
 * How this runtime starts a worker (see the module doc). `cmdline` is the primary's
 * own command line, split at NUL (Deno only; `undefined` where it cannot be read).
 */
export async function workerSpawner(o: { log: (line: string) => void; cmdline: string[] | undefined }): Promise<Spawn> {
  if (runtime !== "deno") return await clusterForker();
  const { script, args } = await commandLine();
  const { argv, reused } = denoWorkerArgs(o.cmdline, script, args);
  if (!reused) o.log(`cluster: could not read the primary's Deno flags (/proc/<pid>/cmdline); workers run with: deno ${argv.slice(0, 3).join(" ")}`);
  return await runtimeSpawner(argv);
}
