#!/usr/bin/env node
// HTTP/2 vs HTTP/1.1 on the node adapter with TLS (one port, ALPN), measured with
// h2load (Debian's nghttp2-client) for both protocols, interleaved, three rounds:
//   node bench/http2_bench.mjs [--quick]
// Cases: "Hello, World!" and a 100 KiB JSON answer; HTTP/1.1 with one request at a
// time per connection (what browsers do), HTTP/2 with 1 and with 10 concurrent streams
// per connection. 8 connections each. Runs the npm build (built here when missing).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const requests = quick ? 4000 : 20000;
const rounds = quick ? 1 : 3;

if (spawnSync("h2load", ["--version"]).status !== 0) {
  console.log("http2_bench: skipped, h2load is not installed (apt-get install nghttp2-client).");
  process.exit(0);
}
if (!existsSync(join(root, "npm", "esm", "mod.js"))) execFileSync(process.execPath, [join(root, "scripts", "build_npm.mjs")], { stdio: "inherit" });

const dir = mkdtempSync(join(tmpdir(), "carafe-h2-bench-"));
const cert = join(dir, "cert.pem"), key = join(dir, "key.pem");
execFileSync("openssl", [
  "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
  "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
], { stdio: "ignore" });
const appFile = join(dir, "app.mjs");
writeFileSync(appFile, `
import { Carafe, run } from ${JSON.stringify(join(root, "npm", "esm", "mod.js"))};
const rows = Array.from({ length: 1200 }, (_, i) => ({ id: i, name: "user " + i, email: "user" + i + "@example.com", active: i % 3 !== 0 }));
const app = new Carafe();
app.get("/", () => "Hello, World!");
app.get("/json", () => ({ rows }));
const server = await run({ app, server: "node", port: 0, quiet: true, tls: { cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} } });
console.log(server.url);
`);
const child = spawn(process.execPath, [appFile], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve) => child.stdout.once("data", (d) => resolve(String(d).trim().replace(/\/$/, ""))));

/** Requests per second h2load reports for one run. */
function h2load(path, args) {
  const out = execFileSync("h2load", ["-n", String(requests), "-c", "8", ...args, `${url}${path}`], { encoding: "utf8" });
  const m = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  if (!m || !/ 0 failed/.test(out)) throw new Error(`h2load failed or saw failures:\n${out}`);
  return Number(m[1]);
}

const cases = [
  ["HTTP/1.1, 1 request per connection at a time", ["--h1", "-m", "1"]],
  ["HTTP/2, 1 stream per connection", ["-m", "1"]],
  ["HTTP/2, 10 streams per connection", ["-m", "10"]],
];
const results = {};
try {
  for (const path of ["/", "/json"]) h2load(path, ["-m", "1", "-n", "500"]); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const path of ["/", "/json"]) {
      for (const [name, args] of cases) (results[`${path} ${name}`] ??= []).push(h2load(path, args));
    }
  }
} finally {
  child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}, h2load -n ${requests} -c 8, ${rounds} interleaved round(s), median req/s\n`);
console.log("| path | protocol | req/s | vs HTTP/1.1 |\n|---|---|---|---|");
for (const path of ["/", "/json"]) {
  const base = median(results[`${path} ${cases[0][0]}`]);
  for (const [name] of cases) {
    const r = median(results[`${path} ${name}`]);
    console.log(`| \`${path}\` | ${name} | ${Math.round(r)} | ${(r / base).toFixed(2)}× |`);
  }
}
