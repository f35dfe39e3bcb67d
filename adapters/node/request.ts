/**
 * {@linkcode NodeRequest}: the lazy, `Request`-compatible object the node adapter hands
 * to a Carafe app. It satisfies the contract core reads (`IncomingRequest`: method, url,
 * headers, body, signal) without building a web `Request`; URL, `Headers` and the body
 * stream are made only when read, and `toRequest()` builds a real `Request` for code
 * that needs one.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { isH2 } from "./http2.ts";

const utf8 = new TextDecoder();
const CLIENT_LEFT = "The client closed the connection before sending the whole body.";
const asIs = (body: Uint8Array) => body;
const decodeUtf8 = (body: Uint8Array) => utf8.decode(body);
const parseUtf8Json = (body: Uint8Array): unknown => JSON.parse(utf8.decode(body));


/**
 * The `Request`-compatible object the node adapter hands to the app: `method`, `url`,
 * `headers`, `body` and `signal` are made on first access from the `IncomingMessage`.
 * The body methods (`text()`, `json()`…) and {@linkcode NodeRequest.toRequest} build a
 * real web `Request` for code that needs one.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { NodeRequest } from "./request.ts";
 * createServer((im, res) => {
 *   const req = new NodeRequest(im, res, "http");
 *   res.end(req.url);
 * });
 * ```
 */
export class NodeRequest {
  #im: IncomingMessage;
  #res: ServerResponse;
  #scheme: string;
  #url?: string;
  #headers?: Headers;
  #body?: ReadableStream<Uint8Array> | null;
  #ac?: AbortController;
  #request?: Request;
  /** Declared Content-Length (-1 unknown / chunked, 0 none). */
  declaredLength = 0;
  /** Whether a body is expected at all. */
  hasBody = false;
  /** Bytes of body read so far through {@linkcode NodeRequest.body}. */
  received = 0;
  #host?: string;
  #consumed = false;

