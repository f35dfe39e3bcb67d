/**
 * The platform's context in handlers (core/platform.ts): `req.env` and `req.waitUntil`
 * the same on every runtime. Workers' `fetch(request, env, ctx)` through `app.fetch`, an
 * edge host's `{ waitUntil }` context, Carafe's own `ServeInfo` never mistaken for
 * bindings, Lambda waiting for the work before it returns, and `run()`'s graceful
 * shutdown waiting for it over a real process. workerd itself: tests/edge_workerd_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { Carafe } from "../mod.ts";
import { toLambdaHandler } from "../adapters/lambda/mod.ts";
import { backgroundWork } from "../core/platform.ts";
import { collect, here, runtime, spawnScript, tempDir, waitForOutput } from "./_helpers.ts";
import { freePort } from "./_deploy_helpers.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An app whose routes report what the platform handed them. */
function platformApp(log: string[] = []) {
  const app = new Carafe({ logger: (line) => log.push(line) });
  app.get("/env", (req) => ({ greeting: req.env.GREETING ?? null }));
  app.get("/ip", (req) => ({ ip: req.remoteAddr ?? null }));
  app.get("/later", (req) => {
    req.waitUntil(delay(20).then(() => log.push("job done")));
    return "scheduled";
  });
  app.get("/fails", (req) => {
    req.waitUntil(Promise.reject(new Error("the job broke")));
    return "scheduled";
  });
  return app;
}

describe("app.fetch(request, env, ctx): a Cloudflare Workers call", () => {
  test("env becomes req.env and ctx.waitUntil gets the work", async () => {
    const jobs: Promise<unknown>[] = [];
    const log: string[] = [];
    const app = platformApp(log);
    const ctx = { waitUntil: (p: Promise<unknown>) => void jobs.push(p), passThroughOnException() {} };
    const env = { GREETING: "hello from a var" };
    assert.deepEqual(await (await app.fetch(new Request("http://w/env"), env as never, ctx)).json(), { greeting: "hello from a var" });
    assert.equal(await (await app.fetch(new Request("http://w/later"), env as never, ctx)).text(), "scheduled");
    assert.equal(jobs.length, 1);
    assert.deepEqual(log, []); // answered before the job ran
    await Promise.all(jobs);
    assert.deepEqual(log, ["job done"]);
  });

  test("a failing job is logged by the app, not left as an unhandled rejection", async () => {
    const jobs: Promise<unknown>[] = [];
    const log: string[] = [];
    await platformApp(log).fetch(new Request("http://w/fails"), {} as never, { waitUntil: (p: Promise<unknown>) => void jobs.push(p) });
    await Promise.all(jobs); // the promise handed over never rejects
    assert.equal(log.length, 1);
    assert.match(log[0], /waitUntil\(\) job failed: Error: the job broke/);
  });

  test("req.remoteAddr is CF-Connecting-IP on Workers, and only there", async () => {
    const app = platformApp();
    const headers = { "cf-connecting-ip": "203.0.113.7" };
    const ctx = { waitUntil() {} };
    assert.deepEqual(await (await app.fetch(new Request("http://w/ip", { headers }), {} as never, ctx)).json(), { ip: "203.0.113.7" });
    // A server's own call (Carafe's adapters, deno serve, Bun) carries the socket peer;
    // there any client could send the header, so it is not believed.
    assert.deepEqual(await (await app.fetch(new Request("http://w/ip", { headers }), { remoteAddr: "192.0.2.1" })).json(), { ip: "192.0.2.1" });
    assert.deepEqual(await (await app.fetch(new Request("http://w/ip", { headers }))).json(), { ip: null });
  });

  test("a server's info object is not mistaken for bindings", async () => {
    const app = platformApp();
    const res = await app.fetch(new Request("http://w/env"), { remoteAddr: "192.0.2.1", GREETING: "not a binding" } as never);
    assert.deepEqual(await res.json(), { greeting: process.env.GREETING ?? null });
  });

  test("an edge host's (request, { waitUntil }) context hands over the work", async () => {
    const jobs: Promise<unknown>[] = [];
    const res = await platformApp().fetch(new Request("http://w/later"), { waitUntil: (p: Promise<unknown>) => void jobs.push(p) } as never);
    assert.equal(await res.text(), "scheduled");
    assert.equal(jobs.length, 1);
    await Promise.all(jobs);
  });

  test("a mounted app sees the same env and waitUntil", async () => {
    const jobs: Promise<unknown>[] = [];
    const parent = new Carafe().mount("/api/", platformApp());
    const ctx = { waitUntil: (p: Promise<unknown>) => void jobs.push(p) };
    assert.deepEqual(await (await parent.fetch(new Request("http://w/api/env"), { GREETING: "hi" } as never, ctx)).json(), { greeting: "hi" });
    await parent.fetch(new Request("http://w/api/later"), {} as never, ctx);
    assert.equal(jobs.length, 1);
  });
});

describe("without a platform context", () => {
  test("req.env is the process environment", async () => {
    const app = new Carafe().get("/", (req) => ({ path: req.env.PATH ?? null }));
    assert.deepEqual(await (await app.fetch(new Request("http://localhost/"))).json(), { path: process.env.PATH ?? null });
  });

  test("waitUntil work is kept, and backgroundWork() resolves once it is done", async () => {
    const log: string[] = [];
    assert.equal(await (await platformApp(log).fetch(new Request("http://localhost/later"))).text(), "scheduled");
    assert.deepEqual(log, []);
    await backgroundWork(5_000);
    assert.deepEqual(log, ["job done"]);
  });
});

describe("AWS Lambda: the work ends before the handler returns", () => {
  test("toLambdaHandler waits for waitUntil jobs (Lambda freezes the process afterwards)", async () => {
    const log: string[] = [];
    const handler = toLambdaHandler(platformApp(log));
    const result = await handler({
      version: "2.0",
      rawPath: "/later",
      rawQueryString: "",
      headers: { host: "example.lambda-url.eu-west-1.on.aws" },
      requestContext: { http: { method: "GET", path: "/later", sourceIp: "192.0.2.1" }, stage: "$default" },
      isBase64Encoded: false,
    } as never);
    assert.equal((result as { body: string }).body, "scheduled");
    assert.deepEqual(log, ["job done"]);
  });
});

describe(`run(): a graceful shutdown waits for waitUntil work (under ${runtime})`, () => {
  const servers = runtime === "node" ? ["node", "cluster"] : [runtime, "cluster"];
  for (const server of servers) {
    test(server, async () => {
      const dir = tempDir("carafe-waituntil-");
      const port = await freePort();
      const child = spawnScript(here("tests/fixtures/wait_until_app.ts"), [], {
        env: { PORT: String(port), WU_DIR: dir.path, WU_SERVER: server, WU_MARK: "from the environment"},
      });
      try {
        const exited = collect(child);
        await waitForOutput(child, /Listening on /, 30_000);
        const base = `http://127.0.0.1:${port}`;
        assert.equal(await (await fetch(`${base}/env`)).text(), "from the environment");
        assert.equal(await (await fetch(`${base}/later/job`, { method: "POST", body: "written after the answer" })).text(), "scheduled");
        assert.equal(existsSync(join(dir.path, "job")), false);
        child.kill("SIGTERM");
        const { code, stdout, stderr } = await exited;
        // The fixture states its exit code: Deno's child_process reports the signal sent instead.
        assert.equal(Number(stdout.match(/exit code (\d+)/)?.[1] ?? code), 0, stderr);
        assert.equal(readFileSync(join(dir.path, "job"), "utf8"), "written after the answer");
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        dir.remove();
      }
    });
  }
});
