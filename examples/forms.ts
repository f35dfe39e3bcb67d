/**
 * Forms and uploads: a form that shows its errors next to what was typed, a redirect
 * after a successful POST, and an upload stored under a name of our own (never the
 * client's) and offered back as a download.
 *
 *     deno run -A examples/forms.ts           # or: bun examples/forms.ts
 *     open http://127.0.0.1:8080/
 *     curl -F name=Ada -F file=@README.md http://127.0.0.1:8080/upload   # 303 to /
 *
 * @module
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { abort, Carafe, redirect, run, staticFile, template } from "../mod.ts";

const MAX_UPLOAD = 512 * 1024;
const app = new Carafe({ maxBodySize: MAX_UPLOAD + 16 * 1024 }); // larger bodies: 413
const folder = mkdtempSync(join(tmpdir(), "carafe-forms-")); // where uploads go
const uploads: { id: string; name: string; by: string }[] = [];

const page = `<!doctype html><title>Uploads</title>
<form method="post" action="/upload" enctype="multipart/form-data">
  <p><label>Your name <input name="name" value="{{ name }}"></label></p>
  <p><label>A file <input type="file" name="file"></label></p>
  % for (const e of errors) {
  <p style="color: #b3261e">{{ e }}</p>
  % }
  <button>Upload</button>
</form>
<ul>
% for (const u of uploads) {
  <li><a href="/files/{{ u.id }}">{{ u.name }}</a> from {{ u.by }}</li>
% }
</ul>`;

app.get("/", () => template(page, { name: "", errors: [], uploads }));

app.post("/upload", async (req, res) => {
  const form = await req.form(); // urlencoded or multipart; limits give 413
  const name = String(form.get("name") ?? "").trim();
  const file = form.get("file");
  const errors: string[] = [];
  if (!name) errors.push("Say who you are.");
  if (!(file instanceof Blob) || file.size === 0) errors.push("Choose a file.");
  else if (file.size > MAX_UPLOAD) errors.push(`Files may have up to ${MAX_UPLOAD / 1024} KiB.`);
  if (errors.length) {
    res.status = 400;
    return template(page, { name, errors, uploads }); // {{ }} escapes what was typed
  }
  const id = crypto.randomUUID();
  writeFileSync(join(folder, id), new Uint8Array(await (file as File).arrayBuffer()));
  uploads.push({ id, name: (file as File).name.split(/[\\/]/).pop() || "upload", by: name });
  redirect("/"); // 303: reloading the page does not upload again
});

app.get("/files/<id>", (req) => {
  const upload = uploads.find((u) => u.id === req.params.id);
  if (!upload) abort(404, "No such upload.");
  return staticFile(upload.id, { root: folder, download: upload.name });
});

await run({ app });
