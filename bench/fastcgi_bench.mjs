#!/usr/bin/env node
// nginx → Carafe over FastCGI (keepalive, TCP and Unix socket) vs nginx → Carafe's
// native HTTP server (proxy_pass with keepalive), per runtime, in one run; plus the
// per-request latency of the CGI adapter against the runtime's bare start-up.
//
//   node bench/fastcgi_bench.mjs [--runtimes=deno,bun,node] [--rounds=3] [--duration=4]
//                                [--connections=50] [--cgi-runs=20] [--no-cgi] [--cgi-only]
//
// Every path runs the same Carafe app (GET /hello → "Hello, World!"). Rounds are
// interleaved (the order of the paths rotates each round) and the table reports the
// median requests/s of each path and the FastCGI/HTTP ratio. wrk, nginx and the app
// share the machine's cores, so read ratios, not capacities.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
};
const runtimes = arg("runtimes", "deno,bun,node").split(",");
const rounds = Number(arg("rounds", 3));
const duration = Number(arg("duration", 4));
const connections = Number(arg("connections", 50));
const cgiRuns = Number(arg("cgi-runs", 20));
const doCgi = !process.argv.includes("--no-cgi");
const doFcgi = !process.argv.includes("--cgi-only");

const which = (name) => {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    if (spawnSync("test", ["-x", join(dir, name)]).status === 0) return join(dir, name);
  }
  return undefined;
};
const nginx = which("nginx"), wrk = which("wrk");
if (!nginx || !wrk) {
  console.error("fastcgi_bench: needs nginx and wrk (scripts/install-peers.sh)");
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), "carafe-fcgi-bench-"));
chmodSync(work, 0o755); // nginx workers run as nobody when we are root
const children = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
});
process.on("SIGINT", () => process.exit(130));

// The Node runtime runs the tsc build; compile into our own dir (npm/ may be rebuilt by others meanwhile).
let nodeRoot;
if (runtimes.includes("node")) {
  nodeRoot = join(work, "esm");
  try {
    execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.json"), "--outDir", nodeRoot], { stdio: "ignore" });
  } catch { /* tsc exits non-zero on type errors elsewhere but still emits */ }
  writeFileSync(join(work, "package.json"), '{"type":"module"}');
}

function appScript(runtime) {
  const base = runtime === "node" ? pathToFileURL(nodeRoot + "/").href : pathToFileURL(root + "/").href;
  const ext = runtime === "node" ? "js" : "ts";
  const file = join(work, `app_${runtime}.${runtime === "node" ? "mjs" : "ts"}`);
  writeFileSync(file, `
import { Carafe, run } from "${base}mod.${ext}";
import { env } from "${base}shims/runtime.${ext}";
const app = new Carafe().get("/hello", () => "Hello, World!");
const server = await run({
  app, quiet: true,
  server: env("BENCH_SERVER") ?? "auto",
  port: Number(env("BENCH_PORT") ?? 0),
  socket: env("BENCH_SOCKET") || undefined, socketMode: 0o666,
});
if (server.url !== "cgi:") console.error("READY " + server.url);
`);
  return file;
}

function command(runtime, script) {
  if (runtime === "deno") return [join(root, "node_modules/.bin/deno"), ["run", "-A", "--no-lock", "--no-check", script]];
  if (runtime === "bun") return [join(root, "node_modules/.bin/bun"), ["run", script]];
  return [process.execPath, [script]];
}

