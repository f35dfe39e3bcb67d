/**
 * Router microbenchmark: Carafe's `Router.match` against Hono's routers on a GitHub
 * REST API route table (~290 routes), in the same process, interleaved rounds,
 * medians, printed as markdown tables.
 *
 *   npx deno run -A bench/router_bench.ts [--rounds=7] [--ms=300]
 *   npx bun bench/router_bench.ts
 *   node bench/router_bench.mjs            (compiles this file with tsc, then runs it)
 *
 * Two tables: Hono's `RegExpRouter` rejects a static and a parameter segment side by
 * side (`/gists/public` + `/gists/:gist_id`), so it is compared on the largest subset
 * it accepts; the full table is compared with what `new Hono()` uses
 * (`SmartRouter` over RegExpRouter and TrieRouter, which picks TrieRouter here).
 *
 * Columns: `carafe` = `Router.match` (target plus a params object with the values;
 * misses also work out 404 vs 405); `hono-*` = the router's `match` as Hono calls it
 * per request (handlers plus raw match data; params are extracted later, if read);
 * `hono-*+params` = the same plus building the params object, as `carafe` does.
 *
 * @module
 */
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";
import { Router } from "../core/router.ts";
import { runtime } from "../shims/runtime.ts";
import { GITHUB_ROUTES, LOOKUPS } from "./routes_github.ts";

/** What every Hono router's `match` returns: handlers with param-index maps, and the stash. */
type HonoResult = [[string, Record<string, number | string>][], string[] | null];
interface HonoRouter {
  add(method: string, path: string, handler: string): void;
  match(method: string, path: string): unknown;
}

const argv: string[] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  ((globalThis as { process?: { argv: string[] } }).process?.argv ?? []).slice(2);
const args = new Map(argv.map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const ROUNDS = Number(args.get("rounds") ?? 7);
const MS = Number(args.get("ms") ?? 300);

const bottle = (p: string) => p.replace(/\{(\w+)\}/g, "<$1>");
const colon = (p: string) => p.replace(/\{(\w+)\}/g, ":$1");

/**
 * Hono's RegExpRouter refuses a static and a parameter segment as siblings
 * (`/gists/public` next to `/gists/:gist_id` throws UnsupportedPathError), which the
 * GitHub table is full of; `new Hono()` then falls back to its TrieRouter. So the
 * RegExpRouter comparison runs on the largest prefix-ordered subset it accepts.
 */
function regexpCompatible(routes: Array<[string, string]>): Array<[string, string]> {
  const kept: Array<[string, string]> = [];
  for (const route of routes) {
    const probe = new RegExpRouter<string>();
    try {
      for (const [m, p] of [...kept, route]) probe.add(m, colon(p), p);
      probe.match("GET", "/"); // builds the matchers, which can throw too
      kept.push(route);
    } catch {
      // not representable in RegExpRouter: left out of this table
    }
  }
  return kept;
}

function honoParams(result: HonoResult): Record<string, string> | undefined {
  const [handlers, stash] = result;
  if (handlers.length === 0) return undefined;
  const map = handlers[0][1];
  const params: Record<string, string> = {};
  // RegExpRouter maps names to stash indexes; TrieRouter gives the values themselves.
  for (const key in map) params[key] = stash ? stash[map[key] as number] : map[key] as string;
  return params;
}

type Runner = (method: string, path: string) => unknown;

interface Table {
  title: string;
  routes: Array<[string, string]>;
  runners: Record<string, Runner>;
  lookups: typeof LOOKUPS;
}

function makeTable(title: string, routes: Array<[string, string]>, honoName: string, makeHono: () => HonoRouter): Table {
  const carafe = new Router<string>();
  const hono = makeHono();
  for (const [method, path] of routes) {
    carafe.add(bottle(path), method, path);
    hono.add(method, colon(path), path);
  }
  const have = new Set(routes.map(([, p]) => p));
  const lookups = LOOKUPS.filter(([, , , expected]) => expected === null || have.has(expected));
  // Both routers must give the expected answer before anything is timed.
  for (const [label, method, path, expected] of lookups) {
    const c = carafe.match(method, path);
    const got = c.kind === "found" ? c.target : null;
    const h = hono.match(method, path) as HonoResult;
    const hgot = h[0].length ? h[0][0][0] : null;
    if (got !== expected || hgot !== expected) {
      throw new Error(`${title}: ${label} ${method} ${path}: expected ${expected}, carafe ${got}, ${honoName} ${hgot}`);
    }
  }
  return {
    title,
    routes,
    lookups,
    runners: {
      carafe: (m, p) => carafe.match(m, p),
      [honoName]: (m, p) => hono.match(m, p),
      [`${honoName}+params`]: (m, p) => honoParams(hono.match(m, p) as HonoResult),
    },
  };
}

/** Sink so the engine cannot drop the calls. */
let sink = 0;

/** Ops/s of `run` over `lookups`, for about `ms` milliseconds. */
function measure(run: Runner, lookups: Array<[string, string]>, ms: number): number {
  let ops = 0;
  const start = performance.now();
  let now = start;
  const batch = 2000;
  while (now - start < ms) {
    for (let b = 0; b < batch; b++) {
      const [m, p] = lookups[b % lookups.length];
      if (run(m, p) !== undefined) sink++;
    }
    ops += batch;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function run(table: Table): void {
  const groups = new Map<string, Array<[string, string]>>([["mix (all below)", table.lookups.map(([, m, p]) => [m, p])]]);
  for (const [label, method, path] of table.lookups) {
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label)!.push([method, path]);
  }
  const runners = table.runners;
  const names = Object.keys(runners);
  // Warm up every path through every router (JIT), then interleave: each round runs
  // every (group, router) pair once, in a rotated order, so drift hits all alike.
  for (const lookups of groups.values()) for (const r of Object.values(runners)) measure(r, lookups, 50);
  const results = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, lookups] of groups) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + round) % names.length];
        const key = `${label}\u0000${name}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key)!.push(measure(runners[name], lookups, MS));
      }
    }
  }
  const fmt = (n: number) => n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`;
  console.log(`### ${table.title}: ${table.routes.length} routes, ${runtime}, lookups/s, median of ${ROUNDS} interleaved rounds of ${MS} ms`);
  console.log();
  console.log(`| lookups | ${names.join(" | ")} | carafe / ${names[1]} | carafe / ${names[2]} |`);
  console.log(`|---|${names.map(() => "---:").join("|")}|---:|---:|`);
  for (const label of groups.keys()) {
    const med = names.map((n) => median(results.get(`${label}\u0000${n}`)!));
    console.log(`| ${label} | ${med.map(fmt).join(" | ")} | ${(med[0] / med[1]).toFixed(2)} | ${(med[0] / med[2]).toFixed(2)} |`);
  }
  console.log();
}

