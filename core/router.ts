/**
 * Bottle's route syntax and matching rules, compiled for speed.
 *
 * Rules: `<name>` matches one path segment (`[^/]+`), `<name:int>` → number,
 * `<name:float>` → number, `<name:path>` → the rest of the path including `/`
 * (non-greedy), `<name:re:EXP>` → a regular expression, `<>` / `<:int>` / `<:re:EXP>`
 * are anonymous (matched, not passed on). Custom filters come from
 * {@linkcode Router.addFilter}. `\<` is a literal `<` (and `\\` a literal `\`).
 *
 * Matching order is Bottle's: `HEAD` tries `HEAD`, `GET`, `ANY`; any other verb tries
 * itself, then `ANY`. For each method static paths (one `Map` lookup) come before
 * dynamic routes, and dynamic routes are tried in definition order. Dynamic routes
 * of a method are compiled lazily: split into buckets by literal path segments, each
 * bucket one regular expression whose alternatives share common prefixes, so a
 * lookup runs a few small expressions instead of walking the route list.
 *
 * @example
 * ```ts
 * import { Router } from "./router.ts";
 * const router = new Router<string>();
 * router.add("/item/<id:int>", "GET", "item", "item");
 * router.match("GET", "/item/7"); // { kind: "found", target: "item", params: { id: 7 } }
 * router.build("item", { id: 7, tab: "info" }); // "/item/7?tab=info"
 * ```
 *
 * @module
 */
import {
  type Bucket,
  buildBucket,
  type Entry,
  escapeRegex,
  hit as found,
  type Leaf,
  type Param,
  search,
  shapeOf,
  type Token,
  type WildToken,
} from "./route_matcher.ts";

/**
 * What a wildcard filter is made of: the regular expression it matches, how a
 * matched string becomes the parameter value, and how a value goes back into a URL.
 *
 * @example
 * ```ts
 * import type { FilterSpec } from "./router.ts";
 * const hex: FilterSpec = { pattern: "[0-9a-f]+", toValue: (s) => parseInt(s, 16), toUrl: (v) => (v as number).toString(16) };
 * ```
 */
export interface FilterSpec {
  /** Regular expression source (capturing groups are made non-capturing). */
  pattern: string;
  /** Converts the matched text; throwing (or returning `NaN`) answers `400`. */
  toValue?: (raw: string) => unknown;
  /** Converts a value for {@linkcode Router.build}; default `String(value)`. */
  toUrl?: (value: unknown) => string;
}

/**
 * Makes a {@linkcode FilterSpec} from the text after the filter name
 * (`<x:name:config>` → `config`, `undefined` when absent).
 *
 * @example
 * ```ts
 * import type { FilterFactory } from "./router.ts";
 * const list: FilterFactory = (sep = ",") => ({ pattern: `[^/]+`, toValue: (s) => s.split(sep) });
 * ```
 */
export type FilterFactory = (config: string | undefined) => FilterSpec;

/**
 * The result of {@linkcode Router.match}.
 *
 * @example
 * ```ts
 * import { Router, type RouteMatch } from "./router.ts";
 * const m: RouteMatch<string> = new Router<string>().match("GET", "/");
 * if (m.kind === "notFound") console.log("404");
 * ```
 */
export type RouteMatch<T> =
  | { kind: "found"; target: T; params: Record<string, unknown> }
  | { kind: "notFound" }
  | { kind: "methodNotAllowed"; allow: string[] }
  | { kind: "badParam"; message: string };

/**
 * Thrown by {@linkcode Router.add} for a rule that cannot be compiled.
 *
 * @example
 * ```ts
 * import { Router, RouteSyntaxError } from "./router.ts";
 * try { new Router().add("/x/<id:nope>", "GET", 1); } catch (e) { console.log(e instanceof RouteSyntaxError); }
 * ```
 */
export class RouteSyntaxError extends Error {
  /** Always `"RouteSyntaxError"`. */
  override name = "RouteSyntaxError";
}

/**
 * Thrown by {@linkcode Router.build} for an unknown route name or a missing or
 * unfitting parameter.
 *
 * @example
 * ```ts
 * import { Router, RouteBuildError } from "./router.ts";
 * try { new Router().build("nope"); } catch (e) { console.log(e instanceof RouteBuildError); }
 * ```
 */
