// Hostile form and JSON bodies: req.form() and req.json() have their own limits
// (maxFormSize, maxFormFields, maxFormFieldSize, maxJsonSize, maxJsonDepth) besides
// maxBodySize. Each is met with a 413 that names the setting, is checked while the body
// is read or scanned (never after splitting or parsing all of it), and the server keeps
// serving. First through app.fetch, then over real sockets on each native server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Carafe, type CarafeOptions } from "../mod.ts";
import { type Adapter, run } from "../adapters/mod.ts";
import { parseArgs } from "../cli.ts";
import { runtime, stop } from "./_helpers.ts";
import { eventually, rawConnect, request, type Started, startFixture, statuses } from "./_native_helpers.ts";

const KiB = 1024;
const MiB = 1024 * 1024;
const URLENCODED = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

/** `n` urlencoded fields: `f0=1&f1=1&…`. */
function fields(n: number): string {
  return Array.from({ length: n }, (_, i) => `f${i}=1`).join("&");
}

/** A part of a multipart body; a `filename` makes it a file. */
interface Part {
  name: string;
  value: string;
  filename?: string;
}

/** A multipart/form-data body made of `parts`, and its content type. */
function multipart(parts: Part[]): { body: string; type: string } {
  const boundary = "hostileXyZ";
  let body = "";
  for (const p of parts) {
    const file = p.filename === undefined ? "" : `; filename="${p.filename}"`;
    body += `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${file}\r\n\r\n${p.value}\r\n`;
  }
  return { body: `${body}--${boundary}--\r\n`, type: `multipart/form-data; boundary=${boundary}` };
}

/** `n` text parts `p0…` holding "1". */
function textParts(n: number): Part[] {
  return Array.from({ length: n }, (_, i) => ({ name: `p${i}`, value: "1" }));
}

/** Nested arrays `depth` deep: `[[…[1]…]]`. */
function nested(depth: number): string {
  return "[".repeat(depth) + "1" + "]".repeat(depth);
}

/** An app with `options` whose routes say what form() and json() read. */
function limitedApp(options: CarafeOptions = {}): Carafe {
  const app = new Carafe({ logger: () => {}, ...options });
  app.post("/form", async (req) => ({ fields: [...(await req.form()).keys()].length }));
  app.post("/json", async (req) => ({ json: await req.json() }));
  // json() refused a body before reading it: bytes() (maxBodySize only) still can.
  app.post("/json-or-bytes", async (req) => {
    try {
      return { json: await req.json() };
    } catch (err) {
      return { refused: (err as Error).message, bytes: (await req.bytes()).byteLength };
    }
  });
  app.post("/bytes", async (req) => ({ bytes: (await req.bytes()).byteLength }));
  app.post("/text", async (req) => ({ chars: (await req.text()).length }));
  return app;
}

interface Posted {
  status: number;
  text: string;
}

/** POSTs `body` to `app` with a content type; `declare` sends its Content-Length too. */
async function post(app: Carafe, path: string, body: string | Uint8Array, type: string, declare = true): Promise<Posted> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const headers: Record<string, string> = { "content-type": type };
  if (declare) headers["content-length"] = String(bytes.byteLength);
  const res = await app.fetch(new Request(`http://localhost${path}`, { method: "POST", headers, body: bytes as BodyInit }));
  return { status: res.status, text: await res.text() };
}

/**
 * A body of `total` bytes that arrives in `chunk`-byte pieces without a Content-Length
 * (a chunked upload), each piece `fill`; `pulled()` tells how much of it was asked for.
 */
function streamedBody(total: number, fill: string, chunk = 64 * KiB): { init: RequestInit; pulled(): number } {
  const piece = new TextEncoder().encode(fill.repeat(Math.ceil(chunk / fill.length)).slice(0, chunk));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      sent += piece.byteLength;
      c.enqueue(piece.slice());
    },
  }, { highWaterMark: 0 });
  return { init: { method: "POST", body, duplex: "half" } as RequestInit, pulled: () => sent };
}

