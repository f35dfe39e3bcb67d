/**
 * CGI/1.1 (RFC 3875): `run({ server: "cgi" })` answers the one request described by
 * the environment and stdin, on stdout, and is done. The web server (Apache
 * `mod_cgi[d]`, lighttpd `mod_cgi`, nginx + fcgiwrap) starts the process once per
 * request, so this module imports only what a request needs: `gateway.ts` (request
 * mapping and the header block), `shims/stdio.ts` (stdin and stdout) and
 * `shims/runtime.ts` — no `node:` modules.
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
 *   app, host: "", port: 0, quiet: true,
 *   maxBodySize: Infinity, shutdownTimeout: 0, log: () => {},
 * });
 * ```
 *
 * @module
 */

import type { Adapter, ServeOptions, Server } from "./adapter.ts";

export type { Adapter, ServeOptions, Server, TlsOptions, TrustProxy } from "./adapter.ts";
import { answer, type GatewayAnswer, GatewayRequest, simpleAnswer } from "./gateway.ts";
import { envAll, exit, writeStderr } from "../shims/runtime.ts";
import { openStdin, openStdout, type StdinReader, stdinIsTerminal, type StdoutWriter } from "../shims/stdio.ts";

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

/** What {@linkcode serveCgi} answers. */
export interface CgiOptions {
  /** The app (a Carafe app or any fetch handler). */
  app: ServeOptions["app"];
  /** The CGI meta-variables; default: this process's environment. */
  env?: Record<string, string>;
  /** Where error lines go; default: stderr, which is the web server's error log. */
  log?: (line: string) => void;
}

/**
 * The request body: exactly `CONTENT_LENGTH` bytes of stdin when it is given (RFC 3875
 * §4.2), else stdin to EOF; and, once the app is done with it, the drain of whatever it
 * left unread, so that the web server does not get EPIPE writing it (Apache then sends
 * an empty reply).
 */
class StdinBody {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #stdin: StdinReader;
  #remaining: number;
  #draining?: Promise<void>;

  /** `declared`: CONTENT_LENGTH, if given; `onTruncated`: stdin ended before it. */
  constructor(declared: number | undefined, onTruncated: (error: Error) => void) {
    const stdin = (this.#stdin = openStdin());
    this.#remaining = declared ?? Infinity;
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (this.#remaining <= 0) return controller.close();
        const chunk = await stdin.read();
        if (chunk === null) {
          if (declared !== undefined) {
            const error = new Error(`request body truncated: stdin ended ${this.#remaining} bytes early`);
            onTruncated(error);
            return controller.error(error);
          }
          this.#remaining = 0;
          return controller.close();
        }
        // Never hand the app more than CONTENT_LENGTH bytes (RFC 3875 §4.2).
        const part = chunk.length > this.#remaining ? chunk.subarray(0, this.#remaining) : chunk;
        this.#remaining -= part.length;
        controller.enqueue(part);
        if (this.#remaining <= 0) controller.close();
      },
    });
  }

  /** Reads and drops what is left of the body (once; later calls share the first). */
  drain(): Promise<void> {
    return this.#draining ??= (async () => {
      try {
        while (this.#remaining > 0) {
          const chunk = await this.#stdin.read();
          if (chunk === null) break;
          this.#remaining -= chunk.length;
        }
      } catch { /* stdin already gone */ }
      this.#stdin.close();
    })();
  }
}

/**
 * Whether the request has a body to read from stdin. Without CONTENT_LENGTH, stdin to
 * EOF when a body is expected: a method other than GET/HEAD, or a chunked upload
 * (Apache passes those with no CONTENT_LENGTH and HTTP_TRANSFER_ENCODING set). Never
 * from a terminal: a program started by hand would wait for a ^D that nobody types.
 */
function expectsBody(request: GatewayRequest, env: Record<string, string>): boolean {
  const declared = request.contentLength;
  if (declared !== undefined) return declared > 0;
  return (request.hasBody || !!env.HTTP_TRANSFER_ENCODING) && !stdinIsTerminal();
}

/** The app's answer, or a 500 (exit code 1) when there is none we can write. */
async function appAnswer(
  app: ServeOptions["app"],
  request: GatewayRequest,
  log: (line: string) => void,
): Promise<{ out: GatewayAnswer; code: number }> {
  try {
    return { out: await answer(app, request, (error) => log(`CGI: ${errorText(error)}`)), code: 0 };
  } catch (error) {
    // Our bug, or an answer we cannot write (a fetch app returning garbage): a 500 rather than no header at all.
    log(`CGI: internal error: ${errorText(error)}`);
    return { out: simpleAnswer(500, "Internal Server Error\n"), code: 1 };
  }
}

/**
 * Answers one CGI request from `env` and stdin on stdout. Resolves with the exit code
 * (0, or 1 when the response could not be completed).
 *
 * @example
 * ```ts
 * import { serveCgi } from "./cgi.ts";
 * const code = await serveCgi({ app: { fetch: () => new Response("hi") }, env: { REQUEST_METHOD: "GET" } });
 * ```
 */
export async function serveCgi(options: CgiOptions): Promise<number> {
  const env = options.env ?? envAll();
  const log = options.log ?? ((line: string) => writeStderr(line + "\n"));
  const stdout = openStdout();
  let request: GatewayRequest;
  // The app's error lines for this request (ServeInfo.log) are not written again: its
  // logger already writes them to stderr, which is the web server's error log here.
  // They only tell that the app reported a failure itself (then ours would repeat it).
  let appLogged = false;
  try {
    request = new GatewayRequest(new Map(Object.entries(env)), () => (appLogged = true));
  } catch (error) {
    log(`CGI: ${(error as Error).message}`);
    await writeAnswer(stdout, simpleAnswer(400, "Bad Request\n")).catch(() => {});
    await stdout.close();
    return 1;
  }
  const body = expectsBody(request, env) ? new StdinBody(request.contentLength, (e) => request.abort(e)) : undefined;
  if (body) request.setBody(body.stream);
  const { out, code } = await appAnswer(options.app, request, log);
  // Drain *while* writing the answer when the app is done with the body (it never
  // touched it, or its answer is complete bytes): Apache's mod_cgid writes the whole
  // request body before it reads our output, so with both pipes full, draining only
  // after a large answer would deadlock until Apache's timeout.
  const streamed = out.body !== null && !(out.body instanceof Uint8Array);
  if (body && (!body.stream.locked || !streamed)) {
    if (!body.stream.locked) body.stream.cancel().catch(() => {});
    body.drain();
  }
  let exitCode = code;
  try {
    await writeAnswer(stdout, out);
  } catch (error) {
    // A Carafe app logs a failing stream before it fails it: one failure, one line.
    if (!appLogged) log(`CGI: error while sending the response: ${errorText(error)}`);
    exitCode = 1;
  }
  await stdout.close();
  await body?.drain();
  return exitCode;
}

const encoder = new TextEncoder();

/** Writes the header block and the body (in one write when it is bytes). */
async function writeAnswer(stdout: Pick<StdoutWriter, "write">, out: GatewayAnswer): Promise<void> {
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
 * import { cgiAdapter, isCgiEnvironment } from "./cgi.ts";
 * if (isCgiEnvironment()) {
 *   await cgiAdapter.serve({
 *     app: { fetch: () => new Response("hi") }, host: "", port: 0, quiet: true,
 *     maxBodySize: Infinity, shutdownTimeout: 0, log: () => {},
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
    const finished = serveCgi({ app: options.app, env, log }).then((code) => {
      setTimeout(() => exit(code), 0);
    });
    return { url: "cgi:", close: () => finished, finished };
  },
};
