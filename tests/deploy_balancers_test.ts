/**
 * The load balancers of Bottle's deployment guide, each in front of two single-process
 * Carafe instances (the guide's localhost:8080 and 8081, free ports here), started with
 * the recipe files of examples/deploy/ (only ports substituted): Pound, Apache
 * mod_proxy_balancer, lighttpd mod_proxy and HAProxy. For each: both instances get
 * requests; SIGTERM of one instance during 2,000 GETs (16 at once) costs no request
 * (after the step that takes it out of rotation first, where the recipe has one);
 * SIGKILL costs at most the requests in flight at that moment and none after it; the
 * instance, started again, is back in rotation within the time the recipe documents.
 * The figures are printed (console.log) and summarised in docs/deployment.md.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { runtime, tempDir } from "./_helpers.ts";
import {
  backInRotation,
  checkDrill,
  drill,
  freePort,
  get,
  type Instance,
  peer,
  pound,
  readDeploy,
  guideBlocks,
  startInstance,
  stopAll,
  substitute,
  waitUntil,
} from "./_deploy_helpers.ts";

/** The balancer's port and the two instances' ports. */
interface Ports {
  front: number;
  a: number;
  b: number;
}

/** How a balancer recipe is started: its file, the peer binary, and its command for the given ports. */
interface Balancer {
  name: string;
  file: string;
  lang: string;
  binary: () => { path?: string; skip?: string };
  /** Writes the configuration into `dir` and returns the command line that runs the balancer in the foreground. */
  command(bin: string, dir: string, ports: Ports): string[];
  /** How long the recipe says a restarted instance may stay out of rotation, plus slack for a loaded machine. */
  rotationMs: number;
  /**
   * What the recipe says to do before stopping instance `a` gracefully, and after
   * starting it again: take it out of rotation, so that it has no connection queued when
   * it closes its listening socket (Pound, Apache and lighttpd never send again a request
   * that an instance reset).
   */
  drain?: { before(dir: string, ports: Ports): void; after(dir: string, ports: Ports): void };
}

const mods = "/usr/lib/apache2/modules";

/** The recipe's `poundctl -s /run/pound.sock disable|enable /web/carafe/0` (backend 0 is instance `a`). */
function poundctl(dir: string, verb: "disable" | "enable"): void {
  const ctl = join(dirname(pound().path!), "poundctl");
  const r = spawnSync(ctl, ["-j", "-s", join(dir, "pound.sock"), verb, "/web/carafe/0"], { encoding: "utf8" });
  assert.equal(r.status, 0, `poundctl ${verb}: ${r.stdout}${r.stderr}`);
}

/**
 * The Apache recipe's balancer-manager step: read the nonce from the page, then disable
 * (or enable) the member on port `a`, as the recipe's curl lines do.
 */
function apacheMember(ports: Ports, disabled: boolean): void {
  const manager = `http://127.0.0.1:${ports.front}/balancer-manager`;
  const page = spawnSync("curl", ["-s", "-m", "5", manager], { encoding: "utf8" }).stdout;
  const nonce = page.match(/nonce=[0-9a-f-]+/)?.[0];
  assert.ok(nonce, `the balancer-manager page shows its nonce: ${page.slice(0, 500)}`);
  const form = `b=carafe&w=http://127.0.0.1:${ports.a}&w_status_D=${disabled ? 1 : 0}&${nonce}`;
  const r = spawnSync("curl", ["-s", "-m", "5", "-e", manager, "-d", form, manager], { encoding: "utf8" });
  // The page it answers with shows the member's new status ("Init Dis Ok" or "Init Ok").
  const row = r.stdout.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").match(new RegExp(`http://127\\.0\\.0\\.1:${ports.a} [^h]*`))?.[0];
  assert.equal(/\bDis\b/.test(row ?? ""), disabled, `balancer-manager ${disabled ? "disable" : "enable"}: the member now reads ${row}`);
}

/**
 * The lighttpd recipe's step: comment the member on port `a` out of (or back into) the
 * configuration and reload lighttpd gracefully (SIGUSR1, what `systemctl reload` sends).
 */
