// Load client for bench/websocket_bench.mjs (runs under Node): opens `clients` WebSocket
// connections to ws://127.0.0.1:PORT/echo, then each connection sends a 32-byte text
// message and waits for its echo, over and over, for `seconds`. Prints "connected N"
// once all are open; after a line on stdin (the driver has read the server's RSS) it
// loads, then prints { connected, messages, seconds } as one JSON line.
import net from "node:net";
import { randomBytes } from "node:crypto";
import process from "node:process";

const [port, clients, seconds] = process.argv.slice(2).map(Number);
const payload = Buffer.from("0123456789abcdef0123456789abcdef");
// One masked text frame, built once (a fixed mask is as valid as a random one for load).
const mask = Buffer.from([1, 2, 3, 4]);
const frame = Buffer.alloc(2 + 4 + payload.length);
frame[0] = 0x81;
frame[1] = 0x80 | payload.length;
mask.copy(frame, 2);
for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i & 3];
const expected = 2 + payload.length; // the server's unmasked echo

let running = false;
let messages = 0;
function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.setNoDelay(true);
      s.write(`GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    let handshake = true;
    let pending = 0;
    s.on("data", (d) => {
      if (handshake) {
        const end = d.indexOf("\r\n\r\n");
        if (end < 0 || !d.subarray(0, 12).toString().includes("101")) return reject(new Error(d.toString()));
        handshake = false;
        resolve(s);
        d = d.subarray(end + 4);
      }
      pending += d.length;
      while (pending >= expected) {
        pending -= expected;
        messages++;
        if (running) s.write(frame);
      }
    });
    s.on("error", reject);
  });
}

const sockets = [];
for (let i = 0; i < clients; i += 50) {
  sockets.push(...await Promise.all(Array.from({ length: Math.min(50, clients - i) }, open)));
}
process.stdout.write(`connected ${sockets.length}\n`);
await new Promise((r) => process.stdin.once("data", r)); // the driver has read the idle RSS
running = true;
for (const s of sockets) s.write(frame);
await new Promise((r) => setTimeout(r, 500)); // warm-up
messages = 0;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const elapsed = (performance.now() - t0) / 1000;
const counted = messages;
running = false;
process.stdout.write(JSON.stringify({ connected: sockets.length, messages: counted, seconds: elapsed }) + "\n");
for (const s of sockets) s.destroy();
process.exit(0);
