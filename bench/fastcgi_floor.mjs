#!/usr/bin/env node
// The floor under any FastCGI responder written in JavaScript: a hard-coded one (it
// finds the end of PARAMS and writes a fixed answer: no params, no request object, no
// framework) behind nginx with keepalive, per runtime and socket API. Its CPU per
// request is what one read and one write cost through that API; compare it with the
// whole Carafe request over the runtime's native HTTP server (bench/fastcgi_bench.mjs).
//
//   node bench/fastcgi_floor.mjs [--rounds=3] [--duration=3]
//
// Transports: node:net on Node, Deno and Bun; Bun.listen on Bun; Deno.listen on Deno.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, dflt) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const rounds = Number(arg("rounds", 3));
const duration = Number(arg("duration", 3));
const which = (name) => ["/usr/sbin", "/usr/bin", ...(process.env.PATH ?? "").split(":")].map((d) => join(d, name)).find((p) => spawnSync("test", ["-x", p]).status === 0);
const nginx = which("nginx"), wrk = which("wrk");
if (!nginx || !wrk) {
  console.error("fastcgi_floor: needs nginx and wrk");
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), "carafe-fcgi-floor-"));
chmodSync(work, 0o755);
const children = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM"); // ours, by PID
  rmSync(work, { recursive: true, force: true });
});

// The responder: one file for every runtime and transport (argv: transport port).
const responder = join(work, "responder.mjs");
writeFileSync(responder, `
const [transport, portText] = globalThis.Deno ? Deno.args : process.argv.slice(2);
const port = Number(portText);
const head = new TextEncoder().encode("content-type: text/html; charset=UTF-8\\r\\ncontent-length: 13\\r\\nStatus: 200 OK\\r\\n\\r\\nHello, World!");
function answer(id) {
  const n = head.length, pad = (8 - (n & 7)) & 7, out = new Uint8Array(8 + n + pad + 8 + 16);
  out.set([1, 6, id >> 8, id & 255, n >> 8, n & 255, pad, 0]);
  out.set(head, 8);
  let o = 8 + n + pad;
  out.set([1, 6, id >> 8, id & 255, 0, 0, 0, 0], o);
  out.set([1, 3, id >> 8, id & 255, 0, 8, 0, 0], o + 8);
  return out;
}
function parser(onRequest) {
  let pending = null;
  return (chunk) => {
    let b = chunk;
    if (pending) { b = new Uint8Array(pending.length + chunk.length); b.set(pending); b.set(chunk, pending.length); pending = null; }
    let p = 0;
    while (b.length - p >= 8) {
      const len = (b[p + 4] << 8) | b[p + 5], total = 8 + len + b[p + 6];
      if (b.length - p < total) break;
      if (b[p + 1] === 4 && len === 0) onRequest((b[p + 2] << 8) | b[p + 3]); // end of PARAMS
      p += total;
    }
    if (p < b.length) pending = b.slice(p);
  };
}
if (transport === "node:net") {
  const net = await import("node:net");
  const { Buffer } = await import("node:buffer");
  net.createServer((s) => {
    s.setNoDelay(true);
    s.on("data", parser((id) => { const a = answer(id); s.write(Buffer.from(a.buffer, a.byteOffset, a.byteLength)); }));
    s.on("error", () => {});
  }).listen(port, "127.0.0.1", () => console.error("READY"));
} else if (transport === "Bun.listen") {
  Bun.listen({ hostname: "127.0.0.1", port, socket: {
    binaryType: "uint8array",
    open(s) { s.data = parser((id) => s.write(answer(id))); },
    data(s, chunk) { s.data(chunk); },
    error() {},
  } });
  console.error("READY");
} else {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.error("READY");
  for await (const conn of listener) {
    conn.setNoDelay(true);
    (async () => {
      const buf = new Uint8Array(65536), out = [];
      const parse = parser((id) => out.push(answer(id)));
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          parse(buf.subarray(0, n));
          while (out.length) { const a = out.shift(); for (let w = 0; w < a.length;) w += await conn.write(a.subarray(w)); }
        }
      } catch { /* closed */ }
      try { conn.close(); } catch { /* closed */ }
    })();
  }
}
`);

