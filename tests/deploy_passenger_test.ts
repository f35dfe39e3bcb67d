/**
 * The app inside Apache (Bottle's mod_wsgi section): Phusion Passenger hosts
 * examples/deploy/passenger/app.ts (an ES module that calls `run()` with top-level
 * await) through the recipe's startup file passenger.cjs and Apache configuration
 * apache-passenger.conf (only paths and the port substituted). Checked: requests are
 * served, under the sub-URI (`req.scriptName` "/app/"), a POST body, the client's
 * address, the banner, and a restart (`touch tmp/restart.txt`) during a load without a
 * failed request. Passenger runs the app on Node, so this runs under Node's test runner
 * and skips (saying so) under Deno and Bun.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { compiled, here, runtime, tempDir } from "./_helpers.ts";
import { request } from "./_native_helpers.ts";
import { deployDir, freePort, peer, readDeploy, guideBlocks, shoot, stopAll, substitute, waitUntil } from "./_deploy_helpers.ts";

const onNode = runtime === "node" && compiled;
const apache = onNode ? peer("apache2") : { skip: "Passenger runs the app on Node: this recipe is tested under Node's test runner" };
const passengerModule = "/usr/lib/apache2/modules/mod_passenger.so";
const skip = apache.skip ??
  (existsSync(passengerModule) ? undefined : missingPassenger());

function missingPassenger(): string {
  const reason = `${passengerModule} not installed (libapache2-mod-passenger; run scripts/install-peers.sh)`;
  if (process.env.CI === "true") throw new Error(`CI=true but ${reason}`);
  return reason;
}

/**
 * A copy of the npm build that Passenger's user (nobody) can read, laid out as in the
 * repository: the recipe's app root is examples/deploy/passenger/ inside it, with
 * app.js (the compiled app.ts), passenger.cjs, public/ and tmp/.
 */
function stageApp(dir: string): string {
  const build = dirname(here("mod.ts")); // npm/esm
  const stage = join(dir, "site");
  for (const part of ["mod.js", "app.js", "core", "adapters", "shims"]) cpSync(join(build, part), join(stage, part), { recursive: true });
  const root = join(stage, "examples", "deploy", "passenger");
  mkdirSync(join(root, "public"), { recursive: true });
  mkdirSync(join(root, "tmp"));
  cpSync(here("examples/deploy/passenger/app.ts"), join(root, "app.js"));
  cpSync(join(deployDir, "passenger", "passenger.cjs"), join(root, "passenger.cjs"));
  writeFileSync(join(stage, "package.json"), '{ "type": "module" }\n');
  for (let d = root; d !== dirname(dir); d = dirname(d)) chmodSync(d, 0o755);
  chmodSync(join(root, "tmp"), 0o777);
  return root;
}

/** httpd.conf around the recipe: the server-wide lines a distribution's apache2.conf has. */
function writeConf(dir: string, root: string, port: number): string {
  const mods = "/usr/lib/apache2/modules";
  const recipe = substitute("passenger/apache-passenger.conf", readDeploy("passenger/apache-passenger.conf"), [
    ["<VirtualHost *:80>", `<VirtualHost *:${port}>`],
    ["DocumentRoot /var/www/html", `DocumentRoot ${dir}/www`],
    ["Alias /app /srv/app/public", `Alias /app ${root}/public`],
    ["PassengerAppRoot /srv/app", `PassengerAppRoot ${root}\n        PassengerNodejs ${process.execPath}`],
    ["<Directory /srv/app/public>", `<Directory ${root}/public>`],
  ]);
  mkdirSync(join(dir, "run"));
  mkdirSync(join(dir, "www"));
  mkdirSync(join(dir, "registry"));
  const conf = [
    `ServerRoot "${dir}"`,
    "ServerName localhost",
    `Listen 127.0.0.1:${port}`,
    `PidFile ${dir}/run/httpd.pid`,
    `DefaultRuntimeDir ${dir}/run`,
    `ErrorLog ${dir}/error.log`,
    "LogLevel warn",
    ...["mpm_event", "authz_core", "alias"].map((m) => `LoadModule ${m}_module ${mods}/mod_${m}.so`),
    `LoadModule passenger_module ${passengerModule}`,
    // Debian's mods-available/passenger.conf:
    "PassengerRoot /usr/lib/ruby/vendor_ruby/phusion_passenger/locations.ini",
    "PassengerDefaultRuby /usr/bin/ruby",
    `PassengerInstanceRegistryDir ${dir}/registry`,
    "User nobody",
    "Group nogroup",
    recipe,
  ].join("\n");
  writeFileSync(join(dir, "httpd.conf"), conf);
  return join(dir, "httpd.conf");
}

