/**
 * Helpers for the FastCGI/CGI suites: a hand-written FastCGI client (independent of
 * the adapter's own codec), free-port picking, and config writers + start/stop (by
 * PID) for the real peers: nginx, Apache httpd, lighttpd, HAProxy, fcgiwrap.
 *
 * @module
 */
import net from "node:net";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import process from "node:process";
import { compiled, runtimeCommand, here, stop, waitForOutput, spawnScript } from "./_helpers.ts";

// ---------------------------------------------------------------------------
// A minimal FastCGI client

/** Record types, spelled out here again on purpose: the tests must not trust the adapter's table. */
export const T = { BEGIN: 1, ABORT: 2, END: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7, DATA: 8, GET_VALUES: 9, GET_VALUES_RESULT: 10, UNKNOWN_TYPE: 11 };

/** One raw record: header + content + `padding` zero bytes. */
export function rec(type: number, id: number, content: Uint8Array | string = new Uint8Array(0), padding = 0, version = 1): Uint8Array {
  const body = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const out = new Uint8Array(8 + body.length + padding);
  out.set([version, type, id >> 8, id & 255, body.length >> 8, body.length & 255, padding, 0]);
  out.set(body, 8);
  return out;
}

/** BEGIN_REQUEST content. */
export function begin(id: number, { role = 1, keep = false } = {}): Uint8Array {
  return rec(T.BEGIN, id, new Uint8Array([role >> 8, role & 255, keep ? 1 : 0, 0, 0, 0, 0, 0]));
}

/** Name-value pairs; `long` forces 4-byte lengths even for short names/values. */
export function pairs(list: [string, string][], long = false): Uint8Array {
  const bytes: number[] = [];
  const len = (n: number) => (n < 128 && !long ? bytes.push(n) : bytes.push(((n >>> 24) & 127) | 128, (n >>> 16) & 255, (n >>> 8) & 255, n & 255));
  for (const [n, v] of list) {
    const nb = new TextEncoder().encode(n), vb = new TextEncoder().encode(v);
    len(nb.length);
    len(vb.length);
    for (const b of nb) bytes.push(b); // (no spread: a value may be larger than an argument list)
    for (const b of vb) bytes.push(b);
  }
  return Uint8Array.from(bytes);
}

/** Concatenates byte arrays. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `bytes` as records of `type` of at most 65535 bytes each (none when empty). */
export function records(type: number, id: number, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length; o += 65535) out.push(rec(type, id, bytes.subarray(o, o + 65535)));
  return out;
}

/** A whole simple request: BEGIN, PARAMS (records + empty), STDIN (body records + empty). */
export function request(id: number, params: [string, string][], body: Uint8Array = new Uint8Array(0), keep = false): Uint8Array {
  return cat(begin(id, { keep }), ...records(T.PARAMS, id, pairs(params)), rec(T.PARAMS, id), ...records(T.STDIN, id, body), rec(T.STDIN, id));
}

/** Parsed record as the client sees it. */
export interface RawRecord {
  version: number;
  type: number;
  id: number;
  content: Uint8Array;
  padding: number;
}

/** A FastCGI client connection collecting every record the server sends. */
export class FcgiClient {
  readonly socket: net.Socket;
  readonly records: RawRecord[] = [];
  closed = false;
  #buf: Uint8Array = new Uint8Array(0);
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#buf = cat(this.#buf, new Uint8Array(chunk));
      while (this.#buf.length >= 8) {
        const b = this.#buf;
        const len = (b[4] << 8) | b[5];
        const total = 8 + len + b[6];
        if (b.length < total) break;
        this.records.push({ version: b[0], type: b[1], id: (b[2] << 8) | b[3], content: b.slice(8, 8 + len), padding: b[6] });
        this.#buf = b.slice(total);
      }
      this.#wake();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Connects to a TCP port or a Unix socket path. */
  static connect(target: number | string): Promise<FcgiClient> {
    return new Promise((resolve, reject) => {
      const socket = typeof target === "number" ? net.connect({ host: "127.0.0.1", port: target }) : net.connect({ path: target });
      socket.once("connect", () => resolve(new FcgiClient(socket)));
      socket.once("error", reject);
    });
  }

