/**
 * The demo (examples/demo/) driven in a real browser: headless Chromium (Debian's
 * `chromium`, through playwright-core; nothing is downloaded), against the demo running
 * under the runtime that runs this file, and again as a FastCGI server behind nginx
 * under the `/app/` prefix of examples/deploy/fastcgi-nginx.conf.
 *
 * One walk through the app: log in (a wrong password first), add an item (an empty one
 * first), see the live feed of a second tab update, upload a file and download it back,
 * restart the server and still see everything, use the JSON API, meet the 404 page, log
 * out. Asserts what the page shows; screenshots of the main pages go to a folder whose
 * path is printed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { peer, runtime, tempDir } from "./_helpers.ts";
import { deployRecipe, freePort, startNginx, stop } from "./_gateway_peers.ts";
import { type RunningDemo, startDemo } from "./_demo_helpers.ts";

const browserPeer = peer("chromium");
const nginxPeer = peer("nginx");

/** Debian's chromium, headless, with nothing that phones home. */
async function launch(profile: string): Promise<BrowserContext> {
  return await chromium.launchPersistentContext(profile, {
    executablePath: browserPeer.path,
    headless: true,
    acceptDownloads: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/** Where the screenshots go: kept after the run, printed in the test log. */
const shots = mkdtempSync(join(process.env.CARAFE_ARTIFACTS ?? tmpdir(), `carafe-browser-${runtime}-`));
console.log(`browser_test: screenshots in ${shots}`);

/** A demo to drive: its base URL, and how to restart it on the same data. */
interface Target {
  base: string;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** The demo as `npm start` serves it. */
async function direct(data: string): Promise<Target> {
  const port = await freePort();
  let demo = await startDemo({ data, port });
  return {
    base: `http://127.0.0.1:${port}/`,
    restart: async () => {
      await demo.stop();
      demo = await startDemo({ data, port });
    },
    close: () => demo.stop(),
  };
}

/** The demo as a FastCGI server (the `carafe` command) behind nginx, at /app/ as in the recipe. */
async function behindNginx(data: string, dir: string): Promise<Target> {
  const [app, web] = [await freePort(), await freePort()];
  const cli = ["--server", "fastcgi"];
  let demo: RunningDemo = await startDemo({ data, port: app, cli });
  const recipe = deployRecipe("fastcgi-nginx.conf", app).replace("include fastcgi_params;", "include /etc/nginx/fastcgi_params;");
  const split = recipe.indexOf("# In server { }");
  assert.ok(split > 0, "examples/deploy/fastcgi-nginx.conf: the '# In server { }' part is missing");
  for (const d of ["body", "fastcgi", "proxy", "scgi", "uwsgi"]) mkdirSync(join(dir, "tmp", d), { recursive: true });
  writeFileSync(join(dir, "nginx.conf"), `
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path tmp/body; fastcgi_temp_path tmp/fastcgi; proxy_temp_path tmp/proxy;
  scgi_temp_path tmp/scgi; uwsgi_temp_path tmp/uwsgi;
  ${recipe.slice(0, split)}
  server {
    listen 127.0.0.1:${web};
    client_max_body_size 2m;
    ${recipe.slice(split)}
  }
}
`);
  const nginx = await startNginx(nginxPeer.path!, dir, web);
  return {
    base: `http://127.0.0.1:${web}/app/`,
    restart: async () => {
      await demo.stop();
      demo = await startDemo({ data, port: app, cli });
    },
    close: async () => {
      await stop(nginx);
      await demo.stop();
    },
  };
}

/** The visible text of `selector` (all matches, joined). */
async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).allInnerTexts()).join("\n");
}

function walkThrough(name: string, start: (data: string, dir: string) => Promise<Target>, skip: string | undefined) {
  describe(`browser: the demo ${name} (${runtime})`, { concurrency: false, skip }, () => {
    let tmp: ReturnType<typeof tempDir>;
    let target: Target;
    let browser: BrowserContext;
    let page: Page;
    const shot = (what: string) => page.screenshot({ path: join(shots, `${name.replace(/\W+/g, "-")}-${what}.png`), fullPage: true });

    before(async () => {
      tmp = tempDir("carafe-browser-");
      target = await start(join(tmp.path, "data"), tmp.path);
      browser = await launch(join(tmp.path, "profile"));
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await target?.close();
      tmp?.remove();
    });

    test("the home page: empty list, a login link, the live feed connects", async () => {
      await page.goto(target.base);
      assert.equal(await page.title(), "To-do · Carafe demo");
      assert.match(await textOf(page, "main"), /Nothing to do yet\./);
      assert.equal(await page.locator("header a", { hasText: "Log in" }).count(), 1);
      await page.locator("#live[data-state=open]").waitFor();
      assert.equal(await textOf(page, "#live-status"), "live");
      // The stylesheet loaded (through the prefix, under nginx): the header is laid out by it.
      assert.equal(await page.locator("header.bar").evaluate((el) => getComputedStyle(el).display), "flex");
      await shot("home-empty");
    });

    test("log in: a wrong password is shown on the form, then the right one logs in", async () => {
      await page.click("header >> text=Log in");
      await page.fill("#name", "alice");
      await page.fill("#password", "wrong");
      await page.click("form >> button:has-text('Log in')");
      assert.match(await textOf(page, ".error"), /Wrong password\./);
      assert.equal(await page.inputValue("#name"), "alice", "the name typed is kept");
      await shot("login-error");
      await page.fill("#password", "carafe");
      await page.click("form >> button:has-text('Log in')");
      assert.equal(new URL(page.url()).pathname, new URL(target.base).pathname);
      assert.equal(await textOf(page, "header .who"), "alice");
    });

    test("add items: an empty one shows an error, the others are listed and escaped", async () => {
      await page.click("button:has-text('Add')");
      assert.match(await textOf(page, ".add .error"), /Write something to do\./);
      await page.fill("#text", "Buy milk");
      await page.click("button:has-text('Add')");
      await page.fill("#text", "<b>not bold</b>");
      await page.click("button:has-text('Add')");
      const list = await textOf(page, ".todos");
      assert.match(list, /Buy milk/);
      assert.match(list, /<b>not bold<\/b>/, "markup typed by a user is shown as text");
      assert.equal(await page.locator(".todos b").count(), 0);
      await shot("home-items");
    });

    test("mark an item done: it is struck through and loses its button", async () => {
      const item = page.locator(".todos li", { hasText: "<b>not bold</b>" });
      await item.locator("button:has-text('Done')").click();
      assert.equal(await item.getAttribute("class"), "done");
      assert.equal(await item.evaluate((li) => getComputedStyle(li.querySelector(".text")!).textDecorationLine), "line-through");
      assert.equal(await item.locator("button").count(), 0);
    });

    test("the live feed of another tab shows an item added here, without a reload", async () => {
      const other = await browser.newPage();
      try {
        await other.goto(target.base);
        await other.locator("#live[data-state=open]").waitFor();
        await page.fill("#text", "Water the plants");
        await page.click("button:has-text('Add')");
        // Only the page's script adds class "new": the other tab did not reload.
        await other.locator("#activity li.new", { hasText: "alice added “Water the plants”" }).waitFor();
      } finally {
        await other.close();
      }
    });

    test("upload a file, see it listed, download it back", async () => {
      await page.click("nav >> text=Files");
      const content = `notes from the browser test (${runtime})\n`;
      await page.click("button:has-text('Upload')");
      assert.match(await textOf(page, ".error"), /Choose a file to upload\./);
      await page.setInputFiles("#file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(content) });
      await page.click("button:has-text('Upload')");
      assert.match(await textOf(page, "table.files"), /notes\.txt\s+\d+ bytes\s+alice/);
      await shot("files");
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("table.files >> text=notes.txt")]);
      assert.equal(download.suggestedFilename(), "notes.txt");
      assert.equal(readFileSync((await download.path())!, "utf8"), content);
    });

    test("after a restart of the server, a reload still shows everything, still logged in", async () => {
      await target.restart();
      await page.reload();
      assert.match(await textOf(page, "table.files"), /notes\.txt/);
      await page.click("nav >> text=To-do");
      const list = await textOf(page, ".todos");
      for (const item of ["Buy milk", "Water the plants"]) assert.match(list, new RegExp(item));
      assert.equal(await textOf(page, "header .who"), "alice");
    });

    test("the JSON API lists the same items", async () => {
      const api = await page.evaluate(async (url) => (await fetch(url)).json(), new URL("api/todos", target.base).href);
      assert.deepEqual(api.todos.map((t: { text: string; done: boolean }) => [t.text, t.done]), [["Buy milk", false], ["<b>not bold</b>", true], ["Water the plants", false]]);
    });

    test("an unknown address shows the 404 page", async () => {
      const answer = await page.goto(new URL("no-such-page", target.base).href);
      assert.equal(answer?.status(), 404);
      assert.equal(await textOf(page, "main h1"), "Not found");
      await shot("not-found");
    });

    test("log out: the login link is back and the form is gone", async () => {
      await page.goto(target.base);
      await page.click("header >> button:has-text('Log out')");
      assert.equal(await page.locator("header a", { hasText: "Log in" }).count(), 1);
      assert.equal(await page.locator("#text").count(), 0);
      assert.match(await textOf(page, "#activity"), /alice logged out/);
    });
  });
}

walkThrough("served directly", (data) => direct(data), browserPeer.skip);
walkThrough("behind nginx (FastCGI)", behindNginx, browserPeer.skip ?? nginxPeer.skip);
