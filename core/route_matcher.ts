/**
 * How a `Router` (./router.ts) finds a dynamic route fast: a method's rules compiled into a
 * prefix tree, bucketed by literal path segments, each bucket one combined regular
 * expression whose end markers say which route matched — in definition order, as in
 * Bottle. `core/router.ts` parses rules and keeps the tables; this file only compiles
 * and searches them.
 *
 * @module
 */

/** One piece of a parsed rule. */
export type Token =
  | { text: string }
  | { name: string | undefined; pattern: string; toValue?: (raw: string) => unknown; toUrl?: (value: unknown) => string; check: RegExp };

export type WildToken = Exclude<Token, { text: string }>;

export interface Param {
  name: string;
  /** Index of the wildcard among the rule's wildcards (its capture group is found at compile time). */
  position: number;
  toValue?: (raw: string) => unknown;
}

export interface Entry<T> {
  method: string;
  rule: string;
  name?: string;
  target: T;
  tokens: Token[];
  /** Named wildcards, in rule order. */
  params: Param[];
}

/** A compiled dynamic route: which capture groups hold which parameters. */
export interface Leaf<T> {
  entry: Entry<T>;
  /** Definition order among the method's dynamic routes (lower wins). */
  order: number;
  names: string[];
  groups: number[];
  convert: Array<((raw: string) => unknown) | undefined>;
  /** True when no parameter needs converting (the common case). */
  plain: boolean;
}

/** A node of the prefix tree the per-method regular expression is built from. */
export interface TrieNode<T> {
  key: string;
  /** Regex source: an escaped literal or a wildcard's pattern (wrapped in a group when emitted). */
  source: string;
  wildcard: boolean;
  items: Array<TrieNode<T> | Entry<T>>;
}

/** One combined expression and the route behind each of its end markers. */
export interface Matcher<T> {
  regex: RegExp;
  leaves: Array<Leaf<T> | undefined>;
}

/**
 * Dynamic routes split by a literal path segment (`/repos/<o>/<r>/issues/…` → segment
 * 3 is "issues"), recursively, so a lookup runs a few small expressions instead of
 * one with a group for every route. Routes without that literal segment are in
 * `rest`, tried too; the earlier-defined of the two answers wins, as in Bottle.
 */
export interface Bucket<T> {
  /** A leaf: one combined expression. */
  matcher?: Matcher<T>;
  /** Segment index (0 = the first) the children are keyed by. */
  depth: number;
  children?: Map<string, Bucket<T>>;
  rest?: Bucket<T>;
  /** Lowest definition order inside, to skip a bucket that cannot win. */
  first: number;
}

/** `text` as a regular expression that matches it literally. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Filter patterns known never to match "/": a wildcard using one ends where its segment ends. */
export const SEGMENT_PATTERNS = new Set(["[^/]+", "-?\\d+", "-?[\\d.]+"]);
let unshared = 0;

/**
 * Prefix-tree keys of a rule: literal text cut before each "/", and one key per
 * wildcard. Two routes may share a wildcard node only when it matches exactly one
 * way — a pattern that cannot match "/" followed by "/" or the end. Otherwise a
 * greedy or lazy wildcard would let the engine try a later route's continuation
 * before backtracking into an earlier route's, breaking definition order; such a
 * wildcard gets a key of its own.
 */
export function* pieces(tokens: Token[]): Generator<{ key: string; source: string; wildcard: boolean }> {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if ("text" in token) {
      for (const part of token.text.split(/(?=\/)/)) {
        if (part) yield { key: "L" + part, source: escapeRegex(part), wildcard: false };
      }
    } else {
      const next = tokens[i + 1] as { text?: string } | undefined;
      const bounded = SEGMENT_PATTERNS.has(token.pattern) && (next === undefined || next.text?.charCodeAt(0) === 47);
      yield { key: bounded ? "W" + token.pattern : `U${unshared++}`, source: token.pattern, wildcard: true };
    }
  }
}

/**
 * The rule's leading segments that each match exactly one path segment: a literal
 * (its text) or a wildcard that cannot match "/" (0). Stops at the first other one.
 */
export function shapeOf(tokens: Token[]): Array<string | 0> {
  const shape: Array<string | 0> = [];
  const first = tokens[0];
  if (!("text" in first) || first.text.charCodeAt(0) !== 47) return shape;
  const segments: Token[][] = [];
  let current: Token[] = [];
  for (const token of tokens) {
    if (!("text" in token)) {
      current.push(token);
      continue;
    }
    const parts = token.text.split("/");
    if (parts[0] !== "") current.push({ text: parts[0] });
    for (let k = 1; k < parts.length; k++) {
      segments.push(current);
      current = parts[k] === "" ? [] : [{ text: parts[k] }];
    }
  }
  segments.push(current);
  segments.shift(); // the empty one before the leading "/"
  for (const segment of segments) {
    if (segment.length === 0) shape.push("");
    else if (segment.length > 1) break;
    else if ("text" in segment[0]) shape.push(segment[0].text);
    else if (SEGMENT_PATTERNS.has(segment[0].pattern)) shape.push(0);
    else break;
  }
  return shape;
}

const LEAF_SIZE = 6;

