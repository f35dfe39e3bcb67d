#!/usr/bin/env node
// Edge bundle size and workerd cold start: the same hello-world app (two routes: text
// and JSON) on Carafe and on Hono, each bundled the way a Worker is deployed,
//
//   esbuild app --bundle --minify --format=esm --platform=neutral
//
// then measured: minified bytes, gzipped bytes (gzip level 9, as Cloudflare reports a
// Worker's size), and workerd's time to the first response (spawn of `workerd serve` to
// the first 200 on `/`, median of --runs). Carafe is bundled from app.ts (the app without
// the servers); the mod.ts row shows what importing the full module costs today (node:
// imports marked external so that it bundles at all; it does not run in workerd).
//
//   node bench/edge_bundle.mjs [--runs=5]
//
// Needs the repository's devDependencies (esbuild, workerd) and bench/'s (hono:
// `npm install` in bench/). Prints a Markdown table.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const runsArg = process.argv.find((a) => a.startsWith("--runs="));
const runs = Math.max(1, Number(runsArg ? runsArg.slice(7) : 5));
const FIRST_RESPONSE_LIMIT_MS = 20_000;

const apps = [
  {
    name: "Hono 4 (`hono`)",
    file: "hono_app.mjs",
    source: `import { Hono } from "hono";
const app = new Hono();
app.get("/", (c) => c.text("Hello from the edge!"));
app.get("/json", (c) => c.json({ hello: "world" }));
export default app;
`,
  },
  {
    name: "Carafe (`app.ts`)",
    file: "carafe_app.ts",
    source: `import { Carafe } from ${JSON.stringify(join(root, "app.ts"))};
const app = new Carafe();
app.get("/", () => "Hello from the edge!");
app.get("/json", () => ({ hello: "world" }));
export default app;
`,
  },
  {
    name: "Carafe (`mod.ts`, node: external)",
    file: "carafe_mod.ts",
    external: ["node:*"],
    runs: false,
    source: `import { Carafe } from ${JSON.stringify(join(root, "mod.ts"))};
const app = new Carafe();
app.get("/", () => "Hello from the edge!");
app.get("/json", () => ({ hello: "world" }));
export default app;
`,
  },
];

/** Bundles one app; returns the bundle's path and sizes. */
function bundleApp(dir, app) {
  const entry = join(dir, app.file);
  const outfile = join(dir, app.file.replace(/\.\w+$/, ".bundle.js"));
  writeFileSync(entry, app.source);
  const args = [entry, "--bundle", "--minify", "--format=esm", "--platform=neutral", `--outfile=${outfile}`, "--log-level=error"];
  for (const pattern of app.external ?? []) args.push(`--external:${pattern}`);
  // NODE_PATH lets the entries in a temporary directory import bench/'s `hono`.
  execFileSync(bin("esbuild"), args, { env: { ...process.env, NODE_PATH: join(root, "bench", "node_modules") } });
  const bytes = readFileSync(outfile);
  return { outfile, minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function writeConfig(dir, bundle, port) {
  const name = bundle.split("/").pop();
  writeFileSync(
    join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .main) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const main :Workerd.Worker = (
  modules = [ (name = ${JSON.stringify(name)}, esModule = embed ${JSON.stringify(name)}) ],
  compatibilityDate = "2025-01-01",
);
`,
  );
}

/** Starts workerd on the bundle; resolves with ms from spawn to the first 200 on `/`. */
async function timeToFirstResponse(dir, bundle) {
  const port = await freePort();
  writeConfig(dir, bundle, port);
  const started = performance.now();
  const child = spawn(bin("workerd"), ["serve", "config.capnp"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  try {
    while (performance.now() - started < FIRST_RESPONSE_LIMIT_MS) {
      if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}): ${stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - started;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`workerd gave no 200 within ${FIRST_RESPONSE_LIMIT_MS} ms: ${stderr}`);
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    if (child.exitCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;

const dir = mkdtempSync(join(tmpdir(), "carafe-edge-bench-"));
try {
  const rows = [];
  for (const app of apps) rows.push({ app, ...bundleApp(dir, app), times: [] });
  // Interleaved, so that a busy moment on the machine does not fall on one app alone.
  for (let i = 0; i < runs; i++) {
    for (const row of rows) if (row.app.runs !== false) row.times.push(await timeToFirstResponse(dir, row.outfile));
  }
  const versions = `esbuild ${execFileSync(bin("esbuild"), ["--version"]).toString().trim()}, ` +
    `workerd ${execFileSync(bin("workerd"), ["--version"]).toString().trim().replace(/^workerd /, "")}, ` +
    `hono ${JSON.parse(readFileSync(join(root, "bench", "node_modules", "hono", "package.json"), "utf8")).version}`;
  console.log(`\nHello-world Worker (two routes), \`node bench/edge_bundle.mjs --runs=${runs}\` (${versions}):\n`);
  console.log("| app | minified | gzipped | workerd: start to first 200 (median of " + runs + ") |");
  console.log("|---|---:|---:|---:|");
  for (const row of rows) {
    const time = row.times.length ? `${median(row.times).toFixed(0)} ms (${Math.min(...row.times).toFixed(0)}–${Math.max(...row.times).toFixed(0)})` : "does not run (node: imports)";
    console.log(`| ${row.app.name} | ${kb(row.minified)} | ${kb(row.gzipped)} | ${time} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