const bin = (name) => join(root, "node_modules/.bin", name);
const setups = [
  ["node", "node:net", [process.execPath, responder]],
  ["deno", "node:net", [bin("deno"), "run", "-A", "--no-lock", responder]],
  ["deno", "Deno.listen", [bin("deno"), "run", "-A", "--no-lock", responder]],
  ["bun", "node:net", [bin("bun"), "run", responder]],
  ["bun", "Bun.listen", [bin("bun"), "run", responder]],
];

const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const cpuOf = (pid) => { try { const s = readFileSync(`/proc/${pid}/stat`, "utf8"); const f = s.slice(s.lastIndexOf(")") + 2).split(" "); return (+f[11] + +f[12]) / 100; } catch { return 0; } };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const port = await freePort();
const apps = [];
for (const [runtime, transport, cmd] of setups) {
  const appPort = await freePort();
  const child = spawn(cmd[0], [...cmd.slice(1), transport, String(appPort)], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  await new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (d) => { err += d; if (/READY/.test(err)) resolve(); });
    child.on("exit", (code) => reject(new Error(`${runtime} ${transport} exited ${code}: ${err}`)));
  });
  apps.push({ runtime, transport, child, appPort, loc: `/a${apps.length}/` });
}
const dir = join(work, "nginx");
for (const d of ["tmp/body", "tmp/fastcgi", "tmp/proxy", "tmp/scgi", "tmp/uwsgi"]) mkdirSync(join(dir, d), { recursive: true });
writeFileSync(join(dir, "nginx.conf"), `worker_processes 1; pid nginx.pid; error_log stderr error; events { worker_connections 1024; }
http { access_log off; client_body_temp_path tmp/body; fastcgi_temp_path tmp/fastcgi; proxy_temp_path tmp/proxy; scgi_temp_path tmp/scgi; uwsgi_temp_path tmp/uwsgi;
${apps.map((a, i) => `upstream u${i} { server 127.0.0.1:${a.appPort}; keepalive 64; }`).join("\n")}
server { listen 127.0.0.1:${port};
${apps.map((a, i) => `location ${a.loc} { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass u${i}; }`).join("\n")}
}}`);
const web = spawn(nginx, ["-p", dir, "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"], { stdio: ["ignore", "ignore", "inherit"] });
children.push(web);
await new Promise((r) => setTimeout(r, 500));

const samples = apps.map(() => []);
for (const a of apps) execFileSync(wrk, ["-t1", "-c50", "-d1s", `http://127.0.0.1:${port}${a.loc}hello`]); // warm-up
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < apps.length; k++) {
    const a = apps[(k + r) % apps.length];
    const c0 = cpuOf(a.child.pid);
    const out = execFileSync(wrk, ["-t1", "-c50", `-d${duration}s`, `http://127.0.0.1:${port}${a.loc}hello`], { encoding: "utf8" });
    const n = Number(out.match(/(\d+) requests in/)?.[1] ?? 0);
    samples[apps.indexOf(a)].push(n ? ((cpuOf(a.child.pid) - c0) * 1e6) / n : NaN);
  }
}
console.log(`\nHard-coded FastCGI responder behind nginx (keepalive), wrk -t1 -c50 -d${duration}s, ${rounds} rounds: app CPU µs per request (median)\n`);
console.log("| runtime | socket API | CPU µs/request |");
console.log("|---|---|---:|");
apps.forEach((a, i) => console.log(`| ${a.runtime} | ${a.transport} | ${median(samples[i]).toFixed(1)} |`));
// The children's pipes keep the event loop alive: exit, which stops them (the "exit" handler above).
process.exit(0);
