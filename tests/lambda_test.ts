/**
 * AWS Lambda: toLambdaHandler answers the HTTP events Lambda delivers, fed the event
 * shapes of AWS's documentation (tests/fixtures/lambda/: API Gateway REST (payload 1.0),
 * HTTP API (2.0), a Function URL, an ALB with single and with multi-value headers; the
 * docs' examples with this app's path, query, cookies and body). Each answer must come
 * back in the shape its event source reads.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runtime } from "./_helpers.ts";
import { source } from "./_edge_helpers.ts";
import app, { PNG_SIGNATURE } from "./fixtures/lambda_app.ts";
import { type LambdaHttpEvent, type LambdaResult, toLambdaHandler } from "../adapters/lambda/mod.ts";

// deno-lint-ignore no-explicit-any
type AnyEvent = any;
const fixture = (name: string): AnyEvent => JSON.parse(readFileSync(source(`tests/fixtures/lambda/${name}.json`), "utf8"));
const handler = toLambdaHandler(app);

/** The event with another method and path (query, headers and cookies kept), no body. */
function get(event: AnyEvent, path: string): LambdaHttpEvent {
  const e = structuredClone(event);
  e.body = null;
  e.isBase64Encoded = false;
  if (e.version === "2.0") {
    e.rawPath = path;
    e.requestContext.http.method = "GET";
  } else {
    e.path = path;
    e.httpMethod = "GET";
    if (e.requestContext.path) e.requestContext.path = `/${e.requestContext.stage}${path}`;
  }
  return e;
}

const json = (result: LambdaResult) => JSON.parse(result.isBase64Encoded ? atob(result.body) : result.body);

const kinds = [
  { name: "API Gateway REST (payload 1.0)", file: "apigateway-rest-v1", tags: ["a", "b"], multi: "first, second", scriptName: "/Prod/", url: "https://1234567890.execute-api.us-east-1.amazonaws.com/Prod/echo/items?tag=a&tag=b&q=caf%C3%A9%20%26%20tea" },
  { name: "HTTP API (payload 2.0, base64 body)", file: "http-api-v2", tags: ["a", "b"], multi: "first,second", scriptName: "/", url: "https://r3pmxmplak.execute-api.us-east-2.amazonaws.com/echo/items?tag=a&tag=b&q=caf%C3%A9%20%26%20tea" },
  { name: "Function URL", file: "function-url", tags: ["a", "b"], multi: "first,second", scriptName: "/", url: "https://a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.us-west-2.on.aws/echo/items?tag=a&tag=b&q=caf%C3%A9%20%26%20tea" },
  { name: "ALB, single-value headers", file: "alb", tags: ["b"], multi: "second", scriptName: "/", url: "http://lambda-alb-123578498.us-east-1.elb.amazonaws.com/echo/items?tag=b&q=caf%C3%A9%20%26%20tea" },
  { name: "ALB, multi-value headers (base64 body)", file: "alb-multi-value", tags: ["a", "b"], multi: "first, second", scriptName: "/", url: "https://lambda-alb-123578498.us-east-1.elb.amazonaws.com/echo/items?tag=a&tag=b&q=caf%C3%A9%20%26%20tea" },
];

describe(`toLambdaHandler: the request an event describes (${runtime})`, () => {
  for (const kind of kinds) {
    test(`${kind.name}: method, path, query, headers, cookies, body, client address`, async () => {
      const result = await handler(fixture(kind.file));
      assert.equal(result.statusCode, 200, result.body);
      assert.equal(result.isBase64Encoded, false);
      assert.deepEqual(json(result), {
        method: "POST",
        path: "/echo/items",
        scriptName: kind.scriptName,
        url: kind.url,
        tags: kind.tags,
        q: "café & tea",
        multi: kind.multi,
        cookies: { flavour: "mocha", size: "large" },
        body: { drink: "mocha" },
        remoteAddr: "198.51.100.7",
      });
    });
  }

  test("HTTP API on a named stage: the stage is req.scriptName, not part of the path", async () => {
    const event = fixture("http-api-v2");
    event.requestContext.stage = "prod";
    event.rawPath = "/prod/echo/items";
    const got = json(await handler(event));
    assert.deepEqual([got.scriptName, got.path], ["/prod/", "/echo/items"]);
    assert.match(got.url, /amazonaws\.com\/prod\/echo\/items\?/);
  });

  test("HTTP API under a custom domain: a path that starts like the stage is left alone", async () => {
    const event = fixture("http-api-v2");
    event.requestContext.stage = "echo";
    event.requestContext.domainName = "api.example.com";
    const got = json(await handler(event));
    assert.deepEqual([got.scriptName, got.path], ["/", "/echo/items"]);
  });

  test("API Gateway REST at the stage root: / under /Prod/", async () => {
    const got = json(await handler(get(fixture("apigateway-rest-v1"), "/")));
    assert.deepEqual([got.method, got.scriptName, got.path, got.body], ["GET", "/Prod/", "/", null]);
  });
});

