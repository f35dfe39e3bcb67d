// shims/socket.ts: write back-pressure over a real loopback socket, on each transport.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { listenStream, type StreamSocket } from "../shims/socket.ts";

/**
 * Serves one connection that writes `total` bytes in `chunk`-byte writes, waiting for
 * `drain` whenever `write()` says so; resolves with the bytes a client that first reads
 * nothing for a while (so that the kernel's buffers fill) finally receives.
 */
async function transfer(options: { highWaterMark: number; forceNodeNet?: boolean }, total: number, chunk: number): Promise<number> {
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const listener = await listenStream({ host: "127.0.0.1", port: 0 }, (socket: StreamSocket) => {
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk;
        if (!socket.write(new Uint8Array(chunk).fill(120))) return; // wait for drain
      }
      socket.end();
    };
    queueMicrotask(pump);
    return { data: () => {}, end: () => {}, drain: pump, close: done };
  }, options);
  const { port } = listener.address as { port: number };
  const client = net.connect({ host: "127.0.0.1", port });
  client.pause();
  let received = 0;
  try {
    await new Promise((r) => setTimeout(r, 300)); // the server's writes pile up meanwhile
    client.on("data", (d: Uint8Array) => (received += d.length));
    client.resume();
    const ended = new Promise<void>((r) => client.once("end", () => r()));
    await Promise.race([Promise.all([ended, finished]), new Promise((r) => setTimeout(r, 5000))]);
    return received;
  } finally {
    client.destroy();
    await listener.close();
  }
}

describe("listenStream write back-pressure", () => {
  const total = 32 << 20; // more than loopback's kernel buffers hold
  for (const forceNodeNet of [false, true]) {
    test(`a high-water mark below node:net's own 16 KiB still gets its drain (${forceNodeNet ? "node:net" : "default transport"})`, async () => {
      // 8 KiB writes with a 1 KiB mark: with the mark taken as given, write() said "wait"
      // for a buffer node:net itself thought fine, so its 'drain' never came.
      assert.equal(await transfer({ highWaterMark: 1024, forceNodeNet }, total, 8192), total);
    });
  }
});
