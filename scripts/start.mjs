#!/usr/bin/env node
// `npm start` (and `bun run start`): serves the demo (examples/demo/) with the `auto`
// server on http://127.0.0.1:8080/ (PORT and HOST override). Its data stays in
// examples/demo/data/ (DEMO_DATA overrides) across restarts.
//
// Deno and Bun run the TypeScript sources as they are. Node 20 cannot, so under Node
// the npm package is built first (tsc, a second or two) and the demo served from it.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// The build is remade on every start: keep the data beside the sources, not in it.
process.env.DEMO_DATA ??= join(root, "examples", "demo", "data");

let main = join(root, "examples", "demo", "main.ts");
if (!process.versions.bun && !process.versions.deno) {
  try {
    execFileSync(process.execPath, [join(root, "scripts", "build_npm.mjs")], { stdio: ["ignore", "ignore", "inherit"] });
  } catch {
    process.exit(1); // build_npm said why
  }
  main = join(root, "npm", "esm", "examples", "demo", "main.js");
}
await import(pathToFileURL(main).href);
