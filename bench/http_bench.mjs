#!/usr/bin/env node
// HTTP benchmark: Carafe vs the bare runtime server vs Hono, on Deno, Bun and Node.
//
//   node bench/http_bench.mjs [--quick] [--rounds=3] [--duration=5] [--runtimes=deno,bun,node]
//                             [--frameworks=bare,hono,carafe] [--depth=16] [--connections=64]
//                             [--baseline=<another Carafe checkout>]
//
// Server-bound method (see the Performance section): the server is pinned to
// CPU 0 (`taskset -c 0`), wrk to CPU 1 with a Lua script pipelining `depth` requests per
// write, so the server core runs at 100% and req/s compares frameworks, not wrk's ceiling.
// Configurations are interleaved round-robin; medians and spread (min–max) are printed,
// with server CPU µs per request (utime+stime from /proc/<pid>/stat), RSS idle and under
// load (VmRSS), and cold start (spawn to first 200 response). Needs Linux, wrk, taskset.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const quick = argv.includes("--quick");
const rounds = Number(opt("rounds", quick ? 1 : 3));
const duration = Number(opt("duration", quick ? 2 : 5));
const depth = Number(opt("depth", 16));
const connections = Number(opt("connections", 64));
const runtimes = opt("runtimes", "deno,bun,node").split(",");
const frameworks = opt("frameworks", "bare,hono,carafe").split(",");
// --baseline=DIR adds "baseline": the same Carafe app served from another checkout (for
// example main before a refactor, `git worktree add ../before main`), interleaved with
// the others so that a before/after ratio comes from one run.
const baseline = opt("baseline", "");
if (baseline) frameworks.push("baseline");
const routes = [
  { name: "GET /", path: "/", method: "GET" },
  { name: "GET /user/<id>", path: "/user/42?name=x", method: "GET" },
  { name: "GET /json", path: "/json", method: "GET" },
  { name: "POST /json", path: "/json", method: "POST", body: '{"hello":"world","n":[1,2,3]}' },
];

for (const tool of ["wrk", "taskset"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    console.error(`http_bench: ${tool} not found (apt-get install wrk util-linux); skipping.`);
    process.exit(0);
  }
}
if (runtimes.includes("node") && frameworks.includes("carafe")) {
  // Node runs Carafe from the npm build.
  spawnSync(process.execPath, [join(root, "scripts", "build_npm.mjs")], { stdio: ["ignore", "ignore", "inherit"] });
  if (baseline) spawnSync(process.execPath, [join(baseline, "scripts", "build_npm.mjs")], { stdio: ["ignore", "ignore", "inherit"], cwd: baseline });
}

const bin = (n) => join(root, "node_modules", ".bin", n);
const command = (runtime, file) =>
  runtime === "deno" ? [bin("deno"), ["run", "-A", "--no-lock", file]]
  : runtime === "bun" ? [bin("bun"), ["run", file]]
  : [process.execPath, [file]];

const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS; // adds ~40 ms to every Node start (perf-anchors.md)
delete env.NODE_OPTIONS;

let nextPort = 20100 + Math.floor(Math.random() * 2000);

function probe(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => s.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    let text = "";
    s.on("data", (d) => (text += d));
    s.on("close", () => resolve(text.startsWith("HTTP/1.1 200")));
    s.on("error", () => resolve(false));
  });
}

