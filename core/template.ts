/**
 * Templates: Bottle's SimpleTemplate idea with JavaScript inside.
 *
 * ```text
 * % rebase("layout", { title: "Items" })
 * <h1>{{ title }}</h1>                     ← HTML-escaped
 * <div>{{! intro }}</div>                   ← raw (trusted HTML only)
 * % if (items.length === 0) {
 *   <p>No items.</p>
 * % } else {
 * <ul>
 *   % for (const item of items) {
 *   <li>{{ item.name }}: {{ item.price.toFixed(2) }}</li>
 *   % }
 * </ul>
 * % }
 * <%
 *   // a block of code over several lines
 *   const total = items.reduce((sum, i) => sum + i.price, 0);
 * %>
 * Total: {{ total }}
 * % include("footer", { year: 2024 })
 * ```
 *
 * - `{{ expr }}` inserts a JavaScript expression, HTML-escaped (`& < > " '`);
 *   `null`/`undefined` insert nothing. `{{! expr }}` inserts it raw — so to negate,
 *   write `{{ (!flag) }}`.
 * - A line whose first non-blank character is `%` is a JavaScript statement. Blocks
 *   use JavaScript's braces: open with `% for (...) {`, close with `% }` (Bottle's
 *   `% end` is accepted as a synonym for `% }`). `<% ... %>` holds several lines of code.
 * - `\%` or `\<%` at the start of a line prints it literally; a line ending in `\\`
 *   is joined to the next one (no newline).
 * - Template variables are plain names (`{{ title }}`); using one that was not passed
 *   is a `ReferenceError`. `get(name, fallback)` and `defined(name)` test for optional
 *   ones; `get()` also reaches variables whose names are not JavaScript identifiers or
 *   are reserved words (`get("class")`, `get("data-id")`). `include(name, vars)` renders another template in place (it sees this one's
 *   variables plus `vars`); `rebase(name, vars)` renders this template's output into
 *   `name` as the variable `base` (print it with `{{! base }}`).
 * - `await` may be used anywhere in a template.
 * - Named templates are looked up in {@linkcode templatePath} (`./`, `./views/`), as
 *   given or with `.tpl` or `.html` appended, read as UTF-8 and compiled once.
 *
 * Templates are code: render only templates you wrote, never one supplied by a user.
 * They are compiled with `new Function`, which some edge hosts (Cloudflare Workers)
 * forbid.
 *
 * @example
 * ```ts
 * import { template } from "./template.ts";
 * const html = await template("Hello {{ name }}!\n% for (const t of tags) {\n#{{ t }} \n% }", {
 *   name: "<World>",
 *   tags: ["a", "b"],
 * });
 * // "Hello &lt;World&gt;!\n#a \n#b \n"
 * ```
 *
 * @module
 */
import { fileSystem } from "../shims/fs.ts";
import { escapeHtml } from "./html.ts";
import type { HandlerResult } from "./handlers.ts";
import { debugMode } from "./settings.ts";

/** Variables given to a template. */
export type TemplateVars = Record<string, unknown>;

/** Options of {@linkcode template}, {@linkcode view} and {@linkcode Template}. */
export interface TemplateOptions {
  /**
   * Directories to find named templates in: paths (against the working directory) or
   * `file:` URLs (`new URL("./views/", import.meta.url)`, found wherever the app is
   * started from). Default: {@linkcode templatePath}.
   */
  lookup?: readonly (string | URL)[];
  /** Flip the markers: `{{ x }}` raw, `{{! x }}` escaped. Default `false`. */
  noescape?: boolean;
  /**
   * Cache compiled named templates. Default `true`, except once an app in the process
   * runs with `debug` (Bottle's rule): then each render reads the file again, so edits
   * show at once. `false` never caches; `true` always does.
   */
  cache?: boolean;
}

