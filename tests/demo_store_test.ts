/**
 * The demo's data folder (examples/demo/store.ts) shared by several processes: the
 * demo under `carafe --workers 2` takes concurrent writes through both workers and
 * every item is there, in a log whose every line parses; two stores on one folder see
 * each other's events, a line still being written is not read half, and a restart
 * reads everything back.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runtime, tempDir } from "./_helpers.ts";
import { freePort } from "./_gateway_peers.ts";
import { startDemo } from "./_demo_helpers.ts";
import { Store } from "../examples/demo/store.ts";

describe(`demo store (${runtime})`, () => {
  test("two stores on one folder see each other's events; a half-written line waits for its end", async () => {
    const tmp = tempDir("carafe-store-");
    try {
      const [a, b] = [new Store(tmp.path), new Store(tmp.path)];
      await a.add({ type: "todo", id: "aaaaaaaaaaaa", text: "from a", by: "ann" });
      await b.add({ type: "todo", id: "bbbbbbbbbbbb", text: "from b", by: "bob" });
      assert.deepEqual((await a.state()).todos.map((t) => t.text), ["from a", "from b"]);
      // Another process has written part of its line: not an event yet.
      const line = JSON.stringify({ type: "done", id: "aaaaaaaaaaaa", by: "ann", at: new Date().toISOString() });
      appendFileSync(join(tmp.path, "events.jsonl"), line.slice(0, 20));
      assert.equal((await b.state()).todos[0].done, false);
      appendFileSync(join(tmp.path, "events.jsonl"), line.slice(20) + "\n");
      const state = await b.state();
      assert.equal(state.todos[0].done, true);
      assert.equal(state.lastSeq, 3);
      // A process started later reads all of it back, with the same sequence numbers.
      assert.deepEqual((await new Store(tmp.path).state()).activity.map((e) => e.seq), [1, 2, 3]);
      assert.equal(await a.secret(), await b.secret(), "one secret for every process on the folder");
    } finally {
      tmp.remove();
    }
  });

  test("under carafe --workers 2, concurrent API writes through both workers all land, and the log stays whole", async () => {
    const tmp = tempDir("carafe-store-");
    const port = await freePort();
    const demo = await startDemo({ data: tmp.path, port, cli: ["--workers", "2"] });
    try {
      const base = `http://127.0.0.1:${port}/`;
      const login = await fetch(`${base}login`, {
        method: "POST",
        body: new URLSearchParams({ name: "bulk", password: "carafe" }),
        redirect: "manual",
      });
      assert.equal(login.status, 303);
      const cookie = login.headers.get("set-cookie")!.split(";")[0];
      const count = 120;
      // New connections each: the cluster spreads them over both workers.
      const answers = await Promise.all(Array.from({ length: count }, (_, i) =>
        fetch(`${base}api/todos`, {
          method: "POST",
          headers: { cookie, "content-type": "application/json", connection: "close" },
          body: JSON.stringify({ text: `item ${i} ${"x".repeat((i % 5) * 35)}` }),
        }).then(async (r) => ({ status: r.status, body: await r.json() }))
      ));
      assert.deepEqual(answers.filter((a) => a.status !== 201), []);
      for (let round = 0; round < 4; round++) {
        const { todos } = await (await fetch(`${base}api/todos`, { headers: { connection: "close" } })).json();
        assert.equal(todos.length, count);
        assert.deepEqual(new Set(todos.map((t: { text: string }) => t.text.split(" ").slice(0, 2).join(" "))).size, count);
      }
      const lines = readFileSync(join(tmp.path, "events.jsonl"), "utf8").split("\n");
      assert.equal(lines.pop(), "", "the log ends with a whole line");
      assert.equal(lines.length, count + 1); // the login, then the items
      for (const line of lines) JSON.parse(line);
    } finally {
      await demo.stop();
      tmp.remove();
    }
  });
});