describe("form() and json() limits through app.fetch", () => {
  test("the defaults are the documented ones; invalid limits are refused where they are given", async () => {
    const app = new Carafe();
    const { maxBodySize, maxFormSize, maxFormFields, maxFormFieldSize, maxJsonSize, maxJsonDepth } = app.config;
    assert.deepEqual(
      { maxBodySize, maxFormSize, maxFormFields, maxFormFieldSize, maxJsonSize, maxJsonDepth },
      { maxBodySize: 100 * MiB, maxFormSize: MiB, maxFormFields: 10_000, maxFormFieldSize: 256 * KiB, maxJsonSize: MiB, maxJsonDepth: 1000 },
    );
    for (const bad of [-1, Number.NaN, "10"]) {
      assert.throws(() => new Carafe({ maxFormFields: bad as number }), /new Carafe\(\): maxFormFields must be a number ≥ 0/);
      await assert.rejects(run({ app, maxJsonDepth: bad as number, quiet: true }), /run: maxJsonDepth must be a number ≥ 0/);
    }
  });

  test("urlencoded: maxFormFields fields are read, one more is a 413 naming maxFormFields", async () => {
    const app = limitedApp();
    const full = await post(app, "/form", fields(10_000), URLENCODED);
    assert.deepEqual([full.status, JSON.parse(full.text)], [200, { fields: 10_000 }]);
    const over = await post(app, "/form", fields(10_001), URLENCODED);
    assert.equal(over.status, 413);
    assert.match(over.text, /more fields than the limit of 10000 fields \(maxFormFields\)/);
    // Empty pieces ("&&", a trailing "&") are not fields, as URLSearchParams has it.
    const sparse = await post(limitedApp({ maxFormFields: 2 }), "/form", "&a=1&&b=2&", URLENCODED);
    assert.deepEqual([sparse.status, JSON.parse(sparse.text)], [200, { fields: 2 }]);
  });

  test("urlencoded: the scan stops at the first limit met; nothing after it is looked at or decoded", async () => {
    // Three fields, then a fourth, then a field over maxFormFieldSize, then a byte that is
    // not UTF-8. Each answer names the first limit in the body that it meets.
    const tail = `&big=${"x".repeat(101)}&`;
    const body = new Uint8Array([...new TextEncoder().encode(`a=1&b=2&c=3&d=4${tail}`), 0xff]);
    const options = { maxFormFieldSize: 100 };
    const count = await post(limitedApp({ ...options, maxFormFields: 3 }), "/form", body, URLENCODED);
    assert.equal(count.status, 413);
    assert.match(count.text, /\(maxFormFields\)/);
    const size = await post(limitedApp({ ...options, maxFormFields: 10 }), "/form", body, URLENCODED);
    assert.equal(size.status, 413);
    assert.match(size.text, /name or value is larger than the limit of 100 bytes \(maxFormFieldSize\)/);
    const decoded = await post(limitedApp({ maxFormFields: 10, maxFormFieldSize: 200 }), "/form", body, URLENCODED);
    assert.equal(decoded.status, 400);
    assert.match(decoded.text, /not valid UTF-8/);
    // 500,000 fields in 1 MiB: refused at field 10,001, and the server still answers.
    const app = limitedApp();
    const flood = await post(app, "/form", "a&".repeat(MiB / 2), URLENCODED);
    assert.equal(flood.status, 413);
    assert.match(flood.text, /\(maxFormFields\)/);
    assert.equal((await post(app, "/form", "a=1", URLENCODED)).status, 200);
  });

  test("urlencoded: a name or a value over maxFormFieldSize is a 413; one at it is read", async () => {
    const app = limitedApp({ maxFormFieldSize: 8 });
    assert.equal((await post(app, "/form", "abcdefgh=12345678", URLENCODED)).status, 200);
    for (const body of ["abcdefghi=1", "a=123456789", "abcdefghi"]) {
      const res = await post(app, "/form", body, URLENCODED);
      assert.equal(res.status, 413, body);
      assert.match(res.text, /\(maxFormFieldSize\)/, body);
    }
    // The default: 256 KiB as sent.
    const big = await post(limitedApp(), "/form", `v=${"x".repeat(256 * KiB + 1)}`, URLENCODED);
    assert.equal(big.status, 413);
    assert.match(big.text, /limit of 262144 bytes \(maxFormFieldSize\)/);
  });

  test("urlencoded: a body over maxFormSize is a 413 before it is read; bytes() and text() answer to maxBodySize only", async () => {
    const app = limitedApp({ maxFormSize: 64 * KiB, maxFormFieldSize: Infinity });
    const body = `v=${"x".repeat(64 * KiB)}`;
    for (const declare of [true, false]) {
      const res = await post(app, "/form", body, URLENCODED, declare);
      assert.equal(res.status, 413, `declared: ${declare}`);
      assert.match(res.text, /The form body is larger than the limit of 65536 bytes \(maxFormSize\)/);
      assert.deepEqual(JSON.parse((await post(app, "/bytes", body, URLENCODED, declare)).text), { bytes: body.length });
      assert.deepEqual(JSON.parse((await post(app, "/text", body, URLENCODED, declare)).text), { chars: body.length });
    }
    // maxBodySize below maxFormSize: it is the limit met, and the 413 says so.
    const small = await post(limitedApp({ maxBodySize: 100 }), "/form", `v=${"x".repeat(100)}`, URLENCODED);
    assert.equal(small.status, 413);
    assert.match(small.text, /Request body is larger than the limit of 100 bytes/);
  });

  test("urlencoded: a streamed body stops being read at maxFormSize", async () => {
    const app = limitedApp({ maxFormSize: 256 * KiB });
    const offered = 16 * MiB;
    const stream = streamedBody(offered, "a=1&");
    const res = await app.fetch(new Request("http://localhost/form", { ...stream.init, headers: { "content-type": URLENCODED } }));
    assert.equal(res.status, 413);
    assert.match(await res.text(), /\(maxFormSize\)/);
    assert.ok(stream.pulled() <= 256 * KiB + 4 * 64 * KiB, `read ${stream.pulled()} of ${offered} bytes`);
  });

  test("a mounted app takes the form limits it did not set from its parent; run() sets them on the app", async () => {
    const parent = limitedApp({ maxFormFields: 2 });
    const inherits = limitedApp();
    const own = limitedApp({ maxFormFields: 5 });
    parent.mount("/inherits", inherits).mount("/own", own);
    assert.equal((await post(parent, "/inherits/form", "a=1&b=2&c=3", URLENCODED)).status, 413);
    assert.equal((await post(parent, "/own/form", "a=1&b=2&c=3", URLENCODED)).status, 200);

    const app = limitedApp();
    const idle: Adapter = {
      name: "idle",
      silent: true,
      serve: () => ({ url: "idle:", close: () => Promise.resolve(), finished: Promise.resolve() }),
    };
    const server = await run({ app, server: idle, quiet: true, handleSignals: false, maxFormFields: 1, maxJsonDepth: 3 });
    await server.close();
    assert.deepEqual([app.config.maxFormFields, app.config.maxJsonDepth], [1, 3]);
    assert.equal((await post(app, "/form", "a=1&b=2", URLENCODED)).status, 413);
  });

  test("multipart: more parts than maxFormFields (files included) is a 413; the parts after the limit are not parsed", async () => {
    const app = limitedApp({ maxFormFields: 3 });
    const three = multipart([{ name: "a", value: "1" }, { name: "f", value: "data", filename: "f.txt" }, { name: "b", value: "2" }]);
    const ok = await post(app, "/form", three.body, three.type);
    assert.deepEqual([ok.status, JSON.parse(ok.text)], [200, { fields: 3 }]);
    const four = multipart([...textParts(2), { name: "f", value: "data", filename: "f.txt" }, { name: "b", value: "2" }]);
    const over = await post(app, "/form", four.body, four.type);
    assert.equal(over.status, 413);
    assert.match(over.text, /more fields than the limit of 3 fields \(maxFormFields\)/);
    // A fourth part without a name would be a 400 if it were parsed.
    const broken = multipart(textParts(3)).body.replace(/--\r\n$/, "\r\nContent-Disposition: form-data\r\n\r\nx\r\n--hostileXyZ--\r\n");
    const early = await post(app, "/form", broken, three.type);
    assert.equal(early.status, 413, early.text);
    // The default: 10,000 parts.
    const flood = multipart(textParts(10_001));
    const res = await post(limitedApp(), "/form", flood.body, flood.type);
    assert.equal(res.status, 413);
    assert.match(res.text, /limit of 10000 fields \(maxFormFields\)/);
  });

  test("multipart: text fields answer to maxFormFieldSize and together to maxFormSize; files to maxBodySize only", async () => {
    const app = limitedApp({ maxFormFieldSize: 10, maxFormSize: 20 });
    const longField = multipart([{ name: "a", value: "x".repeat(11) }]);
    const field = await post(app, "/form", longField.body, longField.type);
    assert.equal(field.status, 413);
    assert.match(field.text, /\(maxFormFieldSize\)/);
    const longName = multipart([{ name: "n".repeat(11), value: "x" }]);
    assert.match((await post(app, "/form", longName.body, longName.type)).text, /\(maxFormFieldSize\)/);
    const many = multipart([{ name: "a", value: "x".repeat(8) }, { name: "b", value: "x".repeat(8) }, { name: "c", value: "x".repeat(8) }]);
    const total = await post(app, "/form", many.body, many.type);
    assert.equal(total.status, 413);
    assert.match(total.text, /text fields are larger than the limit of 20 bytes \(maxFormSize\)/);
    const withFile = multipart([{ name: "a", value: "x".repeat(8) }, { name: "f", value: "y".repeat(10_000), filename: "big.bin" }]);
    const file = await post(app, "/form", withFile.body, withFile.type);
    assert.deepEqual([file.status, JSON.parse(file.text)], [200, { fields: 2 }]);
  });

  test("multipart: a part's header lines over 16 KiB are a 413", async () => {
    const app = limitedApp({ maxFormFieldSize: Infinity });
    const huge = multipart([{ name: "n".repeat(17 * KiB), value: "x" }]);
    const res = await post(app, "/form", huge.body, huge.type);
    assert.equal(res.status, 413);
    assert.match(res.text, /header lines are larger than 16384 bytes/);
    const fine = multipart([{ name: "n".repeat(15 * KiB), value: "x" }]);
    assert.equal((await post(app, "/form", fine.body, fine.type)).status, 200);
  });

  test("json(): a body over maxJsonSize is a 413 naming it, refused before it is read when declared", async () => {
    const app = limitedApp({ maxJsonSize: 64 * KiB });
    const body = JSON.stringify("x".repeat(64 * KiB));
    for (const declare of [true, false]) {
      const res = await post(app, "/json", body, JSON_TYPE, declare);
      assert.equal(res.status, 413, `declared: ${declare}`);
      assert.match(res.text, /The JSON body is larger than the limit of 65536 bytes \(maxJsonSize\)/);
    }
    const declared = JSON.parse((await post(app, "/json-or-bytes", body, JSON_TYPE)).text);
    assert.deepEqual(declared, { refused: "The JSON body is larger than the limit of 65536 bytes (maxJsonSize).", bytes: body.length });
    // A streamed one is not read past the limit.
    const stream = streamedBody(16 * MiB, "[1,2,3,4,5,6,7]");
    const res = await app.fetch(new Request("http://localhost/json", { ...stream.init, headers: { "content-type": JSON_TYPE } }));
    assert.equal(res.status, 413);
    assert.ok(stream.pulled() <= 64 * KiB + 4 * 64 * KiB, `read ${stream.pulled()} bytes`);
    // The default: 1 MiB.
    const big = await post(limitedApp(), "/json", JSON.stringify("x".repeat(MiB)), JSON_TYPE);
    assert.equal(big.status, 413);
    assert.match(big.text, /limit of 1048576 bytes \(maxJsonSize\)/);
  });

  test("json(): nesting deeper than maxJsonDepth is a 413; brackets in strings do not count", async () => {
    const app = limitedApp({ maxJsonDepth: 3 });
    for (const declare of [true, false]) {
      const at = await post(app, "/json", nested(3), JSON_TYPE, declare);
      assert.deepEqual([at.status, JSON.parse(at.text)], [200, { json: [[[1]]] }], `declared: ${declare}`);
      for (const deep of [nested(4), '{"a":{"b":{"c":{"d":1}}}}', '[{"a":[{}]}]']) {
        const res = await post(app, "/json", deep, JSON_TYPE, declare);
        assert.equal(res.status, 413, `${deep}, declared: ${declare}`);
        assert.match(res.text, /The JSON body is nested deeper than the limit of 3 levels \(maxJsonDepth\)/);
      }
      const strings = JSON.stringify(["[[[[", { "{{{{": "\\\"[[[[" }, "\\"]);
      const fine = await post(app, "/json", strings, JSON_TYPE, declare);
      assert.deepEqual([fine.status, JSON.parse(fine.text)], [200, { json: JSON.parse(strings) }], `declared: ${declare}`);
    }
    // Text read first: json() derives from it and still checks depth and size.
    const textFirst = limitedApp({ maxJsonDepth: 3, maxJsonSize: 100 });
    textFirst.post("/text-then-json", async (req) => ({ chars: (await req.text()).length, json: await req.json() }));
    assert.match((await post(textFirst, "/text-then-json", nested(4), JSON_TYPE)).text, /\(maxJsonDepth\)/);
    assert.match((await post(textFirst, "/text-then-json", JSON.stringify("x".repeat(100)), JSON_TYPE)).text, /\(maxJsonSize\)/);
  });

  test("json(): 100,000 levels (which JSON.stringify cannot echo on every runtime) is a 413, not a 500; malformed is a 400", async () => {
    const app = limitedApp();
    for (const declare of [true, false]) {
      const res = await post(app, "/json", nested(100_000), JSON_TYPE, declare);
      assert.equal(res.status, 413, `declared: ${declare}`);
      assert.match(res.text, /limit of 1000 levels \(maxJsonDepth\)/);
      assert.equal((await post(app, "/json", nested(1000), JSON_TYPE, declare)).status, 200);
      assert.equal((await post(app, "/json", "[".repeat(5000), JSON_TYPE, declare)).status, 413);
      assert.equal((await post(app, "/json", "{'a': 1}", JSON_TYPE, declare)).status, 400);
    }
  });
});

