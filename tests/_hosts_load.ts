/**
 * The client "host" of tests/deploy_hosts_test.ts: run inside the client's network
 * namespace, it sends a bounded load of GETs (a new connection each) and reports on
 * stdout, one JSON object a line:
 *
 * - `{"progress": N}` when N requests are done, at each quarter of the load (the test
 *   takes a host's link down on the first one);
 * - `{"shots": [...]}` at the end: every request, as {@linkcode Shot}s.
 *
 * ```sh
 * ip netns exec NS deno run -A tests/_hosts_load.ts http://198.18.0.10/whoami 2000 16
 * ```
 *
 * @module
 */
import process from "node:process";
import { shoot } from "./_deploy_helpers.ts";

const [url, total, concurrency] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
if (!url || !(total > 0) || !(concurrency > 0)) {
  console.error("usage: _hosts_load.ts URL TOTAL CONCURRENCY");
  process.exit(2);
}
const quarter = Math.ceil(total / 4);
const shots = await shoot(url, {
  total,
  concurrency,
  maxMs: 60_000,
  at: (done) => {
    if (done % quarter === 0) console.log(JSON.stringify({ progress: done }));
  },
});
process.stdout.write(JSON.stringify({ shots }) + "\n", () => process.exit(0));