  /** Writes bytes. */
  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Writes bytes in pieces of `size`, each in its own write with a small pause (split across reads). */
  async sendSplit(bytes: Uint8Array, size = 1): Promise<void> {
    for (let o = 0; o < bytes.length; o += size) {
      this.socket.write(bytes.subarray(o, o + size));
      if (o % (size * 16) === 0) await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Waits until `done(records)` is true, or the connection closes, or `ms` pass (then throws). */
  async until(done: (records: RawRecord[]) => boolean, ms = 10000): Promise<RawRecord[]> {
    const deadline = Date.now() + ms;
    while (!done(this.records)) {
      if (this.closed) return this.records;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${this.records.map((r) => `${r.type}/${r.id}/${r.content.length}`).join(" ")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.records;
  }

  /** Waits for END_REQUEST of `id`. */
  ended(id: number, ms?: number): Promise<RawRecord[]> {
    return this.until((rs) => rs.some((r) => r.type === T.END && r.id === id), ms);
  }

  /** Waits for the server to close the connection. */
  async waitClosed(ms = 5000): Promise<boolean> {
    await this.until(() => false, ms).catch(() => {});
    return this.closed;
  }

  /** STDOUT bytes of request `id`, split into head (text) and body. */
  response(id: number): { status: number; head: string; headers: Map<string, string[]>; body: Uint8Array; text: string } {
    const out = cat(...this.records.filter((r) => r.type === T.STDOUT && r.id === id).map((r) => r.content));
    let end = -1;
    for (let i = 0; i + 3 < out.length; i++) if (out[i] === 13 && out[i + 1] === 10 && out[i + 2] === 13 && out[i + 3] === 10) {
      end = i;
      break;
    }
    const head = new TextDecoder().decode(out.subarray(0, end < 0 ? out.length : end));
    const body = end < 0 ? new Uint8Array(0) : out.subarray(end + 4);
    const headers = new Map<string, string[]>();
    for (const line of head.split("\r\n")) {
      const i = line.indexOf(":");
      const k = line.slice(0, i).toLowerCase();
      headers.set(k, [...(headers.get(k) ?? []), line.slice(i + 1).trim()]);
    }
    return { status: Number(headers.get("status")?.[0]?.slice(0, 3) ?? 0), head, headers, body, text: new TextDecoder().decode(body) };
  }

  /** END_REQUEST of `id` as [appStatus, protocolStatus]. */
  end(id: number): [number, number] | undefined {
    const r = this.records.find((r) => r.type === T.END && r.id === id);
    if (!r) return undefined;
    return [new DataView(r.content.buffer, r.content.byteOffset).getUint32(0), r.content[4]];
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy();
  }
}

/** Standard params for a GET through a prefix `/app`. */
export function get(path: string, extra: [string, string][] = []): [string, string][] {
  const [p, q = ""] = path.split("?");
  return [
    ["REQUEST_METHOD", "GET"],
    ["SCRIPT_NAME", "/app"],
    ["PATH_INFO", p],
    ["REQUEST_URI", "/app" + path],
    ["QUERY_STRING", q],
    ["SERVER_NAME", "localhost"],
    ["SERVER_PORT", "80"],
    ["REMOTE_ADDR", "127.0.0.1"],
    ...extra,
  ];
}

// ---------------------------------------------------------------------------
// A relay that watches the records

/** One record the spy saw: which relayed connection, which direction, when. */
export interface SpiedRecord {
  conn: number;
  dir: "in" | "out";
  type: number;
  id: number;
  /** BEGIN_REQUEST flags (1 = KEEP_CONN). */
  flags?: number;
  /** END_REQUEST protocolStatus. */
  protocolStatus?: number;
  /** GET_VALUES_RESULT pairs. */
  values?: Record<string, string>;
  at: number;
}

/** Decodes short name-value pairs (1-byte lengths). */
function shortPairs(content: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = new TextDecoder();
  for (let o = 0; o + 2 <= content.length;) {
    const n = content[o], v = content[o + 1];
    out[text.decode(content.subarray(o + 2, o + 2 + n))] = text.decode(content.subarray(o + 2 + n, o + 2 + n + v));
    o += 2 + n + v;
  }
  return out;
}

/**
 * A TCP relay between a web server and the app that decodes the records both ways,
 * so a test can see connections being reused, GET_VALUES, several requests in flight
 * on one connection, ABORT_REQUEST and its answer.
 */
export class RecordSpy {
  server: net.Server;
  port = 0;
  /** Connections accepted from the web server. */
  connections = 0;
  seen: SpiedRecord[] = [];
  maxInFlightOnOneConn = 0;
  errors: string[] = [];
  #sockets = new Set<net.Socket>();
  constructor(target: number | string) {
    // Half-open both ways: HAProxy may send ABORT_REQUEST and shut its side before the app's END_REQUEST.
    this.server = net.createServer({ allowHalfOpen: true }, (client) => {
      const conn = ++this.connections;
      this.#sockets.add(client);
      client.on("close", () => this.#sockets.delete(client));
      const active = new Set<number>();
      const upstream = typeof target === "number"
        ? net.connect({ host: "127.0.0.1", port: target, allowHalfOpen: true })
        : net.connect({ path: target, allowHalfOpen: true });
      this.#sockets.add(upstream);
      upstream.on("close", () => this.#sockets.delete(upstream));
      const watch = (dir: "in" | "out") => {
        let buf: Uint8Array = new Uint8Array(0);
        return (chunk: Uint8Array) => {
          buf = cat(buf, new Uint8Array(chunk));
          let o = 0;
          while (buf.length - o >= 8) {
            const len = (buf[o + 4] << 8) | buf[o + 5];
            const total = 8 + len + buf[o + 6];
            if (buf.length - o < total) break;
            const type = buf[o + 1], id = (buf[o + 2] << 8) | buf[o + 3];
            const content = buf.subarray(o + 8, o + 8 + len);
            const r: SpiedRecord = { conn, dir, type, id, at: Date.now() };
            if (type === T.BEGIN) r.flags = content[2];
            if (type === T.END) r.protocolStatus = content[4];
            if (type === T.GET_VALUES_RESULT) r.values = shortPairs(content);
            this.seen.push(r);
            if (dir === "in" && type === T.BEGIN) active.add(id);
            if (dir === "out" && type === T.END) active.delete(id);
            this.maxInFlightOnOneConn = Math.max(this.maxInFlightOnOneConn, active.size);
            o += total;
          }
          buf = buf.slice(o);
        };
      };
      // No pipe(): when HAProxy resets its side right after ABORT_REQUEST, a pipe would
      // stop reading the app's side too and the END_REQUEST would go unseen.
      const seeIn = watch("in"), seeOut = watch("out");
      client.on("data", (d: Uint8Array) => {
        seeIn(d);
        if (!upstream.destroyed) upstream.write(d);
      });
      upstream.on("data", (d: Uint8Array) => {
        seeOut(d);
        if (!client.destroyed) client.write(d);
      });
      client.on("end", () => upstream.end());
      upstream.on("end", () => client.end());
      client.on("error", (e) => {
        this.errors.push(`client ${e}`);
        upstream.end();
      });
      upstream.on("error", (e) => {
        this.errors.push(`upstream ${e}`);
        client.destroy();
      });
    });
  }

  /** Starts listening on a free loopback port, or on the Unix socket `path` (mode 0666: nginx's workers may run as nobody). */
  listen(path?: string): Promise<void> {
    return new Promise((r) => {
      if (path) {
        return this.server.listen({ path }, () => {
          chmodSync(path, 0o666);
          r();
        });
      }
      this.server.listen({ host: "127.0.0.1", port: 0 }, () => {
        this.port = (this.server.address() as net.AddressInfo).port;
        r();
      });
    });
  }

  /** Stops listening and drops the relayed connections. */
  close(): void {
    this.server.close();
    for (const s of this.#sockets) s.destroy();
  }
}

// ---------------------------------------------------------------------------
// Ports, processes

/** A port that was free a moment ago on 127.0.0.1 (peers need a concrete port in their config). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen({ host: "127.0.0.1", port: 0 }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls until something accepts TCP connections on `port` (or a Unix socket path). */
export async function waitListening(target: number | string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = typeof target === "number" ? net.connect({ host: "127.0.0.1", port: target }) : net.connect({ path: target });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${target} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The PIDs of the live children of `pid` (from /proc; empty where there is none). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let names: string[] = [];
  try {
    names = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  for (const name of names) {
    try {
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ")".
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) === pid && state !== "Z") out.push(Number(name));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** Sends SIGTERM to processes we started (by PID), waits up to `ms` for them to go, then SIGKILL. */
export async function stopPids(pids: number[], ms = 3000): Promise<void> {
  const alive = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  };
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
  }
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
}

/** The fixture app started as a FastCGI server under the runtime running the tests. */
export async function startFcgiApp(where: { port?: number; socket?: string }, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const args = where.socket ? ["fastcgi", "--socket", where.socket] : ["fastcgi", "--port", String(where.port ?? 0)];
  const child = spawnScript(here("tests/fixtures/gateway_app.ts"), args, { env });
  let log = "";
  child.stderr?.on("data", (d) => (log += d));
  const m = await waitForOutput(child, /FCGI READY (\S+)/, 20000);
  (child as ChildProcess & { log: () => string }).log = () => log;
  return { child, url: m[1] };
}

/** Starts a peer process in the foreground; returns it once `ready` resolves. */
export async function startPeer(cmd: string, args: string[], ready: () => Promise<void>, env: Record<string, string> = {}): Promise<ChildProcess & { output(): string }> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } }) as ChildProcess & { output(): string };
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  child.output = () => out;
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`${cmd} exited (${code}): ${out}`))));
  await Promise.race([ready(), exited]);
  exited.catch(() => {});
  return child;
}

