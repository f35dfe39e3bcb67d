/**
 * adapters/fastcgi/body.ts as a unit: the order of chunks, what the connection is told
 * about queued bytes (its flow control counts them), how a body ends or fails, and that a
 * released or cancelled body is never counted twice. The socket-level behaviour (flow
 * control under real traffic) is in fastcgi_test and fastcgi_limits_test.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RequestBody } from "../adapters/fastcgi/body.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** A body whose owner keeps the count the connection would keep, and a log of its calls. */
function counted() {
  const calls: string[] = [];
  const state = { bytes: 0 };
  const body = new RequestBody({
    queued: (delta) => {
      state.bytes += delta;
      calls.push(`queued ${delta}`);
    },
    pulled: () => calls.push("pulled"),
    flow: () => calls.push("flow"),
  });
  return { body, calls, state };
}

describe("fastcgi RequestBody", () => {
  test("chunks queued before the app reads arrive in order; each is counted, then uncounted as it is pulled", async () => {
    const { body, calls, state } = counted();
    body.push(bytes("ab"));
    body.push(bytes("cde"));
    assert.equal(state.bytes, 5);
    body.finish(true);
    assert.equal(await new Response(body.stream()).text(), "abcde");
    assert.equal(state.bytes, 0);
    assert.deepEqual(calls, ["queued 2", "queued 3", "queued -2", "pulled", "queued -3", "pulled"]);
  });

  test("a read already waiting gets the chunk at once: nothing is queued or counted", async () => {
    const { body, calls } = counted();
    const reader = body.stream().getReader();
    const pending = reader.read();
    await Promise.resolve();
    body.push(bytes("x"));
    assert.deepEqual(await pending, { done: false, value: bytes("x") });
    body.finish(true);
    assert.equal((await reader.read()).done, true);
    assert.deepEqual(calls, []);
    assert.equal(body.reading, false);
  });

  test("a failed body: the reader gets the error, never a short body; queued bytes are dropped", async () => {
    const { body, state, calls } = counted();
    body.push(bytes("partial"));
    const stream = body.stream();
    body.fail(new Error("request body truncated: 7 of 10 bytes"));
    assert.equal(state.bytes, 0);
    assert.ok(calls.includes("flow"));
    await assert.rejects(new Response(stream).text(), /truncated: 7 of 10/);
    body.finish(true); // too late: the first end stands
    assert.match(String(body.end), /truncated/);
  });

  test("released (the request is over): still readable, uncounted once, never twice", async () => {
    const { body, state } = counted();
    body.push(bytes("late"));
    body.finish(true);
    body.release();
    assert.equal(state.bytes, 0);
    assert.equal(await new Response(body.stream()).text(), "late");
    assert.equal(state.bytes, 0, "pulling a released chunk must not uncount it again");
  });

  test("cancelled by the app: the rest is dropped and uncounted", async () => {
    const { body, state } = counted();
    body.push(bytes("one"));
    body.push(bytes("two"));
    const reader = body.stream().getReader();
    assert.deepEqual(await reader.read(), { done: false, value: bytes("one") });
    await reader.cancel();
    assert.equal(state.bytes, 0);
    assert.equal(body.reading, false);
    body.push(bytes("ignored?")); // a record after the cancel is queued for nobody but still counted…
    body.drop(); // …until the connection drops it, as it does for a request the app stopped reading
    assert.equal(state.bytes, 0);
  });
});
