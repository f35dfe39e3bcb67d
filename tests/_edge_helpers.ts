/**
 * Plumbing for the edge suites: bundle an app with esbuild (the binary, as a user's
 * build would), run the bundle in `workerd` (Cloudflare's runtime) with a config this
 * module writes, or in Vercel's Edge Runtime (the `edge-runtime` package). All three are
 * devDependencies; a missing one skips its suite with the reason (and fails under
 * CI=true, like a missing peer).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compiled, inCI, stop } from "./_helpers.ts";
import { freePort, waitListening } from "./_gateway_peers.ts";
import { request } from "./_native_helpers.ts";

/** The repository root, also when the compiled tests run from npm/esm/tests. */
export const repoRoot: string = fileURLToPath(new URL(compiled ? "../../../" : "../", import.meta.url));

/** A repository source file (always the `.ts` source: esbuild bundles TypeScript itself). */
export function source(relative: string): string {
  return join(repoRoot, relative);
}

/** An executable of node_modules/.bin, or a skip reason (a failure under CI=true). */
export function devTool(name: "esbuild" | "workerd"): { path?: string; skip?: string } {
  const path = join(repoRoot, "node_modules", ".bin", name);
  if (existsSync(path)) return { path };
  const reason = `${name} is not installed (it is a devDependency: npm install)`;
  if (inCI) throw new Error(`CI=true but ${reason}`);
  return { skip: reason };
}

/** How {@linkcode bundle} builds. */
export interface BundleOptions {
  /** The app module (its default export is the app). */
  entry: string;
  /** Where the bundle goes. */
  outfile: string;
  /** `esm` (workerd: `export default app`) or `iife` (Edge Runtime scripts); default esm. */
  format?: "esm" | "iife";
  /** With `iife`: the global that holds the entry's exports. */
  globalName?: string;
  /** Minify (the size benchmark does); default false, so stack traces stay readable. */
  minify?: boolean;
}

/**
 * Bundles `entry` as an edge platform gets it: `--platform=neutral`, nothing external,
 * so any `node:` import the entry reaches fails the build instead of failing at run time.
 */
export function bundle(options: BundleOptions): Promise<void> {
  const esbuild = devTool("esbuild").path;
  if (!esbuild) return Promise.reject(new Error("esbuild is not installed"));
  const args = [options.entry, "--bundle", `--format=${options.format ?? "esm"}`, "--platform=neutral", `--outfile=${options.outfile}`, "--log-level=error"];
  if (options.globalName) args.push(`--global-name=${options.globalName}`);
  if (options.minify) args.push("--minify");
  return new Promise((resolve, reject) =>
    execFile(esbuild, args, { cwd: repoRoot }, (err, _out, stderr) => err ? reject(new Error(`esbuild failed: ${stderr || err.message}`)) : resolve())
  );
}

/** A binding in a workerd worker: a text var, a JSON value, or another service (KV-like). */
export type WorkerdBinding =
  | { name: string; text: string }
  | { name: string; json: unknown }
  | { name: string; service: string };

/** One worker of a workerd config: an ES module file (relative to the config) and its bindings. */
export interface WorkerdWorker {
  /** The service name (the first worker is the one the socket serves). */
  name: string;
  /** The module file, in the config's directory. */
  module: string;
  bindings?: WorkerdBinding[];
}

// Workers without nodejs_compat: the compatibility date alone, no flags.
const COMPATIBILITY_DATE = "2025-01-01";

const capnpString = (s: string) => JSON.stringify(s);

function capnpBinding(binding: WorkerdBinding): string {
  if ("text" in binding) return `(name = ${capnpString(binding.name)}, text = ${capnpString(binding.text)})`;
  if ("json" in binding) return `(name = ${capnpString(binding.name)}, json = ${capnpString(JSON.stringify(binding.json))})`;
  return `(name = ${capnpString(binding.name)}, service = ${capnpString(binding.service)})`;
}

