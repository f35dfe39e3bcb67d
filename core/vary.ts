/**
 * The `Vary` header, kept a set of names: {@linkcode addVary}.
 *
 * @example
 * ```ts
 * import { addVary } from "./vary.ts";
 * const h = new Headers();
 * addVary(h, "Origin");
 * ```
 *
 * @module
 */

/**
 * Adds `token` to a `Vary` header unless it is there already (or `Vary: *`).
 *
 * @example
 * ```ts
 * import { addVary } from "./vary.ts";
 * const h = new Headers({ vary: "Origin" });
 * addVary(h, "Accept-Encoding");
 * h.get("vary"); // "Origin, Accept-Encoding"
 * ```
 */
export function addVary(headers: Headers, token: string): void {
  const current = headers.get("vary");
  if (current === null || current.trim() === "") return headers.set("vary", token);
  const tokens = current.split(",").map((t) => t.trim().toLowerCase());
  if (tokens.includes("*") || tokens.includes(token.toLowerCase())) return;
  headers.set("vary", `${current}, ${token}`);
}