/**
 * A template could not be found, compiled or rendered. The message names the template
 * and, when known, the line.
 *
 * @example
 * ```ts
 * import { template, TemplateError } from "./template.ts";
 * try {
 *   await template("Hello {{ nobody }}\n", {});
 * } catch (err) {
 *   if (err instanceof TemplateError) console.log(err.message); // Template '<string>', line 1: ReferenceError: nobody is not defined
 * }
 * ```
 */
export class TemplateError extends Error {
  /** The template's name (`<string>` for a template given as source). */
  readonly template: string;
  /** The 1-based line in the template, when known. */
  readonly line: number | undefined;

  /**
   * Made by the template engine; the message is prefixed with the name and line.
   *
   * @param message what went wrong
   * @param template the template's name
   * @param line the line in the template
   * @param cause the underlying error
   */
  constructor(message: string, template: string, line?: number, cause?: unknown) {
    super(`Template '${template}'${line ? `, line ${line}` : ""}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = "TemplateError";
    this.template = template;
    this.line = line;
  }
}

/**
 * Where named templates are looked up, in order (Bottle's `TEMPLATE_PATH`). Relative
 * directories are taken from the working directory, so an app started from another
 * folder will not find `./views/`: put a `file:` URL first to look next to your module
 * instead. Mutable: push your own.
 *
 * @example
 * ```ts
 * import { templatePath } from "./template.ts";
 * templatePath.unshift(new URL("./views/", import.meta.url)); // next to this file
 * ```
 */
export const templatePath: (string | URL)[] = ["./", "./views/"];

const EXTENSIONS = ["", ".tpl", ".html"];

// ---------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------

/** One piece of template: text to print, an expression, or code. */
type Part =
  | { kind: "text"; text: string }
  | { kind: "expr"; code: string; raw: boolean; line: number }
  | { kind: "code"; code: string; line: number };

const HELPERS = new Set(["include", "rebase", "get", "defined"]);
const RESERVED = new Set(
  ("break case catch class const continue debugger default delete do else enum export extends false finally for " +
    "function if import in instanceof new null return super switch this throw true try typeof var void while with " +
    "yield let static implements interface package private protected public await eval arguments undefined NaN Infinity")
    .split(" "),
);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How a source line ended: CRLF templates render CRLF (as in Bottle). */
function lineEnd(rawLine: string): string {
  return rawLine.endsWith("\r") ? "\r\n" : "\n";
}

/** Splits a template into parts. Throws TemplateError for an unclosed `{{` or `<%`. */
function parse(source: string, name: string): Part[] {
  const parts: Part[] = [];
  const lines = source.split("\n");
  let text = "";
  const flush = () => {
    if (text) parts.push({ kind: "text", text });
    text = "";
  };
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    let eol = lineEnd(lines[i]);
    const last = i === lines.length - 1;
    const trimmed = line.trimStart();
    if (trimmed.startsWith("<%")) {
      // A code block: up to the matching %>, possibly lines later.
      let code = trimmed.slice(2);
      let end = code.indexOf("%>");
      let j = i;
      while (end < 0) {
        if (++j >= lines.length) throw new TemplateError("'<%' is never closed by '%>'.", name, lineNo);
        code += "\n" + lines[j];
        end = code.indexOf("%>");
      }
      flush();
      parts.push({ kind: "code", code: code.slice(0, end), line: lineNo });
      const rest = code.slice(end + 2);
      i = j;
      if (rest.trim() !== "") {
        // Call inline() before touching `text`: it flushes `text` itself.
        const after = inline(rest.endsWith("\r") ? rest.slice(0, -1) : rest, parts, name, j + 1, flush);
        text += after + (j === lines.length - 1 ? "" : lineEnd(lines[j])); // the line the block ends on
      }
      continue;
    }
    if (trimmed.startsWith("%%")) {
      // Bottle's escape for a text line that starts with "%": one "%" is dropped.
      const at = line.indexOf("%");
      line = line.slice(0, at) + line.slice(at + 1);
    } else if (trimmed.startsWith("%")) {
      flush();
      const code = trimmed.slice(1).trim();
      // Bottle's block closer, for templates ported from Python.
      parts.push({ kind: "code", code: /^end\s*;?$/.test(code) ? "}" : code, line: lineNo });
      continue;
    }
    if (trimmed.startsWith("\\%") || trimmed.startsWith("\\<%")) {
      const at = line.indexOf("\\");
      line = line.slice(0, at) + line.slice(at + 1);
    }
    let newline = !last;
    if (line.endsWith("\\\\")) {
      line = line.slice(0, -2);
      newline = false;
    }
    // An expression may run over several lines: join until its }} is found.
    while (hasOpenExpression(line) && i + 1 < lines.length) {
      i++;
      line += "\n" + (lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i]);
      eol = lineEnd(lines[i]);
      newline = i !== lines.length - 1;
    }
    const after = inline(line, parts, name, lineNo, flush); // flushes `text` first
    text += after + (newline ? eol : "");
  }
  flush();
  return parts;
}

/** Index just past the `}}` closing an expression starting at `from`, skipping braces and strings inside it; -1 if none. */
function closeOf(s: string, from: number): number {
  let depth = 0;
  for (let k = from; k < s.length; k++) {
    const c = s[k];
    if (c === '"' || c === "'" || c === "`") {
      for (k++; k < s.length && s[k] !== c; k++) if (s[k] === "\\") k++;
    } else if (c === "{") depth++;
    else if (c === "}") {
      if (depth === 0 && s[k + 1] === "}") return k + 2;
      if (depth > 0) depth--;
    }
  }
  return -1;
}

