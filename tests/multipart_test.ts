import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Carafe } from "../mod.ts";
import { parseMultipart } from "../core/multipart.ts";

const encoder = new TextEncoder();
const TYPE = "multipart/form-data; boundary=XyZ";

/** The body and content type a runtime's own FormData serialisation gives. */
async function serialised(form: FormData): Promise<[Uint8Array, string]> {
  const req = new Request("http://localhost/", { method: "POST", body: form });
  const contentType = req.headers.get("content-type")!; // (Bun forgets it once the body is read)
  return [new Uint8Array(await req.arrayBuffer()), contentType];
}

function post(app: Carafe, body: string, contentType = TYPE): Promise<Response> {
  return app.fetch(new Request("http://localhost/f", { method: "POST", headers: { "content-type": contentType }, body }));
}

/** An app that answers the form it read as JSON: fields as strings, files as [name, type, text]. */
function formApp(): Carafe {
  const app = new Carafe({ logger: () => {} });
  app.post("/f", async (req) => {
    const out: unknown[] = [];
    for (const [name, value] of await req.form()) {
      out.push(typeof value === "string" ? [name, value] : [name, value.name, value.type, await value.text()]);
    }
    return out;
  });
  app.get("/ok", () => "ok");
  return app;
}

describe("multipart/form-data parsing", () => {
  test("what this runtime's FormData sends comes back whole: fields, files, UTF-8, binary, empty parts", async () => {
    const form = new FormData();
    form.append("name", "café 瓶");
    form.append("empty", "");
    form.append("tag", "a");
    form.append("tag", "b");
    form.append("crlf", "line 1\r\n--XyZ\r\nline 3");
    form.append("file", new File(["file\r\ncontent\r\n--"], "notes.txt", { type: "text/plain" }));
    form.append("blank", new File([], "empty.bin", { type: "application/octet-stream" }));
    form.append("ünï", new File(["x"], "瓶.txt", { type: "text/plain" }));
    const [body, contentType] = await serialised(form);
    const parsed = parseMultipart(body, contentType);
    assert.deepEqual([...parsed.keys()], ["name", "empty", "tag", "tag", "crlf", "file", "blank", "ünï"]);
    assert.equal(parsed.get("name"), "café 瓶");
    assert.equal(parsed.get("empty"), "");
    assert.deepEqual(parsed.getAll("tag"), ["a", "b"]);
    assert.equal(parsed.get("crlf"), "line 1\r\n--XyZ\r\nline 3");
    const file = parsed.get("file") as File;
    assert.deepEqual([file.name, await file.text()], ["notes.txt", "file\r\ncontent\r\n--"]);
    assert.match(file.type, /^text\/plain/); // Bun's File adds ";charset=utf-8"
    const blank = parsed.get("blank") as File;
    assert.deepEqual([blank.name, blank.size], ["empty.bin", 0]);
    assert.equal((parsed.get("ünï") as File).name, "瓶.txt");
  });

  test("binary file content with every byte value, and a large one, is kept byte for byte", async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7 + (i >> 8)) & 255);
    const form = new FormData();
    form.append("bin", new File([bytes], "b.bin"));
    const [body, contentType] = await serialised(form);
    const got = new Uint8Array(await (parseMultipart(body, contentType).get("bin") as File).arrayBuffer());
    assert.deepEqual(got, bytes);
  });

  test("a preamble, an epilogue, a quoted boundary and a part without Content-Type are accepted", () => {
    const text = 'preamble\r\n--q b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n' +
      '--q b\r\ncontent-disposition: FORM-DATA; filename="f.dat"; name="f"\r\n\r\nraw\r\n--q b--\r\nepilogue';
    const form = parseMultipart(encoder.encode(text), 'multipart/form-data; boundary="q b"');
    assert.equal(form.get("a"), "1");
    const file = form.get("f") as File;
    assert.deepEqual([file.name, file.type], ["f.dat", "application/octet-stream"]);
  });

  test("broken bodies → 400 saying what is wrong, and the app goes on serving", async () => {
    const part = '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue';
    const cases: Array<[string, string, RegExp, string?]> = [
      ["cut before the closing delimiter", part, /ends before the closing boundary/],
      ["cut after a delimiter", part + "\r\n--XyZ", /ends before the closing boundary/],
      ["no Content-Disposition", "--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", /no Content-Disposition/],
      ["no name", '--XyZ\r\nContent-Disposition: form-data; filename="x"\r\n\r\nv\r\n--XyZ--', /has no name/],
      ["not form-data", '--XyZ\r\nContent-Disposition: attachment; name="a"\r\n\r\nv\r\n--XyZ--', /not form-data/],
      ["headers never end", '--XyZ\r\nContent-Disposition: form-data; name="a"', /not ended by a blank line/],
      ["a header line without a colon", '--XyZ\r\nContent-Disposition: form-data; name="a"\r\nbogus\r\n\r\nv\r\n--XyZ--', /header line .{1,6}bogus/],
      ["text after a boundary", '--XyZjunk\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--XyZ--', /followed by other text/],
      ["no boundary in the body", "this is not a multipart body at all", /boundary does not occur/],
      ["no boundary parameter", part, /no boundary parameter/, "multipart/form-data"],
      ["an empty body", "", /boundary does not occur/],
    ];
    const app = formApp();
    for (const [what, body, message, contentType] of cases) {
      const res = await post(app, body, contentType);
      assert.equal(res.status, 400, what);
      assert.match(await res.text(), message, what);
      assert.throws(() => parseMultipart(encoder.encode(body), contentType ?? TYPE), message, what);
    }
    assert.equal((await app.fetch(new Request("http://localhost/ok"))).status, 200);
  });

  test("through the app: a complete form is answered with its fields and files", async () => {
    const body = '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XyZ--\r\n';
    const res = await post(formApp(), body);
    assert.equal(res.status, 200);
    const [field, [name, filename, type, text]] = await res.json();
    assert.deepEqual([field, name, filename, text], [["a", "1"], "f", "a.txt", "hi"]);
    assert.match(type, /^text\/plain/);
  });
});
