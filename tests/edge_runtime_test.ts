/**
 * Vercel's Edge Runtime (the `edge-runtime` package, the runtime Vercel's edge functions
 * use): the fixture app, bundled by esbuild from app.ts as a script, served through the
 * package's `runServer`, answers as it does in workerd.
 */
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { runtime, tempDir } from "./_helpers.ts";
import { bundle, devTool, edgeRuntimePackage, type EdgeServer, source, startEdgeRuntime, workerAppChecks } from "./_edge_helpers.ts";

const skip = devTool("esbuild").skip ?? edgeRuntimePackage().skip;
const GLOBAL = "carafeEdgeApp";

describe(`Vercel's Edge Runtime (${runtime})`, { skip }, () => {
  const dir = tempDir("carafe-edge-runtime-");
  let server: EdgeServer | undefined;
  before(async () => {
    const outfile = join(dir.path, "app.js");
    await bundle({ entry: source("tests/fixtures/edge/worker_app.ts"), outfile, format: "iife", globalName: GLOBAL });
    server = await startEdgeRuntime({ bundle: outfile, globalName: GLOBAL });
  });
  after(async () => {
    await server?.close();
    dir.remove();
  });

  for (const { name, check } of workerAppChecks) {
    test(name, () => check(server!.url));
  }
});
