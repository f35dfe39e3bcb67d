// Runs bench/cookie_bench.ts on Node 20 (which cannot run TypeScript): compiles it and
// what it imports with tsc into bench/.build/, then runs the result with the same
// arguments.
//
//   node bench/cookie_bench.mjs [--rounds=7] [--ms=300]
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "bench", ".build");
const tsc = spawnSync(
  process.execPath,
  [
    join(root, "node_modules", "typescript", "bin", "tsc"),
    "--ignoreConfig",
    "--outDir", out,
    "--rootDir", root,
    "--target", "es2022",
    "--module", "nodenext",
    "--moduleResolution", "nodenext",
    "--rewriteRelativeImportExtensions",
    "--allowImportingTsExtensions",
    "--skipLibCheck",
    "--types", "node",
    "--lib", "es2023,dom",
    join(root, "bench", "cookie_bench.ts"),
  ],
  { stdio: "inherit", cwd: root },
);
if (tsc.status !== 0) {
  console.error(`tsc failed (exit ${tsc.status}); not running the benchmark.`);
  process.exit(1);
}
const run = spawnSync(process.execPath, [join(out, "bench", "cookie_bench.js"), ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(run.status ?? 1);