export class RouteBuildError extends Error {
  /** Always `"RouteBuildError"`. */
  override name = "RouteBuildError";
}

// ---------------------------------------------------------------------------
// Typed parameters from the rule string.

/**
 * The parameters a rule produces: `"/item/<id:int>/<rest:path>"` →
 * `{ id: number; rest: string }`. `int`/`float` give `number`, the default, `path`
 * and `re` filters `string`, custom filters `unknown`; anonymous wildcards add nothing.
 *
 * @example
 * ```ts
 * import type { PathParams } from "./router.ts";
 * const p: PathParams<"/item/<id:int>"> = { id: 7 };
 * ```
 */
export type PathParams<P extends string> = string extends P ? Record<string, unknown>
  : P extends `${infer Pre}<${infer W}>${infer Rest}` ? Pre extends `${string}\\` ? PathParams<Rest>
    : (
      & (W extends `${infer Name}:${infer Filter}` ? Name extends "" ? Record<never, never>
          : { [N in Name]: Filter extends "int" | "float" ? number : Filter extends "path" | "re" | `re:${string}` ? string : unknown }
        : W extends "" ? Record<never, never>
        : { [N in W]: string })
      & PathParams<Rest>
    ) extends infer X ? { [K in keyof X]: X[K] } : never
  : Record<never, never>;

// ---------------------------------------------------------------------------
// Internals.

interface MethodTable<T> {
  static: Map<string, Entry<T>>;
  dynamic: Entry<T>[];
  /** Compiled lazily; `undefined` after an `add`. */
  compiled?: Bucket<T>;
}

const NOT_FOUND = Object.freeze({ kind: "notFound" as const });
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FILTER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const METHOD = /^[A-Z0-9!#$%&'*+.^_`|~-]+$/;


/**
 * Makes every capturing group non-capturing (Bottle's `_re_flatten`), so a user's
 * expression cannot shift the group numbers of the combined expression.
 */
function flatten(pattern: string, rule: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const next = pattern[i + 1] ?? "";
      // Group numbers change once groups are flattened and combined, so a back-reference could only mislead.
      if (!inClass && (/[1-9]/.test(next) || (next === "k" && pattern[i + 2] === "<"))) {
        throw new RouteSyntaxError(`Back-references are not supported in route ${JSON.stringify(rule)}: ${JSON.stringify(pattern)}`);
      }
      out += c + next;
      i++;
    } else if (inClass) {
      if (c === "]") inClass = false;
      out += c;
    } else if (c === "[") {
      inClass = true;
      out += c;
    } else if (c === "(") {
      if (pattern[i + 1] !== "?") {
        out += "(?:";
      } else if (pattern[i + 2] === "<" && pattern[i + 3] !== "=" && pattern[i + 3] !== "!") {
        // Named group `(?<name>…)` → `(?:…)`.
        const end = pattern.indexOf(">", i + 3);
        if (end < 0) throw new RouteSyntaxError(`Unterminated group name in route ${JSON.stringify(rule)}: ${JSON.stringify(pattern)} (inside a wildcard, write \\> for ">").`);
        out += "(?:";
        i = end;
      } else {
        out += c;
      }
    } else {
      out += c;
    }
  }
  return out;
}

/** Number of capturing groups in a regex source. */
function groupCount(source: string): number {
  return new RegExp(`|${source}`).exec("")!.length - 1;
}

/** Percent-encodes what would change a URL's meaning; keeps `/` and what `encodeURI` keeps. */
function encodePath(text: string, rule: string): string {
  try {
    return encodeURI(text).replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23"));
  } catch {
    throw new RouteBuildError(`Cannot encode ${JSON.stringify(text)} for route ${JSON.stringify(rule)} (lone surrogate).`);
  }
}

const builtinFilters: Record<string, FilterFactory> = {
  re: (config) => ({ pattern: config ?? "[^/]+" }),
  int: () => ({
    pattern: "-?\\d+",
    toValue: (raw) => {
      const n = Number(raw);
      // Bottle's ints are unbounded; a silently rounded id would be worse than a 400.
      if (!Number.isSafeInteger(n)) throw new RangeError(`Integer out of range: ${raw}`);
      return n;
    },
    toUrl: (value) => {
      const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n)) throw new TypeError(`expected an integer, got ${JSON.stringify(value)}`);
      return String(n);
    },
  }),
  float: () => ({
    pattern: "-?[\\d.]+",
    // Number(), unlike parseFloat, rejects "." and "1.2.3" as Python's float() does.
    toValue: (raw) => Number(raw),
    toUrl: (value) => {
      const n = typeof value === "string" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n)) throw new TypeError(`expected a number, got ${JSON.stringify(value)}`);
      return String(n);
    },
  }),
  path: () => ({ pattern: ".+?" }),
};