function start(runtime, script, env) {
  const [cmd, args] = command(runtime, script);
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`${runtime} app did not start: ${err}`)), 30000);
    child.stderr.on("data", (d) => {
      err += d;
      if (/READY/.test(err)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on("exit", (code) => reject(new Error(`${runtime} app exited ${code}: ${err}`)));
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port) {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => (s.destroy(), r(true)));
      s.on("error", () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`port ${port} never opened`);
}

function startNginx(dir, port, fcgiPort, fcgiSock, httpPort) {
  for (const d of ["tmp/body", "tmp/fastcgi", "tmp/proxy", "tmp/scgi", "tmp/uwsgi"]) mkdirSync(join(dir, d), { recursive: true });
  const fcgi = (name) => `include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/[a-z]+)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_keep_conn on;
      fastcgi_pass ${name};`;
  writeFileSync(join(dir, "nginx.conf"), `
worker_processes 1;
pid nginx.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path tmp/body; fastcgi_temp_path tmp/fastcgi; proxy_temp_path tmp/proxy;
  scgi_temp_path tmp/scgi; uwsgi_temp_path tmp/uwsgi;
  upstream fcgi_tcp { server 127.0.0.1:${fcgiPort}; keepalive 64; }
  upstream fcgi_unix { server unix:${fcgiSock}; keepalive 64; }
  upstream http_up { server 127.0.0.1:${httpPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /fcgi/ { ${fcgi("fcgi_tcp")} }
    location /fcgiunix/ { ${fcgi("fcgi_unix")} }
    location /http/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://http_up/; }
  }
}`);
  const child = spawn(nginx, ["-p", dir, "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"], { stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return waitPort(port).then(() => child);
}

/** CPU seconds (user + system) used so far by process `pid` (Linux /proc; 0 elsewhere). */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in USER_HZ
  } catch {
    return 0;
  }
}

/** nginx's CPU: the master and its worker(s). */
function nginxCpu(pid) {
  let total = cpuOf(pid);
  try {
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean)) total += cpuOf(c);
  } catch { /* no /proc */ }
  return total;
}

/** Runs wrk; with `app` and `web` pids, also the CPU µs each spent per request meanwhile. */
function runWrk(url, seconds, app, web) {
  const a0 = app ? cpuOf(app) : 0, w0 = web ? nginxCpu(web) : 0;
  const out = execFileSync(wrk, ["-t1", `-c${connections}`, `-d${seconds}s`, url], { encoding: "utf8" });
  const a1 = app ? cpuOf(app) : 0, w1 = web ? nginxCpu(web) : 0;
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? 0);
  const count = Number(out.match(/(\d+) requests in/)?.[1] ?? 0);
  const errors = out.match(/Non-2xx or 3xx responses: (\d+)|Socket errors: .*/g);
  return { rps, appUs: count ? ((a1 - a0) * 1e6) / count : 0, webUs: count ? ((w1 - w0) * 1e6) / count : 0, errors: errors ? errors.join("; ") : "" };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const paths = [
  { name: "nginx→FastCGI tcp (keepalive)", loc: "/fcgi/hello" },
  { name: "nginx→FastCGI unix (keepalive)", loc: "/fcgiunix/hello" },
  { name: "nginx→HTTP native (keepalive)", loc: "/http/hello" },
];
const results = [];

for (const runtime of doFcgi ? runtimes : []) {
  const script = appScript(runtime);
  const dir = join(work, `nginx_${runtime}`);
  mkdirSync(dir, { recursive: true });
  const [fcgiPort, httpPort, port] = [await freePort(), await freePort(), await freePort()];
  const fcgiSock = join(work, `${runtime}.sock`);
  const apps = await Promise.all([
    start(runtime, script, { BENCH_SERVER: "fastcgi", BENCH_PORT: String(fcgiPort) }),
    start(runtime, script, { BENCH_SERVER: "fastcgi", BENCH_SOCKET: fcgiSock }),
    start(runtime, script, { BENCH_SERVER: "auto", BENCH_PORT: String(httpPort) }),
  ]);
  const web = await startNginx(dir, port, fcgiPort, fcgiSock, httpPort);
  for (const p of paths) {
    const body = await (await fetch(`http://127.0.0.1:${port}${p.loc}`)).text();
    if (body !== "Hello, World!") throw new Error(`${runtime} ${p.loc}: unexpected body ${JSON.stringify(body)}`);
    runWrk(`http://127.0.0.1:${port}${p.loc}`, 1); // warm-up (JIT, keepalive pools)
  }
  const samples = paths.map(() => []);
  const appCpu = paths.map(() => []), webCpu = paths.map(() => []);
  const notes = [];
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < paths.length; k++) {
      const i = (k + r) % paths.length; // rotate the order each round
      const { rps, appUs, webUs, errors } = runWrk(`http://127.0.0.1:${port}${paths[i].loc}`, duration, apps[i].pid, web.pid);
      samples[i].push(rps);
      appCpu[i].push(appUs);
      webCpu[i].push(webUs);
      if (errors) notes.push(`${paths[i].name}: ${errors}`);
    }
  }
  const med = samples.map(median);
  results.push({ runtime, med, samples, notes, appUs: appCpu.map(median), webUs: webCpu.map(median) });
  web.kill("SIGTERM");
  for (const a of apps) a.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
}