  /**
   * Wraps a node:http request; nothing but a scan of the raw header names happens here.
   *
   * @param im the node:http request
   * @param res its response (its `close` aborts {@linkcode NodeRequest.signal})
   * @param scheme "http" or "https"
   */
  constructor(im: IncomingMessage, res: ServerResponse, scheme: string) {
    this.#im = im;
    this.#res = res;
    this.#scheme = scheme;
    // One pass over the raw header list finds what every request needs.
    const raw = im.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const n = name.length;
      if (n === 4 && this.#host === undefined && name.toLowerCase() === "host") this.#host = raw[i + 1];
      else if (n === 10 && this.#host === undefined && name === ":authority") this.#host = raw[i + 1]; // HTTP/2's Host
      else if (n === 14 && name.toLowerCase() === "content-length") {
        const v = Number(raw[i + 1]);
        this.declaredLength = Number.isInteger(v) && v >= 0 ? v : -1;
        this.hasBody = v !== 0;
      } else if (n === 17 && name.toLowerCase() === "transfer-encoding") {
        this.declaredLength = -1;
        this.hasBody = true;
      }
    }
  }

  /** The Host header as sent (HTTP/2: `:authority`), or `undefined` when there is none. */
  get hostHeader(): string | undefined {
    return this.#host;
  }

  /** The request method (`GET`, `POST`…). */
  get method(): string {
    return this.#im.method ?? "GET";
  }

  /** The absolute request URL, built from the scheme, `Host` and the request target. */
  get url(): string {
    if (this.#url !== undefined) return this.#url;
    let host = this.#host;
    if (!host || /[\s/?#@]/.test(host)) {
      // HTTP/1.0 without Host (or a Host that would change the URL's meaning): use the socket's address.
      const s = this.#im.socket;
      const addr = s?.localAddress ?? "localhost";
      host = (addr.includes(":") ? `[${addr}]` : addr) + (s?.localPort ? `:${s.localPort}` : "");
    }
    let target = this.#im.url ?? "/";
    if (target[0] !== "/") {
      // Absolute-form (proxy style) or `*`: keep only the path.
      const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(target);
      target = m ? m[1] ?? "/" : "/";
    }
    return (this.#url = `${this.#scheme}://${host}${target}`);
  }

  /** Request headers as a web `Headers`, built on first access. */
  get headers(): Headers {
    if (this.#headers) return this.#headers;
    const h = new Headers();
    const raw = this.#im.rawHeaders;
    let authority: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      // HTTP/2's pseudo-headers (:method, :path…) are not headers; :authority is Host.
      if (raw[i][0] === ":") {
        if (raw[i] === ":authority") authority = raw[i + 1];
        continue;
      }
      try {
        h.append(raw[i], raw[i + 1]);
      } catch { /* a value Headers rejects (node:http is laxer); skip it */ }
    }
    if (authority !== undefined && !h.has("host")) {
      try {
        h.set("host", authority);
      } catch { /* not a valid value: left out, as above */ }
    }
    return (this.#headers = h);
  }

  /** The body as a byte stream that reads from the socket only as fast as it is consumed. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body !== undefined) return this.#body;
    if (!this.hasBody) return (this.#body = null);
    const im = this.#im;
    // deno-lint-ignore no-this-alias
    const self = this;
    const gone = this.#gone();
    return (this.#body = new ReadableStream<Uint8Array>({
      start(c) {
        // The socket closed before anyone read: its events have fired already.
        if (gone) return c.error(new Error(CLIENT_LEFT));
        im.on("data", (chunk: Uint8Array) => {
          self.received += chunk.byteLength;
          try {
            c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          } catch { /* cancelled */ }
          if ((c.desiredSize ?? 0) <= 0) im.pause();
        });
        im.once("end", () => {
          try {
            c.close();
          } catch { /* cancelled */ }
        });
        im.once("error", (err) => {
          try {
            c.error(err);
          } catch { /* cancelled */ }
        });
        im.once("close", () => {
          if (!im.complete) {
            try {
              c.error(new Error(CLIENT_LEFT));
            } catch { /* closed already */ }
          }
        });
      },
      pull() {
        im.resume();
      },
      cancel() {
        im.pause();
      },
    }, { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength }));
  }

  /** Aborts when the client disconnects before the response is complete. */
  get signal(): AbortSignal {
    if (this.#ac) return this.#ac.signal;
    const ac = (this.#ac = new AbortController());
    const res = this.#res;
    // node:http2's response reports writableFinished once its stream closed, even when
    // the client reset it first: there, an answer never ended is the sign.
    const unfinished = isH2(res) ? () => !res.writableEnded : () => !res.writableFinished;
    if (res.destroyed && unfinished()) ac.abort();
    else {
      res.once("close", () => {
        if (unfinished()) ac.abort(new Error("The client disconnected."));
      });
    }
    return ac.signal;
  }

  /**
   * `"half"`: what `new Request(url, thisRequest)` needs to take the body stream along
   * (a mounted fetch app gets its request that way).
   */
  readonly duplex = "half";

  /** The client left before the body was complete: a read started now would wait forever. */
  #gone(): boolean {
    return this.#im.destroyed && !this.#im.complete;
  }

  /** Whether the body stream was created (someone started reading it). */
  get bodyUsed(): boolean {
    return this.#body !== undefined && this.#body !== null && this.#body.locked;
  }

  /** A real web `Request` with the same method, URL, headers, body and signal. */
  toRequest(): Request {
    if (this.#request) return this.#request;
    const body = this.body;
    const init: RequestInit & { duplex?: string } = { method: this.method, headers: this.headers, signal: this.signal };
    if (body) {
      init.body = body;
      init.duplex = "half";
    }
    return (this.#request = new Request(this.url, init));
  }

  /**
   * The whole body as bytes, collected straight from the socket (no web stream: several
   * times cheaper on Node). Falls back to the stream once {@linkcode NodeRequest.body}
   * was touched. Does not check a size limit: callers check the declared length first.
   */
  bytes(): Promise<Uint8Array> {
    return this.#collect(asIs);
  }

  /**
   * Reads the whole body from the socket and hands it to `finish` in the same tick as
   * its last chunk, so that `text()` and `json()` cost one promise, not one per layer.
   */
  #collect<T>(finish: (body: Uint8Array) => T): Promise<T> {
    if (this.#consumed) return Promise.reject(new TypeError("The request body has already been read."));
    if (this.#body !== undefined || this.#request) return this.toRequest().arrayBuffer().then((b) => finish(new Uint8Array(b)));
    if (this.hasBody && this.#gone()) return Promise.reject(new Error(CLIENT_LEFT));
    if (!this.hasBody) {
      this.#body = null;
      return new Promise((resolve) => resolve(finish(new Uint8Array(0))));
    }
    this.#body = null; // the stream is no longer available
    this.#consumed = true;
    const im = this.#im;
    return new Promise((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      // `on`, not `once`: each listener runs at most once anyway, and once() wraps it.
      im.on("data", (c: Uint8Array) => {
        this.received += c.byteLength;
        chunks.push(c);
      });
      im.on("end", () => {
        let body = chunks[0] ?? new Uint8Array(0);
        if (chunks.length > 1) {
          body = new Uint8Array(this.received);
          let at = 0;
          for (const c of chunks) {
            body.set(c, at);
            at += c.byteLength;
          }
        }
        try {
          resolve(finish(body));
        } catch (err) {
          reject(err);
        }
      });
      im.on("error", reject);
      im.on("close", () => {
        if (!im.complete) reject(new Error(CLIENT_LEFT));
      });
    });
  }
  /** The body as text. */
  text(): Promise<string> {
    return this.#collect(decodeUtf8);
  }
  /** The body parsed as JSON. */
  json(): Promise<unknown> {
    return this.#collect(parseUtf8Json);
  }
  /** The body as an `ArrayBuffer`. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
      ? b.buffer as ArrayBuffer
      : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  /** The body as a `Blob`. */
  blob(): Promise<Blob> {
    return this.toRequest().blob();
  }
  /** The body parsed as form data. */
  formData(): Promise<FormData> {
    return this.toRequest().formData() as Promise<FormData>;
  }
}