/**
 * A Bottle-compatible router. `T` is whatever the caller attaches to a route (the
 * app stores its route record there).
 *
 * @example
 * ```ts
 * import { Router } from "./router.ts";
 * const router = new Router<() => string>();
 * router.add("/hello/<name>", "GET", () => "hi");
 * const m = router.match("GET", "/hello/world");
 * if (m.kind === "found") console.log(m.params.name, m.target());
 * ```
 */
export class Router<T> {
  #filters = new Map<string, FilterFactory>(Object.entries(builtinFilters));
  #tables = new Map<string, MethodTable<T>>();
  /** Every route in definition order (replacements keep their place). */
  #entries: Entry<T>[] = [];
  #byKey = new Map<string, Entry<T>>();
  #names = new Map<string, Entry<T>>();
  /** Every dynamic rule of every method, to answer "404" with one search (compiled lazily). */
  #anyDynamic?: Bucket<T> | null;

  /**
   * Registers a custom wildcard filter `<x:name>` / `<x:name:config>`. Add it before
   * the routes that use it.
   *
   * @example
   * ```ts
   * import { Router } from "./router.ts";
   * const router = new Router<number>();
   * router.addFilter("hex", () => ({ pattern: "[0-9a-f]+", toValue: (s) => parseInt(s, 16), toUrl: (v) => (v as number).toString(16) }));
   * router.add("/color/<c:hex>", "GET", 1, "color");
   * router.build("color", { c: 255 }); // "/color/ff"
   * ```
   */
  addFilter(name: string, factory: FilterFactory): void {
    if (!FILTER_NAME.test(name)) throw new RouteSyntaxError(`Invalid filter name ${JSON.stringify(name)}: use letters, digits and _.`);
    if (typeof factory !== "function") throw new TypeError(`Filter ${JSON.stringify(name)} needs a factory function (config) => ({ pattern, toValue?, toUrl? }).`);
    this.#filters.set(name, factory);
  }