function lighttpdMember(dir: string, ports: Ports, disabled: boolean): void {
  const path = join(dir, "lighttpd.conf");
  const line = `    ( "host" => "127.0.0.1", "port" => ${ports.a} ),`;
  const [from, to] = disabled ? [line, `#${line}`] : [`#${line}`, line];
  const conf = readFileSync(path, "utf8");
  assert.ok(conf.includes(from), `lighttpd.conf has the line ${from}`);
  writeFileSync(path, conf.replace(from, to));
  process.kill(Number(readFileSync(join(dir, "lighttpd.pid"), "utf8")), "SIGUSR1"); // the lighttpd we started
}

const balancers: Balancer[] = [
  {
    name: "Pound",
    file: "pound.cfg",
    lang: "text",
    binary: pound,
    command(bin, dir, p) {
      const conf = substitute(this.file, readDeploy(this.file), [
        ['Control "/run/pound.sock"', `Control "${dir}/pound.sock"`],
        ["Address 0.0.0.0\n    Port    80\n", `Address 127.0.0.1\n    Port    ${p.front}\n`],
        ["Port    8080", `Port    ${p.a}`],
        ["Port    8081", `Port    ${p.b}`],
      ]);
      writeFileSync(join(dir, "pound.cfg"), conf);
      return [bin, "-e", "-f", join(dir, "pound.cfg"), "-p", join(dir, "pound.pid")];
    },
    rotationMs: 1_000 + 9_000, // Alive 1
    drain: {
      before: (dir) => poundctl(dir, "disable"),
      after: (dir) => poundctl(dir, "enable"),
    },
  },
  {
    name: "Apache mod_proxy_balancer",
    file: "apache-balancer.conf",
    lang: "apache",
    binary: () => peer("apache2"),
    command(bin, dir, p) {
      const recipe = substitute(this.file, readDeploy(this.file), [
        ['"http://127.0.0.1:8080"', `"http://127.0.0.1:${p.a}"`],
        ['"http://127.0.0.1:8081"', `"http://127.0.0.1:${p.b}"`],
      ]);
      mkdirSync(join(dir, "run"));
      const load = (name: string) => existsSync(`${mods}/mod_${name}.so`) ? `LoadModule ${name}_module ${mods}/mod_${name}.so` : "";
      writeFileSync(
        join(dir, "httpd.conf"),
        [
          `ServerRoot "${dir}"`,
          "ServerName localhost",
          `Listen 127.0.0.1:${p.front}`,
          `PidFile ${dir}/run/httpd.pid`,
          `DefaultRuntimeDir ${dir}/run`,
          `ErrorLog ${dir}/error.log`,
          "LogLevel warn",
          ...["mpm_event", "authz_core", "authz_host", "unixd", "slotmem_shm", "proxy", "proxy_http", "proxy_balancer", "lbmethod_byrequests"]
            .map(load),
          "User nobody",
          "Group nogroup",
          // The event MPM's default of 25 threads per child would queue 16 concurrent clients badly on 2 cores.
          recipe,
        ].join("\n"),
      );
      chmodSync(dir, 0o755);
      return [bin, "-d", dir, "-f", join(dir, "httpd.conf"), "-DFOREGROUND"];
    },
    rotationMs: 2_000 + 8_000, // retry=2
    drain: {
      before: (_dir, ports) => apacheMember(ports, true),
      after: (_dir, ports) => apacheMember(ports, false),
    },
  },
  {
    name: "lighttpd mod_proxy",
    file: "lighttpd-balancer.conf",
    lang: "lighttpd",
    binary: () => peer("lighttpd"),
    command(bin, dir, p) {
      const recipe = substitute(this.file, readDeploy(this.file), [
        ['"port" => 8080', `"port" => ${p.a}`],
        ['"port" => 8081', `"port" => ${p.b}`],
      ]);
      writeFileSync(
        join(dir, "lighttpd.conf"),
        [
          `server.document-root = "${dir}"`,
          `server.port = ${p.front}`,
          'server.bind = "127.0.0.1"',
          `server.errorlog = "${dir}/error.log"`,
          `server.pid-file = "${dir}/lighttpd.pid"`,
          recipe,
        ].join("\n"),
      );
      return [bin, "-D", "-f", join(dir, "lighttpd.conf")];
    },
    rotationMs: 1_000 + 9_000, // lighttpd's disable-time, 1 s by default
    drain: {
      before: (dir, ports) => lighttpdMember(dir, ports, true),
      after: (dir, ports) => lighttpdMember(dir, ports, false),
    },
  },
  {
    name: "HAProxy",
    file: "haproxy.cfg",
    lang: "haproxy",
    binary: () => peer("haproxy"),
    command(bin, dir, p) {
      const conf = substitute(this.file, readDeploy(this.file), [
        ["bind 0.0.0.0:80", `bind 127.0.0.1:${p.front}`],
        ["127.0.0.1:8080", `127.0.0.1:${p.a}`],
        ["127.0.0.1:8081", `127.0.0.1:${p.b}`],
      ]);
      writeFileSync(join(dir, "haproxy.cfg"), conf);
      return [bin, "-db", "-f", join(dir, "haproxy.cfg")];
    },
    rotationMs: 1_000 + 9_000, // inter 1s rise 1
  },
];