export { stop };

// ---------------------------------------------------------------------------
// Config writers

/**
 * A FastCGI recipe from examples/deploy/ (the files docs/deployment.md shows), with the app's
 * port 9000 replaced by `app`. The tests start exactly these lines inside their own
 * configurations, so the documented configurations are the tested ones.
 */
export function deployRecipe(name: "fastcgi-nginx.conf" | "fastcgi-apache.conf" | "fastcgi-lighttpd.conf", app: number): string {
  const dir = here("examples/deploy/nginx.conf").replace(/npm\/esm\/examples/, "examples").replace(/nginx\.conf$/, "");
  const text = readFileSync(join(dir, name), "utf8");
  if (!text.includes("127.0.0.1:9000") && !text.includes('"port" => 9000')) {
    throw new Error(`examples/deploy/${name} no longer names port 9000: update deployRecipe()`);
  }
  return text.replaceAll("127.0.0.1:9000", `127.0.0.1:${app}`).replaceAll('"port" => 9000', `"port" => ${app}`);
}

/** The nginx recipe split where it says where its lines go: `{ http, server }`. */
function nginxRecipe(app: number): { http: string; server: string } {
  const text = deployRecipe("fastcgi-nginx.conf", app).replace("include fastcgi_params;", "include /etc/nginx/fastcgi_params;");
  const at = text.indexOf("# In server { }");
  if (at < 0) throw new Error("examples/deploy/fastcgi-nginx.conf: the '# In server { }' part is missing");
  return { http: text.slice(0, at), server: text.slice(at) };
}

