/**
 * Bottle's deployment guide spreads instances over physical servers. Here they are
 * network namespaces on one bridge (tests/_netns.ts): a Carafe instance bound to
 * 0.0.0.0:8080 (the guide's `host='0.0.0.0'`) on each of two "hosts", nginx or HAProxy
 * on a third with the recipes examples/deploy/nginx-hosts.conf and haproxy-hosts.cfg
 * (only addresses substituted), and the client on a fourth. For each balancer:
 *
 * - `req.remoteAddr` is the client's address on the host whose instance trusts the
 *   balancer's address (examples/deploy/hosts-instance.json), also when the client sends
 *   its own X-Forwarded-For, and the balancer's address on the host that trusts nobody;
 * - one host's link goes down during 2,000 GETs (16 at once, from the client's
 *   namespace): a host failure, not a process exit. The balancer fails over, the run
 *   completes without a failed request (the recipes send a GET that timed out on that
 *   host to the other one), and the figures are printed; with the link up again the host is back in rotation.
 *
 * Namespaces need root: without, the suite skips with the reason (fails under CI=true).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { collect, here, peer, runtime, stop, tempDir } from "./_helpers.ts";
import {
  type Instance,
  readDeploy,
  guideBlocks,
  type Shot,
  sleep,
  startInstance,
  stopAll,
  substitute,
  waitUntil,
} from "./_deploy_helpers.ts";
import { ip, makeSwitch, netnsSkip, spawnIn, spawnScriptIn, type Switch, sweepNetns } from "./_netns.ts";

const PREFIX = "carafe-hosts-";
/** The recipes' addresses and the test's: balancer, host 1, host 2. */
const ADDRESSES: [string, string][] = [["192.0.2.10", "198.18.0.10"], ["192.0.2.11", "198.18.0.11"], ["192.0.2.12", "198.18.0.12"]];
const TOTAL = 2000, CONCURRENCY = 16;

/** How a balancer recipe is started in the balancer's namespace. */
interface Balancer {
  name: string;
  file: string;
  binary: string;
  /** Writes its configuration into `dir` and starts it in namespace `ns`. */
  start(bin: string, dir: string, ns: string): ChildProcess;
  /** How long the recipe lets a host that is back stay out of rotation, plus slack for a loaded machine. */
  rotationMs: number;
}

/** The recipe with the test's addresses in place of the documentation ones. */
function recipe(file: string, pairs: [string, string][]): string {
  return substitute(file, readDeploy(file), pairs);
}

const balancers: Balancer[] = [
  {
    name: "nginx",
    file: "nginx-hosts.conf",
    binary: "nginx",
    start(bin, dir, ns) {
      // nginx.conf (the unprivileged wrapper of the one-machine recipe) includes carafe.conf.
      writeFileSync(join(dir, "carafe.conf"), recipe(this.file, ADDRESSES.slice(1).map(([a, b]) => [`${a}:8080`, `${b}:8080`])));
      writeFileSync(join(dir, "nginx.conf"), readDeploy("nginx.conf"));
      mkdirSync(join(dir, "tmp"), { recursive: true });
      return spawnIn(ns, bin, ["-p", dir, "-c", "nginx.conf", "-g", "daemon off;"]);
    },
    rotationMs: 5_000 + 10_000, // fail_timeout=5s
  },
  {
    name: "HAProxy",
    file: "haproxy-hosts.cfg",
    binary: "haproxy",
    start(bin, dir, ns) {
      writeFileSync(join(dir, "haproxy.cfg"), recipe(this.file, ADDRESSES.slice(1).map(([a, b]) => [`${a}:8080`, `${b}:8080`])));
      return spawnIn(ns, bin, ["-db", "-f", join(dir, "haproxy.cfg")]);
    },
    rotationMs: 2_000 + 10_000, // inter 1s rise 2
  },
];

