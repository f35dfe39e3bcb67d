/**
 * CGI/1.1 (RFC 3875): `run({ server: "cgi" })` answers the one request described by
 * the environment and stdin, on stdout, and is done. The web server (Apache
 * `mod_cgi[d]`, lighttpd `mod_cgi`, nginx + fcgiwrap) starts the process once per
 * request, so this module imports only what a request needs: `gateway.ts` (request
 * mapping and the header block) and `shims/runtime.ts` — no `node:` modules.
 *
 * - Body: exactly `CONTENT_LENGTH` bytes of stdin. With no length, stdin to EOF when a
 *   body is expected (a method other than GET/HEAD, or `HTTP_TRANSFER_ENCODING`: Apache
 *   passes chunked uploads that way), unless stdin is a terminal (started by hand:
 *   EOF would never come). Whatever the app did not read is drained before exit,
 *   because a server writing a body nobody reads gets EPIPE (Apache then sends an
 *   empty reply) — and drained *while* the answer is written, because Apache's
 *   mod_cgid writes the whole body before reading the answer (a large unread body
 *   plus a large answer would otherwise deadlock).
 * - Response: headers + `Status:` line + blank line + body, binary-safe and streamed;
 *   a 500 if the answer cannot be written at all.
 * - Errors go to stderr (the server's error log); outside a CGI environment (no
 *   `REQUEST_METHOD`) a short explanation and exit code 1 instead of a stack trace.
 * - The process exits (0, or 1 when the answer could not be completed) as soon as the
 *   answer is written, whatever the app still keeps alive: the server waits for it.
 *
 * @example
 * ```ts
 * // app.cgi:  #!/usr/bin/env -S deno run -A
 * import { Carafe } from "../mod.ts";
 * import { cgiAdapter } from "./cgi.ts";
 * const app = new Carafe().get("/", () => "Hello from CGI");
 * await cgiAdapter.serve({
 *   app, host: "", port: 0, quiet: true, debug: false, trustProxy: false,
 *   maxBodySize: Infinity, shutdownTimeout: 0, log: () => {},
 * });
 * ```
 *
 * @module
 */

import type { Adapter, ServeOptions, Server } from "./adapter.ts";

export type { Adapter, ServeOptions, Server, TlsOptions, TrustProxy } from "./adapter.ts";
import { answer, type GatewayAnswer, GatewayRequest, simpleAnswer } from "./gateway.ts";
import { envAll, exit, runtime, writeStderr } from "../shims/runtime.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/**
 * Whether this process was started as a CGI program (`GATEWAY_INTERFACE` and
 * `REQUEST_METHOD` are set), so that `run()`'s `auto` can pick the `cgi` adapter.
 *
 * @example
 * ```ts
 * import { isCgiEnvironment } from "./cgi.ts";
 * if (isCgiEnvironment()) console.error("running as a CGI program");
 * ```
 */
export function isCgiEnvironment(): boolean {
  const env = envAll();
  return /^CGI\/1\.\d/i.test(env.GATEWAY_INTERFACE ?? "") && !!env.REQUEST_METHOD;
}

/** A pull-based reader of stdin that never reads more than asked for. */
interface Stdin {
  read(): Promise<Uint8Array | null>;
  close(): void;
}

// On Bun, `process.stdin` and `process.stdout` cost ~10 ms each to set up (the node
// stream layer), as much as Bun's whole start: Bun.stdin / Bun.write are used instead.

