/**
 * Starting the demo (examples/demo/) for the suites that drive it: as `npm start` runs
 * it (examples/demo/main.ts, the `auto` server), or with the `carafe` command (e.g. as a
 * FastCGI server behind nginx, or with `--workers 2`), under the runtime running the
 * tests, on a data folder of the test's own.
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { here, spawnScript, stop, waitForOutput } from "./_helpers.ts";

/** A running demo process. */
export interface RunningDemo {
  child: ChildProcess;
  /** Everything it wrote to stderr so far (banner, errors). */
  log(): string;
  stop(): Promise<void>;
}

/** How to start the demo. */
export interface DemoStart {
  /** The data folder (DEMO_DATA). */
  data: string;
  port: number;
  /** `carafe` command-line options (`-s fastcgi`, `-w 2`…); without them, examples/demo/main.ts as `npm start` runs it. */
  cli?: string[];
}

/** Starts the demo and waits until it listens. */
export async function startDemo(o: DemoStart): Promise<RunningDemo> {
  const env = { DEMO_DATA: o.data, PORT: String(o.port), HOST: "127.0.0.1" };
  const child = o.cli
    ? spawnScript(here("cli.ts"), [...o.cli, "--bind", `127.0.0.1:${o.port}`, here("examples/demo/app.ts")], { env })
    : spawnScript(here("examples/demo/main.ts"), [], { env });
  let log = "";
  child.stderr?.on("data", (d) => (log += d));
  child.stdout?.resume(); // the access log: nobody reads it, it must not fill a pipe
  await waitForOutput(child, /Listening on /, 30_000);
  return { child, log: () => log, stop: () => stop(child) };
}
