/**
 * docs/tutorial.md followed line by line in an empty folder, as a newcomer would: the
 * package installed from `npm pack` of the npm build (the tutorial's `npm install
 * @carafe/carafe`, without the network), each file written when the page shows it, and
 * after each `<!-- check: METHOD PATH [form] → STATUS ["text"] -->` marker the app as
 * it stands then started with `node app.js` (on a free port through `PORT`, which the
 * tutorial says `run()` reads) and asked exactly that.
 *
 * Only the Node run does this, against the npm/ build it has just made (as
 * tests/npm_package_test.ts does); Deno and Bun run the sources and may find npm/ stale.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { compiled, here, runtime, sourceFile, stop, tempDir, waitForOutput } from "./_helpers.ts";
import { freePort } from "./_deploy_helpers.ts";

const onNodeBuild = runtime === "node" && compiled;
const skip = onNodeBuild ? undefined : "followed by the Node run, against the npm/ build it has just made";

/** One step of the page: a file to write, or a request to check against the app as it stands. */
type Step =
  | { kind: "file"; name: string; text: string }
  | { kind: "check"; method: string; path: string; form?: string; status: number; text?: string; line: number };

function stepsOf(markdown: string): Step[] {
  const steps: Step[] = [];
  const pattern = /^<!-- file: (\S+) -->\n```\w*\n([\s\S]*?)^```$|^<!-- check: (\w+) (\S+)(?: (\S+=\S*))? → (\d{3})(?: "(.*)")? -->$/gm;
  for (const m of markdown.matchAll(pattern)) {
    const line = markdown.slice(0, m.index).split("\n").length;
    if (m[1] !== undefined) steps.push({ kind: "file", name: m[1], text: m[2] });
    else {
      // A backslash-escaped quote in the marker stands for a quote in the body.
      steps.push({ kind: "check", method: m[3], path: m[4], form: m[5], status: Number(m[6]), text: m[7]?.replaceAll('\\"', '"'), line });
    }
  }
  return steps;
}

test("docs/tutorial.md, followed in an empty folder, gives a working app at every check", { skip }, async () => {
  const markdown = readFileSync(sourceFile("docs/tutorial.md"), "utf8");
  const steps = stepsOf(markdown);
  assert.ok(steps.filter((s) => s.kind === "file").length >= 4, "the tutorial's files were not found: are the <!-- file: --> markers there?");
  assert.ok(steps.filter((s) => s.kind === "check").length >= 10, "the tutorial's checks were not found");
  // Step 1 of the page: an npm project of ES modules with Carafe installed.
  const pkgRoot = join(here("mod.ts"), "..", "..");
  const dir = tempDir("carafe-tutorial-");
  try {
    const packed = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir.path], { cwd: pkgRoot, encoding: "utf8" }).trim().split("\n").pop()!;
    const project = join(dir.path, "todo");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "todo", version: "1.0.0", private: true, type: "module" }));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--silent", join(dir.path, packed)], { cwd: project });

    let server: { child: ReturnType<typeof spawn>; port: number } | undefined;
    let changed = true;
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    try {
      for (const step of steps) {
        if (step.kind === "file") {
          mkdirSync(dirname(join(project, step.name)), { recursive: true });
          writeFileSync(join(project, step.name), step.text);
          changed = true;
          continue;
        }
        if (changed) {
          if (server) await stop(server.child);
          const port = await freePort();
          const child = spawn(process.execPath, ["app.js"], { cwd: project, env: { ...env, PORT: String(port) }, stdio: ["ignore", "pipe", "pipe"] });
          await waitForOutput(child, /Listening on /, 30_000);
          server = { child, port };
          changed = false;
        }
        const init: RequestInit = { method: step.method, redirect: "manual" };
        if (step.form !== undefined) {
          init.body = step.form;
          init.headers = { "content-type": "application/x-www-form-urlencoded" };
        }
        const res = await fetch(`http://127.0.0.1:${server!.port}${step.path}`, init);
        const body = await res.text();
        const where = `docs/tutorial.md:${step.line}: ${step.method} ${step.path}`;
        assert.equal(res.status, step.status, `${where}: ${body.slice(0, 300)}`);
        if (step.text !== undefined) assert.ok(body.includes(step.text), `${where}: ${JSON.stringify(step.text)} not in ${JSON.stringify(body.slice(0, 500))}`);
      }
    } finally {
      if (server) await stop(server.child);
    }
  } finally {
    dir.remove();
  }
});