function openStdin(): Stdin {
  if (runtime === "deno" || runtime === "bun") {
    const readable = runtime === "deno" ? g.Deno.stdin.readable : g.Bun.stdin.stream();
    const reader = readable.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    return {
      read: async () => {
        const { done, value } = await reader.read();
        return done ? null : value;
      },
      close: () => void reader.cancel().catch(() => {}),
    };
  }
  // Node: process.stdin in paused mode, one chunk per read.
  const stdin = g.process.stdin;
  let ended = false;
  stdin.on("end", () => (ended = true));
  stdin.on("error", () => (ended = true));
  return {
    read: () =>
      new Promise((resolve) => {
        const chunk = stdin.read();
        if (chunk) return resolve(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if (ended) return resolve(null);
        const onReadable = () => {
          const c = stdin.read();
          if (c) {
            cleanup();
            resolve(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
          }
        };
        const onEnd = () => {
          cleanup();
          resolve(null);
        };
        const cleanup = () => {
          stdin.off("readable", onReadable);
          stdin.off("end", onEnd);
          stdin.off("error", onEnd);
        };
        stdin.on("readable", onReadable);
        stdin.on("end", onEnd);
        stdin.on("error", onEnd);
      }),
    close: () => {
      stdin.pause?.();
      stdin.destroy?.();
    },
  };
}

/** Writes to stdout, waiting when the pipe is full; resolves once the bytes are handed over. */
function openStdout(): { write(bytes: Uint8Array): Promise<void>; close(): Promise<void> } {
  if (runtime === "deno") {
    const writer = g.Deno.stdout.writable.getWriter() as WritableStreamDefaultWriter<Uint8Array>;
    return {
      write: (bytes) => writer.write(bytes),
      close: async () => {
        await writer.ready;
        writer.releaseLock();
      },
    };
  }
  if (runtime === "bun") {
    return {
      write: async (bytes) => void await g.Bun.write(g.Bun.stdout, bytes),
      close: () => Promise.resolve(),
    };
  }
  const stdout = g.process.stdout;
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        stdout.write(bytes, (error: Error | null | undefined) => (error ? reject(error) : resolve()));
      }),
    close: () => Promise.resolve(),
  };
}

/** Whether stdin is a terminal (a CGI program started by hand): then it is never read to EOF. */
function stdinIsTerminal(): boolean {
  try {
    if (runtime === "deno") return g.Deno.stdin.isTerminal();
    const tty = g.process?.getBuiltinModule?.("node:tty");
    if (tty) return tty.isatty(0);
    return g.process?.stdin?.isTTY === true;
  } catch {
    return false;
  }
}

/**
 * Answers one CGI request from `env` and stdin on stdout. Resolves with the exit code
 * (0, or 1 when the response could not be completed).
 *
 * @example
 * ```ts
 * import { serveCgi } from "./cgi.ts";
 * const code = await serveCgi({ fetch: () => new Response("hi") }, { REQUEST_METHOD: "GET" });
 * ```
 */
export async function serveCgi(
  app: ServeOptions["app"],
  env: Record<string, string> = envAll(),
  log: (line: string) => void = (line) => writeStderr(line + "\n"),
): Promise<number> {
  const params = new Map(Object.entries(env));
  const stdout = openStdout();
  let request: GatewayRequest;
  // The app's error lines for this request (ServeInfo.log) are not written again: its
  // logger already writes them to stderr, which is the web server's error log here.
  // They only tell that the app reported a failure itself (then ours would repeat it).
  let appLogged = false;
  try {
    request = new GatewayRequest(params, () => (appLogged = true));
  } catch (error) {
    log(`CGI: ${(error as Error).message}`);
    await writeAnswer(stdout, simpleAnswer(400, "Bad Request\n")).catch(() => {});
    await stdout.close();
    return 1;
  }
  // The body: exactly CONTENT_LENGTH bytes when it is given (RFC 3875 §4.2). Without
  // it, stdin to EOF when a body is expected: a method other than GET/HEAD, or a
  // chunked upload (Apache passes those with no CONTENT_LENGTH and
  // HTTP_TRANSFER_ENCODING set). Never from a terminal: a program started by hand
  // would wait for a ^D that nobody types.
  const declared = request.contentLength;
  const hasBody = declared !== undefined ? declared > 0 : (request.hasBody || !!env.HTTP_TRANSFER_ENCODING) && !stdinIsTerminal();
  let stdin: Stdin | undefined;
  let remaining = declared ?? Infinity;
  let body: ReadableStream<Uint8Array> | undefined;
  if (hasBody) {
    stdin = openStdin();
    const input = stdin;
    body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (remaining <= 0) return controller.close();
        const chunk = await input.read();
        if (chunk === null) {
          if (declared !== undefined) {
            const error = new Error(`request body truncated: stdin ended ${remaining} bytes early`);
            request.abort(error);
            return controller.error(error);
          }
          remaining = 0;
          return controller.close();
        }
        // Never hand the app more than CONTENT_LENGTH bytes (RFC 3875 §4.2).
        const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
        remaining -= part.length;
        controller.enqueue(part);
        if (remaining <= 0) controller.close();
      },
    });
    request.setBody(body);
  }
  // Whatever the app leaves unread is read and dropped, so the server does not get
  // EPIPE writing it (Apache then sends an empty reply).
  let draining: Promise<void> | undefined;
  const drain = (): Promise<void> =>
    draining ??= (async () => {
      if (!stdin) return;
      try {
        while (remaining > 0) {
          const chunk = await stdin.read();
          if (chunk === null) break;
          remaining -= chunk.length;
        }
      } catch { /* stdin already gone */ }
      stdin.close();
    })();
  let out: GatewayAnswer;
  let code = 0;
  try {
    out = await answer(app, request, (error) => log(`CGI: ${errorText(error)}`));
  } catch (error) {
    // Our bug, or an answer we cannot write (a fetch app returning garbage): a 500 rather than no header at all.
    log(`CGI: internal error: ${errorText(error)}`);
    out = simpleAnswer(500, "Internal Server Error\n");
    code = 1;
  }
  // Drain *while* writing the answer when the app is done with the body (it never
  // touched it, or its answer is complete bytes): Apache's mod_cgid writes the whole
  // request body before it reads our output, so with both pipes full, draining only
  // after a large answer would deadlock until Apache's timeout.
  const streamed = out.body !== null && !(out.body instanceof Uint8Array);
  if (body && (!body.locked || !streamed)) {
    if (!body.locked) body.cancel().catch(() => {});
    drain();
  }
  try {
    await writeAnswer(stdout, out);
  } catch (error) {
    // A Carafe app logs a failing stream before it fails it: one failure, one line.
    if (!appLogged) log(`CGI: error while sending the response: ${errorText(error)}`);
    code = 1;
  }
  await stdout.close();
  await drain();
  return code;
}