async function start(runtime, framework) {
  const port = nextPort++;
  const script = framework === "baseline" ? join(baseline, "bench", "http", "carafe.mjs") : join(root, "bench", "http", `${framework}.mjs`);
  const [cmd, args] = command(runtime, script);
  const t0 = performance.now();
  const child = spawn("taskset", ["-c", "0", cmd, ...args], { env: { ...env, PORT: String(port) }, stdio: ["ignore", "ignore", "pipe"], cwd: root });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const deadline = Date.now() + 20000;
  while (!(await probe(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${framework}-${runtime} did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const cold = performance.now() - t0;
  // taskset execs the runtime, but npm-style shims may fork: find the process listening.
  return { child, port, cold, pid: child.pid };
}

/** The pid whose RSS/CPU we read: the deepest descendant of the spawned process. */
function serverPid(pid) {
  for (;;) {
    let kids = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch { /* gone */ }
    if (kids.length === 0) return pid;
    pid = Number(kids[0]);
  }
}
const rssMB = (pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;
const cpuTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
};
const TICK_US = 1e6 / Number(spawnSync("getconf", ["CLK_TCK"]).stdout.toString().trim() || 100);

function wrk(port, route, seconds) {
  const args = ["-c", "1", "wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "-s", join(root, "bench", "http", "pipeline.lua"),
    `http://127.0.0.1:${port}${route.path}`, "--", String(depth), route.path, route.method];
  if (route.body) args.push(route.body);
  const r = spawnSync("taskset", args, { encoding: "utf8" });
  const rps = Number(r.stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  const total = Number(r.stdout.match(/(\d+) requests in/)?.[1] ?? NaN);
  const non2xx = Number(r.stdout.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  if (non2xx) console.error(`  warning: ${non2xx} non-2xx responses on ${route.name}`);
  return { rps, total };
}

const configs = [];
for (const runtime of runtimes) for (const framework of frameworks) configs.push({ runtime, framework, key: `${framework}-${runtime}` });
const results = new Map(configs.map((c) => [c.key, { cold: [], idle: [], load: [], rps: routes.map(() => []), us: routes.map(() => []) }]));

const t0 = Date.now();
for (let round = 1; round <= rounds; round++) {
  for (const c of configs) {
    const r = results.get(c.key);
    const s = await start(c.runtime, c.framework);
    const pid = serverPid(s.pid);
    r.cold.push(s.cold);
    await new Promise((res) => setTimeout(res, 300));
    r.idle.push(rssMB(pid));
    wrk(s.port, routes[0], 1); // warm-up (JIT)
    let peak = 0;
    routes.forEach((route, i) => {
      const before = cpuTicks(pid);
      const { rps, total } = wrk(s.port, route, duration);
      const used = (cpuTicks(pid) - before) * TICK_US;
      r.rps[i].push(rps);
      r.us[i].push(used / total);
      peak = Math.max(peak, rssMB(pid));
    });
    r.load.push(peak);
    s.child.kill("SIGKILL");
    await new Promise((res) => s.child.once("exit", res));
    process.stderr.write(`round ${round}/${rounds} ${c.key}: ${r.rps.map((x) => (x.at(-1) / 1000).toFixed(1) + "k").join(" ")}\n`);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const k = (x) => (x / 1000).toFixed(1) + "k";
const spread = (xs) => xs.length > 1 ? ` (${k(Math.min(...xs))}–${k(Math.max(...xs))})` : "";

console.log(`\n## HTTP server-bound (pipelining ×${depth}, wrk -t1 -c${connections} -d${duration}s, ${rounds} round(s) interleaved; server taskset -c 0, wrk -c 1)\n`);
console.log(`| config | ${routes.map((r) => r.name).join(" | ")} | µs/req (CPU) | cold ms | idle RSS MB | load RSS MB |`);
console.log(`|---|${routes.map(() => "---").join("|")}|---|---|---|---|`);
for (const c of configs) {
  const r = results.get(c.key);
  console.log(`| ${c.key} | ${r.rps.map((x) => k(median(x)) + spread(x)).join(" | ")} | ${r.us.map((x) => median(x).toFixed(1)).join(" / ")} | ${median(r.cold).toFixed(0)} | ${median(r.idle).toFixed(0)} | ${median(r.load).toFixed(0)} |`);
}
if (frameworks.includes("carafe")) {
  console.log(`\n## Ratios (medians; targets: ≥0.95× bare on GETs, ≥0.90× on POST, ≥1.0× Hono)\n`);
  console.log(`| runtime | vs | ${routes.map((r) => r.name).join(" | ")} | RSS idle Δ MB | RSS load Δ MB | cold Δ ms |`);
  console.log(`|---|---|${routes.map(() => "---").join("|")}|---|---|---|`);
  for (const runtime of runtimes) {
    const car = results.get(`carafe-${runtime}`);
    for (const other of ["bare", "hono", "baseline"]) {
      const o = results.get(`${other}-${runtime}`);
      if (!o || !car) continue;
      const ratios = routes.map((_, i) => (median(car.rps[i]) / median(o.rps[i])).toFixed(2));
      console.log(`| ${runtime} | ${other} | ${ratios.join(" | ")} | ${(median(car.idle) - median(o.idle)).toFixed(1)} | ${(median(car.load) - median(o.load)).toFixed(1)} | ${(median(car.cold) - median(o.cold)).toFixed(1)} |`);
    }
  }
  // req/s swings widely when other work shares the machine; server CPU time per request
  // does not, so the same ratios computed from it (other µs / Carafe µs) are printed too.
  console.log(`\n## Ratios from server CPU per request (other µs/req ÷ Carafe µs/req; 1.0 = same cost)\n`);
  console.log(`| runtime | vs | ${routes.map((r) => r.name).join(" | ")} |`);
  console.log(`|---|---|${routes.map(() => "---").join("|")}|`);
  for (const runtime of runtimes) {
    const car = results.get(`carafe-${runtime}`);
    for (const other of ["bare", "hono", "baseline"]) {
      const o = results.get(`${other}-${runtime}`);
      if (!o || !car) continue;
      console.log(`| ${runtime} | ${other} | ${routes.map((_, i) => (median(o.us[i]) / median(car.us[i])).toFixed(2)).join(" | ")} |`);
    }
  }
}
console.log(`\n(${((Date.now() - t0) / 1000).toFixed(0)} s; command: node bench/http_bench.mjs ${argv.join(" ")})`);