/** The capnp text of a workerd config serving `workers[0]` on 127.0.0.1:`port`. */
export function workerdConfig(options: { port: number; workers: WorkerdWorker[] }): string {
  const services = options.workers.map((w, i) => `(name = ${capnpString(w.name)}, worker = .worker${i})`);
  const workers = options.workers.map((w, i) =>
    `const worker${i} :Workerd.Worker = (\n` +
    `  modules = [ (name = ${capnpString(w.module)}, esModule = embed ${capnpString(w.module)}) ],\n` +
    `  compatibilityDate = ${capnpString(COMPATIBILITY_DATE)},\n` +
    `  bindings = [ ${(w.bindings ?? []).map(capnpBinding).join(", ")} ],\n` +
    `);`
  );
  return `using Workerd = import "/workerd/workerd.capnp";\n\n` +
    `const config :Workerd.Config = (\n` +
    `  services = [ ${services.join(", ")} ],\n` +
    `  sockets = [ (name = "http", address = "127.0.0.1:${options.port}", http = (), service = ${capnpString(options.workers[0].name)}) ],\n` +
    `);\n\n${workers.join("\n\n")}\n`;
}

/**
 * A KV-like service for a `service` binding: GET/PUT/DELETE `/<key>` on an in-memory
 * map, the shape of Workers KV's get/put/delete reached through `env.KV.fetch()`.
 */
export const KV_SERVICE_MODULE = `const store = new Map();
export default {
  async fetch(request) {
    const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
    if (request.method === "PUT") { store.set(key, await request.text()); return new Response(null, { status: 204 }); }
    if (request.method === "DELETE") { store.delete(key); return new Response(null, { status: 204 }); }
    return store.has(key) ? new Response(store.get(key)) : new Response(null, { status: 404 });
  },
};
`;

/** A running workerd. */
export interface Workerd {
  /** `http://127.0.0.1:port`. */
  url: string;
  /** What workerd wrote so far (stdout and stderr: the app's console output). */
  output(): string;
  /** Stops it by PID (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Writes `config.capnp` into `dir` (which already holds the worker modules), starts
 * `workerd serve` on a free port and resolves once it accepts connections.
 */
export async function startWorkerd(options: { dir: string; workers: WorkerdWorker[] }): Promise<Workerd> {
  const workerd = devTool("workerd").path;
  if (!workerd) throw new Error("workerd is not installed");
  const port = await freePort();
  writeFileSync(join(options.dir, "config.capnp"), workerdConfig({ port, workers: options.workers }));
  const child = spawn(workerd, ["serve", "config.capnp"], { cwd: options.dir, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`workerd exited (${code}) before listening:\n${output}`)))
  );
  exited.catch(() => {});
  try {
    await Promise.race([waitListening(port, 20000), exited]);
  } catch (err) {
    await stop(child);
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, output: () => output, stop: () => stop(child) };
}

/** The `edge-runtime` package (Vercel's Edge Runtime), loaded from the repository's node_modules. */
// deno-lint-ignore no-explicit-any
export function edgeRuntimePackage(): { pkg?: any; skip?: string } {
  try {
    return { pkg: createRequire(join(repoRoot, "package.json"))("edge-runtime") };
  } catch (err) {
    const reason = `edge-runtime is not installed (it is a devDependency: npm install): ${(err as Error).message}`;
    if (inCI) throw new Error(`CI=true but ${reason}`);
    return { skip: reason };
  }
}

/** A running Edge Runtime server. */
export interface EdgeServer {
  /** `http://127.0.0.1:port/`. */
  url: string;
  /** Waits for pending `waitUntil` work, then closes the server. */
  close(): Promise<void>;
}

/**
 * Serves an IIFE bundle whose global `globalName` holds the app (its `default` export)
 * in an `EdgeRuntime`, through the package's `runServer`. The Edge Runtime evaluates
 * scripts, not modules, and dispatches `fetch` events, as Vercel's edge functions do.
 */