const compatible = regexpCompatible(GITHUB_ROUTES);
run(makeTable("GitHub API subset RegExpRouter accepts", compatible, "hono-regexp", () => new RegExpRouter<string>()));
run(makeTable(
  "Full GitHub API table",
  GITHUB_ROUTES,
  "hono-smart",
  // What `new Hono()` uses: RegExpRouter, falling back to TrieRouter (it does here).
  () => new SmartRouter<string>({ routers: [new RegExpRouter<string>(), new TrieRouter<string>()] }),
));

// Scaling: the same lookups against 10, 100 and 1000 resources (3 routes each); a
// linear scan would slow down about 100× from the first row to the last.
{
  const sizes = [10, 100, 1000];
  const names = ["carafe", "hono-regexp"];
  const runners = new Map<string, Runner>();
  const lookups = new Map<number, Array<[string, string]>>();
  for (const n of sizes) {
    const carafe = new Router<string>();
    const hono = new RegExpRouter<string>();
    for (let i = 0; i < n; i++) {
      for (const path of [`/r${i}/{id}`, `/r${i}/{id}/items`, `/r${i}/{id}/items/{item}`]) {
        carafe.add(bottle(path), "GET", path);
        hono.add("GET", colon(path), path);
      }
    }
    runners.set(`${n}\u0000carafe`, (m, p) => carafe.match(m, p));
    runners.set(`${n}\u0000hono-regexp`, (m, p) => hono.match(m, p));
    lookups.set(n, [["GET", `/r${n - 1}/5/items/7`], ["GET", `/r${n >> 1}/5`], ["GET", "/r0/5/items"]]);
  }
  const results = new Map<string, number[]>();
  for (const key of runners.keys()) measure(runners.get(key)!, lookups.get(Number(key.split("\u0000")[0]))!, 50);
  for (let round = 0; round < ROUNDS; round++) {
    const keys = [...runners.keys()];
    for (let k = 0; k < keys.length; k++) {
      const key = keys[(k + round) % keys.length];
      if (!results.has(key)) results.set(key, []);
      results.get(key)!.push(measure(runners.get(key)!, lookups.get(Number(key.split("\u0000")[0]))!, MS));
    }
  }
  console.log(`### Scaling: 3 routes per resource, lookups of the last, middle and first resource, ${runtime}, ns per lookup (median of ${ROUNDS})`);
  console.log();
  console.log(`| routes | ${names.join(" | ")} |`);
  console.log(`|---:|${names.map(() => "---:").join("|")}|`);
  for (const n of sizes) {
    console.log(`| ${n * 3} | ${names.map((name) => (1e9 / median(results.get(`${n}\u0000${name}`)!)).toFixed(0)).join(" | ")} |`);
  }
  console.log();
}
if (sink < 0) console.log(sink);
