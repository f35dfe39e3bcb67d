#!/usr/bin/env node
// The one test command: `npm test` (or `node scripts/test.mjs`).
//
//   1. static checks: tsc; no import circle (scripts/check_imports.mjs --dynamic); the
//      JSDoc of the public entry points (`deno doc --lint`) and every example in the
//      sources' JSDoc type-checks (`deno check --doc-only`);
//   2. `deno test` over tests/;
//   3. `bun test` over tests/;
//   4. build the npm package (tsc into npm/) and `node --test` the compiled tests.
//
// Each runtime's counts are printed, then exactly one closing line
// `N passed, N failed[, N skipped]`. Exit code 1 on any failure, on a runtime that ran
// zero tests, or on a type error.
//
// Options:
//   --runtime=deno,bun,node   only these runtimes (default: all three)
//   --no-typecheck            skip step 1
//   any other argument        a test file name filter (substring), e.g. `npm test -- router`
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const denoJunit = join(root, ".tmp", "deno-junit.xml");
const bin = (name) => join(root, "node_modules", ".bin", name);

const argv = process.argv.slice(2);
const runtimeArg = argv.find((a) => a.startsWith("--runtime="));
const runtimes = runtimeArg ? runtimeArg.slice("--runtime=".length).split(",") : ["deno", "bun", "node"];
const typecheck = !argv.includes("--no-typecheck");
const filters = argv.filter((a) => !a.startsWith("--"));

const testFiles = readdirSync(join(root, "tests"))
  .filter((f) => /_test\.ts$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .sort();

/** The modules users import: their JSDoc must be complete (deno doc --lint). */
const publicEntries = ["mod.ts", "app.ts", "cli.ts", "adapters/lambda/mod.ts"];

/** Every source module (its JSDoc examples are type-checked). */
function sourceModules() {
  const walk = (dir) =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [join(dir, e.name)] : []
    );
  return [...publicEntries, ...walk("core"), ...walk("adapters"), ...walk("shims")];
}

/** Runs a command, streaming its output, and resolves with { code, output }. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], ...opts });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
      process.stdout.write(d);
    });
    child.stderr.on("data", (d) => {
      output += d;
      process.stderr.write(d);
    });
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
    child.on("error", (err) => resolve({ code: 127, output: String(err) }));
  });
}

// Strip ANSI colours before parsing summaries.
// deno-lint-ignore no-control-regex
const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

/** Each runtime prints its summary its own way; these read the counts back. */
const parsers = {
  // Deno's summary counts a describe() block as a test and its tests as "steps", so the
  // leaves are read from the JUnit report instead: every test case that is not a container.
  deno() {
    let xml;
    try {
      xml = readFileSync(denoJunit, "utf8");
    } catch {
      return undefined;
    }
    const unescape = (s) => s.replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
    const cases = [...xml.matchAll(/<testcase name="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)].map((m) => ({
      name: unescape(m[1]),
      failed: /<failure|<error/.test(m[2]),
      skipped: /<skipped/.test(m[2]),
    }));
    const leaves = cases.filter((c) => !cases.some((o) => o.name.startsWith(`${c.name} > `)));
    const failed = leaves.filter((c) => c.failed).length;
    const skipped = leaves.filter((c) => c.skipped).length;
    return { passed: leaves.length - failed - skipped, failed, skipped };
  },
  bun(out) {
    const t = plain(out);
    const pass = t.match(/^\s*(\d+) pass$/m);
    const fail = t.match(/^\s*(\d+) fail$/m);
    const skip = t.match(/^\s*(\d+) skip$/m);
    const todo = t.match(/^\s*(\d+) todo$/m);
    if (!pass && !fail) return undefined;
    return { passed: +(pass?.[1] ?? 0), failed: +(fail?.[1] ?? 0), skipped: +(skip?.[1] ?? 0) + +(todo?.[1] ?? 0) };
  },
  node(out) {
    const t = plain(out);
    const get = (k) => [...t.matchAll(new RegExp(`^[#ℹ] ${k} (\\d+)$`, "gm"))].pop()?.[1];
    const pass = get("pass");
    if (pass === undefined) return undefined;
    return { passed: +pass, failed: +(get("fail") ?? 0) + +(get("cancelled") ?? 0), skipped: +(get("skipped") ?? 0) + +(get("todo") ?? 0) };
  },
};

