/**
 * Docs that cannot rot: README.md and docs/*.md, read as users read them.
 *
 * - Every relative link resolves to a file of the repository, and every `#anchor` to a
 *   heading of its target (GitHub's slugs).
 * - Every program marked `<!-- test: METHOD PATH → STATUS "text" -->` (the line right
 *   before its fenced block; several markers may follow one another) is run under the
 *   test's runtime, on a free port instead of the one it names, and answers that.
 * - Every other ```ts / ```js block type-checks (Deno run only: `deno check`), with
 *   imports of `"./mod.ts"` or `"@carafe/carafe"` pointed at this checkout; a fragment
 *   without imports gets the common names (`app`, `run`, `template`…) declared first.
 *   Blocks marked ```ts ignore are counted and skipped; the tutorial's files are run by
 *   tests/tutorial_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { runtime, sourceFile, spawnScript, stop, tempDir, waitForOutput, which } from "./_helpers.ts";
import { freePort } from "./_deploy_helpers.ts";

const root = sourceFile("");
const files = ["README.md", ...readdirSync(sourceFile("docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
const texts = new Map(files.map((f) => [f, readFileSync(join(root, f), "utf8")]));

/** A fenced code block: its language, info string, text, the line it starts on, and the markers before it. */
interface Block {
  file: string;
  line: number;
  lang: string;
  info: string;
  code: string;
  markers: string[];
}

function blocksOf(file: string): Block[] {
  const text = texts.get(file)!;
  const out: Block[] = [];
  for (const m of text.matchAll(/^```([a-z]*)([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const before = text.slice(0, m.index).split("\n");
    before.pop(); // the fence's own line
    const markers: string[] = [];
    while (before.length > 0 && /^<!-- .* -->$/.test(before[before.length - 1])) markers.unshift(before.pop()!);
    out.push({ file, line: text.slice(0, m.index).split("\n").length, lang: m[1], info: m[2].trim(), code: m[3], markers });
  }
  return out;
}
const blocks = files.flatMap(blocksOf);
const codeBlocks = blocks.filter((b) => b.lang === "ts" || b.lang === "js");

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchorsOf(text: string): Set<string> {
  const withoutCode = text.replace(/^```[\s\S]*?^```$/gm, "");
  return new Set([...withoutCode.matchAll(/^#{1,6} (.*)$/gm)].map((m) => slug(m[1])));
}

describe("docs: links", () => {
  test("every relative link in README.md and docs/*.md resolves, anchors included", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const [file, text] of texts) {
      const prose = text.replace(/^```[\s\S]*?^```$/gm, "");
      for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
        checked++;
        const [path, anchor] = target.split("#");
        const resolved = path === "" ? join(root, file) : join(dirname(join(root, file)), path);
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${target} (no ${relative(root, resolved)})`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith(".md") && !anchorsOf(readFileSync(resolved, "utf8")).has(anchor)) {
          broken.push(`${file}: ${target} (no heading #${anchor})`);
        }
      }
    }
    assert.deepEqual(broken, []);
    assert.ok(checked > 20, `only ${checked} links found: the scan is broken`);
  });
});

/** `GET /hello/world → 200 "Hello world!"`: the request a marked program must answer. */
interface Expectation {
  method: string;
  path: string;
  status: number;
  text?: string;
}

function expectations(block: Block): Expectation[] {
  return block.markers.flatMap((marker) => {
    const m = /^<!-- test: (\w+) (\S+) → (\d{3})(?: "(.*)")? -->$/.exec(marker);
    // A backslash-escaped quote in the marker stands for a quote in the body.
    return m ? [{ method: m[1], path: m[2], status: Number(m[3]), text: m[4]?.replaceAll('\\"', '"') }] : [];
  });
}

/** The block's code importing this checkout instead of the package or ./mod.ts. */
function pointedAtCheckout(code: string, dir: string): string {
  const rel = (p: string) => JSON.stringify(relative(dir, sourceFile(p)).replace(/^(?!\.)/, "./"));
  return code
    .replaceAll('"./mod.ts"', rel("mod.ts"))
    .replaceAll('"@carafe/carafe/app"', rel("app.ts"))
    .replaceAll('"@carafe/carafe/lambda"', rel("adapters/lambda/mod.ts"))
    .replaceAll('"@carafe/carafe"', rel("mod.ts"));
}

