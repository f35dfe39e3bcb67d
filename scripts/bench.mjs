#!/usr/bin/env node
// `npm run bench`: runs every bench/*_bench.mjs in turn, passing the arguments through
// (e.g. `npm run bench -- --quick`). A benchmark that fails is reported, the rest still run.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith("--"));
const benches = readdirSync(join(root, "bench"))
  .filter((f) => f.endsWith("_bench.mjs"))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
// Hono and @hono/node-server, what the benchmarks compare with, are bench/'s own
// dependencies (bench/package.json), not the package's: installed here on first use.
if (!existsSync(join(root, "bench", "node_modules", "hono"))) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const install = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { stdio: "inherit", cwd: join(root, "bench") });
  if (install.status !== 0) {
    console.error("Could not install bench/'s dependencies (npm ci in bench/).");
    process.exit(1);
  }
}
let failed = 0;
for (const file of benches) {
  console.log(`\n# ${file}\n`);
  const r = spawnSync(process.execPath, [join(root, "bench", file), ...args.filter((a) => a.startsWith("--"))], { stdio: "inherit", cwd: root });
  if (r.status !== 0) {
    failed++;
    console.error(`${file} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed ? 1 : 0);