describe("CLI config keys for the body limits", () => {
  test("-c files and -C values set the limits as run() options, in any spelling", () => {
    const files: Record<string, string> = {
      "limits.ini": "max_form_fields = 50000\nmax-form-size = 4194304\n",
      "limits.json": JSON.stringify({ maxJsonSize: 8388608, max_json_depth: 64 }),
    };
    const o = parseArgs(["-c", "limits.ini", "-c", "limits.json", "-C", "maxFormFieldSize=1048576", "app.ts"], (f) => files[f]);
    assert.deepEqual(o.run, { maxFormFields: 50_000, maxFormSize: 4 * MiB, maxJsonSize: 8 * MiB, maxJsonDepth: 64, maxFormFieldSize: MiB });
    assert.deepEqual(o.config, {});
  });
});

/** Over a real socket: the answer's status and body. */
async function send(s: Started, path: string, body: string, type: string): Promise<Posted> {
  const r = await request(s.url, { method: "POST", path, body, headers: { "content-type": type } });
  return { status: r.status, text: r.body.toString() };
}

const servers = runtime === "node" ? ["node"] : [runtime, "node"];

for (const server of servers) {
  describe(`hostile forms and JSON on the ${server} adapter under ${runtime}`, () => {
    let s: Started;
    before(async () => {
      s = await startFixture(server, { NA_QUIET: "1" });
    });
    after(async () => {
      await stop(s.child);
    });

    /** The server still answers, on a new connection. */
    async function stillServing(): Promise<void> {
      const r = await request(s.url, { path: "/" });
      assert.deepEqual([r.status, r.body.toString()], [200, "Hello, World!"]);
    }

    test("urlencoded: 10,000 fields are read; too many fields, too large a field or body are 413s naming the limit", async () => {
      const full = await send(s, "/form", fields(10_000), URLENCODED);
      assert.deepEqual([full.status, JSON.parse(full.text)], [200, { fields: 10_000 }]);
      const cases: Array<[string, string]> = [
        [fields(10_001), "maxFormFields"],
        ["a&".repeat(MiB / 2 - 1), "maxFormFields"],
        [`v=${"x".repeat(256 * KiB + 1)}`, "maxFormFieldSize"],
        [`${fields(1000)}&v=${"x".repeat(200 * KiB)}`.repeat(6), "maxFormSize"],
      ];
      for (const [body, limit] of cases) {
        const res = await send(s, "/form", body, URLENCODED);
        assert.equal(res.status, 413, `${limit}: ${res.text.slice(0, 300)}`);
        assert.match(res.text, new RegExp(`\\(${limit}\\)`));
        await stillServing();
      }
    });

    test("urlencoded: a chunked body is not read past maxFormSize", async () => {
      const c = await rawConnect(Number(new URL(s.url).port));
      try {
        c.socket.write(`POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: ${URLENCODED}\r\nTransfer-Encoding: chunked\r\n\r\n`);
        const chunk = "a=1&".repeat(16 * KiB); // 64 KiB
        // 2 MiB offered, without waiting: the 413 comes once 1 MiB is in.
        for (let i = 0; i < 32 && !c.isClosed(); i++) c.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
        assert.ok(await eventually(() => statuses(c.text()).length > 0 || c.isClosed(), 15_000), "no answer");
        assert.deepEqual(statuses(c.text()), [413], c.text().slice(0, 300));
        assert.match(c.text(), /\(maxFormSize\)/);
      } finally {
        c.socket.destroy();
      }
      await stillServing();
    });

    test("multipart: more parts than maxFormFields is a 413", async () => {
      const flood = multipart(textParts(10_001));
      const res = await send(s, "/form", flood.body, flood.type);
      assert.equal(res.status, 413);
      assert.match(res.text, /limit of 10000 fields \(maxFormFields\)/);
      await stillServing();
      const fine = multipart(textParts(100));
      assert.deepEqual(JSON.parse((await send(s, "/form", fine.body, fine.type)).text), { fields: 100 });
    });

    test("JSON: too large or too deep is a 413 naming the limit, malformed a 400", async () => {
      const cases: Array<[string, number, RegExp]> = [
        [JSON.stringify("x".repeat(MiB)), 413, /\(maxJsonSize\)/],
        [nested(100_000), 413, /\(maxJsonDepth\)/],
        ["[".repeat(300_000), 413, /\(maxJsonDepth\)/],
        ['{"a": 1,}', 400, /Invalid JSON/],
      ];
      for (const [body, status, message] of cases) {
        const res = await send(s, "/json", body, JSON_TYPE);
        assert.equal(res.status, status, `${body.slice(0, 20)}…: ${res.text.slice(0, 300)}`);
        assert.match(res.text, message);
        await stillServing();
      }
      const fine = await send(s, "/json", nested(1000), JSON_TYPE);
      assert.deepEqual([fine.status, fine.text], [200, nested(1000)]);
    });
  });
}
