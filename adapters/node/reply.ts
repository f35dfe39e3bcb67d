/**
 * Writing a Carafe `Reply` to a node:http (or node:http2) response: one `writeHead`,
 * a computed `Content-Length` for strings and bytes, streams piped with back-pressure
 * and stopped when the client leaves, and an unread request body drained when small or
 * refused when large.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Reply, TypedReply } from "../../core/reply.ts";
import { isBodyless } from "../common.ts";
import type { NodeRequest } from "./request.ts";
import { H2_CANCEL, isH2 } from "./http2.ts";

/** Unread request bodies up to this many bytes are drained to keep the connection; bigger ones close it. */
const DRAIN_LIMIT = 256 * 1024;

const byteLength = (s: string): number =>
  (globalThis as unknown as { Buffer: { byteLength(s: string): number } }).Buffer.byteLength(s);


/** What the access log needs to know about one exchange (made only when logging). */
export interface LogRecord {
  /** Body bytes written (for a stream: so far); undefined when none are sent. */
  bytes?: number;
}


export function cancelBody(reply: Reply): void {
  const b = reply.body;
  if (b && typeof b === "object" && "getReader" in b) b.cancel().catch(() => {});
}

export function writeReply(
  im: IncomingMessage,
  res: ServerResponse,
  req: NodeRequest,
  reply: Reply,
  closing: boolean,
  fail: (res: ServerResponse, err: unknown) => void,
  rec: LogRecord | undefined,
): void {
  const headers: Record<string, string | string[]> = {};
  let cookies: string[] | undefined;
  let hasLength = false;
  if (reply instanceof TypedReply && !reply.headersMaterialised) {
    // The common case (a string or JSON body, nothing set on res): no Headers object at all.
    headers["content-type"] = reply.contentType;
  } else {
    for (const [name, value] of reply.headers) {
      if (name === "set-cookie") (cookies ??= []).push(value);
      else {
        if (name === "content-length") hasLength = true;
        headers[name] = value;
      }
    }
  }
  if (cookies) headers["set-cookie"] = cookies;
  const h2 = isH2(im);
  if (closing && !h2) headers.connection = "close";
  // An unread request body: drain it when small, else close the connection after the
  // response instead of reading (possibly) gigabytes nobody wants.
  if (req.hasBody && !im.complete) {
    const remaining = req.declaredLength < 0 ? Infinity : req.declaredLength - req.received;
    if (remaining > DRAIN_LIMIT && h2) {
      // HTTP/2: refuse the rest of this stream's body; the connection carries on.
      res.once("finish", () => (im as IncomingMessage & { stream: { close(code: number): void } }).stream.close(H2_CANCEL));
    } else if (remaining > DRAIN_LIMIT) {
      headers.connection = "close";
      res.once("finish", () => linger(im));
    } else {
      res.once("finish", () => {
        im.removeAllListeners("data");
        im.resume();
      });
    }
  }
  const body = reply.body;
  const head = im.method === "HEAD";
  if (body === null || typeof body === "string" || body instanceof Uint8Array) {
    if (!hasLength && !isBodyless(reply.status)) {
      headers["content-length"] = String(body === null ? 0 : typeof body === "string" ? byteLength(body) : body.byteLength);
    }
    res.writeHead(reply.status, headers);
    if (head || body === null) res.end();
    else {
      res.end(body);
      if (rec) rec.bytes = typeof body === "string" ? byteLength(body) : body.byteLength;
    }
    return;
  }
  const stream = body instanceof Blob ? body.stream() : body;
  if (body instanceof Blob && !hasLength) headers["content-length"] = String(body.size);
  res.writeHead(reply.status, headers);
  if (head) {
    stream.cancel().catch(() => {});
    res.end();
    return;
  }
  pipe(stream, res, rec).catch((err) => fail(res, err));
}

/** Lingering close: how long a client may go on sending a body nobody reads, silent or at all. */
const LINGER_QUIET = 1000;
const LINGER_MAX = 10_000;

/**
 * After an answer that did not read a large body (a 413): the connection closes, but
 * what the client still sends is read and thrown away first, until it has been quiet
 * for {@linkcode LINGER_QUIET} or for {@linkcode LINGER_MAX} at most (nginx's
 * `lingering_close`). Closing while its bytes still arrive would make the kernel send a
 * reset, and a client that had not read the answer yet would lose it.
 */
function linger(im: IncomingMessage): void {
  const socket = im.socket;
  if (!socket) return;
  const cut = () => socket.destroy();
  // (Deno's setTimeout gives a number, not a Timeout with refresh(): re-arm by hand.)
  const timer = (ms: number) => {
    const t = setTimeout(cut, ms);
    (t as unknown as { unref?: () => void }).unref?.();
    return t;
  };
  let quiet = timer(LINGER_QUIET);
  const limit = timer(LINGER_MAX);
  socket.once("close", () => {
    clearTimeout(quiet);
    clearTimeout(limit);
  });
  im.removeAllListeners("data");
  im.on("data", () => {
    clearTimeout(quiet);
    quiet = timer(LINGER_QUIET);
  });
  im.resume();
}

/** Copies a web stream into the response, waiting for `drain`; stops when the client leaves. */
async function pipe(stream: ReadableStream<Uint8Array>, res: ServerResponse, rec: LogRecord | undefined): Promise<void> {
  const reader = stream.getReader();
  let sent = 0;
  let gone = false;
  let wake: (() => void) | undefined;
  const onClose = () => {
    gone = true;
    reader.cancel().catch(() => {});
    wake?.();
  };
  const onDrain = () => wake?.();
  res.on("close", onClose);
  res.on("drain", onDrain);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      sent += value.byteLength;
      if (rec) rec.bytes = sent;
      if (!res.write(value) && !gone) {
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      if (gone) break;
    }
    if (!gone) res.end();
  } finally {
    res.off("drain", onDrain);
    res.off("close", onClose);
  }
}