/**
 * nginx config: /app/ (prefix split, TCP keepalive), /stream/ (unbuffered), /noka/ (no
 * keepalive, no PATH_INFO), /unix/ and /ustream/ (Unix socket, buffered and not), /ka/
 * (through a {@linkcode RecordSpy} on port `spy`), /uka/ (the Unix socket through a
 * spy listening on the Unix socket `unixSpy`), /capp/ (a Carafe app on port `carafe`),
 * /tls/ (HTTPS=on and a server name and port without HTTP_HOST), /cgi-bin/ (fcgiwrap).
 */
export function nginxConf(
  dir: string,
  o: { port: number; app: number; socket?: string; spy?: number; unixSpy?: string; carafe?: number; fcgiwrap?: number; cgiScript?: string; proxy?: number },
): string {
  for (const d of ["tmp/body", "tmp/fastcgi", "tmp/proxy", "tmp/scgi", "tmp/uwsgi"]) mkdirSync(join(dir, d), { recursive: true });
  const recipe = nginxRecipe(o.app);
  const conf = `
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path tmp/body; fastcgi_temp_path tmp/fastcgi; proxy_temp_path tmp/proxy;
  scgi_temp_path tmp/scgi; uwsgi_temp_path tmp/uwsgi;
  ${recipe.http}
  ${o.socket ? `upstream appunix { server unix:${o.socket}; keepalive 16; }` : ""}
  ${o.proxy ? `upstream http_app { server 127.0.0.1:${o.proxy}; keepalive 16; }` : ""}
  ${o.spy ? `upstream appspy { server 127.0.0.1:${o.spy}; keepalive 16; }` : ""}
  ${o.unixSpy ? `upstream appunixspy { server unix:${o.unixSpy}; keepalive 16; }` : ""}
  server {
    listen 127.0.0.1:${o.port};
    server_name localhost;
    client_max_body_size 64m;
    ${recipe.server}
    location /stream/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/stream)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_request_buffering off; fastcgi_buffering off;
      fastcgi_keep_conn on;
      fastcgi_pass app;
    }
    location /noka/ { include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:${o.app}; }
    location /tls/ {
      # What nginx sends behind TLS, without the Host header: the URL comes from HTTPS,
      # SERVER_NAME and SERVER_PORT.
      fastcgi_split_path_info ^(/tls)(/.*)$;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_param SERVER_NAME www.example.test;
      fastcgi_param SERVER_PORT 8443;
      fastcgi_param HTTPS on;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_pass_request_headers off;
      fastcgi_pass 127.0.0.1:${o.app};
    }
    ${o.spy ? `location /ka/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/ka)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_keep_conn on;
      fastcgi_pass appspy;
    }` : ""}
    ${o.unixSpy ? `location /uka/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/uka)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_keep_conn on;
      fastcgi_pass appunixspy;
    }` : ""}
    ${o.carafe ? `location /capp/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/capp)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass 127.0.0.1:${o.carafe};
    }` : ""}
    ${o.socket ? `location /unix/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/unix)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_keep_conn on;
      fastcgi_pass appunix;
    }
    location /ustream/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/ustream)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_request_buffering off; fastcgi_buffering off;
      fastcgi_keep_conn on;
      fastcgi_pass appunix;
    }` : ""}
    ${o.fcgiwrap ? `location /cgi-bin/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/cgi-bin/app\\.cgi)(/.*)?$;
      fastcgi_param SCRIPT_FILENAME ${o.cgiScript};
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass 127.0.0.1:${o.fcgiwrap};
    }
    location /cgi-bin/stream.cgi {
      # The same script, with the request body streamed (so a client abort reaches it).
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/cgi-bin/stream\\.cgi)(/.*)?$;
      fastcgi_param SCRIPT_FILENAME ${o.cgiScript};
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_request_buffering off;
      fastcgi_pass 127.0.0.1:${o.fcgiwrap};
    }` : ""}
    ${o.proxy ? `location /http/ {
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass http://http_app/;
    }` : ""}
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  return join(dir, "nginx.conf");
}

/** Starts nginx in the foreground with the config in `dir`. */
export function startNginx(nginx: string, dir: string, port: number): Promise<ChildProcess & { output(): string }> {
  chmodSync(dir, 0o755); // workers run as nobody when we are root: they must reach the Unix socket
  return startPeer(nginx, ["-p", dir, "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"], () => waitListening(port));
}

/**
 * A shell wrapper that execs the fixture app under the current runtime (for peers that
 * spawn it). It records its PID in `<name>.pid` and stderr in `<name>.log`, except with
 * `cgi` (the script then runs as the web server's user, who cannot write there).
 */
export function appWrapper(
  dir: string,
  name: string,
  mode: string[],
  o: { cgi?: boolean; env?: Record<string, string>; asNobody?: boolean } = {},
): string {
  let [cmd, args] = runtimeCommand(here("tests/fixtures/gateway_app.ts"), mode);
  if (o.asNobody) [cmd, args] = reachableByOthers(dir, cmd, args, mode);
  const path = join(dir, name);
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const extra = Object.entries(o.env ?? {}).map(([k, v]) => ` ${k}=${q(v)}`).join("");
  const env = `export HOME=${q(o.cgi ? "/nonexistent" : process.env.HOME ?? "/root")} PATH=${q(process.env.PATH ?? "/usr/bin:/bin")}${extra}`;
  const run = `exec ${[cmd, ...args].map(q).join(" ")}`;
  writeFileSync(path, o.cgi ? `#!/bin/sh\n${env}\n${run}\n` : `#!/bin/sh\n${env}\necho $$ > ${q(path + ".pid")}\n${run} 2>>${q(join(dir, name + ".log"))}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Whether users other than the owner can reach `path`: every directory above it searchable, the file readable (and executable when `exec`). */
