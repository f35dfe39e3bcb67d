// compress(): CPU cost per KiB of each coding (in process), and what it does to a
// 100 KiB JSON answer over a real socket (wrk, 5 s per case, 8 connections).
//   npx deno run -A bench/compress_bench.ts | npx bun bench/compress_bench.ts | node --experimental-strip-types bench/compress_bench.ts
// (Node: or build with `npm run build:npm` and run npm/esm/bench/… if the flag is missing.)
import { spawn, spawnSync } from "node:child_process";
import { Carafe, compress } from "../mod.ts";
import { compressReply } from "../core/compress.ts";
import { run } from "../adapters/mod.ts";
import { runtime } from "../shims/runtime.ts";

const rows = Array.from({ length: 1200 }, (_, i) => ({ id: i, name: `user ${i}`, email: `user${i}@example.com`, active: i % 3 !== 0, score: (i * 7919) % 1000 }));
const JSON_TEXT = JSON.stringify({ rows });
const KIB = JSON_TEXT.length / 1024;

async function drain(stream: ReadableStream<Uint8Array> | null): Promise<number> {
  let bytes = 0;
  const reader = stream!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

async function cpuCost(encoding: string): Promise<string> {
  const once = async () => {
    const reply = { status: 200, headers: new Headers({ "content-type": "application/json" }), body: JSON_TEXT };
    const out = await compressReply(reply, encoding);
    return await drain(out.body as ReadableStream<Uint8Array>);
  };
  let size = 0;
  for (let i = 0; i < 20; i++) size = await once();
  const n = 200;
  const t = performance.now();
  for (let i = 0; i < n; i++) await once();
  const usPerKiB = ((performance.now() - t) * 1000) / n / KIB;
  return `${encoding.padEnd(7)} ${usPerKiB.toFixed(2)} µs/KiB  ${(JSON_TEXT.length / 1024).toFixed(0)} KiB → ${(size / 1024).toFixed(1)} KiB`;
}

/** wrk against `url`, in a child process (the server runs in this one, so never spawnSync). */
function wrk(url: string, acceptEncoding: string | undefined): Promise<string> {
  const args = ["-t1", "-c8", "-d5s"];
  if (acceptEncoding) args.push("-H", `Accept-Encoding: ${acceptEncoding}`);
  return new Promise((resolve) => {
    const child = spawn("wrk", [...args, url], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill(), 30_000);
    child.on("close", () => {
      clearTimeout(timer);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? "?";
      const transfer = /Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? "?";
      resolve(`${Number(rps).toFixed(0).padStart(6)} req/s  ${transfer}/s`);
    });
  });
}

console.log(`${runtime}: compressing a ${KIB.toFixed(0)} KiB JSON answer`);
for (const encoding of ["gzip", "deflate", "br"]) console.log("  " + await cpuCost(encoding));

const plain = new Carafe().get("/json", () => ({ rows }));
const compressed = new Carafe().get("/json", () => ({ rows }));
compressed.install(compress());
const servers = [
  ["without compress()", await run({ app: plain, host: "127.0.0.1", port: 0, quiet: true, handleSignals: false })],
  ["with compress()", await run({ app: compressed, host: "127.0.0.1", port: 0, quiet: true, handleSignals: false })],
] as const;
if (spawnSync("wrk", ["--version"]).error) {
  console.log("wrk is not installed: skipping the req/s part");
} else {
  for (const [label, server] of servers) {
    for (const accept of label.startsWith("without") ? [undefined] : [undefined, "gzip", "deflate", "br"]) {
      console.log(`  ${label.padEnd(18)} Accept-Encoding: ${(accept ?? "(none)").padEnd(8)} ${await wrk(server.url + "json", accept)}`);
    }
  }
}
for (const [, server] of servers) await server.close();
