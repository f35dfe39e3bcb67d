/**
 * The reloader behind `carafe --reload` and `run({ reloader: true })` (Bottle's
 * `run(reloader=True)`): the process that asked becomes a watcher. It runs the same
 * program again in a child (environment `CARAFE_RELOADER_CHILD=1`, which serves),
 * polls the modification times of the `.ts/.js/.mjs/.json/.tpl/.html` files under a
 * directory every 500 ms, and restarts the child when one changes. A child that
 * crashes is started again on the next change. Under Deno the child runs with `-A`.
 *
 * @example
 * ```ts
 * import { isReloaderChild, mainModuleDir, runReloader } from "./reloader.ts";
 * if (!isReloaderChild()) await runReloader(mainModuleDir(), { quiet: false });
 * ```
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { absolutePath, dirname, modificationTimes } from "./files.ts";
import { env, onSignal, runtime, writeStderr } from "./runtime.ts";

/** Set (to `1`) in the environment of the child a reloader runs. */
export const RELOADER_ENV = "CARAFE_RELOADER_CHILD";

const WATCHED = /\.(m?[jt]sx?|json|tpl|html)$/;
const SKIPPED_DIRS: ReadonlySet<string> = new Set(["node_modules", ".git", "npm", "dist", "coverage"]);

/**
 * True in the child a reloader started (which must serve, not watch).
 *
 * @example
 * ```ts
 * import { isReloaderChild } from "./reloader.ts";
 * console.log(isReloaderChild() ? "serving" : "free to watch");
 * ```
 */
export function isReloaderChild(): boolean {
  return !!env(RELOADER_ENV);
}

/**
 * The directory of the program's main module (what a reloader watches by default);
 * the working directory when there is none.
 *
 * @example
 * ```ts
 * import { mainModuleDir } from "./reloader.ts";
 * console.log(mainModuleDir()); // "/srv/app"
 * ```
 */
export function mainModuleDir(): string {
  const main = process.argv[1];
  return main ? dirname(absolutePath(main)) : absolutePath(".");
}

/** The command line that runs this same program again (runtime, flags, script, arguments). */
function sameProgram(): [string, string[]] {
  const script = process.argv[1];
  const rest = process.argv.slice(2);
  // Deno does not expose the flags it was started with: the child gets -A.
  if (runtime === "deno") return [process.execPath, ["run", "-A", script, ...rest]];
  return [process.execPath, [...process.execArgv, script, ...rest]];
}

function changed(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return true;
  for (const [k, v] of a) if (b.get(k) !== v) return true;
  return false;
}

/** Options of {@linkcode runReloader}. */
export interface ReloaderOptions {
  /** No "reloading" line on stderr. */
  quiet?: boolean;
  /** Milliseconds between two looks at the files. Default 500. */
  interval?: number;
}

/**
 * Runs this program again in a child and restarts it whenever a watched file under
 * `dir` changes. Resolves once SIGINT or SIGTERM has stopped the child (SIGTERM, then
 * SIGKILL after 5 s): the caller then exits.
 *
 * @example
 * ```ts
 * import { runReloader } from "./reloader.ts";
 * await runReloader("/srv/app");
 * ```
 */
export async function runReloader(dir: string, options: ReloaderOptions = {}): Promise<void> {
  const interval = options.interval ?? 500;
  const [cmd, argv] = sameProgram();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = () => {
    const c = spawn(cmd, argv, { stdio: "inherit", env: { ...process.env, [RELOADER_ENV]: "1" } });
    child = c;
    exited = new Promise<void>((r) => c.once("exit", () => r()));
  };
  const stopChild = async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) {
      c.kill("SIGTERM");
      const force = setTimeout(() => c.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
  };
  let stopping = false;
  let stopped!: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  const quit = () => {
    if (stopping) return;
    stopping = true;
    stopChild().then(stopped, stopped);
  };
  const offInt = onSignal("SIGINT", quit);
  const offTerm = onSignal("SIGTERM", quit);
  let files = modificationTimes(dir, WATCHED, SKIPPED_DIRS);
  start();
  while (!stopping) {
    await Promise.race([new Promise((r) => setTimeout(r, interval)), done]);
    if (stopping) break;
    const now = modificationTimes(dir, WATCHED, SKIPPED_DIRS);
    if (!changed(files, now)) continue;
    files = now;
    if (!options.quiet) writeStderr("carafe: a file changed; reloading\n");
    await stopChild();
    if (!stopping) start();
  }
  await done;
  offInt();
  offTerm();
}
