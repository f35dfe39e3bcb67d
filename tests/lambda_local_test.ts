/**
 * AWS Lambda as Lambda runs a function: a handler module (written here the way a user
 * deploys one, bundled by esbuild for Node) loaded and invoked by lambda-local, which
 * imports it, builds the context object, awaits the async handler and provides
 * `awslambda.streamifyResponse` for response streaming.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { inCI, runtime, tempDir } from "./_helpers.ts";
import { devTool, repoRoot, source } from "./_edge_helpers.ts";
import { execFileSync } from "node:child_process";

// deno-lint-ignore no-explicit-any
function lambdaLocal(): { pkg?: any; skip?: string } {
  try {
    return { pkg: createRequire(join(repoRoot, "package.json"))("lambda-local") };
  } catch (err) {
    const reason = `lambda-local is not installed (a devDependency: npm install): ${(err as Error).message}`;
    if (inCI) throw new Error(`CI=true but ${reason}`);
    return { skip: reason };
  }
}

const { pkg, skip: lambdaSkip } = lambdaLocal();
const skip = lambdaSkip ?? devTool("esbuild").skip;
// deno-lint-ignore no-explicit-any
const fixture = (name: string): any => JSON.parse(readFileSync(source(`tests/fixtures/lambda/${name}.json`), "utf8"));

const HANDLER_MODULE = `import app from ${JSON.stringify(source("tests/fixtures/lambda_app.ts"))};
import { toLambdaHandler } from ${JSON.stringify(source("adapters/lambda/mod.ts"))};
export const handler = toLambdaHandler(app);
export const streamingHandler = toLambdaHandler(app, { streaming: true });
`;

describe(`AWS Lambda through lambda-local (${runtime})`, { skip }, () => {
  const dir = tempDir("carafe-lambda-");
  const lambdaPath = join(dir.path, "index.mjs");
  before(() => {
    writeFileSync(join(dir.path, "index.ts"), HANDLER_MODULE);
    execFileSync(devTool("esbuild").path!, [join(dir.path, "index.ts"), "--bundle", "--platform=node", "--format=esm", `--outfile=${lambdaPath}`, "--log-level=error"]);
  });
  after(() => dir.remove());

  // verboseLevel -1: no logs, and stdout left alone (levels 0-2 replace process.stdout.write
  // while a handler runs, which swallows the test runner's own reports).
  // deno-lint-ignore no-explicit-any
  const invoke = (event: unknown, lambdaHandler = "handler"): Promise<any> =>
    pkg.execute({ event, lambdaPath, lambdaHandler, esm: true, timeoutMs: 20_000, verboseLevel: -1 });

  test("an HTTP API event: the request reaches the app, the answer comes back in payload 2.0", async () => {
    const result = await invoke(fixture("http-api-v2"));
    assert.equal(result.statusCode, 200);
    const got = JSON.parse(result.body);
    assert.deepEqual([got.method, got.path, got.tags, got.body, got.remoteAddr], ["POST", "/echo/items", ["a", "b"], { drink: "mocha" }, "198.51.100.7"]);
  });

  test("a REST API event for an image: base64 out, and two cookies in multiValueHeaders", async () => {
    const event = fixture("apigateway-rest-v1");
    Object.assign(event, { httpMethod: "GET", path: "/logo.png", body: null });
    event.requestContext.path = "/Prod/logo.png";
    const png = await invoke(event);
    assert.deepEqual([png.statusCode, png.isBase64Encoded, png.body], [200, true, "iVBORw0KGgo="]);
    Object.assign(event, { path: "/cookies" });
    event.requestContext.path = "/Prod/cookies";
    const cookies = await invoke(event);
    assert.deepEqual(cookies.multiValueHeaders["set-cookie"], ["flavour=mocha; Path=/; HttpOnly", "size=large; Max-Age=60; Path=/"]);
  });

  test("a Function URL with response streaming: status and cookies first, then the body as it is produced", async () => {
    const event = fixture("function-url");
    Object.assign(event, { rawPath: "/stream", body: null });
    event.requestContext.http.method = "GET";
    const result = await invoke(event, "streamingHandler");
    assert.equal(result.statusCode, 200);
    assert.match(result.headers["content-type"], /^text\/html/);
    const chunks: string[] = [];
    for await (const chunk of result.body) chunks.push(String(chunk));
    assert.equal(chunks.join(""), "chunk 1\nchunk 2\nchunk 3\n");
    assert.ok(chunks.length >= 3, `the answer came in ${chunks.length} piece(s), not as it was produced`);
  });

  test("an ALB event whose body is not valid base64 answers 400, then the function keeps answering", async () => {
    const bad = fixture("alb-multi-value");
    bad.body = "%%%";
    assert.equal((await invoke(bad)).statusCode, 400);
    assert.equal((await invoke(fixture("alb-multi-value"))).statusCode, 200);
  });
});

describe(`examples/edge/lambda.ts through lambda-local (${runtime})`, { skip }, () => {
  test("bundled as the header says, it answers an HTTP API event and a REST API event inside its stage", async () => {
    const dir = tempDir("carafe-lambda-example-");
    try {
      const lambdaPath = join(dir.path, "index.mjs");
      execFileSync(devTool("esbuild").path!, [source("examples/edge/lambda.ts"), "--bundle", "--platform=node", "--format=esm", `--outfile=${lambdaPath}`, "--log-level=error"]);
      // deno-lint-ignore no-explicit-any
      const invoke = (event: unknown): Promise<any> =>
        pkg.execute({ event, lambdaPath, lambdaHandler: "handler", esm: true, timeoutMs: 20_000, verboseLevel: -1 });
      const v2 = fixture("http-api-v2");
      Object.assign(v2, { rawPath: "/hello/%3Cb%3E", rawQueryString: "", body: undefined, cookies: undefined });
      Object.assign(v2.requestContext.http, { method: "GET", path: "/hello/%3Cb%3E" });
      const hello = await invoke(v2);
      assert.deepEqual([hello.statusCode, hello.body], [200, "Hello &lt;b&gt;!\n"]);
      const v1 = fixture("apigateway-rest-v1");
      Object.assign(v1, { path: "/where", httpMethod: "GET", body: null, isBase64Encoded: false });
      Object.assign(v1.requestContext, { path: "/Prod/where", httpMethod: "GET" });
      const where = await invoke(v1);
      assert.equal(where.statusCode, 200, where.body);
      assert.deepEqual(JSON.parse(where.body), { stage: "/Prod/", url: "/Prod/where" });
    } finally {
      dir.remove();
    }
  });
});
