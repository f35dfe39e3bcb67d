/**
 * A static site: `serveDir` serves a folder (index files, `304`/`206` answers, a `301`
 * to `dir/`, dotfiles hidden, nothing outside the folder), next to a dynamic route.
 *
 *     deno run -A examples/static_site.ts     # or: bun examples/static_site.ts
 *     curl http://127.0.0.1:8080/             # examples/site/index.html
 *
 * @module
 */
import { Carafe, run, serveDir } from "../mod.ts";

// The folder next to this file, whatever the working directory.
const site = new URL("./site/", import.meta.url);
const app = new Carafe();

app.get("/api/time", () => ({ now: new Date().toISOString() }));
// <path:path> takes the rest of the URL; "/" and "/<path:path>" together cover the site.
app.get("/", serveDir(site));
app.get("/<path:path>", serveDir(site, { cacheControl: "max-age=300" }));

await run({ app });
