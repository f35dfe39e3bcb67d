/**
 * Reads TLS material given either as PEM text or as a file path, so that
 * `run({ tls: { cert, key } })` accepts both.
 *
 * @example
 * ```ts
 * import { readPem } from "./tls.ts";
 * const cert = await readPem("/etc/ssl/certs/server.pem");
 * ```
 *
 * @module
 */

/**
 * Returns `value` itself when it is PEM text (contains `-----BEGIN`), otherwise the
 * UTF-8 contents of the file it names. Throws an error naming the path when it
 * cannot be read.
 *
 * @example
 * ```ts
 * import { readPem } from "./tls.ts";
 * const key = await readPem("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n");
 * ```
 */
export async function readPem(value: string): Promise<string> {
  if (value.includes("-----BEGIN")) return value;
  try {
    // Imported here, not at the top: only TLS from a file needs a file system.
    const { readFile } = await import("node:fs/promises");
    return await readFile(value, "utf8");
  } catch (err) {
    throw new Error(`tls: cannot read certificate/key file "${value}": ${(err as Error).message}`, { cause: err });
  }
}
