/**
 * `req.query`: a `URLSearchParams` that parses the query string only when it must.
 *
 * Building a `URLSearchParams` costs up to ~200 ns even for `?name=x` (runtime
 * dependent; see BENCHMARKS.md), more than routing the request. Most handlers only `get()` a name or two, so `get()` scans
 * the raw string and the full parse happens on the first other use (iteration,
 * `getAll`, `has`, a change, `toString`). Everything else behaves exactly as a
 * `URLSearchParams` built from the same string: it is one (`instanceof` holds).
 *
 * @example
 * ```ts
 * import { LazySearchParams } from "./query.ts";
 * const q = new LazySearchParams("name=caf%C3%A9&tag=a&tag=b");
 * q.get("name"); // "café" (no full parse)
 * q.getAll("tag"); // ["a", "b"]
 * ```
 *
 * @module
 */

/**
 * The value of the first `name` pair in a query string (without `?`), decoded as
 * `URLSearchParams` decodes it; `null` when there is none, `undefined` when a name or
 * value holds an escape `decodeURIComponent` refuses (`%zz`, invalid UTF-8), which the
 * full parser then handles its own way.
 */
function findParam(raw: string, name: string): string | null | undefined {
  const n = raw.length;
  for (let start = 0; start < n;) {
    let end = raw.indexOf("&", start);
    if (end < 0) end = n;
    if (end > start) {
      let eq = raw.indexOf("=", start);
      if (eq < 0 || eq > end) eq = end;
      const key = decodeForm(raw.slice(start, eq));
      if (key === undefined) return undefined;
      if (key === name) return eq === end ? "" : decodeForm(raw.slice(eq + 1, end));
    }
    start = end + 1;
  }
  return null;
}

/** application/x-www-form-urlencoded decoding of one name or value; `undefined` on a bad escape. */
function decodeForm(text: string): string | undefined {
  const plus = text.includes("+");
  const percent = text.includes("%");
  if (!plus && !percent) return text;
  const spaced = plus ? text.replaceAll("+", " ") : text;
  if (!percent) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}

/**
 * A `URLSearchParams` over a query string that is parsed on first need: `get()` alone
 * scans the string, any other use parses it once, in full.
 *
 * @example
 * ```ts
 * import { LazySearchParams } from "./query.ts";
 * const q = new LazySearchParams("a=1&b=2");
 * q.get("b"); // "2"
 * [...q]; // [["a", "1"], ["b", "2"]]
 * ```
 */
export class LazySearchParams extends URLSearchParams {
  /** The query string not parsed yet; `undefined` once it was. */
  #raw: string | undefined;

  /**
   * @param query the query string, with or without its leading `?`
   */
  constructor(query: string) {
    super();
    const raw = query.charCodeAt(0) === 63 ? query.slice(1) : query;
    this.#raw = raw === "" ? undefined : raw;
  }

  #parse(): void {
    const raw = this.#raw;
    if (raw === undefined) return;
    this.#raw = undefined;
    for (const [name, value] of new URLSearchParams(raw)) super.append(name, value);
  }

  /** The first value of `name`, or `null`. */
  override get(name: string): string | null {
    const raw = this.#raw;
    if (raw !== undefined) {
      const found = findParam(raw, String(name));
      if (found !== undefined) return found;
      this.#parse();
    }
    return super.get(name);
  }

  /** Every value of `name`. */
  override getAll(name: string): string[] {
    this.#parse();
    return super.getAll(name);
  }

  /** Whether `name` (with `value`, if given) is present. */
  override has(name: string, value?: string): boolean {
    this.#parse();
    return value === undefined ? super.has(name) : super.has(name, value);
  }

  /** Adds a pair. */
  override append(name: string, value: string): void {
    this.#parse();
    super.append(name, value);
  }

  /** Replaces every value of `name` with `value`. */
  override set(name: string, value: string): void {
    this.#parse();
    super.set(name, value);
  }

  /** Removes `name` (only the pairs with `value`, if given). */
  override delete(name: string, value?: string): void {
    this.#parse();
    if (value === undefined) super.delete(name);
    else super.delete(name, value);
  }

  /** Sorts the pairs by name. */
  override sort(): void {
    this.#parse();
    super.sort();
  }

  /** The number of pairs. */
  override get size(): number {
    this.#parse();
    return super.size;
  }

  /** Calls `callback` for each pair. */
  override forEach(callback: (value: string, key: string, parent: URLSearchParams) => void, thisArg?: unknown): void {
    this.#parse();
    super.forEach(callback, thisArg);
  }

  /** The pairs, as `[name, value]`. */
  override entries(): ReturnType<URLSearchParams["entries"]> {
    this.#parse();
    return super.entries();
  }

  /** The names. */
  override keys(): ReturnType<URLSearchParams["keys"]> {
    this.#parse();
    return super.keys();
  }

  /** The values. */
  override values(): ReturnType<URLSearchParams["values"]> {
    this.#parse();
    return super.values();
  }

  /** The pairs, as `[name, value]`. */
  override [Symbol.iterator](): ReturnType<URLSearchParams["entries"]> {
    this.#parse();
    return super.entries();
  }

  /** The query string, serialised as `URLSearchParams` does. */
  override toString(): string {
    this.#parse();
    return super.toString();
  }
}
