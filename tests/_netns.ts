/**
 * Several "hosts" on one machine, for the deployment tests that spread instances over
 * servers (tests/deploy_hosts_test.ts): Linux network namespaces joined by a bridge,
 * like machines on one switch. The namespaces, veth pairs and bridge exist only while a
 * test runs; their addresses (198.18.0.0/24, the benchmarking range) exist only inside
 * them. Creating them needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): {@linkcode netnsSkip}
 * says why it cannot, and fails under CI=true.
 *
 * ```text
 *             switch (namespace "<prefix>sw": bridge br0)
 *         ┌──────────┬─────┴────┬──────────┐
 *   lb 198.18.0.10  h1 .11    h2 .12    client .100
 * ```
 *
 * Each namespace's end of its link is `eth0`; the switch's ends are named after the
 * namespace. Every name carries the creating test's pid, so that {@linkcode sweepNetns}
 * can remove what a run that died left behind, and only that.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { inCI, runtimeCommand, which } from "./_helpers.ts";

/** One namespace of a {@linkcode Switch}: its name and its address on the switch. */
export interface Host {
  /** The `ip netns` name. */
  ns: string;
  /** Its address on the switch (198.18.0.x). */
  addr: string;
  /** The switch's end of its link (in the switch namespace). */
  port: string;
}

/** Namespaces on one bridge; `remove()` deletes them all (and so their links). */
export interface Switch {
  /** The switch namespace (holds the bridge). */
  ns: string;
  hosts: Record<string, Host>;
  remove(): void;
}

/** Runs `ip ARGS…`; throws with its output when it fails. */
export function ip(...args: string[]): string {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed (${r.status ?? r.error?.message}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Why namespaces cannot be made here (not Linux, no `ip`, not root), or undefined when
 * they can: tried by making and removing one. Under CI=true a reason is an error.
 */
export function netnsSkip(prefix: string): string | undefined {
  let reason: string | undefined;
  if (process.platform !== "linux") reason = "network namespaces need Linux";
  else if (!which("ip")) reason = "the ip command (iproute2) is not installed";
  else {
    const probe = `${prefix}${process.pid}-probe`;
    const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
    if (r.status !== 0) reason = `cannot create a network namespace (needs root): ${r.stderr.trim() || r.error?.message}`;
    else spawnSync("ip", ["netns", "del", probe]);
  }
  if (reason && inCI) throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** Is process `pid` alive? (Signal 0 sends nothing.) */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/**
 * Removes the namespaces named `<prefix><pid>-…` whose test process `pid` is gone: a
 * run that was killed before its cleanup. The processes still inside them are that
 * run's own (instances, balancers) and are killed by pid first.
 */
export function sweepNetns(prefix: string): void {
  const names = ip("netns", "list").split("\n").map((line) => line.split(" ")[0]).filter((n) => n.startsWith(prefix));
  for (const name of names) {
    const owner = Number(name.slice(prefix.length).split("-")[0]);
    if (!Number.isInteger(owner) || alive(owner)) continue;
    const pids = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch { /* already gone */ }
    }
    spawnSync("ip", ["netns", "del", name]);
  }
}

/**
 * Creates a switch namespace with a bridge and one namespace per entry of `addrs`
 * (name → last byte of its 198.18.0.x address), each linked to the bridge by a veth
 * pair and with its loopback up. Removes whatever it made if a step fails.
 *
 * @example
 * ```ts
 * const net = makeSwitch("carafe-hosts-", { lb: 10, h1: 11 });
 * try {
 *   ip("-n", net.hosts.h1.ns, "link", "set", "eth0", "down"); // h1 drops off the network
 * } finally {
 *   net.remove();
 * }
 * ```
 */
export function makeSwitch(prefix: string, addrs: Record<string, number>): Switch {
  const base = `${prefix}${process.pid}-`;
  const made: string[] = [];
  const remove = () => {
    for (const ns of made.reverse()) spawnSync("ip", ["netns", "del", ns]);
  };
  try {
    const sw = `${base}sw`;
    ip("netns", "add", sw);
    made.push(sw);
    ip("-n", sw, "link", "add", "br0", "type", "bridge");
    ip("-n", sw, "link", "set", "br0", "up");
    const hosts: Record<string, Host> = {};
    for (const [name, last] of Object.entries(addrs)) {
      const ns = `${base}${name}`;
      ip("netns", "add", ns);
      made.push(ns);
      const port = `p-${name}`.slice(0, 15);
      ip("link", "add", port, "netns", sw, "type", "veth", "peer", "name", "eth0", "netns", ns);
      ip("-n", sw, "link", "set", port, "master", "br0", "up");
      ip("-n", ns, "addr", "add", `198.18.0.${last}/24`, "dev", "eth0");
      ip("-n", ns, "link", "set", "eth0", "up");
      ip("-n", ns, "link", "set", "lo", "up");
      hosts[name] = { ns, addr: `198.18.0.${last}`, port };
    }
    return { ns: sw, hosts, remove };
  } catch (e) {
    remove();
    throw e;
  }
}

/** Starts `cmd ARGS…` inside namespace `ns` (`ip netns exec` execs it: the child's pid is the program's). */
export function spawnIn(ns: string, cmd: string, args: string[]): ChildProcess {
  return spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

/** Starts `script` under the runtime running the tests, inside namespace `ns`. */
export function spawnScriptIn(ns: string, script: string, args: string[]): ChildProcess {
  const [cmd, argv] = runtimeCommand(script, args);
  return spawnIn(ns, cmd, argv);
}
