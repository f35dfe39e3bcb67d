/**
 * In-process cost of one FastCGI request, without sockets: the engine of
 * adapters/fastcgi/mod.ts fed the bytes nginx sends for `GET /fcgi/hello` (keep-conn, the
 * Debian fastcgi_params, a split SCRIPT_NAME/PATH_INFO), answered by a Carafe app.
 * Measures the JavaScript work per request (record parsing, params, the request
 * object, the app, the header block, record framing) on the runtime running it.
 *
 *   deno run -A bench/fastcgi_micro.ts  |  bun bench/fastcgi_micro.ts  |  node (tsc build)
 *
 * Options: --requests=N (default 200000), --conns=N parallel connections (default 50).
 * Reports CPU time per request (process.cpuUsage), which a busy machine disturbs less
 * than wall time.
 *
 * @module
 */
import { createFastCgiEngine, encodeParams, encodeRecord, FCGI } from "../adapters/fastcgi/mod.ts";
import type { StreamHandlers, StreamSocket } from "../shims/socket.ts";
import { Carafe } from "../core/app.ts";
import { args, runtime } from "../shims/runtime.ts";
import process from "node:process";

const arg = (name: string, dflt: number) => Number(args().find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const requests = arg("requests", 200_000);
const conns = arg("conns", 50);

const app = new Carafe().get("/hello", () => "Hello, World!");

// What nginx 1.22 (Debian fastcgi_params + fastcgi_split_path_info) sends; wrk sends only Host.
const params: [string, string][] = [
  ["QUERY_STRING", ""], ["REQUEST_METHOD", "GET"], ["CONTENT_TYPE", ""], ["CONTENT_LENGTH", ""],
  ["SCRIPT_NAME", "/fcgi"], ["REQUEST_URI", "/fcgi/hello"], ["DOCUMENT_URI", "/fcgi/hello"],
  ["DOCUMENT_ROOT", "/tmp/nginx/html"], ["SERVER_PROTOCOL", "HTTP/1.1"], ["REQUEST_SCHEME", "http"],
  ["GATEWAY_INTERFACE", "CGI/1.1"], ["SERVER_SOFTWARE", "nginx/1.22.1"], ["REMOTE_ADDR", "127.0.0.1"],
  ["REMOTE_PORT", "34506"], ["REMOTE_USER", ""], ["SERVER_ADDR", "127.0.0.1"], ["SERVER_PORT", "34353"],
  ["SERVER_NAME", ""], ["REDIRECT_STATUS", "200"], ["HTTP_HOST", "127.0.0.1"], ["SCRIPT_NAME", "/fcgi"],
  ["PATH_INFO", "/hello"],
];
const parts = [
  encodeRecord(FCGI.BEGIN_REQUEST, 1, new Uint8Array([0, 1, 1, 0, 0, 0, 0, 0])),
  encodeRecord(FCGI.PARAMS, 1, encodeParams(params)),
  encodeRecord(FCGI.PARAMS, 1),
  encodeRecord(FCGI.STDIN, 1),
];
const request = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
parts.reduce((o, p) => (request.set(p, o), o + p.length), 0);

const engine = createFastCgiEngine({ app, log: (l) => console.error(l) });
let done = 0, sent = 0, bytesOut = 0, total = 0;
let finish!: () => void;

function connect(): void {
  const socket: StreamSocket = {
    remoteAddress: "127.0.0.1",
    buffered: 0,
    closed: false,
    write(bytes) {
      bytesOut += bytes.length;
      // END_REQUEST is the last record of an answer.
      if (bytes[bytes.length - 16 + 1] === FCGI.END_REQUEST) {
        done++;
        if (sent < total) {
          sent++;
          queueMicrotask(() => handlers.data(request));
        } else if (done === total) finish();
      }
      return true;
    },
    pause() {},
    resume() {},
    end() {},
    destroy() {},
  };
  const handlers: StreamHandlers = engine.accept(socket); // (write() runs only after this)
  sent++;
  handlers.data(request);
}

/** Runs `n` requests over `conns` connections; resolves with the CPU µs (user + system) they took. */
async function round(n: number): Promise<number> {
  done = sent = bytesOut = 0;
  total = n;
  const finished = new Promise<void>((r) => (finish = r));
  const c0 = process.cpuUsage();
  for (let i = 0; i < conns; i++) connect();
  await finished;
  const c = process.cpuUsage(c0);
  return c.user + c.system;
}

await round(Math.min(requests, 50_000)); // warm-up (JIT)
const rounds: number[] = [];
for (let r = 0; r < 5; r++) rounds.push((await round(requests / 5)) / (requests / 5));
rounds.sort((a, b) => a - b);
// CPU time, not wall time: it does not count the time other processes had the core.
console.log(`${runtime}: ${requests} requests over ${conns} connections: ${rounds[2].toFixed(2)} CPU µs/request (median of 5; min ${rounds[0].toFixed(2)}), ${bytesOut / (requests / 5)} bytes out each`);
await engine.close(0);