  /**
   * Adds a route. `method` is upper-cased (`"ANY"` matches every method); adding the
   * same method and rule again replaces the target in place. Throws
   * {@linkcode RouteSyntaxError} for a malformed rule, an unknown filter or an
   * invalid regular expression.
   *
   * @example
   * ```ts
   * import { Router } from "./router.ts";
   * const router = new Router<string>();
   * router.add("/static/<file:path>", "GET", "static", "static");
   * ```
   */
  add(path: string, method: string, target: T, name?: string): void {
    if (typeof path !== "string") throw new RouteSyntaxError(`A route path must be a string, got ${typeof path}.`);
    method = String(method).toUpperCase();
    if (!METHOD.test(method)) throw new RouteSyntaxError(`Invalid HTTP method ${JSON.stringify(method)} for route ${JSON.stringify(path)}.`);
    if (this.#replace(method, path, target, name)) return;
    const tokens = this.#parse(path);
    const params: Param[] = [];
    let position = 0;
    for (const token of tokens) {
      if ("text" in token) continue;
      if (token.name !== undefined) {
        if (params.some((p) => p.name === token.name)) {
          throw new RouteSyntaxError(`Wildcard <${token.name}> appears twice in route ${JSON.stringify(path)}.`);
        }
        params.push({ name: token.name, position, toValue: token.toValue });
      }
      position++;
    }
    if (position > 0) {
      // Validate this route alone now, so a bad pattern is reported at add time, not on the first request.
      const source = "^" + tokens.map((t) => ("text" in t ? escapeRegex(t.text) : `(${t.pattern})`)).join("") + "$";
      try {
        new RegExp(source);
      } catch (err) {
        throw new RouteSyntaxError(`Invalid regular expression in route ${JSON.stringify(path)}: ${(err as Error).message}`);
      }
    }
    this.#insert({ method, rule: path, name, target, tokens, params });
  }

  /**
   * Adds every route of another router as that router compiled it, so routes using
   * its custom filters work here even when this router does not know those filters.
   * `convert` turns each of its targets into one of this router's. Routes with the
   * same method and rule as one here replace its target, as {@linkcode Router.add} does.
   *
   * @example
   * ```ts
   * import { Router } from "./router.ts";
   * const other = new Router<string>();
   * other.addFilter("hex", () => ({ pattern: "[0-9a-f]+", toValue: (s) => parseInt(s, 16) }));
   * other.add("/color/<c:hex>", "GET", "color");
   * const router = new Router<string>();
   * router.merge(other, (target) => target);
   * router.match("GET", "/color/ff"); // { kind: "found", target: "color", params: { c: 255 } }
   * ```
   */
  merge<U>(other: Router<U>, convert: (target: U) => T): void {
    for (const entry of other.#entries) {
      const target = convert(entry.target);
      if (this.#replace(entry.method, entry.rule, target, entry.name)) continue;
      // Tokens and params are never changed after parsing: sharing them is safe.
      this.#insert({ method: entry.method, rule: entry.rule, name: entry.name, target, tokens: entry.tokens, params: entry.params });
    }
  }

  /** Re-adding a method and rule replaces the target in place (Bottle's behaviour); false when it is new. */
  #replace(method: string, rule: string, target: T, name: string | undefined): boolean {
    const old = this.#byKey.get(method + " " + rule);
    if (old === undefined) return false;
    old.target = target;
    if (name !== undefined) {
      old.name = name;
      this.#names.set(name, old);
    }
    return true;
  }

  #insert(entry: Entry<T>): void {
    let table = this.#tables.get(entry.method);
    if (!table) {
      table = { static: new Map(), dynamic: [] };
      this.#tables.set(entry.method, table);
    }
    if (entry.tokens.every((t) => "text" in t)) {
      const literal = entry.tokens.map((t) => (t as { text: string }).text).join("");
      table.static.set(literal, entry);
    } else {
      table.dynamic.push(entry);
      table.compiled = undefined;
      this.#anyDynamic = undefined;
    }
    this.#entries.push(entry);
    this.#byKey.set(entry.method + " " + entry.rule, entry);
    if (entry.name !== undefined) this.#names.set(entry.name, entry);
  }

  /**
   * Finds the route for a request. `path` must already be percent-decoded.
   *
   * @example
   * ```ts
   * import { Router } from "./router.ts";
   * const router = new Router<string>();
   * router.add("/a", "GET", "a");
   * router.match("POST", "/a"); // { kind: "methodNotAllowed", allow: ["GET", "HEAD"] }
   * ```
   */
  match(method: string, path: string): RouteMatch<T> {
    if (method === "HEAD") {
      const r = this.#try("HEAD", path) ?? this.#try("GET", path) ?? this.#try("ANY", path);
      if (r !== undefined) return r;
    } else {
      const r = this.#try(method, path) ?? this.#try("ANY", path);
      if (r !== undefined) return r;
    }
    return this.#miss(method, path);
  }

  #try(method: string, path: string): RouteMatch<T> | undefined {
    const table = this.#tables.get(method);
    if (table === undefined) return undefined;
    const hit = table.static.get(path);
    // A fresh params object each time: handlers and plugins may add to req.params.
    if (hit !== undefined) return { kind: "found", target: hit.target, params: {} };
    if (table.dynamic.length === 0) return undefined;
    found.leaf = undefined;
    search(table.compiled ?? this.#compile(table), path);
    const leaf = found.leaf as Leaf<T> | undefined;
    const m = found.match!;
    if (leaf === undefined) return undefined;
    found.match = undefined; // do not keep the request's path alive
    const params: Record<string, unknown> = {};
    const { names, groups } = leaf;
    if (leaf.plain) {
      for (let i = 0; i < names.length; i++) params[names[i]] = m[groups[i]];
    } else {
      const convert = leaf.convert;
      for (let i = 0; i < names.length; i++) {
        const raw = m[groups[i]];
        const fn = convert[i];
        if (fn === undefined) {
          params[names[i]] = raw;
          continue;
        }
        let value: unknown;
        try {
          value = fn(raw);
        } catch (err) {
          return { kind: "badParam", message: `Path has wrong format: ${names[i]}=${JSON.stringify(raw)} (${(err as Error)?.message ?? err}).` };
        }
        if (typeof value === "number" && Number.isNaN(value)) {
          return { kind: "badParam", message: `Path has wrong format: ${names[i]}=${JSON.stringify(raw)} is not a number.` };
        }
        params[names[i]] = value;
      }
    }
    return { kind: "found", target: leaf.entry.target, params };
  }

