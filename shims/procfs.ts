/**
 * Small files under Linux's `/proc` (a sysctl, a process's command line), on every
 * runtime and whatever Deno's permissions.
 *
 * @example
 * ```ts
 * import { readProcFiles } from "./procfs.ts";
 * const [migrate] = await readProcFiles(["/proc/sys/net/ipv4/tcp_migrate_req"]);
 * console.log(migrate ?? "cannot tell");
 * ```
 *
 * @module
 */
import { fstatSync, readFileSync, readlinkSync } from "node:fs";
import { runtime } from "./runtime.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/**
 * Reads small files under `/proc` (Linux), `undefined` for each one that cannot be read
 * (and for all of them elsewhere). Deno lets a program read `/proc` only with
 * `--allow-all`; with narrower permissions a `deno eval` child (which has all
 * permissions, and which a program allowed to run its own executable may start) reads
 * them for it.
 *
 * @example
 * ```ts
 * import { readProcFiles } from "./procfs.ts";
 * import { pid } from "./runtime.ts";
 * const [cmdline] = await readProcFiles([`/proc/${pid()}/cmdline`]);
 * console.log(cmdline?.split("\0"));
 * ```
 */
export async function readProcFiles(paths: string[]): Promise<(string | undefined)[]> {
  const { default: process } = await import("node:process");
  if (process.platform !== "linux") return paths.map(() => undefined);
  if (runtime !== "deno") {
    const { readFile } = await import("node:fs/promises");
    return await Promise.all(paths.map((p) => readFile(p, "utf8").catch(() => undefined)));
  }
  const read = (p: string) => {
    try {
      return new TextDecoder().decode(g.Deno.readFileSync(p));
    } catch {
      return undefined;
    }
  };
  const names = ["read", "write", "net", "env", "run", "ffi", "sys", "import"];
  try {
    if (names.every((name) => g.Deno.permissions.querySync({ name }).state === "granted")) return paths.map(read);
    const { spawnSync } = await import("node:child_process");
    const code = `const read = (p) => { try { return new TextDecoder().decode(Deno.readFileSync(p)); } catch { return null; } };
      console.log(JSON.stringify(${JSON.stringify(paths)}.map(read)));`;
    const r = spawnSync(process.execPath, ["eval", "--no-config", "-q", code], { encoding: "utf8", timeout: 10_000 });
    if (r.status !== 0) return paths.map(() => undefined);
    return (JSON.parse(r.stdout) as (string | null)[]).map((v) => v ?? undefined);
  } catch {
    return paths.map(() => undefined); // not even allowed to run it
  }
}

/**
 * Whether fd 0 is a listening socket (the FastCGI way of being started by a web
 * server). The spec's test is `getpeername(0)` failing with `ENOTCONN`; without native
 * calls we check that fd 0 is a socket and, on Linux, that `/proc/net` lists its inode
 * as listening (TCP state `0A`, or a Unix socket with the accept flag).
 *
 * @example
 * ```ts
 * import { stdinIsListeningSocket } from "./procfs.ts";
 * console.log(stdinIsListeningSocket()); // false from a terminal
 * ```
 */
export function stdinIsListeningSocket(): boolean {
  try {
    if (!fstatSync(0).isSocket()) return false;
  } catch {
    return false;
  }
  let inode: string | undefined;
  try {
    inode = readlinkSync("/proc/self/fd/0").match(/^socket:\[(\d+)\]$/)?.[1];
  } catch {
    return true; // not Linux: a socket on stdin is assumed to be a listener (inetd-style connected sockets are rare)
  }
  if (!inode) return false;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[9] === inode) return cols[3] === "0A";
      }
    } catch { /* no such table */ }
  }
  try {
    for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[6] === inode) return (parseInt(cols[3], 16) & 0x10000) !== 0; // __SO_ACCEPTCON
    }
  } catch { /* ignore */ }
  return false;
}
