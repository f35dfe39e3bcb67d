/**
 * AWS Lambda: {@linkcode toLambdaHandler} turns a Carafe app (or any `fetch` app) into
 * a Lambda handler for the HTTP events Lambda delivers — API Gateway REST APIs, HTTP
 * APIs, Function URLs and Application Load Balancers. Lambda owns the server, as
 * Bottle's `gae` adapter let App Engine own it: there is no `run()`.
 *
 * @example
 * ```ts
 * // index.ts, bundled to index.mjs; the function's handler is "index.handler"
 * import { Carafe } from "../../app.ts";
 * import { toLambdaHandler } from "./mod.ts";
 *
 * const app = new Carafe();
 * app.get("/hello/<name>", (req) => `Hello ${req.params.name}!`);
 * const handler = toLambdaHandler(app); // export it as the function's handler
 * ```
 *
 * @module
 */
import type { FetchHandler, ServeInfo } from "../../core/contract.ts";
import { eventToRequest, type LambdaHttpEvent } from "./events.ts";
import { type LambdaResult, responseToResult, splitHeaders } from "./result.ts";

export { eventKind, eventToRequest } from "./events.ts";
export type { AlbEvent, ApiGatewayV1Event, ConvertedEvent, EventKind, HttpApiV2Event, LambdaHttpEvent, MultiMap, StringMap, V1Fields } from "./events.ts";
export type { FetchHandler, ServeInfo } from "../../core/contract.ts";
export { isTextBody, responseToResult } from "./result.ts";
export type { LambdaResult } from "./result.ts";

/** Options of {@linkcode toLambdaHandler}. */
export interface LambdaHandlerOptions {
  /**
   * Stream answers as they are produced (a Function URL with invoke mode
   * `RESPONSE_STREAM`): the handler is wrapped with the runtime's
   * `awslambda.streamifyResponse`. Default false: the answer is sent whole, which
   * every HTTP event source accepts.
   */
  streaming?: boolean;
}

/** A buffered Lambda HTTP handler: the event in, the result object out. */
export type LambdaHandler = (event: LambdaHttpEvent, context?: unknown) => Promise<LambdaResult>;

/**
 * A streaming handler, as `awslambda.streamifyResponse` returns it: Lambda calls it
 * with the event and reads the answer from the stream it passes in.
 */
export type LambdaStreamingHandler = (event: LambdaHttpEvent, context?: unknown) => Promise<unknown>;

/** The writable stream Lambda hands a streaming handler (Node's `Writable`, used by duck type). */
export interface LambdaResponseStream {
  /** Writes a chunk; `false` asks the writer to wait for `drain`. */
  write(chunk: Uint8Array): boolean;
  /** Ends the answer. */
  end(): void;
  /** Calls `listener` once the stream can take more. */
  once(event: "drain", listener: () => void): unknown;
}

/** The globals the Lambda Node.js runtime provides for response streaming. */
interface AwsLambdaGlobal {
  streamifyResponse(handler: (event: LambdaHttpEvent, stream: LambdaResponseStream, context?: unknown) => Promise<void>): LambdaStreamingHandler;
  HttpResponseStream: {
    from(stream: LambdaResponseStream, metadata: { statusCode: number; headers: Record<string, string>; cookies?: string[] }): LambdaResponseStream;
  };
}

const BAD_REQUEST: LambdaResult = {
  statusCode: 400,
  headers: { "content-type": "text/plain; charset=utf-8" },
  body: "Bad Request: the request could not be read (invalid header or body).\n",
  isBase64Encoded: false,
};

