import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { args, cpuCount, env, envAll, mainScript, onSignal, pid, platform, runtime, stdinMaybeSocket } from "../shims/runtime.ts";

test("runtime: detects the runtime actually running the tests", () => {
  const g = globalThis as Record<string, unknown>;
  const expected = g.Bun ? "bun" : g.Deno ? "deno" : "node";
  assert.equal(runtime, expected);
});

test("runtime: env reads variables the process was given", () => {
  assert.equal(env("PATH"), process.env.PATH);
  assert.equal(env("CARAFE_SURELY_UNSET_VARIABLE"), undefined);
  assert.equal(envAll().PATH, process.env.PATH);
});

test("runtime: pid, args and cpuCount describe this process", () => {
  assert.equal(pid(), process.pid);
  assert.ok(Array.isArray(args()));
  assert.ok(cpuCount() >= 1);
});

test("runtime: onSignal returns a remover", () => {
  const off = onSignal("SIGHUP", () => {});
  assert.equal(typeof off, "function");
  off();
});

test("runtime: mainScript, platform and stdinMaybeSocket describe this process", async () => {
  assert.equal(mainScript(), process.argv[1]);
  assert.equal(platform(), process.platform === "win32" ? "windows" : process.platform);
  // (Whether fd 0 is a socket depends on the test runner: node --test may hand its files a
  // socket. run_test's "auto picks cgi…, native otherwise" checks it in a fresh process.)
  assert.equal(typeof await stdinMaybeSocket(), "boolean");
});
