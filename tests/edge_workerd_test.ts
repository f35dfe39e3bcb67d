/**
 * Cloudflare Workers, in workerd (Cloudflare's own runtime, from npm): the fixture app
 * and the deployment guide's example Worker, bundled by esbuild from app.ts for a neutral
 * platform (so no `node:` import can hide in the bundle) and served without
 * `nodejs_compat`. The config also carries the bindings a real Worker has (vars and a
 * KV-like service), which the harness check proves reach a Worker.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runtime, tempDir } from "./_helpers.ts";
import { request } from "./_native_helpers.ts";
import {
  bundle,
  devTool,
  KV_SERVICE_MODULE,
  source,
  startWorkerd,
  type Workerd,
  workerAppChecks,
  type WorkerdBinding,
} from "./_edge_helpers.ts";
import { writeFileSync } from "node:fs";

const skip = devTool("workerd").skip ?? devTool("esbuild").skip;
const bindings: WorkerdBinding[] = [
  { name: "GREETING", text: "hello from a var" },
  { name: "LIMITS", json: { maxItems: 3 } },
  { name: "KV", service: "kv" },
];

/** Bundles `entry` into a fresh directory and serves it in workerd with the KV service beside it. */
async function serveInWorkerd(entry: string): Promise<{ workerd: Workerd; remove(): void }> {
  const dir = tempDir("carafe-workerd-");
  try {
    await bundle({ entry, outfile: join(dir.path, "worker.js") });
    writeFileSync(join(dir.path, "kv.js"), KV_SERVICE_MODULE);
    const workerd = await startWorkerd({
      dir: dir.path,
      workers: [{ name: "main", module: "worker.js", bindings }, { name: "kv", module: "kv.js" }],
    });
    return { workerd, remove: dir.remove };
  } catch (err) {
    dir.remove();
    throw err;
  }
}

describe(`Cloudflare Workers in workerd (${runtime})`, { skip }, () => {
  let served: { workerd: Workerd; remove(): void } | undefined;
  before(async () => {
    served = await serveInWorkerd(source("tests/fixtures/edge/worker_app.ts"));
  });
  after(async () => {
    await served?.workerd.stop();
    served?.remove();
  });

  for (const { name, check } of workerAppChecks) {
    test(name, () => check(served!.workerd.url));
  }

  test("req.env is the Worker's env: vars and JSON vars", async () => {
    const got = await request(served!.workerd.url, { path: "/platform/env" });
    assert.deepEqual(JSON.parse(got.body.toString()), { greeting: "hello from a var", limits: { maxItems: 3 } });
  });

  test("req.waitUntil work runs to its end after the answer (ctx.waitUntil), and reaches a binding", async () => {
    const base = served!.workerd.url;
    const scheduled = await request(base, { method: "POST", path: "/platform/later/job1", body: "done later" });
    assert.deepEqual([scheduled.status, scheduled.body.toString()], [200, "scheduled"]);
    // Answered before the job's 200 ms timer: the value is not stored yet.
    assert.equal((await request(base, { path: "/platform/kv/job1" })).status, 404);
    let stored: { status: number; body: Buffer } | undefined;
    for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
      stored = await request(base, { path: "/platform/kv/job1" });
      if (stored.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual([stored?.status, stored?.body.toString()], [200, "done later"]);
  });

  test("req.remoteAddr is CF-Connecting-IP, the header Cloudflare sets for the client", async () => {
    const got = await request(served!.workerd.url, { path: "/platform/ip", headers: { "cf-connecting-ip": "203.0.113.7" } });
    assert.deepEqual(JSON.parse(got.body.toString()), { remoteAddr: "203.0.113.7" });
  });

  test("logs a handler's exception to the Worker's console, with method and path", async () => {
    await request(served!.workerd.url, { path: "/boom" });
    assert.match(served!.workerd.output(), /GET \/boom: Error: the handler failed/);
  });
});

describe(`the guide's Worker (examples/edge/worker.ts) in workerd (${runtime})`, { skip }, () => {
  test("export default app serves its routes", async () => {
    const { workerd, remove } = await serveInWorkerd(source("examples/edge/worker.ts"));
    try {
      const home = await request(workerd.url, { path: "/" });
      assert.deepEqual([home.status, home.body.toString()], [200, "Hello from Carafe on the edge!\n"]);
      const json = await request(workerd.url, { path: "/json?x=1" });
      assert.deepEqual(JSON.parse(json.body.toString()), { hello: "world", query: { x: "1" } });
      const hello = await request(workerd.url, { path: "/hello/%3Cb%3E" });
      assert.equal(hello.body.toString(), "Hello &lt;b&gt;!\n");
      const greeting = await request(workerd.url, { path: "/greeting" });
      assert.equal(greeting.body.toString(), "hello from a var from the edge!\n");
    } finally {
      await workerd.stop();
      remove();
    }
  });
});

describe(`the workerd harness (${runtime})`, { skip }, () => {
  test("passes text and JSON vars and a KV-like service binding to a Worker", async () => {
    const dir = tempDir("carafe-workerd-");
    writeFileSync(
      join(dir.path, "probe.js"),
      `export default { async fetch(request, env, ctx) {
        await env.KV.fetch("http://kv/greeting", { method: "PUT", body: env.GREETING });
        const stored = await (await env.KV.fetch("http://kv/greeting")).text();
        return Response.json({ stored, limits: env.LIMITS, waitUntil: typeof ctx.waitUntil });
      } };\n`,
    );
    writeFileSync(join(dir.path, "kv.js"), KV_SERVICE_MODULE);
    const workerd = await startWorkerd({ dir: dir.path, workers: [{ name: "main", module: "probe.js", bindings }, { name: "kv", module: "kv.js" }] });
    try {
      const got = await request(workerd.url, { path: "/" });
      assert.deepEqual(JSON.parse(got.body.toString()), { stored: "hello from a var", limits: { maxItems: 3 }, waitUntil: "function" });
    } finally {
      await workerd.stop();
      dir.remove();
    }
  });
});
