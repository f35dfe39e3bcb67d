/**
 * Serves an app in the test process on the runtime's own server (`run()` with the
 * `auto` adapter: `Deno.serve`, `Bun.serve` or the node adapter), for suites whose
 * subject is what a real socket carries (compression, CORS, folders of files).
 *
 * @module
 */
import { run } from "../adapters/mod.ts";
import type { FetchApp } from "../adapters/adapter.ts";

/** A running in-process server. */
export interface Serving {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts `app` on 127.0.0.1, a free port, without banner, access log or signal handlers. */
export async function serveInProcess(app: FetchApp): Promise<Serving> {
  const server = await run({ app, host: "127.0.0.1", port: 0, quiet: true, handleSignals: false });
  return { url: server.url, port: Number(new URL(server.url).port), close: () => server.close() };
}