function hasOpenExpression(line: string): boolean {
  let at = 0;
  for (;;) {
    const open = line.indexOf("{{", at);
    if (open < 0) return false;
    const close = closeOf(line, open + 2);
    if (close < 0) return true;
    at = close;
  }
}

/**
 * Adds the expressions of one text line to `parts` (after `flush`ing the caller's
 * pending text); returns the text after the last expression, still pending.
 */
function inline(line: string, parts: Part[], name: string, lineNo: number, flush: () => void): string {
  let at = 0;
  let pending = "";
  for (;;) {
    const open = line.indexOf("{{", at);
    if (open < 0) return pending + line.slice(at);
    const close = closeOf(line, open + 2);
    if (close < 0) throw new TemplateError("'{{' is never closed by '}}'.", name, lineNo);
    pending += line.slice(at, open);
    flush();
    if (pending) {
      parts.push({ kind: "text", text: pending });
      pending = "";
    }
    let code = line.slice(open + 2, close - 2).trim();
    const raw = code.startsWith("!");
    if (raw) code = code.slice(1).trim();
    if (code === "") throw new TemplateError("Empty '{{ }}'.", name, lineNo);
    parts.push({ kind: "expr", code, raw, line: lineNo });
    at = close;
  }
}

/** The compiled body of a template, before the variables' names are known. */
interface Compiled {
  body: string;
  isAsync: boolean;
  helpers: string[];
  parts: Part[];
}

function generate(parts: Part[], noescape: boolean): Compiled {
  let body = "";
  let isAsync = false;
  const all = parts.map((p) => (p.kind === "text" ? "" : p.code)).join("\n");
  const helpers = [...HELPERS].filter((h) => new RegExp(`\\b${h}\\b`).test(all));
  const usesInclude = helpers.includes("include");
  for (const p of parts) {
    if (p.kind === "text") {
      body += `$o += ${JSON.stringify(p.text)};\n`;
      continue;
    }
    if (/\bawait\b/.test(p.code)) isAsync = true;
    if (p.kind === "code") {
      body += `$l = ${p.line};\n${p.code}\n`;
    } else {
      const fn = p.raw !== noescape ? "$t.s" : "$t.e";
      // Newlines around the code keep a trailing // comment from eating our parenthesis.
      // When include() may run inside, evaluate before appending: include() moves $o aside.
      body += usesInclude && /\binclude\b/.test(p.code)
        ? `$l = ${p.line}; $x = ${fn}((\n${p.code}\n)); $o += $x;\n`
        : `$l = ${p.line}; $o += ${fn}((\n${p.code}\n));\n`;
    }
  }
  return { body, isAsync, helpers, parts };
}

