/**
 * Free TCP ports: for servers made of several processes that must all bind the same
 * port (the cluster with `SO_REUSEPORT`), `port: 0` is resolved once, up front.
 *
 * @example
 * ```ts
 * import { freePort } from "./ports.ts";
 * const port = await freePort("127.0.0.1");
 * ```
 *
 * @module
 */

/**
 * A TCP port that is free on `host` right now (the kernel's pick for port 0).
 *
 * @example
 * ```ts
 * import { freePort } from "./ports.ts";
 * console.log(await freePort("::1"));
 * ```
 */
export async function freePort(host: string): Promise<number> {
  const net = await import("node:net");
  return await new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