describe(`deploy: the app inside Apache with Phusion Passenger (${runtime})`, { concurrency: false, skip }, () => {
  const dir = skip ? undefined : tempDir("carafe-passenger-");
  let root = "";
  let base = "";
  let httpd: ChildProcess | undefined;
  const errorLog = () => (dir && existsSync(join(dir.path, "error.log")) ? readFileSync(join(dir.path, "error.log"), "utf8") : "");

  before(async () => {
    const port = await freePort();
    chmodSync(dir!.path, 0o755);
    root = stageApp(dir!.path);
    writeConf(dir!.path, root, port);
    httpd = spawn(apache.path!, ["-d", dir!.path, "-f", join(dir!.path, "httpd.conf"), "-DFOREGROUND"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    httpd.stdout?.on("data", (d) => (out += d));
    httpd.stderr?.on("data", (d) => (out += d));
    base = `http://127.0.0.1:${port}`;
    // The first request spawns the app (Passenger starts it on demand).
    await waitUntil(async () => {
      if (httpd!.exitCode !== null) assert.fail(`apache2 exited (${httpd!.exitCode}): ${out}${errorLog()}`);
      const r = await request(base, { path: "/app/" }).catch(() => undefined);
      return r?.status === 200;
    }, 30_000, `the app answering through Passenger (${out}${errorLog()})`);
  });

  after(async () => {
    await stopAll([httpd]);
    dir?.remove();
  });

  test("requests are served under the sub-URI: req.scriptName is /app/, the app routes its own paths", async () => {
    const hello = await request(base, { path: "/app/" });
    assert.equal(hello.body.toString(), "Hello from Carafe inside Apache!\n");
    // A client that claims another address in X-Forwarded-For; Passenger refuses a
    // request that carries its own `!~` headers, so the one run() reads cannot be forged.
    const who = JSON.parse((await request(base, { path: "/app/whoami", headers: { "x-forwarded-for": "203.0.113.9" } })).body.toString());
    const forged = await request(base, { path: "/app/whoami", headers: { "!~passenger-client-address": "203.0.113.10" } });
    assert.notEqual(forged.status, 200, forged.body.toString());
    assert.equal(who.scriptName, "/app/");
    assert.equal(who.path, "/whoami");
    assert.notEqual(who.pid, process.pid);
    // The address Passenger saw (the test client's loopback), not what the client claimed.
    assert.match(who.remote, /^(::ffff:)?127\.0\.0\.1$/, JSON.stringify(who));
    assert.equal((await request(base, { path: "/app/nowhere" })).status, 404);
  });

  test("a POST body reaches the app", async () => {
    const body = "x".repeat(100_000) + "end";
    const r = await request(base, { method: "POST", path: "/app/echo", body, headers: { "content-type": "text/plain" } });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), body);
  });

  test("the banner says Passenger serves the app, at which base URI (no 'undefined' port)", () => {
    const log = errorLog();
    assert.match(log, /server starting up \(using NodeServer\(\) inside Phusion Passenger\)/, log);
    assert.match(log, /Listening on unix:\S+, Passenger's socket; it serves the app at \/app\//, log);
    assert.doesNotMatch(log, /undefined/, log);
  });

  test("touch tmp/restart.txt during a load: a new process serves, no request fails", async () => {
    const url = `${base}/app/whoami`;
    const first = JSON.parse((await request(base, { path: "/app/whoami" })).body.toString()).pid;
    let touched = 0;
    const shots = await shoot(url, {
      total: 600,
      concurrency: 4,
      at: (done) => {
        if (done === 100) {
          const now = new Date();
          writeFileSync(join(root, "tmp", "restart.txt"), "");
          utimesSync(join(root, "tmp", "restart.txt"), now, now);
          touched = Date.now();
        }
      },
    });
    const failed = shots.filter((s) => s.error);
    const pids = new Set(shots.map((s) => s.pid));
    console.log(`Passenger: touch tmp/restart.txt during ${shots.length} GETs (4 at once): ${failed.length} failed, pids ${[...pids].join(", ")}`);
    assert.ok(touched, "restart.txt was touched during the load");
    assert.deepEqual(failed, [], errorLog().slice(-3000));
    // PassengerStatThrottleRate 1: the next request after a second sees the new file.
    await waitUntil(async () => JSON.parse((await request(base, { path: "/app/whoami" })).body.toString()).pid !== first, 10_000, "a new app process");
    assert.match(errorLog(), /Passenger starts and stops this process/);
  });

  test("the deployment guide shows the Passenger recipe files verbatim", () => {
    const blocks = guideBlocks();
    for (const file of ["passenger/apache-passenger.conf", "passenger/passenger.cjs"]) {
      assert.ok(blocks.some((b) => b.text === readDeploy(file)), `docs/deployment.md: a block must be examples/deploy/${file}`);
    }
  });
});
