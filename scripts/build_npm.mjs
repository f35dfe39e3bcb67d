#!/usr/bin/env node
// Builds the npm package into npm/: tsc compiles the same .ts sources Deno and Bun run
// (relative ".ts" imports rewritten to ".js"), then npm/package.json is written from
// deno.json's version. Tests and examples are compiled too (the Node test run uses them)
// but left out of the published files.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "npm");
const deno = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const tsc = join(root, "node_modules", ".bin", "tsc");
try {
  execFileSync(tsc, ["-p", join(root, "tsconfig.json")], { stdio: "inherit", cwd: root });
} catch {
  console.error("build_npm: tsc reported errors (above); fix them and build again.");
  process.exit(1);
}

// The examples' templates and static files sit next to their compiled modules, as
// they do next to the sources (a demo's data folder stays behind).
cpSync(join(root, "examples"), join(out, "esm", "examples"), {
  recursive: true,
  filter: (src) => !src.endsWith(".ts") && !/[\\/]data$/.test(src),
});

const pkg = {
  // "carafe" on npm is an unrelated package; the scope matches the JSR name.
  name: "@carafe/carafe",
  version: deno.version,
  description: "Bottle's idea in TypeScript: a micro web framework with one run() for every server.",
  license: "MIT",
  type: "module",
  engines: { node: ">=20" },
  main: "./esm/mod.js",
  types: "./esm/mod.d.ts",
  exports: {
    ".": { types: "./esm/mod.d.ts", default: "./esm/mod.js" },
    // The app without the servers (no node: import, no run()): the entry for edge bundles.
    "./app": { types: "./esm/app.d.ts", default: "./esm/app.js" },
    "./lambda": { types: "./esm/adapters/lambda/mod.d.ts", default: "./esm/adapters/lambda/mod.js" },
    "./cli": { types: "./esm/cli.d.ts", default: "./esm/cli.js" },
    "./package.json": "./package.json",
  },
  bin: { carafe: "./esm/cli.js" },
  // Declarations that name node: types (toNodeHandler's node:http listener) need them;
  // "*" takes the user's own version when there is one. See nodeTypesReferenced below.
  dependencies: { "@types/node": "*" },
  files: ["esm/", "!esm/tests/", "!esm/examples/", "README.md", "LICENSE"],
  // Only the command runs anything when imported: bundlers may drop every unused module.
  sideEffects: ["./esm/cli.js"],
};
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// TypeScript 6+ loads no @types package unless a tsconfig lists it ("types" defaults to
// []), so a user's `tsc` would stop at "Cannot find name 'node:http'" in our
// declarations. A reference directive in each declaration that imports a node: module
// brings @types/node in where it is needed, and only there.
function nodeTypesReferenced(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) nodeTypesReferenced(path);
    else if (entry.name.endsWith(".d.ts")) {
      const text = readFileSync(path, "utf8");
      if (/from "node:/.test(text)) writeFileSync(path, `/// <reference types="node" />\n${text}`);
    }
  }
}
nodeTypesReferenced(join(out, "esm"));
for (const f of ["README.md", "LICENSE"]) {
  if (existsSync(join(root, f))) copyFileSync(join(root, f), join(out, f));
}
console.log(`build_npm: npm/ ${pkg.name}@${deno.version}`);
