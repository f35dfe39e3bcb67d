/**
 * Counting UTF-8 without encoding: an answer's byte length for the access log and the
 * compression threshold, without copying the text into bytes.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./utf8.ts";
 * utf8Length("€"); // 3
 * ```
 *
 * @module
 */

/**
 * The number of bytes of `text` in UTF-8, without encoding it.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./utf8.ts";
 * utf8Length("hé"); // 3
 * ```
 */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else n += 2; // 3 bytes (a lone surrogate becomes U+FFFD, also 3)
  }
  return n;
}
