/**
 * The npm package as a Node user gets it: `npm pack` of the build in npm/, installed
 * into an empty project, imported by name, serving a request; the `carafe` bin runs;
 * a TypeScript user's strict check passes against the published declarations.
 *
 * Only the Node run checks it: that run builds npm/ just before (scripts/test.mjs),
 * while Deno and Bun run the sources and may find npm/ stale or absent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { compiled, here, runtime, tempDir } from "./_helpers.ts";

const onNodeBuild = runtime === "node" && compiled;
const skip = onNodeBuild ? undefined : "checked by the Node run, against the npm/ build it has just made";

test("npm pack of npm/ installs into an empty project; import { Carafe, run } from \"@carafe/carafe\" works", { skip }, () => {
  // here() maps into npm/esm under Node; the package root is npm/, above esm/.
  const pkgRoot = join(here("mod.ts"), "..", "..");
  assert.equal(JSON.parse(readFileSync(join(pkgRoot, "package.json"), "utf8")).name, "@carafe/carafe");
  const dir = tempDir("carafe-pack-");
  try {
    const packed = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir.path], { cwd: pkgRoot, encoding: "utf8" }).trim().split("\n").pop()!;
    const tarball = join(dir.path, packed);
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" });
    assert.match(files, /package\/esm\/mod\.js/);
    assert.match(files, /package\/esm\/mod\.d\.ts/);
    assert.doesNotMatch(files, /package\/esm\/tests\//, "tests must not be published");
    const project = join(dir.path, "project");
    execFileSync("mkdir", ["-p", project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-app", private: true, type: "module" }));
    // --prefer-offline: the package depends on @types/node, which the cache may lack.
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--silent", tarball], { cwd: project });
    writeFileSync(
      join(project, "app.js"),
      `import { Carafe } from "@carafe/carafe";
const app = new Carafe();
app.get("/hello/<name>", (req) => ({ hello: req.params.name }));
const res = await app.fetch(new Request("http://localhost/hello/npm"));
console.log(res.status, await res.text());
const { run } = await import("@carafe/carafe");
const server = await run({ app, port: 0, quiet: true });
const live = await fetch(server.url + "hello/socket");
console.log(live.status, await live.text());
await server.close();
// The entry points without the servers: the app alone (edge bundles) and the Lambda adapter.
const edge = await import("@carafe/carafe/app");
const { toLambdaHandler } = await import("@carafe/carafe/lambda");
const lambda = await toLambdaHandler(new edge.Carafe().get("/", () => "from lambda"))({
  version: "2.0", rawPath: "/", rawQueryString: "", headers: { host: "x.lambda-url.on.aws" },
  requestContext: { http: { method: "GET", path: "/", sourceIp: "192.0.2.1" } }, isBase64Encoded: false,
});
console.log(typeof edge.run, lambda.body);
process.exit(0);
`,
    );
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const out = spawnSync(process.execPath, ["app.js"], { cwd: project, encoding: "utf8", env, timeout: 30_000 });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout, '200 {"hello":"npm"}\n200 {"hello":"socket"}\nundefined from lambda\n');
    // A TypeScript user's strict check of the package's declarations: no skipLibCheck,
    // no "types" entry (TypeScript 6+ then loads no @types package by itself).
    writeFileSync(
      join(project, "typed.ts"),
      `import { Carafe, run, toNodeHandler } from "@carafe/carafe";
import type { HandlerResult } from "@carafe/carafe";
const app = new Carafe();
app.get("/hello/<name>", (req): HandlerResult => ({ hello: req.params.name }));
export const listener = toNodeHandler(app);
await run({ app, port: 0, quiet: true });
`,
    );
    const tsc = join(here("mod.ts"), "..", "..", "..", "node_modules", ".bin", "tsc");
    const typed = spawnSync(tsc, ["--noEmit", "--strict", "--module", "nodenext", "--target", "es2022", "--lib", "es2022,dom", "typed.ts"], {
      cwd: project,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(typed.status, 0, typed.stdout + typed.stderr);
    const bin = spawnSync(join(project, "node_modules", ".bin", "carafe"), ["--version"], { encoding: "utf8", env, timeout: 30_000 });
    assert.equal(bin.status, 0, bin.stderr);
    assert.match(bin.stdout, /^Carafe \d+\.\d+\.\d+ \(node /m);
    // The systemd unit's Bun line (examples/deploy/carafe@.service): `bun x --bun carafe`
    // runs the installed command under Bun (plain `bun x` follows its node shebang).
    const bunLine = readFileSync(here("examples/deploy/carafe@.service"), "utf8").match(/^# Bun:\s+ExecStart=\S+ (x --bun carafe) /m);
    assert.ok(bunLine, "the unit's Bun line changed shape");
    const bun = join(here("mod.ts"), "..", "..", "..", "node_modules", ".bin", "bun");
    const underBun = spawnSync(bun, [...bunLine[1].split(" "), "--version"], { cwd: project, encoding: "utf8", env, timeout: 30_000 });
    assert.equal(underBun.status, 0, underBun.stderr);
    assert.match(underBun.stdout, /^Carafe \d+\.\d+\.\d+ \(bun/m);
  } finally {
    dir.remove();
  }
});
