#!/usr/bin/env node
// `npm start`: builds the npm package (tsc, a second or two) and serves examples/hello.ts
// from the build with the `auto` server on http://127.0.0.1:8080/ (PORT overrides).
// Node 20 cannot run .ts files directly; Deno and Bun users run examples/hello.ts as is.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
try {
  execFileSync(process.execPath, [join(root, "scripts", "build_npm.mjs")], { stdio: ["ignore", "ignore", "inherit"] });
} catch {
  process.exit(1); // build_npm said why
}
await import(pathToFileURL(join(root, "npm", "esm", "examples", "hello.js")).href);
