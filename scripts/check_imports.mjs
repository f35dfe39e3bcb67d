#!/usr/bin/env node
// Finds import cycles among the repository's own .ts modules: `node scripts/check_imports.mjs`.
//
// Reads every `import … from "./x.ts"` / `export … from "./x.ts"` (static: what loads a
// module as soon as its importer loads) and, with --dynamic, also `import("./x.ts")`
// (lazy loads, such as the adapter registry's). Type-only imports (`import type`) are
// skipped: they vanish at run time. Prints each cycle found and exits 1 if there is one.
//
// Options:
//   --dynamic     count dynamic import() edges too
//   dirs…         where to look (default: mod.ts cli.ts core adapters shims)
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const dynamic = argv.includes("--dynamic");
const roots = argv.filter((a) => !a.startsWith("--"));
const starts = (roots.length ? roots : ["mod.ts", "cli.ts", "core", "adapters", "shims"]).map((p) => resolve(root, p));

/** Every .ts file under `path` (or `path` itself). */
function files(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return path.endsWith(".ts") ? [path] : [];
  return readdirSync(path).flatMap((name) => (name === "node_modules" ? [] : files(join(path, name))));
}

// Comments are blanked first, so that a JSDoc example's import is not counted.
const stripComments = (s) => s.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
const STATIC = /^\s*(?:import|export)\s+(?!type\b)(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+\.ts)["']/gm;
const DYNAMIC = /\bimport\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*\)/g;

/** module → the modules it imports (absolute paths). */
const graph = new Map();
const queue = starts.flatMap(files);
while (queue.length) {
  const file = queue.pop();
  if (graph.has(file)) continue;
  const text = stripComments(readFileSync(file, "utf8"));
  const specs = [...text.matchAll(STATIC)].map((m) => m[1]);
  if (dynamic) specs.push(...[...text.matchAll(DYNAMIC)].map((m) => m[1]));
  const deps = [...new Set(specs.map((s) => resolve(dirname(file), s)))].filter(existsSync);
  graph.set(file, deps);
  queue.push(...deps);
}

// Depth-first search; a back edge to a module on the current path closes a cycle.
const cycles = new Map();
const state = new Map(); // 1: on the path, 2: done
const path = [];
function visit(file) {
  state.set(file, 1);
  path.push(file);
  for (const dep of graph.get(file) ?? []) {
    if (state.get(dep) === 1) {
      const cycle = path.slice(path.indexOf(dep)).map((f) => relative(root, f));
      // One entry per cycle, whichever module it was entered from.
      const key = [...cycle].sort().join(" ");
      if (!cycles.has(key)) cycles.set(key, [...cycle, relative(root, dep)]);
    } else if (!state.has(dep)) visit(dep);
  }
  path.pop();
  state.set(file, 2);
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

const kind = dynamic ? "static and dynamic" : "static";
if (cycles.size === 0) {
  console.log(`check_imports: ${graph.size} modules, no ${kind} import cycle`);
} else {
  for (const cycle of cycles.values()) console.log(`cycle: ${cycle.join(" → ")}`);
  console.log(`check_imports: ${graph.size} modules, ${cycles.size} ${kind} import cycle(s)`);
  process.exit(1);
}