/** A balancer in front of two instances, both seen answering through it. */
interface Stack {
  url: string;
  ports: { front: number; a: number; b: number };
  instances: Instance[];
  peer: ChildProcess;
  log: () => string;
}

async function startStack(b: Balancer, bin: string, dir: string): Promise<Stack> {
  const ports = { front: await freePort(), a: await freePort(), b: await freePort() };
  let log = "";
  // Everything but the instances' access log lines: the balancer's complaints and errors.
  const append = (t: string) => void (log = (log + t.replace(/^.*(" \d{3} (\d+|-)|HTTP\/1\.1 200 OK)\n/gm, "")).slice(-20_000));
  const instances = await Promise.all([ports.a, ports.b].map((port) => startInstance({ port, log: append })));
  const [cmd, ...args] = b.command(bin, dir, ports);
  const web = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  web.stdout?.on("data", (d) => append(String(d)));
  web.stderr?.on("data", (d) => append(String(d)));
  const url = `http://127.0.0.1:${ports.front}/whoami`;
  const stack: Stack = { url, ports, instances, peer: web, log: () => log };
  const seen = new Set<number>();
  try {
    await waitUntil(async () => {
      if (web.exitCode !== null) assert.fail(`${b.name} exited (${web.exitCode}): ${log}`);
      const hit = await get(url, 5_000).catch(() => undefined);
      if (hit?.status === 200) seen.add(JSON.parse(hit.body).pid);
      return seen.size === 2;
    }, 20_000, `both instances answering through ${b.name} (log: ${log})`);
  } catch (e) {
    await stopAll([web, ...instances.map((i) => i.child)]);
    throw e;
  }
  return stack;
}

for (const b of balancers) {
  describe(`deploy: two instances behind ${b.name} (${runtime})`, { concurrency: false }, () => {
    const found = b.binary();
    test(`examples/deploy/${b.file}: SIGTERM costs nothing, SIGKILL at most the requests in flight, a restart is back in rotation`, { skip: found.skip }, async () => {
      const dir = tempDir("carafe-balancer-");
      let stack: Stack | undefined;
      const children = () => [stack?.peer, ...(stack?.instances.map((i) => i.child) ?? [])];
      try {
        stack = await startStack(b, found.path!, dir.path);
        const s = stack;
        const restart = () => startInstance({ port: s.ports.a });
        for (const signal of ["SIGTERM", "SIGKILL"] as const) {
          const [victim, survivor] = s.instances;
          const drain = signal === "SIGTERM" && b.drain ? () => b.drain!.before(dir.path, s.ports) : undefined;
          const result = await drill(s.url, victim, signal, { drain });
          checkDrill({ name: b.name, signal, pids: [victim.pid, survivor.pid], log: s.log }, result);
          if (signal === "SIGTERM") assert.deepEqual([(await victim.exited).code], [0], "a graceful stop exits 0");
          const back = await backInRotation(s.url, async () => {
            const instance = await restart();
            if (signal === "SIGTERM") b.drain?.after(dir.path, s.ports);
            return instance;
          }, b.rotationMs);
          s.instances[0] = back.instance;
          console.log(`${b.name}: the instance started again after its ${signal} was back in rotation after ${back.ms} ms`);
        }
      } finally {
        await stopAll(children());
        dir.remove();
      }
    });
  });
}

test("the deployment guide shows each balancer recipe exactly as the tests start it", () => {
  const blocks = guideBlocks();
  for (const b of balancers) {
    assert.ok(blocks.some((block) => block.text === readDeploy(b.file)), `docs/deployment.md: a block must be examples/deploy/${b.file}`);
  }
});