if (doFcgi) {
  console.log(`\nnginx (1 worker) in front of Carafe; wrk -t1 -c${connections} -d${duration}s; ${rounds} interleaved rounds; median req/s\n`);
  console.log(`| runtime | ${paths.map((p) => p.name).join(" | ")} | FastCGI tcp / HTTP | FastCGI unix / HTTP |`);
  console.log(`|---|${paths.map(() => "---:").join("|")}|---:|---:|`);
  for (const { runtime, med } of results) {
    console.log(`| ${runtime} | ${med.map((m) => Math.round(m).toLocaleString("en")).join(" | ")} | ${(med[0] / med[2]).toFixed(2)}× | ${(med[1] / med[2]).toFixed(2)}× |`);
  }
  console.log(`\nCPU µs per request (medians): the app process / nginx (master + worker). Robust on a shared machine.\n`);
  console.log(`| runtime | ${paths.map((p) => p.name).join(" | ")} | app CPU: FastCGI tcp / HTTP |`);
  console.log(`|---|${paths.map(() => "---:").join("|")}|---:|`);
  for (const { runtime, appUs, webUs } of results) {
    console.log(`| ${runtime} | ${appUs.map((a, i) => `${a.toFixed(1)} / ${webUs[i].toFixed(1)}`).join(" | ")} | ${(appUs[0] / appUs[2]).toFixed(2)}× |`);
  }
  for (const { runtime, samples, notes } of results) {
    console.log(`  ${runtime} samples: ${samples.map((s, i) => `${paths[i].loc.split("/")[1]} [${s.map(Math.round).join(", ")}]`).join("  ")}${notes.length ? "  NOTES: " + notes.join("; ") : ""}`);
  }
}

// ------------------------------------------------------------------ CGI latency
if (doCgi) {
  const empty = join(work, "empty.mjs");
  writeFileSync(empty, "");
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, GATEWAY_INTERFACE: "CGI/1.1", REQUEST_METHOD: "GET", SCRIPT_NAME: "/cgi", PATH_INFO: "/hello", QUERY_STRING: "", SERVER_NAME: "localhost", SERVER_PORT: "80", BENCH_SERVER: "cgi" };
  const time = (cmd, args) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { ms, out: r.stdout };
  };
  console.log(`\nCGI: one process per request (spawnSync, ${cgiRuns} sequential runs after 2 warm-ups); median ms\n`);
  console.log("| runtime | empty script (runtime start) | Carafe CGI request | difference |");
  console.log("|---|---:|---:|---:|");
  for (const runtime of runtimes) {
    const script = appScript(runtime);
    const [c1, a1] = command(runtime, empty);
    const [c2, a2] = command(runtime, script);
    const first = time(c2, a2);
    if (!first.out.endsWith("Hello, World!")) throw new Error(`${runtime} CGI answered ${JSON.stringify(first.out)}`);
    time(c1, a1);
    time(c2, a2);
    const base = [], cgi = [];
    for (let i = 0; i < cgiRuns; i++) {
      base.push(time(c1, a1).ms); // interleaved
      cgi.push(time(c2, a2).ms);
    }
    const [b, c] = [median(base), median(cgi)];
    console.log(`| ${runtime} | ${b.toFixed(1)} | ${c.toFixed(1)} | +${(c - b).toFixed(1)} |`);
  }
}