/**
 * A Lambda handler that answers HTTP events with `app`. The event's kind picks the
 * answer's shape (payload 1.0 or 2.0, ALB single or multi-value headers). `req.scriptName`
 * is the stage prefix API Gateway adds to the URL (`/prod`), `req.remoteAddr` the
 * client's address as API Gateway or the load balancer saw it. A request whose headers
 * or base64 body cannot be read answers 400. An event that is not HTTP throws, so that
 * Lambda reports it as the function's error.
 *
 * With `{ streaming: true }` the handler is wrapped by `awslambda.streamifyResponse`
 * (the Lambda Node.js runtime provides it) and writes the answer as the app produces it.
 *
 * @example
 * ```ts
 * import { Carafe } from "../../app.ts";
 * import { toLambdaHandler } from "./mod.ts";
 * const app = new Carafe().get("/", () => "Hello from Lambda!");
 * const handler = toLambdaHandler(app); // export it as the function's handler
 * // A Function URL in RESPONSE_STREAM mode:
 * // export const handler = toLambdaHandler(app, { streaming: true });
 * ```
 */
export function toLambdaHandler(app: FetchHandler, options: { streaming: true }): LambdaStreamingHandler;
/** A buffered handler (the default): see the first signature. */
export function toLambdaHandler(app: FetchHandler, options?: { streaming?: false }): LambdaHandler;
export function toLambdaHandler(app: FetchHandler, options: LambdaHandlerOptions = {}): LambdaHandler | LambdaStreamingHandler {
  if (options.streaming) return streamingHandler(app);
  return async (event) => {
    const converted = convert(event);
    if (!converted) return { ...BAD_REQUEST };
    const jobs = collectJobs(converted.info);
    const response = await app.fetch(converted.request, converted.info);
    const result = await responseToResult(response, converted.kind);
    await settled(jobs);
    return result;
  };
}

/**
 * `req.waitUntil` under Lambda: the jobs are collected and awaited before the handler
 * returns, because Lambda freezes the process once it has the answer (a job left
 * running would resume, if ever, during a later invocation).
 */
function collectJobs(info: ServeInfo): Promise<unknown>[] {
  const jobs: Promise<unknown>[] = [];
  info.waitUntil = (job) => void jobs.push(job);
  return jobs;
}

async function settled(jobs: Promise<unknown>[]): Promise<void> {
  // A job may hand out further jobs: wait until no new one came.
  for (let done = 0; done < jobs.length;) {
    const batch = jobs.slice(done);
    done = jobs.length;
    await Promise.allSettled(batch);
  }
}

// A TypeError from an HTTP event means a header or body a Request cannot hold (400);
// a non-HTTP event is the caller's mistake and is rethrown.
function convert(event: LambdaHttpEvent): ReturnType<typeof eventToRequest> | undefined {
  try {
    return eventToRequest(event);
  } catch (err) {
    if (err instanceof TypeError && !/not an HTTP event/.test(err.message)) return undefined;
    throw err;
  }
}

function streamingHandler(app: FetchHandler): LambdaStreamingHandler {
  const awslambda = (globalThis as { awslambda?: AwsLambdaGlobal }).awslambda;
  if (!awslambda?.streamifyResponse) {
    throw new Error(
      "toLambdaHandler({ streaming: true }): this runtime has no awslambda.streamifyResponse; response streaming " +
        "needs AWS Lambda's Node.js runtime (or a local runner that provides it, such as lambda-local). Leave streaming off elsewhere.",
    );
  }
  return awslambda.streamifyResponse(async (event, responseStream) => {
    const converted = convert(event);
    const jobs = converted ? collectJobs(converted.info) : [];
    const response = converted
      ? await app.fetch(converted.request, converted.info)
      : new Response(BAD_REQUEST.body, { status: 400, headers: BAD_REQUEST.headers });
    const { single, cookies } = splitHeaders(response.headers);
    const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: response.status, headers: single, cookies });
    await pipeBody(response.body, stream);
    await settled(jobs);
  });
}

/** Writes a body to Lambda's stream, waiting for `drain` when it asks to. */
async function pipeBody(body: ReadableStream<Uint8Array> | null, stream: LambdaResponseStream): Promise<void> {
  if (body) {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!stream.write(value)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()));
      }
    } finally {
      reader.releaseLock();
    }
  }
  stream.end();
}