export async function startEdgeRuntime(options: { bundle: string; globalName: string }): Promise<EdgeServer> {
  const { pkg, skip } = edgeRuntimePackage();
  if (!pkg) throw new Error(skip);
  const initialCode = readFileSync(options.bundle, "utf8") +
    `\naddEventListener("fetch", (event) => event.respondWith(${options.globalName}.default.fetch(event.request)));\n`;
  const runtime = new pkg.EdgeRuntime({ initialCode });
  const server = await pkg.runServer({ runtime, host: "127.0.0.1", port: 0 });
  return { url: server.url, close: () => server.close() };
}

/**
 * What tests/fixtures/edge/worker_app.ts must answer on any edge host, as named checks
 * against a base URL: the edge suites run each one as a test.
 */
export const workerAppChecks: { name: string; check(base: string): Promise<void> }[] = [
  {
    name: "routes a request by its path, with a typed parameter and repeated query keys",
    async check(base) {
      const hello = await request(base, { path: "/hello/edge" });
      assert.deepEqual([hello.status, hello.body.toString()], [200, "Hello edge!"]);
      const item = await request(base, { path: "/item/42?tag=a&tag=b" });
      assert.equal(item.status, 200);
      assert.match(String(item.headers["content-type"]), /^application\/json/);
      assert.deepEqual(JSON.parse(item.body.toString()), { id: 42, query: ["a", "b"] });
      assert.equal((await request(base, { path: "/item/forty-two" })).status, 404);
    },
  },
  {
    name: "reads a POST body: JSON, and bytes that are not UTF-8",
    async check(base) {
      const payload = { drink: "mocha", sizes: [1, 2, 3], note: "café ☕" };
      const echo = await request(base, { method: "POST", path: "/echo", body: JSON.stringify(payload), headers: { "content-type": "application/json" } });
      assert.equal(echo.status, 200);
      assert.deepEqual(JSON.parse(echo.body.toString()), { received: payload, type: "application/json" });
      const bytes = Buffer.alloc(70_000, 0xff);
      const upload = await request(base, { method: "POST", path: "/upload", body: bytes, headers: { "content-type": "application/octet-stream" } });
      assert.deepEqual([upload.status, upload.body.toString()], [200, "70000 bytes"]);
      const bad = await request(base, { method: "POST", path: "/echo", body: "{not json", headers: { "content-type": "application/json" } });
      assert.equal(bad.status, 400);
    },
  },
  {
    name: "sends two Set-Cookie headers and reads cookies back",
    async check(base) {
      const set = await request(base, { path: "/cookies/set" });
      assert.deepEqual(set.headers["set-cookie"], ["flavour=mocha; Path=/; HttpOnly", "size=large; Max-Age=60; Path=/"]);
      const read = await request(base, { path: "/cookies/read", headers: { cookie: "flavour=mocha; size=large" } });
      assert.deepEqual(JSON.parse(read.body.toString()), { flavour: "mocha", size: "large" });
    },
  },
  {
    name: "streams a generator's answer (chunked, no Content-Length)",
    async check(base) {
      const streamed = await request(base, { path: "/stream" });
      assert.equal(streamed.status, 200);
      assert.equal(streamed.headers["content-length"], undefined);
      assert.equal(streamed.headers["transfer-encoding"], "chunked");
      assert.equal(streamed.body.toString(), "chunk 1\nchunk 2\nchunk 3\n");
    },
  },
  {
    name: "answers errors with Carafe's pages: 500 without the stack trace, abort(418), 404",
    async check(base) {
      const boom = await request(base, { path: "/boom" });
      assert.equal(boom.status, 500);
      assert.match(boom.body.toString(), /<h1>Error: 500 Internal Server Error<\/h1>/);
      assert.doesNotMatch(boom.body.toString(), /the handler failed|at .*worker/);
      const teapot = await request(base, { path: "/teapot" });
      assert.equal(teapot.status, 418);
      assert.match(teapot.body.toString(), /No coffee here\./);
      const missing = await request(base, { path: "/nowhere" });
      assert.equal(missing.status, 404);
      assert.match(missing.body.toString(), /Not found: &#39;\/nowhere&#39;/);
    },
  },
];
