/**
 * The registry of servers `run()` and the `carafe` command know by name, and what
 * `auto` means on this machine. Adapters are loaded lazily (`() => import("./node/mod.ts")`),
 * so starting one server never loads the others: a CGI program starts without parsing
 * node:http glue.
 *
 * @example
 * ```ts
 * import { getAdapter, serverNames } from "./registry.ts";
 * console.log(serverNames); // ["deno", "bun", "node", "cluster", "fastcgi", "cgi", "auto"]
 * const adapter = await getAdapter("auto");
 * ```
 *
 * @module
 */
import type { Adapter } from "./adapter.ts";
import { env, runtime, stdinMaybeSocket } from "../shims/runtime.ts";
import { passengerHost } from "./passenger.ts";

/** Loads an adapter on first use (a dynamic `import()`), so unused adapters cost nothing. */
export type Loader = () => Promise<Adapter>;

// Computed specifiers would defeat bundlers; literal dynamic imports keep each adapter
// in its own chunk and unloaded until asked for.
const registry = new Map<string, Loader>([
  ["deno", async () => (await import("./deno.ts")).denoAdapter],
  ["bun", async () => (await import("./bun.ts")).bunAdapter],
  ["node", async () => (await import("./node/mod.ts")).nodeAdapter],
  ["cluster", async () => (await import("./cluster/mod.ts")).clusterAdapter],
  ["fastcgi", async () => (await import("./fastcgi/mod.ts")).fastcgiAdapter],
  ["cgi", async () => (await import("./cgi.ts")).cgiAdapter],
  ["auto", autoAdapter],
]);

/**
 * Names `run({ server })` accepts, including adapters added with {@linkcode registerAdapter}.
 *
 * @example
 * ```ts
 * import { serverNames } from "./registry.ts";
 * console.log(serverNames.join(", ")); // deno, bun, node, cluster, fastcgi, cgi, auto
 * ```
 */
export const serverNames: string[] = [...registry.keys()];

/**
 * Adds (or replaces) an adapter under its `name`, so `run({ server: name })` and the
 * command line's `--server name` find it. Pass a loader function to load it lazily.
 *
 * @example
 * ```ts
 * import { registerAdapter } from "./registry.ts";
 * registerAdapter({
 *   name: "null",
 *   serve: () => ({ url: "null:", close: async () => {}, finished: Promise.resolve() }),
 * });
 * ```
 */
export function registerAdapter(adapter: Adapter, loader?: Loader): void {
  if (!adapter || typeof adapter.name !== "string" || !adapter.name) {
    throw new TypeError("registerAdapter: the adapter needs a non-empty `name`");
  }
  if (!loader && typeof adapter.serve !== "function") {
    throw new TypeError(`registerAdapter: adapter "${adapter.name}" has no serve() function`);
  }
  registry.set(adapter.name, loader ?? (() => Promise.resolve(adapter)));
  if (!serverNames.includes(adapter.name)) serverNames.push(adapter.name);
}

/**
 * Loads the adapter registered under `name` (`"auto"` resolves to the concrete one).
 * Throws an error listing the known names when there is none.
 *
 * @example
 * ```ts
 * import { getAdapter } from "./registry.ts";
 * const adapter = await getAdapter("auto");
 * console.log(adapter.name); // "deno", "bun" or "node"
 * ```
 */
export async function getAdapter(name: string): Promise<Adapter> {
  const loader = registry.get(name);
  if (!loader) {
    throw new Error(`Unknown server "${name}". Known servers: ${serverNames.join(", ")} (or pass an adapter object).`);
  }
  return await loader();
}

/**
 * Which adapter `auto` means here, as a name: `"node"` inside Phusion Passenger (which
 * hands node:http its own socket), `"cgi"` under a CGI environment
 * (`GATEWAY_INTERFACE`), `"fastcgi"` when fd 0 is a listening socket, else the
 * runtime's own server (`"deno"`, `"bun"` or `"node"`; never node:http on Deno/Bun).
 *
 * @example
 * ```ts
 * import { autoServerName } from "./registry.ts";
 * console.log(await autoServerName());
 * ```
 */
export async function autoServerName(): Promise<string> {
  // Before the fd 0 probe: Passenger's stdin is its control pipe (its end means "stop").
  if (passengerHost()) return "node";
  // Cheap pre-checks first, so that a plain start does not load the gateway adapters.
  if (env("GATEWAY_INTERFACE")) {
    const cgi = await import("./cgi.ts").catch(() => undefined);
    if (!cgi || cgi.isCgiEnvironment()) return "cgi";
  }
  if (await stdinMaybeSocket()) {
    const fcgi = await import("./fastcgi/mod.ts").catch(() => undefined);
    if (fcgi?.isFastCgiListener()) return "fastcgi";
  }
  return runtime === "deno" ? "deno" : runtime === "bun" ? "bun" : "node";
}

async function autoAdapter(): Promise<Adapter> {
  return await getAdapter(await autoServerName());
}