function othersCanReach(path: string, exec: boolean): boolean {
  let p = realpathSync(path);
  if ((statSync(p).mode & (exec ? 0o005 : 0o004)) !== (exec ? 0o005 : 0o004)) return false;
  while (p !== "/") {
    p = dirname(p);
    if ((statSync(p).mode & 0o001) === 0) return false;
  }
  return true;
}

/**
 * Apache runs CGI programs as `nobody`, who must reach the runtime and the app's
 * sources. A checkout in a directory others cannot enter (a home directory with mode
 * 700) is out of its reach: then the wrapper runs a copy in `dir` (the runtime hard-
 * linked, or copied across file systems; the sources copied), else the checkout itself.
 */
function reachableByOthers(dir: string, cmd: string, args: string[], mode: string[]): [string, string[]] {
  const script = here("tests/fixtures/gateway_app.ts");
  if (othersCanReach(cmd, true) && othersCanReach(script, false)) return [cmd, args];
  // The sources' root: the repository (Deno, Bun) or npm/esm (Node runs the build).
  const root = dirname(dirname(dirname(script)));
  const stage = join(dir, "app");
  for (const part of ["mod", "core", "adapters", "shims", "tests/fixtures"]) {
    const from = existsSync(join(root, part)) ? join(root, part) : join(root, part + (compiled ? ".js" : ".ts"));
    cpSync(from, join(stage, part === "mod" ? basename(from) : part), { recursive: true });
  }
  writeFileSync(join(stage, "package.json"), '{ "type": "module" }\n');
  let runtime = cmd;
  if (!othersCanReach(cmd, true)) {
    runtime = join(stage, basename(cmd));
    try {
      linkSync(realpathSync(cmd), runtime);
    } catch {
      copyFileSync(realpathSync(cmd), runtime);
      chmodSync(runtime, 0o755);
    }
  }
  for (let d = stage; d !== dirname(dir); d = dirname(d)) chmodSync(d, 0o755);
  return runtimeCommand(join(stage, relative(root, script)), mode, runtime);
}