export function buildBucket<T>(list: Array<[Entry<T>, number, Array<string | 0>]>, from: number): Bucket<T> {
  const first = list[0][1];
  if (list.length > LEAF_SIZE) {
    const longest = Math.max(...list.map(([, , shape]) => shape.length));
    for (let depth = from; depth < longest; depth++) {
      const keys = new Set<string>();
      for (const [, , shape] of list) if (typeof shape[depth] === "string") keys.add(shape[depth] as string);
      if (keys.size < 2) continue;
      const children = new Map<string, Array<[Entry<T>, number, Array<string | 0>]>>();
      const rest: Array<[Entry<T>, number, Array<string | 0>]> = [];
      for (const item of list) {
        const key = item[2][depth];
        if (typeof key !== "string") {
          rest.push(item);
          continue;
        }
        let sub = children.get(key);
        if (sub === undefined) children.set(key, sub = []);
        sub.push(item);
      }
      const bucket: Bucket<T> = { depth, children: new Map(), first };
      for (const [key, sub] of children) bucket.children!.set(key, buildBucket(sub, depth + 1));
      if (rest.length) bucket.rest = buildBucket(rest, depth + 1);
      return bucket;
    }
  }
  return { matcher: buildMatcher(list.map(([entry, order]) => [entry, order])), depth: -1, first };
}

/** The lookup result of {@linkcode search} (a lookup is synchronous, so module state is safe). */
/**
 * The result of the last {@linkcode search}: one shared object written in place, so a
 * lookup allocates nothing for it. The router clears it before each search.
 */
export const hit: { leaf: Leaf<unknown> | undefined; match: RegExpExecArray | undefined } = { leaf: undefined, match: undefined };

/** Finds the earliest-defined matching route under `bucket`, into {@linkcode hit}. */
export function search<T>(bucket: Bucket<T>, path: string): void {
  if (hit.leaf !== undefined && hit.leaf.order < bucket.first) return;
  const matcher = bucket.matcher;
  if (matcher !== undefined) {
    const m = matcher.regex.exec(path);
    if (m === null) return;
    const leaf = leafOf(matcher, m);
    if (hit.leaf === undefined || leaf.order < hit.leaf.order) {
      hit.leaf = leaf;
      hit.match = m;
    }
    return;
  }
  // The path's segment number `depth` (paths start with "/").
  if (path.charCodeAt(0) === 47) {
    let start = 1;
    for (let d = bucket.depth; d > 0 && start > 0; d--) start = path.indexOf("/", start) + 1;
    if (start > 0) {
      const end = path.indexOf("/", start);
      const child = bucket.children!.get(end < 0 ? path.slice(start) : path.slice(start, end));
      if (child !== undefined) search(child, path);
    }
  }
  if (bucket.rest !== undefined) search(bucket.rest, path);
}

/** The route whose end marker matched. */
export function leafOf<T>(matcher: Matcher<T>, m: RegExpExecArray): Leaf<T> {
  // The marker is an empty group; a parameter that captured "" can come before it,
  // hence the fallback to the last "" (the marker is the last group that is set).
  return matcher.leaves[m.indexOf("", 1)] ?? matcher.leaves[m.lastIndexOf("")]!;
}

/**
 * Builds one combined expression. Routes go into a prefix tree, but a route only
 * descends into a node's *last* child: so every alternative holds older routes than
 * the ones after it, and the first alternative that matches is the earliest defined
 * route that matches — Bottle's order, with shared prefixes.
 */
export function buildMatcher<T>(list: Array<[Entry<T>, number]>): Matcher<T> {
  const root: TrieNode<T> = { key: "", source: "", wildcard: false, items: [] };
  const orders = new Map<Entry<T>, number>();
  for (const [entry, order] of list) {
    orders.set(entry, order);
    let node = root;
    for (const piece of pieces(entry.tokens)) {
      const last = node.items[node.items.length - 1];
      if (last !== undefined && "key" in last && last.key === piece.key) {
        node = last;
      } else {
        const child: TrieNode<T> = { key: piece.key, source: piece.source, wildcard: piece.wildcard, items: [] };
        node.items.push(child);
        node = child;
      }
    }
    node.items.push(entry);
  }
  const leaves: Array<Leaf<T> | undefined> = [];
  let group = 0;
  const stack: number[] = [];
  const emitItems = (items: Array<TrieNode<T> | Entry<T>>): string => {
    const parts = items.map(emit);
    return parts.length === 1 ? parts[0] : `(?:${parts.join("|")})`;
  };
  const emit = (item: TrieNode<T> | Entry<T>): string => {
    if (!("key" in item)) {
      const marker = ++group;
      const convert = item.params.map((p) => p.toValue);
      leaves[marker] = {
        entry: item,
        order: orders.get(item)!,
        names: item.params.map((p) => p.name),
        groups: item.params.map((p) => stack[p.position]),
        convert,
        plain: convert.every((c) => c === undefined),
      };
      return "$()";
    }
    if (!item.wildcard) return item.source + emitItems(item.items);
    stack.push(++group);
    const out = `(${item.source})` + emitItems(item.items);
    stack.pop();
    return out;
  };
  return { regex: new RegExp("^" + emitItems(root.items)), leaves };
}