describe(`toLambdaHandler: the answer in each event source's shape (${runtime})`, () => {
  const twoCookies = ["flavour=mocha; Path=/; HttpOnly", "size=large; Max-Age=60; Path=/"];

  test("payload 2.0 (HTTP API, Function URL): Set-Cookie lines in `cookies`, not in headers", async () => {
    for (const file of ["http-api-v2", "function-url"]) {
      const result = await handler(get(fixture(file), "/cookies"));
      assert.deepEqual(result.cookies, twoCookies);
      assert.equal(result.headers!["set-cookie"], undefined);
      assert.deepEqual([result.statusCode, result.body, result.isBase64Encoded], [200, "two cookies", false]);
      assert.equal(result.multiValueHeaders, undefined);
    }
  });

  test("API Gateway REST: Set-Cookie lines in multiValueHeaders, other headers in headers", async () => {
    const result = await handler(get(fixture("apigateway-rest-v1"), "/cookies"));
    assert.deepEqual(result.multiValueHeaders, { "set-cookie": twoCookies });
    assert.match(result.headers!["content-type"], /^text\/html/);
    assert.equal(result.cookies, undefined);
  });

  test("ALB with multi-value headers: every header in multiValueHeaders, and a status description", async () => {
    const result = await handler(get(fixture("alb-multi-value"), "/cookies"));
    assert.deepEqual(result.multiValueHeaders!["set-cookie"], twoCookies);
    assert.match(result.multiValueHeaders!["content-type"][0], /^text\/html/);
    assert.equal(result.headers, undefined);
    assert.equal(result.statusDescription, "200 OK");
  });

  test("ALB with single-value headers: headers only (one Set-Cookie fits; a warning says how to send more)", async () => {
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (message: string) => warnings.push(message);
    try {
      const result = await handler(get(fixture("alb"), "/cookies"));
      assert.equal(result.multiValueHeaders, undefined);
      assert.equal(result.headers!["set-cookie"], twoCookies[0]);
      assert.equal(result.statusDescription, "200 OK");
    } finally {
      console.warn = warn;
    }
    assert.match(warnings.join("\n"), /Enable multi-value headers on the target group/);
  });

  test("binary answers go base64, text and JSON as text", async () => {
    for (const kind of kinds) {
      const png = await handler(get(fixture(kind.file), "/logo.png"));
      assert.equal(png.isBase64Encoded, true, kind.name);
      assert.deepEqual(Uint8Array.from(atob(png.body), (c) => c.charCodeAt(0)), PNG_SIGNATURE);
      const text = await handler(get(fixture(kind.file), "/stream"));
      assert.deepEqual([text.isBase64Encoded, text.body], [false, "chunk 1\nchunk 2\nchunk 3\n"], kind.name);
    }
  });

  test("a handler's exception is a 500 page without the stack trace; abort(418) keeps its status", async () => {
    const error = console.error;
    console.error = () => {};
    try {
      const boom = await handler(get(fixture("http-api-v2"), "/boom"));
      assert.equal(boom.statusCode, 500);
      assert.doesNotMatch(boom.body, /the handler failed|at /);
    } finally {
      console.error = error;
    }
    const teapot = await handler(get(fixture("alb-multi-value"), "/teapot"));
    assert.deepEqual([teapot.statusCode, teapot.statusDescription], [418, "418 I'm a teapot"]);
    assert.match(teapot.body, /No coffee here\./);
  });
});

describe(`toLambdaHandler: bad events (${runtime})`, () => {
  test("a body marked base64 that is not answers 400", async () => {
    const event = fixture("function-url");
    event.isBase64Encoded = true;
    event.body = "not base64!";
    const result = await handler(event);
    assert.equal(result.statusCode, 400);
    assert.match(result.body, /could not be read/);
  });

  test("a header a Request cannot hold answers 400, and the handler keeps answering", async () => {
    const event = fixture("apigateway-rest-v1");
    event.multiValueHeaders["bad header"] = ["x"];
    assert.equal((await handler(event)).statusCode, 400);
    assert.equal((await handler(fixture("apigateway-rest-v1"))).statusCode, 200);
  });

  test("an event that is not HTTP (an SQS batch) rejects with what to do", async () => {
    const sqs = { Records: [{ messageId: "1", body: "hi", eventSource: "aws:sqs" }] } as unknown as LambdaHttpEvent;
    await assert.rejects(handler(sqs), /not an HTTP event .*handler of their own/);
  });

  test("streaming without awslambda.streamifyResponse throws at start-up, saying where it works", () => {
    const g = globalThis as { awslambda?: unknown };
    const saved = g.awslambda;
    delete g.awslambda;
    try {
      assert.throws(() => toLambdaHandler(app, { streaming: true }), /no awslambda\.streamifyResponse.*Leave streaming off/);
    } finally {
      if (saved) g.awslambda = saved;
    }
  });
});