describe(`docs: the programs marked <!-- test --> (${runtime})`, { concurrency: false }, () => {
  const programs = codeBlocks.filter((b) => expectations(b).length > 0);
  test("there is at least the README's headline program", () => {
    assert.ok(programs.some((b) => b.file === "README.md"), "README.md's example must carry a <!-- test --> marker");
  });
  for (const block of programs) {
    test(`${block.file}:${block.line} starts and answers ${expectations(block).map((e) => `${e.method} ${e.path}`).join(", ")}`, async () => {
      // Under Node the tests run from the npm build: the program must import the build.
      const dir = tempDir("carafe-docs-");
      try {
        const port = await freePort();
        const program = pointedAtCheckout(block.code, dir.path).replace(/port: 8080/g, `port: ${port}`);
        const file = join(dir.path, `program.${block.lang === "ts" && runtime !== "node" ? "ts" : "mjs"}`);
        writeFileSync(file, runtime === "node" ? toBuild(program, dir.path) : program);
        const child = spawnScript(file, [], { env: { PORT: String(port) } });
        try {
          await waitForOutput(child, /Listening on /, 30_000);
          for (const e of expectations(block)) {
            const res = await fetch(`http://127.0.0.1:${port}${e.path}`, { method: e.method });
            const body = await res.text();
            assert.equal(res.status, e.status, `${e.method} ${e.path}: ${body}`);
            if (e.text !== undefined) assert.ok(body.includes(e.text), `${e.method} ${e.path}: ${JSON.stringify(e.text)} not in ${JSON.stringify(body)}`);
          }
        } finally {
          await stop(child);
        }
      } finally {
        dir.remove();
      }
    });
  }
});

/**
 * Node runs the npm build: the program's imports go to npm/esm's .js files, and its
 * TypeScript-only syntax is left to the type check below (the marked programs are
 * plain JavaScript apart from their imports).
 */
function toBuild(program: string, dir: string): string {
  return program.replace(/"([^"]+)\.ts"/g, (s, p: string) => {
    const absolute = join(dir, p + ".ts");
    const fromRoot = relative(root, absolute);
    return fromRoot.startsWith("..") ? s : JSON.stringify(relative(dir, join(root, "npm", "esm", fromRoot.replace(/\.ts$/, ".js"))));
  });
}

/** Names a fragment without imports may use: imported for its type check. */
const FRAGMENT_IMPORTS = `import { abort, Carafe, compress, cors, escapeHtml, redirect, run, serveDir, sse, staticFile, template, templatePath, view, websocket } from "@carafe/carafe";\n`;

/** A block as a module to check: the common imports when it has none, `app` when it uses one it does not make. */
function asModule(block: Block): string {
  let prelude = /^import /m.test(block.code) ? "" : FRAGMENT_IMPORTS;
  if (/\bapp\b/.test(block.code) && !/\b(const|let) app\b/.test(block.code)) {
    prelude += block.lang === "ts"
      ? `declare const app: import("@carafe/carafe").Carafe;\n`
      : `const app = new (await import("@carafe/carafe")).Carafe();\n`;
  }
  return prelude + block.code;
}

describe("docs: every code block type-checks", () => {
  const deno = runtime === "deno" ? process.execPath : which("deno") ?? sourceFile("node_modules/.bin/deno");
  test("README.md and docs/*.md: ```ts and ```js blocks, fragments with the common names declared", { skip: runtime !== "deno" && "checked by the Deno run" }, () => {
    const dir = tempDir("carafe-docs-check-");
    try {
      const written: string[] = [];
      let ignored = 0;
      for (const block of codeBlocks) {
        if (/\bignore\b/.test(block.info)) {
          ignored++;
          continue;
        }
        if (block.markers.some((m) => m.startsWith("<!-- file:"))) continue; // the tutorial's files: tests/tutorial_test.ts
        const name = join(dir.path, `${block.file.replace(/[/.]/g, "_")}_${block.line}.${block.lang}`);
        writeFileSync(name, `// ${block.file}:${block.line}\n${pointedAtCheckout(asModule(block), dir.path)}\nexport {};\n`);
        written.push(name);
      }
      const r = spawnSync(deno, ["check", "--quiet", "--no-lock", ...written], {
        encoding: "utf8",
        env: { ...process.env, DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1" },
      });
      assert.equal(r.status, 0, `deno check failed:\n${r.stdout}${r.stderr}`);
      assert.ok(written.length >= 10, `only ${written.length} blocks checked`);
      console.log(`docs: ${written.length} code blocks type-checked, ${ignored} marked ignore`);
    } finally {
      dir.remove();
    }
  });
});