  /** No route for this method: 405 with the methods that do match, else 404. */
  #miss(method: string, path: string): RouteMatch<T> {
    // Most misses match nothing at all: one search over every rule settles that,
    // instead of one search per method.
    let anyStatic = false;
    for (const table of this.#tables.values()) if (table.static.has(path)) anyStatic = true;
    if (!anyStatic) {
      const any = this.#anyDynamic === undefined ? this.#compileAny() : this.#anyDynamic;
      if (any === null) return NOT_FOUND;
      found.leaf = found.match = undefined;
      search(any, path);
      const hit = found.leaf !== undefined;
      found.leaf = found.match = undefined;
      if (!hit) return NOT_FOUND;
    }
    let allow: string[] | undefined;
    for (const [name, table] of this.#tables) {
      if (name === method || name === "ANY" || (method === "HEAD" && name === "GET")) continue;
      let hit = table.static.has(path);
      if (!hit && table.dynamic.length > 0) {
        found.leaf = found.match = undefined;
        search(table.compiled ?? this.#compile(table), path);
        hit = found.leaf !== undefined;
        found.leaf = found.match = undefined;
      }
      if (hit) (allow ??= []).push(name);
    }
    if (allow === undefined) return NOT_FOUND;
    if (allow.includes("GET") && !allow.includes("HEAD")) allow.push("HEAD");
    return { kind: "methodNotAllowed", allow: allow.sort() };
  }

  #compileAny(): Bucket<T> | null {
    const byRule = new Map<string, Entry<T>>();
    for (const table of this.#tables.values()) for (const entry of table.dynamic) if (!byRule.has(entry.rule)) byRule.set(entry.rule, entry);
    if (byRule.size === 0) return (this.#anyDynamic = null);
    return (this.#anyDynamic = buildBucket([...byRule.values()].map((entry, order) => [entry, order, shapeOf(entry.tokens)]), 0));
  }

  #compile(table: MethodTable<T>): Bucket<T> {
    return (table.compiled = buildBucket(table.dynamic.map((entry, order) => [entry, order, shapeOf(entry.tokens)]), 0));
  }

  /**
   * Builds the URL of a named route (a rule string works as a name too). Wildcards
   * are filled from `params` (anonymous ones from `anon0`, `anon1`…) through the
   * filter's `toUrl` and percent-encoded; leftover params become the query string,
   * arrays repeating the key.
   *
   * @example
   * ```ts
   * import { Router } from "./router.ts";
   * const router = new Router<string>();
   * router.add("/wiki/<page>", "GET", "wiki", "wiki");
   * router.build("wiki", { page: "Main", tag: ["a", "b"] }); // "/wiki/Main?tag=a&tag=b"
   * ```
   */
  build(name: string, params: Record<string, unknown> = {}): string {
    const entry = this.#names.get(name) ?? this.#ruleEntry(name);
    if (entry === undefined) throw new RouteBuildError(`No route named ${JSON.stringify(name)}.`);
    const used = new Set<string>();
    let url = "";
    let anon = 0;
    for (const token of entry.tokens) {
      if ("text" in token) {
        url += encodePath(token.text, entry.rule);
        continue;
      }
      const key = token.name ?? `anon${anon++}`;
      const value = params[key];
      if (value === undefined || value === null) {
        throw new RouteBuildError(`Missing URL argument ${JSON.stringify(key)} for route ${JSON.stringify(name)} (${entry.rule}).`);
      }
      used.add(key);
      let text: string;
      try {
        text = token.toUrl ? token.toUrl(value) : String(value);
      } catch (err) {
        throw new RouteBuildError(`Bad URL argument ${JSON.stringify(key)} for route ${JSON.stringify(name)}: ${(err as Error)?.message ?? err}`);
      }
      if (!token.check.test(text)) {
        throw new RouteBuildError(`URL argument ${JSON.stringify(key)}=${JSON.stringify(text)} does not fit its wildcard in route ${JSON.stringify(entry.rule)}.`);
      }
      url += encodePath(text, entry.rule);
    }
    const query = new URLSearchParams();
    for (const key in params) {
      const value = params[key];
      if (used.has(key) || value === undefined || value === null) continue;
      if (Array.isArray(value)) for (const v of value) query.append(key, String(v));
      else query.append(key, String(value));
    }
    const search = query.toString();
    return search ? `${url}?${search}` : url;
  }

  #ruleEntry(rule: string): Entry<T> | undefined {
    for (const entry of this.#entries) if (entry.rule === rule) return entry;
    return undefined;
  }

  /**
   * Every route, in definition order.
   *
   * @example
   * ```ts
   * import { Router } from "./router.ts";
   * const router = new Router<string>();
   * router.add("/", "GET", "home", "home");
   * router.routes(); // [{ method: "GET", path: "/", name: "home", target: "home" }]
   * ```
   */
  routes(): Array<{ method: string; path: string; name?: string; target: T }> {
    return this.#entries.map((e) => (e.name === undefined
      ? { method: e.method, path: e.rule, target: e.target }
      : { method: e.method, path: e.rule, name: e.name, target: e.target }));
  }