/** Apache httpd config: mod_proxy_fcgi at /gapp/ (prefix → SCRIPT_NAME/PATH_INFO, reuse on), mod_cgid at /cgi-bin/app.cgi (and stream.cgi, the same script). */
export function apacheConf(dir: string, o: { port: number; app?: number; cgiScript?: string }): string {
  const mods = "/usr/lib/apache2/modules";
  const load = (name: string, file: string) => (existsSync(`${mods}/${file}`) ? `LoadModule ${name} ${mods}/${file}` : "");
  mkdirSync(join(dir, "run"), { recursive: true });
  const conf = `
ServerRoot "${dir}"
ServerName localhost
Listen 127.0.0.1:${o.port}
PidFile ${dir}/run/httpd.pid
DefaultRuntimeDir ${dir}/run
ErrorLog ${dir}/error.log
LogLevel warn
${load("mpm_event_module", "mod_mpm_event.so")}
${load("authz_core_module", "mod_authz_core.so")}
${load("unixd_module", "mod_unixd.so")}
${load("mime_module", "mod_mime.so")}
${load("alias_module", "mod_alias.so")}
${load("proxy_module", "mod_proxy.so")}
${load("proxy_fcgi_module", "mod_proxy_fcgi.so")}
${load("cgid_module", "mod_cgid.so")}
TypesConfig /etc/mime.types
User nobody
Group nogroup
DocumentRoot "${dir}"
ScriptSock ${dir}/run/cgid.sock
${o.app ? deployRecipe("fastcgi-apache.conf", o.app) : ""}
${o.cgiScript ? `ScriptAlias /cgi-bin/app.cgi "${o.cgiScript}"
ScriptAlias /cgi-bin/stream.cgi "${o.cgiScript}"
<Directory "${dir}">
  Require all granted
</Directory>` : ""}
`;
  writeFileSync(join(dir, "httpd.conf"), conf);
  return join(dir, "httpd.conf");
}