type RenderFn = (env: TemplateVars) => string | Promise<string>;

/** What compiled code calls back into. */
interface Runtime {
  e(value: unknown): string;
  s(value: unknown): string;
  include(name: string, env: TemplateVars): Promise<string>;
  fail(err: unknown, line: number): TemplateError;
  done(out: string, pending: Array<string | Promise<string>> | null, rebase: [string, TemplateVars?] | null, env: TemplateVars): string | Promise<string>;
}

const decoder = new TextDecoder();

function toText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  if (value instanceof Uint8Array) return decoder.decode(value);
  return String(value);
}

function escape(value: unknown): string {
  return escapeHtml(toText(value));
}

/**
 * A compiled template. {@linkcode template} makes and caches these; use the class to
 * hold a template yourself.
 *
 * @example
 * ```ts
 * import { Template } from "./template.ts";
 * const greet = new Template("Hello {{ name }}!", { name: "greeting" });
 * await greet.render({ name: "Ada" }); // "Hello Ada!"
 * ```
 */
export class Template {
  /** The template's name, used in error messages (`<string>` when given as source). */
  readonly name: string;
  /** The template's source text. */
  readonly source: string;
  #options: TemplateOptions;
  #compiled: Compiled;
  #runtime: Runtime;
  // One function per set of variable names: names become real local variables.
  #byNames = new Map<string, RenderFn>();