/** One GET with curl from namespace `ns` (`headers` as `Name: value`); status 0 when it failed. */
async function curlIn(ns: string, url: string, headers: string[] = []): Promise<{ status: number; body: string }> {
  const child = spawnIn(ns, "curl", ["-s", "-m", "5", "-w", "\n%{http_code}", ...headers.flatMap((h) => ["-H", h]), url]);
  const out = await collect(child);
  const at = out.stdout.lastIndexOf("\n");
  return { status: Number(out.stdout.slice(at + 1)) || 0, body: out.stdout.slice(0, at) };
}

/** What `/whoami` said through the balancer, by instance pid, once both hosts answered. */
async function bothHosts(url: string, net: Switch, o: { pids: number[]; headers?: string[]; log: () => string }) {
  const seen = new Map<number, { pid: number; remote: string }>();
  await waitUntil(async () => {
    const hit = await curlIn(net.hosts.cl.ns, url, o.headers);
    if (hit.status === 200) {
      const who = JSON.parse(hit.body);
      seen.set(who.pid, who);
    }
    return o.pids.every((pid) => seen.has(pid));
  }, 20_000, `both hosts answering through the balancer (log: ${o.log()})`);
  return seen;
}

/** Runs the client's load in its namespace; `onQuarter` is called once a quarter of it is done. */
async function clientLoad(net: Switch, url: string, onQuarter: () => void): Promise<Shot[]> {
  const loader = spawnScriptIn(net.hosts.cl.ns, here("tests/_hosts_load.ts"), [url, String(TOTAL), String(CONCURRENCY)]);
  let pending = "", shots: Shot[] | undefined, quartered = false;
  loader.stdout!.setEncoding("utf8");
  loader.stdout!.on("data", (d: string) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const msg = JSON.parse(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (msg.progress && !quartered) {
        quartered = true;
        onQuarter();
      }
      if (msg.shots) shots = msg.shots;
    }
  });
  let stderr = "";
  loader.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => loader.once("close", resolve));
  assert.ok(shots, `the client's load generator reported its requests (exit ${code}): ${stderr}`);
  return shots;
}

const skip = netnsSkip(PREFIX);

describe(`deploy: instances on two hosts behind a balancer on a third (${runtime})`, { concurrency: false, skip }, () => {
  let net: Switch | undefined;
  let dir: { path: string; remove(): void } | undefined;
  const instances: Instance[] = [];
  let log = "";
  const append = (t: string) => void (log = (log + t).slice(-20_000));

  before(async () => {
    sweepNetns(PREFIX);
    net = makeSwitch(PREFIX, { lb: 10, h1: 11, h2: 12, cl: 100 });
    dir = tempDir("carafe-hosts-");
    const trust = join(dir.path, "hosts-instance.json");
    writeFileSync(trust, recipe("hosts-instance.json", ADDRESSES.slice(0, 1)));
    // Host 1 trusts the balancer (the recipe); host 2 trusts nobody.
    for (const [host, extra] of [["h1", ["-c", trust]], ["h2", []]] as const) {
      const prefix = ["ip", "netns", "exec", net.hosts[host].ns];
      instances.push(await startInstance({ port: 8080, host: "0.0.0.0", extra: [...extra], prefix, log: append }));
    }
  });

  after(async () => {
    await stopAll(instances.map((i) => i.child));
    net?.remove();
    dir?.remove();
  });

  for (const b of balancers) {
    const found = peer(b.binary);
    const curl = peer("curl");
    test(`examples/deploy/${b.file}: the client's address behind it, and a host's link down mid-load`, { skip: found.skip ?? curl.skip }, async () => {
      const s = net!, [h1, h2] = instances;
      const web = b.start(found.path!, dir!.path, s.hosts.lb.ns);
      web.stdout?.on("data", (d) => append(String(d)));
      web.stderr?.on("data", (d) => append(String(d)));
      const url = `http://${s.hosts.lb.addr}/whoami`;
      try {
        // The client claims another address: only the balancer's X-Forwarded-For entry counts.
        const who = await bothHosts(url, s, { pids: [h1.pid, h2.pid], headers: ["X-Forwarded-For: 203.0.113.7"], log: () => log });
        assert.equal(who.get(h1.pid)!.remote, s.hosts.cl.addr, "trust_proxy names the balancer: req.remoteAddr is the client's");
        assert.equal(who.get(h2.pid)!.remote, s.hosts.lb.addr, "no trust_proxy: req.remoteAddr is the balancer's");

        let downAt = 0;
        const shots = await clientLoad(s, url, () => {
          ip("-n", s.hosts.h1.ns, "link", "set", "eth0", "down");
          downAt = Date.now(); // from now on, nothing can reach host 1
        });
        checkFailover(b.name, shots, { downAt, pids: [h1.pid, h2.pid], log: () => log });

        ip("-n", s.hosts.h1.ns, "link", "set", "eth0", "up");
        const upAt = Date.now();
        await waitUntil(async () => {
          const hit = await curlIn(s.hosts.cl.ns, url);
          return hit.status === 200 && JSON.parse(hit.body).pid === h1.pid;
        }, b.rotationMs, `host 1 back in rotation through ${b.name} within ${b.rotationMs} ms`);
        console.log(`${b.name}: host 1, its link up again, was back in rotation after ${Date.now() - upAt} ms`);
      } finally {
        spawnInSync(s.hosts.h1.ns, ["link", "set", "eth0", "up"]);
        await stop(web);
        await sleep(100); // the port is free again for the next balancer
      }
    });
  }

  test("the deployment guide shows the several-hosts recipes exactly as the tests start them", () => {
    const blocks = guideBlocks();
    for (const file of [...balancers.map((b) => b.file), "hosts-instance.json"]) {
      assert.ok(blocks.some((block) => block.text === readDeploy(file)), `docs/deployment.md: a block must be examples/deploy/${file}`);
    }
  });
});

