/**
 * `multipart/form-data` (RFC 7578) parsed into a `FormData`, the same way on every
 * runtime.
 *
 * The runtimes' own `Response.formData()` disagree on broken input: some return an
 * empty form for a body cut before its closing delimiter, some accept a part without
 * `Content-Disposition`. Fields would be lost without a word, so Carafe reads
 * the body itself and refuses (400) anything that is not a complete, well-formed form.
 *
 * It also bounds the work a body can cause (413, naming the setting): parts are counted
 * as they are found (`maxFormFields`, files included), each text field and the text
 * fields together are measured (`maxFormFieldSize`, `maxFormSize`; files count only
 * towards `maxBodySize`, which bounds the whole body before it is parsed), and a
 * part's header lines may take {@linkcode MAX_PART_HEADER_SIZE} bytes.
 *
 * @example
 * ```ts
 * import { parseMultipart } from "./multipart.ts";
 * const body = new TextEncoder().encode('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n');
 * parseMultipart(body, "multipart/form-data; boundary=b").get("a"); // "1"
 * ```
 *
 * @module
 */
import { overLimit, type BodyLimits } from "./body.ts";
import { HTTPError } from "./errors.ts";
import { fieldTooLarge, tooManyFields } from "./form.ts";

/** The limits {@linkcode parseMultipart} applies (see {@linkcode BodyLimits}). */
export type MultipartLimits = Pick<BodyLimits, "maxFormFields" | "maxFormFieldSize" | "maxFormSize">;

/**
 * The most bytes of header lines one part may have. Browsers send two short lines
 * (`Content-Disposition` with the name and file name, `Content-Type`); 16 KiB leaves room
 * for a long file name in any script and keeps the search for their end short.
 */
export const MAX_PART_HEADER_SIZE = 16 * 1024;

const NO_LIMITS: MultipartLimits = { maxFormFields: Infinity, maxFormFieldSize: Infinity, maxFormSize: Infinity };

const CR = 13;
const LF = 10;
const DASH = 45;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const BLANK_LINE = encoder.encode("\r\n\r\n");

/** Why the body is not a form, as a 400. */
function malformed(reason: string): HTTPError {
  return new HTTPError(400, `Malformed multipart/form-data body: ${reason}.`);
}

/**
 * The `boundary` parameter of a `multipart/form-data` content type (RFC 2046: 1–70
 * characters, quoted or not).
 */
function boundaryOf(contentType: string): string {
  const match = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined) throw malformed("the Content-Type has no boundary parameter");
  return boundary;
}

/** The first index of `needle` in `haystack` at or after `from`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/**
 * Where the header lines of the part starting at `at` end (the index of the blank
 * line's CRLF CRLF): searched within {@linkcode MAX_PART_HEADER_SIZE} bytes only.
 */
function endOfHeaders(body: Uint8Array, at: number): number {
  // From the CRLF that ends the delimiter line (a part without header lines starts with
  // the blank line) to the blank line after MAX_PART_HEADER_SIZE bytes of lines.
  const window = body.subarray(at - 2, at + MAX_PART_HEADER_SIZE + 4);
  const end = indexOf(window, BLANK_LINE, 0);
  if (end >= 0) return at - 2 + end;
  if (window.length < MAX_PART_HEADER_SIZE + 6) throw malformed("a part's header lines are not ended by a blank line");
  throw new HTTPError(413, `A multipart part's header lines are larger than ${MAX_PART_HEADER_SIZE} bytes.`);
}

/** The parameters of a `Content-Disposition: form-data; name="a"; filename="b"` value. */
function dispositionParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const semi = value.indexOf(";");
  if ((semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase() !== "form-data") {
    throw malformed(`a part's Content-Disposition is "${value}", not form-data`);
  }
  const param = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]*))/g;
  for (let m = param.exec(value); m !== null; m = param.exec(value)) {
    const name = m[1].toLowerCase();
    if (!params.has(name)) params.set(name, m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]);
  }
  return params;
}