  /**
   * Compiles `source`. Throws a {@linkcode TemplateError} for template syntax errors
   * (JavaScript syntax errors surface on the first render, with the line when it can be found).
   *
   * @param source the template text
   * @param options `name` for messages, plus {@linkcode TemplateOptions}
   */
  constructor(source: string, options: TemplateOptions & { name?: string } = {}) {
    this.name = options.name ?? "<string>";
    this.source = source;
    this.#options = options;
    this.#compiled = generate(parse(source, this.name), options.noescape ?? false);
    const name = this.name;
    this.#runtime = {
      e: escape,
      s: toText,
      include: (sub, env) => render(sub, env, this.#options),
      fail: (err, line) => (err instanceof TemplateError ? err : new TemplateError(describe(err), name, line, err)),
      done: (out, pending, rebase, env) => {
        let result: string | Promise<string> = out;
        if (pending) {
          pending.push(out);
          result = Promise.all(pending).then((chunks) => chunks.join(""));
        }
        if (!rebase) return result;
        const [base, vars] = rebase;
        return Promise.resolve(result).then((text) => render(base, { ...env, ...vars, base: text }, this.#options));
      },
    };
  }

  /**
   * Renders with `vars`.
   *
   * @example
   * ```ts
   * import { Template } from "./template.ts";
   * await new Template("{{ a }} + {{ b }}").render({ a: 1, b: 2 }); // "1 + 2"
   * ```
   */
  async render(vars: TemplateVars = {}): Promise<string> {
    const env: TemplateVars = Object.assign(Object.create(null), vars);
    const keys = Object.keys(env).filter((k) => IDENT.test(k) && !RESERVED.has(k) && !HELPERS.has(k));
    const signature = keys.join(",");
    let fn = this.#byNames.get(signature);
    if (!fn) {
      fn = this.#build(keys);
      if (this.#byNames.size >= 32) this.#byNames.delete(this.#byNames.keys().next().value!);
      this.#byNames.set(signature, fn);
    }
    return await fn(env);
  }

  #build(keys: string[]): RenderFn {
    const { body, isAsync, helpers } = this.#compiled;
    let prologue = keys.length ? `let { ${keys.join(", ")} } = $v;\n` : "";
    prologue += `let $o = "", $l = 0, $x, $p = null, $rb = null;\n`;
    if (helpers.includes("include")) prologue += `const include = (n, v) => { ($p ??= []).push($o, $t.include(n, { ...$v, ...v })); $o = ""; };\n`;
    if (helpers.includes("rebase")) prologue += `const rebase = (n, v) => { $rb = [n, v]; };\n`;
    if (helpers.includes("get")) prologue += `const get = (n, d) => (n in $v ? $v[n] : d);\n`;
    if (helpers.includes("defined")) prologue += `const defined = (n) => n in $v;\n`;
    const code = `"use strict";\nreturn ${isAsync ? "async " : ""}function ($v) {\n${prologue}try {\n${body}} catch ($e) { throw $t.fail($e, $l); }\nreturn $t.done($o, $p, $rb, $v);\n};`;
    try {
      return new Function("$t", code)(this.#runtime) as RenderFn;
    } catch (err) {
      throw this.#syntaxError(err, isAsync);
    }
  }

  /** The Function constructor does not say where a syntax error is: find the first expression or code line that is wrong on its own. */
  #syntaxError(err: unknown, isAsync: boolean): TemplateError {
    const prefix = isAsync ? "async " : "";
    for (const p of this.#compiled.parts) {
      if (p.kind !== "expr") continue;
      try {
        new Function(`return ${prefix}function () { return (\n${p.code}\n); }`);
      } catch (e) {
        return new TemplateError(`${describe(e)} in {{ ${p.code} }}`, this.name, p.line, err);
      }
    }
    // Code lines are fragments (`for (...) {`); test each with its braces balanced.
    for (const p of this.#compiled.parts) {
      if (p.kind !== "code") continue;
      const opens = (p.code.match(/{/g) ?? []).length - (p.code.match(/}/g) ?? []).length;
      const code = opens >= 0 ? p.code + "}".repeat(opens) : "{".repeat(-opens) + p.code;
      try {
        new Function(`return ${prefix}function () {\n${code.replace(/^\s*}\s*else\b/, "if (0) {} else")}\n}`);
      } catch {
        return new TemplateError(`${describe(err)} near '% ${p.code}'`, this.name, p.line, err);
      }
    }
    // Then the blocks: a '}' with nothing open, or a '{' never closed.
    const open: number[] = [];
    for (const p of this.#compiled.parts) {
      if (p.kind !== "code") continue;
      for (const c of p.code.replace(/(["'`])(?:\\.|(?!\1).)*\1/g, "")) {
        if (c === "{") open.push(p.line);
        else if (c === "}" && open.pop() === undefined) {
          return new TemplateError(`${describe(err)}: '}' closes no block`, this.name, p.line, err);
        }
      }
    }
    if (open.length) {
      return new TemplateError(`${describe(err)}: the block opened here is never closed with '% }'`, this.name, open[open.length - 1], err);
    }
    return new TemplateError(
      `${describe(err)} (check that every block opened with '% ... {' is closed with '% }')`,
      this.name,
      undefined,
      err,
    );
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

// ---------------------------------------------------------------------------
// Lookup and caches
// ---------------------------------------------------------------------------

const MAX_CACHED = 256;
const bySource = new Map<string, Template>();
const byName = new Map<string, Promise<Template>>();

function remember<V>(map: Map<string, V>, key: string, value: V): V {
  if (map.size >= MAX_CACHED) map.delete(map.keys().next().value!);
  map.set(key, value);
  return value;
}

/** Bottle's rule: text with a newline, `{` or `%` is source; anything else is a name. */
function isSource(text: string): boolean {
  return /[\n{%]/.test(text);
}

async function load(name: string, options: TemplateOptions): Promise<Template> {
  if (name.includes("\0") || name.includes("\\") || name.startsWith("/") || name.split("/").includes("..")) {
    throw new TemplateError("Template names must be relative paths inside the lookup directories.", name);
  }
  const fs = await fileSystem();
  const lookup = options.lookup ?? templatePath;
  for (const dir of lookup) {
    const base = fs.resolve(dir);
    for (const ext of EXTENSIONS) {
      const path = fs.resolve(`${base}/${name}${ext}`);
      let source: string;
      try {
        source = await fs.readTextFile(path);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") continue;
        throw new TemplateError(`cannot read ${path}: ${describe(err)}`, name, undefined, err);
      }
      return new Template(source, { ...options, name });
    }
  }
  const tried = lookup.map((d) => JSON.stringify(String(d))).join(", ");
  throw new TemplateError(`not found in ${tried} (tried no extension, .tpl, .html).`, name);
}

function render(sourceOrName: string, vars: TemplateVars, options: TemplateOptions): Promise<string> {
  if (isSource(sourceOrName)) {
    const key = (options.noescape ? "1" : "0") + sourceOrName;
    let tpl = bySource.get(key);
    if (!tpl) tpl = remember(bySource, key, new Template(sourceOrName, options));
    return tpl.render(vars);
  }
  if (options.cache === false || (options.cache === undefined && debugMode.active)) {
    return load(sourceOrName, options).then((t) => t.render(vars));
  }
  const key = `${options.noescape ? 1 : 0}\0${(options.lookup ?? templatePath).join("\0")}\0${sourceOrName}`;
  let pending = byName.get(key);
  if (!pending) {
    pending = remember(byName, key, load(sourceOrName, options));
    // A failed load is not cached: the file may appear later.
    pending.catch(() => byName.get(key) === pending && byName.delete(key));
  }
  return pending.then((t) => t.render(vars));
}

/**
 * Renders a template given as source text or by name (Bottle's `template()`). Text with
 * a newline, `{` or `%` is source; anything else is a name looked up in
 * {@linkcode templatePath}. Compiled templates are cached (named ones not once an app
 * runs with `debug`).
 *
 * Unlike Bottle's, it returns a `Promise<string>` (reading the file and `await` inside
 * templates are asynchronous): return it from a handler as it is, or `await` it.
 *
 * @example
 * ```ts
 * import { Carafe, template } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/hello/<name>", (req) => template("<b>Hello {{ name }}</b>!", { name: req.params.name }));
 * app.get("/items", () => template("items", { items: ["a", "b"] })); // ./views/items.tpl
 * ```
 */
export function template(sourceOrName: string, vars: TemplateVars = {}, options: TemplateOptions = {}): Promise<string> {
  if (typeof sourceOrName !== "string") {
    return Promise.reject(new TypeError("template() needs the template's source text or name as a string."));
  }
  try {
    return render(sourceOrName, vars, options);
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Forgets every compiled template, so edited template files are read again.
 *
 * @example
 * ```ts
 * import { clearTemplateCache } from "./template.ts";
 * clearTemplateCache();
 * ```
 */
export function clearTemplateCache(): void {
  bySource.clear();
  byName.clear();
}

function isPlainObject(value: unknown): value is TemplateVars {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Wraps a handler so that the plain object it returns is rendered with template `name`
 * (Bottle's `@view`). `defaults` fill in variables the handler leaves out; a handler
 * returning `null`/`undefined` renders with the defaults alone; anything else (a
 * string, a `Response`, an `HTTPResponse`…) is passed through unchanged.
 *
 * @example
 * ```ts
 * import { Carafe, view } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/item/<id:int>", view("item", { title: "Item" })((req) => ({ id: req.params.id })));
 * ```
 */
export function view(
  name: string,
  defaults: TemplateVars = {},
  options: TemplateOptions = {},
): <A extends unknown[]>(handler: (...args: A) => HandlerResult | Promise<HandlerResult>) => (...args: A) => Promise<HandlerResult> {
  return (handler) => async (...args) => {
    const out = await handler(...args);
    if (out === null || out === undefined) return template(name, defaults, options);
    if (isPlainObject(out)) return template(name, { ...defaults, ...out }, options);
    return out;
  };
}