const encoder = new TextEncoder();

/** Writes the header block and the body (in one write when it is bytes). */
async function writeAnswer(stdout: { write(bytes: Uint8Array): Promise<void> }, out: GatewayAnswer): Promise<void> {
  const head = encoder.encode(out.head);
  if (out.body === null || out.body instanceof Uint8Array) {
    if (!out.body || out.body.length === 0) return stdout.write(head);
    const all = new Uint8Array(head.length + out.body.length);
    all.set(head, 0);
    all.set(out.body, head.length);
    return stdout.write(all);
  }
  await stdout.write(head);
  const reader = out.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value.length) await stdout.write(value);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/**
 * The `cgi` adapter: `run({ server: "cgi" })` in a script the web server executes.
 * Prints nothing but the response on stdout. Started by hand (no `REQUEST_METHOD`),
 * it explains itself on stderr and exits with code 1.
 *
 * @example
 * ```ts
 * import { cgiAdapter } from "./cgi.ts";
 * if (Deno.env.get("REQUEST_METHOD")) {
 *   await cgiAdapter.serve({
 *     app: { fetch: () => new Response("hi") }, host: "", port: 0, quiet: true, debug: false,
 *     trustProxy: false, maxBodySize: Infinity, shutdownTimeout: 0, log: () => {},
 *   });
 * }
 * ```
 */
export const cgiAdapter: Adapter = {
  name: "cgi",
  label: "CGIServer()",
  silent: true,
  serve(options: ServeOptions): Server {
    const env = envAll();
    if (!env.REQUEST_METHOD) {
      writeStderr(
        "Carafe: the cgi server answers one request from a web server, but REQUEST_METHOD is not set:\n" +
          "this process was not started as a CGI program. Configure it as a CGI script in Apache\n" +
          "(ScriptAlias / mod_cgid), lighttpd (mod_cgi) or nginx + fcgiwrap, or pick another server\n" +
          "(e.g. run({ server: \"auto\" }) or `carafe --server auto`) to serve HTTP directly.\n",
      );
      exit(1);
    }
    const log = (line: string) => writeStderr(line + "\n");
    // The answer is complete once serveCgi resolves (written, stdout handed over, stdin
    // drained): the process exits then, even if the app keeps something alive (a
    // module-level setInterval, an open connection), since the web server waits for the
    // program to end. `finished` resolves first, so code awaiting it still runs (until
    // it waits for something else).
    const finished = serveCgi(options.app, env, log).then((code) => {
      setTimeout(() => exit(code), 0);
    });
    return { url: "cgi:", close: () => finished, finished };
  },
};