/** Starts Apache in the foreground. */
export function startApache(httpd: string, dir: string, port: number): Promise<ChildProcess & { output(): string }> {
  chmodSync(dir, 0o755);
  return startPeer(httpd, ["-d", dir, "-f", join(dir, "httpd.conf"), "-DFOREGROUND"], () => waitListening(port));
}

/**
 * lighttpd config: mod_fastcgi at /app (TCP to our server, request bodies buffered by
 * lighttpd first) and /sapp (the same, bodies streamed as they arrive), /spawn
 * (bin-path: lighttpd starts our app on fd 0), mod_cgi at /cgi-bin/.
 */
export function lighttpdConf(dir: string, o: { port: number; app?: number; spawnWrapper?: string; cgiScript?: string }): string {
  const fcgi: string[] = [];
  if (o.app) fcgi.push(`"/sapp" => (( "host" => "127.0.0.1", "port" => ${o.app}, "check-local" => "disable" ))`);
  if (o.spawnWrapper) fcgi.push(`"/spawn" => (( "bin-path" => "${o.spawnWrapper}", "socket" => "${dir}/spawn.sock", "max-procs" => 1, "check-local" => "disable" ))`);
  const conf = `
server.document-root = "${dir}"
server.port = ${o.port}
server.bind = "127.0.0.1"
server.errorlog = "${dir}/lighttpd-error.log"
server.pid-file = "${dir}/lighttpd.pid"
server.modules = ( "mod_fastcgi", "mod_cgi", "mod_alias" )
server.max-request-size = 65536
server.upload-dirs = ( "${dir}" )
fastcgi.server = ( ${fcgi.join(",\n")} )
${o.app ? deployRecipe("fastcgi-lighttpd.conf", o.app) : ""}
$HTTP["url"] =~ "^/sapp/" { server.stream-request-body = 2 }
${o.cgiScript ? `alias.url = ( "/cgi-bin/app.cgi" => "${o.cgiScript}", "/cgi-bin/stream.cgi" => "${o.cgiScript}" )
$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ( "" => "" ) }
$HTTP["url"] =~ "^/cgi-bin/stream.cgi" { server.stream-request-body = 2 }` : ""}
`;
  writeFileSync(join(dir, "lighttpd.conf"), conf);
  return join(dir, "lighttpd.conf");
}

/** Starts lighttpd in the foreground. */
export function startLighttpd(lighttpd: string, dir: string, port: number): Promise<ChildProcess & { output(): string }> {
  return startPeer(lighttpd, ["-D", "-f", join(dir, "lighttpd.conf")], () => waitListening(port));
}

/**
 * HAProxy config: FastCGI backend with GET_VALUES, multiplexing, keep-conn and
 * abortonclose; `path-info` splits the mount `/app` into SCRIPT_NAME and PATH_INFO.
 * No low `maxconn`: HAProxy must respect the app's FCGI_MAX_REQS by itself.
 */
export function haproxyConf(dir: string, o: { port: number; app: number }): string {
  const conf = `
global
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
fcgi-app carafe
  docroot ${dir}
  path-info ^(/app)(/.*)?$
  option get-values
  option mpxs-conns
  option keep-conn
  # Until the GET_VALUES answer arrives; then FCGI_MAX_REQS from the app is the limit.
  option max-reqs 2
  log-stderr global
frontend web
  bind 127.0.0.1:${o.port}
  default_backend fcgi
backend fcgi
  option abortonclose
  option http-buffer-request
  http-reuse always
  use-fcgi-app carafe
  server s1 127.0.0.1:${o.app} proto fcgi
`;
  writeFileSync(join(dir, "haproxy.cfg"), conf);
  return join(dir, "haproxy.cfg");
}

/** Starts HAProxy in the foreground (`-db`). */
export function startHaproxy(haproxy: string, dir: string, port: number): Promise<ChildProcess & { output(): string }> {
  return startPeer(haproxy, ["-db", "-f", join(dir, "haproxy.cfg")], () => waitListening(port));
}