/**
 * Parses a complete `multipart/form-data` body: fields become strings, parts with a
 * `filename` become `File`s (type from the part's `Content-Type`, default
 * `application/octet-stream`). Throws an `HTTPError` 400 saying what is wrong: no
 * boundary, no first delimiter, a part without `Content-Disposition` or `name`, header
 * lines not ended, or a body that stops before the closing delimiter. Throws a 413 past
 * `limits` (none by default; the app passes its settings).
 *
 * @example
 * ```ts
 * import { parseMultipart } from "./multipart.ts";
 * const text = '--x\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n' +
 *   "Content-Type: text/plain\r\n\r\nhello\r\n--x--";
 * const file = parseMultipart(new TextEncoder().encode(text), "multipart/form-data; boundary=x").get("f");
 * ```
 */
export function parseMultipart(body: Uint8Array, contentType: string, limits: MultipartLimits = NO_LIMITS): FormData {
  const delimiter = encoder.encode(`\r\n--${boundaryOf(contentType)}`);
  const form = new FormData();
  let parts = 0;
  let textBytes = 0;
  // The first delimiter may open the body (without the CRLF before it) or follow a preamble.
  let at: number;
  if (body.length >= delimiter.length - 2 && delimiter.subarray(2).every((b, i) => body[i] === b)) {
    at = delimiter.length - 2;
  } else {
    const found = indexOf(body, delimiter, 0);
    if (found < 0) throw malformed("the boundary does not occur in the body");
    at = found + delimiter.length;
  }
  for (;;) {
    // After a delimiter: "--" closes the form; otherwise (optional spaces) CRLF opens a part.
    if (body[at] === DASH && body[at + 1] === DASH) return form;
    while (body[at] === 32 || body[at] === 9) at++;
    if (body[at] !== CR || body[at + 1] !== LF) {
      throw malformed(at >= body.length ? "it ends before the closing boundary" : "a boundary line is followed by other text");
    }
    at += 2;
    if (++parts > limits.maxFormFields) throw tooManyFields(limits.maxFormFields);
    const headersEnd = endOfHeaders(body, at);
    let disposition: string | undefined;
    let type = "";
    for (const line of decoder.decode(body.subarray(at, headersEnd)).split("\r\n")) {
      if (line === "") continue;
      const colon = line.indexOf(":");
      if (colon <= 0) throw malformed(`a part has the header line "${line.slice(0, 80)}"`);
      const name = line.slice(0, colon).trim().toLowerCase();
      if (name === "content-disposition") disposition = line.slice(colon + 1).trim();
      else if (name === "content-type") type = line.slice(colon + 1).trim();
    }
    if (disposition === undefined) throw malformed("a part has no Content-Disposition header");
    const params = dispositionParams(disposition);
    const fieldName = params.get("name");
    if (fieldName === undefined) throw malformed("a part's Content-Disposition has no name");
    if (encoder.encode(fieldName).length > limits.maxFormFieldSize) throw fieldTooLarge(limits.maxFormFieldSize);
    const start = headersEnd + 4;
    const end = indexOf(body, delimiter, start - 2 > at ? start - 2 : start);
    if (end < 0) throw malformed("it ends before the closing boundary");
    // An empty part's content: its delimiter's CRLF is the blank line's own.
    const content = end < start ? body.subarray(start, start) : body.subarray(start, end);
    const filename = params.get("filename");
    if (filename === undefined) {
      if (content.length > limits.maxFormFieldSize) throw fieldTooLarge(limits.maxFormFieldSize);
      textBytes += content.length;
      if (textBytes > limits.maxFormSize) {
        throw overLimit("The form's text fields are larger than", limits.maxFormSize, "bytes", "maxFormSize");
      }
      form.append(fieldName, decoder.decode(content));
    } else form.append(fieldName, new File([content as Uint8Array<ArrayBuffer>], filename, { type: type || "application/octet-stream" }));
    at = end + delimiter.length;
  }
}
