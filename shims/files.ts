/**
 * Synchronous file and path helpers for the command line and the reloader (`cli.ts`,
 * `shims/reloader.ts`): reading a config file, resolving a module argument to a URL,
 * walking a directory for modification times.
 *
 * Built on `node:fs`, `node:path` and `node:url`, which Deno, Bun and Node all provide.
 * Unlike `shims/fs.ts` (what `core/` uses, loaded lazily so that edge hosts never need
 * it) this module imports them statically: only programs that run on a real file
 * system load it.
 *
 * @example
 * ```ts
 * import { fileUrl, isFile } from "./files.ts";
 * if (isFile("app.ts")) console.log(fileUrl("app.ts")); // file:///…/app.ts
 * ```
 *
 * @module
 */
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname as pathDirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * A whole UTF-8 text file; throws (with Node's `code`) when it cannot be read.
 *
 * @example
 * ```ts
 * import { readTextFileSync } from "./files.ts";
 * const text = readTextFileSync("deno.json");
 * ```
 */
export function readTextFileSync(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * Whether `path` names a regular file (symlinks followed); false when it does not exist.
 *
 * @example
 * ```ts
 * import { isFile } from "./files.ts";
 * isFile("mod.ts"); // true
 * ```
 */
export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The canonical absolute path (symlinks resolved); throws when it does not exist.
 *
 * @example
 * ```ts
 * import { realPath } from "./files.ts";
 * realPath("."); // "/home/me/project"
 * ```
 */
export function realPath(path: string): string {
  return realpathSync(path);
}

/**
 * `path` made absolute against the working directory, normalised.
 *
 * @example
 * ```ts
 * import { absolutePath } from "./files.ts";
 * absolutePath("a/../b.ts"); // "/cwd/b.ts"
 * ```
 */
export function absolutePath(path: string): string {
  return resolve(path);
}

/**
 * The directory part of a path.
 *
 * @example
 * ```ts
 * import { dirname } from "./files.ts";
 * dirname("/srv/app/main.ts"); // "/srv/app"
 * ```
 */
export function dirname(path: string): string {
  return pathDirname(path);
}

/**
 * The `file:` URL of a path (made absolute first).
 *
 * @example
 * ```ts
 * import { fileUrl } from "./files.ts";
 * fileUrl("/srv/app/main.ts"); // "file:///srv/app/main.ts"
 * ```
 */
export function fileUrl(path: string): string {
  return pathToFileURL(resolve(path)).href;
}

/**
 * The path of a `file:` URL.
 *
 * @example
 * ```ts
 * import { pathFromUrl } from "./files.ts";
 * pathFromUrl("file:///srv/app/main.ts"); // "/srv/app/main.ts"
 * ```
 */
export function pathFromUrl(url: string): string {
  return fileURLToPath(url);
}

/**
 * Modification times (ms) of the files under `dir` whose names match `include`,
 * skipping dot-directories and those named in `skipDirs`; bounded to 8 levels and
 * 5000 files so that a mistaken root cannot stall the caller.
 *
 * @example
 * ```ts
 * import { modificationTimes } from "./files.ts";
 * const times = modificationTimes(".", /\.ts$/, new Set(["node_modules"]));
 * ```
 */
export function modificationTimes(dir: string, include: RegExp, skipDirs: ReadonlySet<string>): Map<string, number> {
  const into = new Map<string, number>();
  const walk = (d: string, depth: number) => {
    if (depth > 8 || into.size > 5000) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (!skipDirs.has(e.name) && !e.name.startsWith(".")) walk(p, depth + 1);
      } else if (include.test(e.name)) {
        try {
          into.set(p, statSync(p).mtimeMs);
        } catch { /* vanished meanwhile */ }
      }
    }
  };
  walk(dir, 0);
  return into;
}
