/**
 * The server's half of the RFC 6455 opening handshake, for the node adapter (Deno and
 * Bun write theirs): the `Sec-WebSocket-Accept` value, the `101 Switching Protocols`
 * head, and a plain HTTP answer on the raw socket when the app does not upgrade.
 *
 * @example
 * ```ts
 * import { acceptValue } from "./handshake.ts";
 * acceptValue("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (RFC 6455 §1.3)
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import { upgradeHeaders, type WebSocketUpgrade } from "../../core/websocket.ts";
import { statusText } from "../../core/status.ts";

/** The GUID RFC 6455 §1.3 appends to the client's key. */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
 *
 * @example
 * ```ts
 * import { acceptValue } from "./handshake.ts";
 * acceptValue("dGhlIHNhbXBsZSBub25jZQ==");
 * ```
 */
export function acceptValue(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** A header value that would let a newline through into the head we write by hand. */
const UNSAFE = /[\r\n\0]/;

/**
 * The `101 Switching Protocols` head that accepts `upgrade`, with the headers the app
 * set on its answer (`Set-Cookie`…).
 *
 * @example
 * ```ts
 * import { switchingProtocols } from "./handshake.ts";
 * // socket.write(switchingProtocols(upgrade, response.headers));
 * ```
 */
export function switchingProtocols(upgrade: WebSocketUpgrade, headers: Headers): string {
  let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${acceptValue(upgrade.key)}\r\n`;
  if (upgrade.protocol) head += `Sec-WebSocket-Protocol: ${upgrade.protocol}\r\n`;
  for (const [name, value] of upgradeHeaders(headers)) {
    if (!UNSAFE.test(value)) head += `${name}: ${value}\r\n`;
  }
  return head + "\r\n";
}

/**
 * Writes `response` on a socket that asked for an upgrade the app did not grant (a
 * normal route, an error, a refusal), then closes it: the body is sent as it comes,
 * delimited by the end of the connection.
 *
 * @example
 * ```ts
 * import { writePlainAnswer } from "./handshake.ts";
 * // await writePlainAnswer(socket, new Response("Not Found", { status: 404 }), false);
 * ```
 */
export async function writePlainAnswer(socket: Socket, response: Response, head: boolean): Promise<void> {
  let text = `HTTP/1.1 ${response.status} ${statusText(response.status)}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "connection" || name === "transfer-encoding" || name === "keep-alive" || UNSAFE.test(value)) continue;
    text += `${name}: ${value}\r\n`;
  }
  socket.write(text + "Connection: close\r\n\r\n");
  const body = head ? null : response.body;
  if (body !== null) {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || socket.destroyed) break;
        if (!socket.write(value)) {
          await new Promise((r) => {
            socket.once("drain", r);
            socket.once("close", r);
          });
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  } else response.body?.cancel().catch(() => {});
  socket.end();
}