/** `ip -n NS ARGS…`, whatever the outcome (for cleanup). */
function spawnInSync(ns: string, args: string[]): void {
  try {
    ip("-n", ns, ...args);
  } catch { /* the namespace is gone already */ }
}

/**
 * What the recipes promise when a host drops off the network: both hosts served before;
 * the whole load ran and no request failed (the balancers send a GET that timed out on
 * the lost host to the other one); nothing came from the unreachable host afterwards. Prints the figures: failures, and the slowest request, which is how long
 * the balancer took to fail over (its timeouts).
 */
function checkFailover(name: string, shots: Shot[], o: { downAt: number; pids: number[]; log: () => string }): void {
  const [gone, survivor] = o.pids;
  assert.ok(o.downAt, "the link went down during the load");
  const failed = shots.filter((s) => s.error);
  const inFlight = shots.filter((s) => s.start <= o.downAt && s.end >= o.downAt).length;
  const around = shots.filter((s) => s.end >= o.downAt);
  const slowest = Math.max(...around.map((s) => s.end - s.start));
  const waited = around.filter((s) => s.end - s.start >= 1000).length;
  console.log(
    `${name}: host 1's link down during ${shots.length} GETs (${CONCURRENCY} at once): ${failed.length} failed ` +
      `(${inFlight} were in flight); fail-over: the slowest request took ${slowest} ms, ${waited} took 1 s or more`,
  );
  const detail = () => `${JSON.stringify(failed.slice(0, 3))}\n${o.log().slice(-3000)}`;
  assert.equal(shots.length, TOTAL, `the load completed: ${detail()}`);
  const before = new Set(shots.filter((s) => s.end < o.downAt && s.pid).map((s) => s.pid));
  assert.deepEqual([...before].sort(), [...o.pids].sort(), "both hosts served before the link went down");
  // Both recipes send a GET that timed out on the lost host to the other one, so even
  // the requests that host had in flight are answered.
  assert.deepEqual(failed, [], `no request failed, not even the ${inFlight} in flight on the lost host: ${detail()}`);
  const after = shots.filter((s) => s.start > o.downAt && s.pid);
  assert.ok(after.length > 0, "the load went on after the link went down");
  assert.deepEqual(new Set(after.map((s) => s.pid)), new Set([survivor]), `only host 2 answers once host 1 (${gone}) is off the network`);
}
