#!/usr/bin/env node
// WebSocket echo benchmark: Carafe vs the runtime's own WebSocket server (Deno, Bun; the
// `ws` package on Node) vs Hono (Deno, Bun), with 1,000 connected clients.
//
//   node bench/websocket_bench.mjs [--quick] [--rounds=3] [--duration=5] [--clients=1000]
//                                  [--runtimes=deno,bun,node] [--frameworks=bare,hono,carafe]
//
// The server is pinned to CPU 0 (`taskset -c 0`), the load client (bench/websocket/client.mjs,
// under Node) to CPU 1. Each of the `clients` connections sends a 32-byte text message and
// waits for its echo, over and over, so 1,000 messages are always in flight. Reported per
// configuration (medians of interleaved rounds, spread min–max): echoed messages per
// second, the server's CPU time per message (utime+stime from /proc; the "vs bare" ratio
// is computed from it, as throughput is at the mercy of anything else on the machine),
// and the server's RSS before any client, with all of them connected and idle,
// and at the end of the load. Needs Linux and taskset; `ws` comes from bench/package.json.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const opt = (name, def) => argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const quick = argv.includes("--quick");
const rounds = Number(opt("rounds", quick ? 1 : 3));
const duration = Number(opt("duration", quick ? 2 : 5));
const clients = Number(opt("clients", 1000));
const runtimes = opt("runtimes", "deno,bun,node").split(",");
const frameworks = opt("frameworks", "bare,hono,carafe").split(",");

if (spawnSync("sh", ["-c", "command -v taskset"]).status !== 0) {
  console.error("websocket_bench: taskset not found (apt-get install util-linux); skipping.");
  process.exit(0);
}
if (runtimes.includes("node") && !existsSync(join(root, "bench", "node_modules", "ws"))) {
  console.error("websocket_bench: bench/node_modules/ws missing: run `npm ci` in bench/ (npm run bench does).");
  process.exit(1);
}
if (runtimes.includes("node") && frameworks.includes("carafe")) {
  spawnSync(process.execPath, [join(root, "scripts", "build_npm.mjs")], { stdio: ["ignore", "ignore", "inherit"] });
}

const bin = (n) => join(root, "node_modules", ".bin", n);
const command = (runtime, file) =>
  runtime === "deno" ? [bin("deno"), ["run", "-A", "--no-lock", file]]
  : runtime === "bun" ? [bin("bun"), ["run", file]]
  : [process.execPath, [file]];
const env = { ...process.env };
delete env.NODE_OPTIONS;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
function listening(port, ms = 20000) {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const c = net.connect(port, "127.0.0.1", () => (c.destroy(), resolve()));
      c.on("error", () => (Date.now() > end ? reject(new Error("server did not listen")) : setTimeout(tryOnce, 50)));
    };
    tryOnce();
  });
}
/** The pid of the process listening on `port` (taskset execs, but a runtime shim may fork). */
function listenerPid(port) {
  const out = spawnSync("ss", ["-Htlnp", `sport = :${port}`], { encoding: "utf8" }).stdout;
  return Number(out.match(/pid=(\d+)/)?.[1]);
}
/** CPU time the process has used (user + system), in µs (clock ticks of 10 ms). */
function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
const rssMB = (pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;

async function measure(runtime, framework) {
  const port = await freePort();
  const [cmd, args] = command(runtime, join(root, "bench", "websocket", `${framework}.mjs`));
  const server = spawn("taskset", ["-c", "0", cmd, ...args], { env: { ...env, PORT: String(port) }, stdio: ["ignore", "ignore", "inherit"], cwd: join(root, "bench") });
  try {
    await listening(port);
    const pid = listenerPid(port) || server.pid;
    const idle = rssMB(pid);
    const client = spawn("taskset", ["-c", "1", process.execPath, join(root, "bench", "websocket", "client.mjs"), String(port), String(clients), String(duration)], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    const connected = new Promise((r) => client.stdout.on("data", (d) => ((out += d), out.includes("connected") && r())));
    const done = new Promise((r) => client.on("close", r));
    await connected;
    await new Promise((r) => setTimeout(r, 300));
    const withClients = rssMB(pid);
    client.stdin.write("go\n");
    const cpuBefore = cpuMicros(pid);
    let peak = withClients;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMB(pid))), 250);
    await done;
    const cpu = cpuMicros(pid) - cpuBefore;
    clearInterval(sampler);
    const result = JSON.parse(out.trim().split("\n").pop());
    // CPU per message over the whole load (warm-up included, so a slight overestimate for all alike).
    const messagesAll = result.messages / result.seconds * (result.seconds + 0.5);
    return { rate: result.messages / result.seconds, cpuPerMessage: cpu / messagesAll, idle, withClients, peak, connected: result.connected };
  } finally {
    server.kill("SIGKILL");
    await new Promise((r) => server.once("close", r));
  }
}

const configs = [];
for (const runtime of runtimes) {
  for (const framework of frameworks) {
    if (framework === "hono" && runtime === "node") continue; // needs @hono/node-ws
    configs.push({ runtime, framework, label: framework === "bare" && runtime === "node" ? "ws" : framework, runs: [] });
  }
}
for (let round = 0; round < rounds; round++) {
  for (const c of configs) {
    try {
      c.runs.push(await measure(c.runtime, c.framework));
    } catch (err) {
      console.error(`${c.runtime} ${c.label}: ${err.message}`);
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs, digits = 0) => {
  const m = median(xs).toFixed(digits);
  return xs.length > 1 ? `${m} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : m;
};
console.log(`\n## WebSocket echo, ${clients} clients × 1 message in flight, ${duration} s, ${rounds} round(s) interleaved; server taskset -c 0, client -c 1\n`);
console.log("| runtime | server | messages/s | server CPU µs/message | vs bare (CPU) | RSS idle MB | RSS 1,000 connected MB | RSS peak under load MB |");
console.log("|---|---|---|---|---|---|---|---|");
for (const c of configs) {
  if (!c.runs.length) continue;
  const bare = configs.find((o) => o.runtime === c.runtime && o.framework === "bare");
  // Throughput relative to bare, from CPU per message (robust when other processes share the cores).
  const ratio = bare?.runs.length ? (median(bare.runs.map((r) => r.cpuPerMessage)) / median(c.runs.map((r) => r.cpuPerMessage))).toFixed(2) + "×" : "";
  console.log(`| ${c.runtime} | ${c.label} | ${fmt(c.runs.map((r) => r.rate))} | ${fmt(c.runs.map((r) => r.cpuPerMessage), 1)} | ${ratio} | ${fmt(c.runs.map((r) => r.idle), 1)} | ${fmt(c.runs.map((r) => r.withClients), 1)} | ${fmt(c.runs.map((r) => r.peak), 1)} |`);
}
