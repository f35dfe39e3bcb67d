import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Carafe } from "../mod.ts";
import { LazySearchParams } from "../core/query.ts";

const SAMPLES = [
  "",
  "?",
  "a=1",
  "?a=1&b=2&a=3",
  "name=caf%C3%A9&q=a+b%2Bc",
  "x&y=&=z&&&",
  "%61=encoded-name&a=plain",
  "bad=%zz&ok=1",
  "utf=%E7%93%B6&broken=%E7%93",
  "k=%2526&k2=%&k3=%2",
  "sp%20ace=1&sp+ace=2",
  "a==b&a=c=d",
  "emoji=%F0%9F%98%80&plus=+",
];
const NAMES = ["a", "b", "name", "q", "x", "y", "", "z", "bad", "ok", "utf", "broken", "k", "k2", "k3", "sp ace", "emoji", "plus", "missing", "%61"];

/** A query string of random pieces that parsers are known to disagree on. */
function randomQuery(seed: number): string {
  const pieces = ["a", "b", "=", "&", "+", "%", "%2", "%41", "%C3%A9", "%E7%93", "%zz", "é", "瓶", " ", "%26", "%3D"];
  let s = "";
  let x = seed;
  for (let i = 0; i < 12; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += pieces[x % pieces.length];
  }
  return new URL(`http://h/?${s}`).search; // as a request URL carries it
}

describe("req.query (LazySearchParams)", () => {
  test("get() before any parse answers exactly as URLSearchParams, valid or broken escapes alike", () => {
    const queries = [...SAMPLES, ...Array.from({ length: 400 }, (_, i) => randomQuery(i + 1))];
    for (const query of queries) {
      const expected = new URLSearchParams(query);
      for (const name of [...NAMES, ...expected.keys()]) {
        assert.equal(new LazySearchParams(query).get(name), expected.get(name), `${JSON.stringify(query)} get(${JSON.stringify(name)})`);
      }
    }
  });

  test("every other use parses in full and matches URLSearchParams; it is one", () => {
    for (const query of SAMPLES) {
      const lazy = new LazySearchParams(query);
      const expected = new URLSearchParams(query);
      assert.ok(lazy instanceof URLSearchParams);
      assert.deepEqual([...lazy], [...expected], query);
      assert.deepEqual([...new LazySearchParams(query).entries()], [...expected.entries()]);
      assert.deepEqual([...new LazySearchParams(query).keys()], [...expected.keys()]);
      assert.deepEqual([...new LazySearchParams(query).values()], [...expected.values()]);
      assert.equal(new LazySearchParams(query).toString(), expected.toString());
      assert.equal(String(new LazySearchParams(query)), String(expected));
      assert.equal(new LazySearchParams(query).size, expected.size);
      assert.deepEqual(new LazySearchParams(query).getAll("a"), expected.getAll("a"));
      assert.equal(new LazySearchParams(query).has("a"), expected.has("a"));
      assert.deepEqual(Object.fromEntries(new LazySearchParams(query)), Object.fromEntries(expected));
      assert.deepEqual([...new URLSearchParams(new LazySearchParams(query))], [...expected]);
      const seen: string[] = [];
      new LazySearchParams(query).forEach((v, k) => seen.push(`${k}=${v}`));
      assert.deepEqual(seen, [...expected].map(([k, v]) => `${k}=${v}`));
    }
  });

  test("changes apply to the parsed pairs: append, set, delete (with a value too), sort", () => {
    const q = new LazySearchParams("?b=2&a=1&a=3");
    q.append("c", "4");
    assert.equal(q.toString(), "b=2&a=1&a=3&c=4");
    q.set("a", "x");
    assert.deepEqual(q.getAll("a"), ["x"]);
    q.delete("b");
    assert.equal(q.get("b"), null);
    const v = new LazySearchParams("k=1&k=2");
    v.delete("k", "1");
    assert.deepEqual(v.getAll("k"), ["2"]);
    assert.equal(v.has("k", "2"), true);
    assert.equal(v.has("k", "1"), false);
    const s = new LazySearchParams("z=1&a=2");
    s.sort();
    assert.equal(s.toString(), "a=2&z=1");
    // get() after a change sees the change, not the original string
    const g = new LazySearchParams("a=1");
    g.set("a", "2");
    assert.equal(g.get("a"), "2");
  });

  test("through the app: req.query.get, getAll and Object.fromEntries", async () => {
    const app = new Carafe();
    app.get("/q", (req) => ({ name: req.query.get("name"), tags: req.query.getAll("tag"), all: Object.fromEntries(req.query) }));
    const res = await app.fetch(new Request("http://localhost/q?name=caf%C3%A9&tag=a&tag=b"));
    assert.deepEqual(await res.json(), { name: "café", tags: ["a", "b"], all: { name: "café", tag: "b" } });
  });
});