const commands = {
  deno: () => [bin("deno"), ["test", "-A", "--no-lock", `--junit-path=${denoJunit}`, ...testFiles.map((f) => `tests/${f}`)]],
  bun: () => [bin("bun"), ["test", "--timeout", "120000", ...testFiles.map((f) => `./tests/${f}`)]],
  node: () => [process.execPath, ["--test", "--test-reporter=spec", ...testFiles.map((f) => `npm/esm/tests/${f.replace(/\.ts$/, ".js")}`)]],
};

const results = [];
let typecheckFailed = false;

if (testFiles.length === 0) {
  console.error("test: no test files match", filters.join(" "));
  process.exit(1);
}

if (typecheck) {
  console.log("\n== typecheck (tsc) ==");
  const { code } = await run(bin("tsc"), ["-p", "tsconfig.json", "--noEmit"]);
  console.log("\n== import circles, lint, docs (deno lint, deno doc --lint, deno check --doc-only) ==");
  const circles = await run(process.execPath, [join(root, "scripts", "check_imports.mjs"), "--dynamic"]);
  // DENO_NO_PACKAGE_JSON: otherwise Deno takes node: types from the devDependency
  // @types/node, whose index.d.ts it cannot resolve (~80 warnings about its files, none
  // about ours). The published module has no package.json: this is what users see.
  const denoEnv = { env: { ...process.env, DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" } };
  // deno lint: unused imports and variables, the usual mistakes, over everything we write.
  const codeLint = await run(bin("deno"), ["lint", "--quiet", "adapters", "core", "shims", "tests", "examples", "scripts", "bench", "mod.ts", "app.ts", "cli.ts"], denoEnv);
  const lint = await run(bin("deno"), ["doc", "--lint", ...publicEntries], denoEnv);
  const examples = await run(bin("deno"), ["check", "--doc-only", "--quiet", ...sourceModules()], denoEnv);
  typecheckFailed = code !== 0 || circles.code !== 0 || codeLint.code !== 0 || lint.code !== 0 || examples.code !== 0;
}

for (const name of runtimes) {
  if (!commands[name]) {
    console.error(`unknown runtime ${name}; use deno, bun or node`);
    process.exit(2);
  }
  if (name === "node") {
    console.log("\n== build npm package ==");
    const build = await run(process.execPath, [join(root, "scripts", "build_npm.mjs")]);
    if (build.code !== 0) {
      results.push({ name, passed: 0, failed: 1, skipped: 0, note: "build failed" });
      continue;
    }
  }
  console.log(`\n== ${name} ==`);
  if (name === "deno") mkdirSync(dirname(denoJunit), { recursive: true }), rmSync(denoJunit, { force: true });
  const [cmd, args] = commands[name]();
  const { code, output } = await run(cmd, args, { env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" } });
  const counts = parsers[name](output);
  if (!counts) {
    results.push({ name, passed: 0, failed: 1, skipped: 0, note: `no summary found (exit ${code})` });
  } else {
    // A non-zero exit without a counted failure (a crash after the summary, an unhandled
    // rejection) still fails the run.
    if (code !== 0 && counts.failed === 0) counts.failed = 1, counts.note = `exit code ${code}`;
    if (counts.passed + counts.failed === 0) counts.note = "ran zero tests";
    results.push({ name, ...counts });
  }
}

console.log("\n== summary ==");
let passed = 0, failed = 0, skipped = 0, problems = 0;
if (typecheck) {
  console.log(`static checks (tsc, imports, docs) ${typecheckFailed ? "failed (counted as 1 failure)" : "ok"}`);
  if (typecheckFailed) failed++, problems++;
}
for (const r of results) {
  console.log(`${r.name.padEnd(5)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.note ? ` (${r.note})` : ""}`);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  if (r.failed > 0 || r.passed + r.failed === 0) problems++;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(problems > 0 ? 1 : 0);