  /** Splits a rule into literal text and wildcards. */
  #parse(rule: string): Token[] {
    const tokens: Token[] = [];
    let text = "";
    let i = 0;
    while (i < rule.length) {
      const c = rule[i];
      if (c === "\\" && (rule[i + 1] === "<" || rule[i + 1] === "\\")) {
        text += rule[i + 1];
        i += 2;
        continue;
      }
      if (c !== "<") {
        text += c;
        i++;
        continue;
      }
      // Find the closing ">", skipping backslash pairs so `<x:re:a\>b>` works.
      let j = i + 1;
      while (j < rule.length && rule[j] !== ">") j += rule[j] === "\\" ? 2 : 1;
      if (j >= rule.length) {
        throw new RouteSyntaxError(`Unterminated wildcard in route ${JSON.stringify(rule)} at ${i}; write \\< for a literal "<".`);
      }
      if (text) tokens.push({ text });
      text = "";
      tokens.push(this.#wildcard(rule.slice(i + 1, j), rule));
      i = j + 1;
    }
    if (text || tokens.length === 0) tokens.push({ text });
    return tokens;
  }

  #wildcard(body: string, rule: string): WildToken {
    const first = body.indexOf(":");
    const name = first < 0 ? body : body.slice(0, first);
    if (name !== "" && !NAME.test(name)) {
      throw new RouteSyntaxError(`Invalid wildcard name ${JSON.stringify(name)} in route ${JSON.stringify(rule)}: use letters, digits and _ (not starting with a digit).`);
    }
    let filter = "re";
    let config: string | undefined;
    if (first >= 0) {
      const rest = body.slice(first + 1);
      const second = rest.indexOf(":");
      filter = (second < 0 ? rest : rest.slice(0, second)) || "re";
      config = second < 0 ? undefined : rest.slice(second + 1).replace(/\\>/g, ">");
      if (config === "") config = undefined;
    }
    const factory = this.#filters.get(filter);
    if (factory === undefined) {
      throw new RouteSyntaxError(`Unknown filter ${JSON.stringify(filter)} in route ${JSON.stringify(rule)}; register it with router.addFilter() before adding the route.`);
    }
    let spec: FilterSpec;
    try {
      spec = factory(config);
    } catch (err) {
      throw new RouteSyntaxError(`Filter ${JSON.stringify(filter)} rejected its config ${JSON.stringify(config)} in route ${JSON.stringify(rule)}: ${(err as Error)?.message ?? err}`);
    }
    if (!spec || typeof spec.pattern !== "string") {
      throw new RouteSyntaxError(`Filter ${JSON.stringify(filter)} must return { pattern: string } (route ${JSON.stringify(rule)}).`);
    }
    const pattern = flatten(spec.pattern, rule);
    let check: RegExp;
    try {
      check = new RegExp(`^(?:${pattern})$`);
    } catch (err) {
      throw new RouteSyntaxError(`Invalid regular expression ${JSON.stringify(spec.pattern)} in route ${JSON.stringify(rule)}: ${(err as Error).message}`);
    }
    if (groupCount(pattern) !== 0) {
      throw new RouteSyntaxError(`Could not make the groups of ${JSON.stringify(spec.pattern)} non-capturing (route ${JSON.stringify(rule)}).`);
    }
    return { name: name || undefined, pattern, toValue: spec.toValue, toUrl: spec.toUrl, check };
  }
}
