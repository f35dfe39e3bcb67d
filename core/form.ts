/**
 * `application/x-www-form-urlencoded` bodies parsed within limits, and the field limits
 * the multipart parser shares.
 *
 * The body's bytes are scanned for `&` and `=` before anything is decoded: fields are
 * counted and measured as the scan goes, and the first field over a limit stops it with
 * a 413. Only a body within every limit is decoded and handed to the runtime's
 * `URLSearchParams`, so a body of millions of fields costs a scan up to the
 * `maxFormFields`-th field, not millions of strings.
 *
 * @example
 * ```ts
 * import { parseUrlEncoded } from "./form.ts";
 * const form = parseUrlEncoded(new TextEncoder().encode("a=1&b=caf%C3%A9"), { maxFormFields: 10, maxFormFieldSize: 100 });
 * form.get("b"); // "café"
 * ```
 *
 * @module
 */
import { overLimit, type BodyLimits } from "./body.ts";
import { HTTPError } from "./errors.ts";

/** The limits a form parser applies (see {@linkcode BodyLimits}). */
export type FormLimits = Pick<BodyLimits, "maxFormFields" | "maxFormFieldSize">;

const AMPERSAND = 38;
const EQUALS = 61;

/**
 * The 413 for a form with more than `limit` fields.
 *
 * @example
 * ```ts
 * import { tooManyFields } from "./form.ts";
 * tooManyFields(10).status; // 413
 * ```
 */
export function tooManyFields(limit: number): HTTPError {
  return overLimit("The form has more fields than", limit, "fields", "maxFormFields");
}

/**
 * The 413 for a form field whose name or value is longer than `limit` bytes.
 *
 * @example
 * ```ts
 * import { fieldTooLarge } from "./form.ts";
 * fieldTooLarge(1024).message; // "A form field's name or value is larger than the limit of 1024 bytes (maxFormFieldSize)."
 * ```
 */
export function fieldTooLarge(limit: number): HTTPError {
  return overLimit("A form field's name or value is larger than", limit, "bytes", "maxFormFieldSize");
}

/**
 * Checks an urlencoded body against `limits` without decoding it: counts its fields
 * (non-empty `&`-separated pieces, as `URLSearchParams` counts them) and measures each
 * name and value. Throws the 413 of the first limit met; stops scanning there.
 *
 * @example
 * ```ts
 * import { checkUrlEncoded } from "./form.ts";
 * checkUrlEncoded(new TextEncoder().encode("a=1&b=2&c=3"), { maxFormFields: 2, maxFormFieldSize: 10 }); // throws 413
 * ```
 */
export function checkUrlEncoded(body: Uint8Array, limits: FormLimits): void {
  const { maxFormFields, maxFormFieldSize } = limits;
  const n = body.length;
  let fields = 0;
  // The next "=" at or after the current field: searched again only once passed, so a
  // body without any "=" is scanned once, not once per field.
  let equals = -1;
  for (let start = 0; start < n;) {
    let end = body.indexOf(AMPERSAND, start);
    if (end < 0) end = n;
    if (end > start) {
      if (++fields > maxFormFields) throw tooManyFields(maxFormFields);
      if (equals < start) {
        equals = body.indexOf(EQUALS, start);
        if (equals < 0) equals = n;
      }
      const nameEnd = equals < end ? equals : end;
      if (nameEnd - start > maxFormFieldSize || end - nameEnd - 1 > maxFormFieldSize) {
        throw fieldTooLarge(maxFormFieldSize);
      }
    }
    start = end + 1;
  }
}

/**
 * Parses an `application/x-www-form-urlencoded` body into a `FormData` after
 * {@linkcode checkUrlEncoded}: 413 over a limit, 400 when the body is not UTF-8.
 * Names and values are decoded as `URLSearchParams` decodes them.
 *
 * @example
 * ```ts
 * import { parseUrlEncoded } from "./form.ts";
 * parseUrlEncoded(new TextEncoder().encode("tag=a&tag=b"), { maxFormFields: 10, maxFormFieldSize: 10 }).getAll("tag"); // ["a", "b"]
 * ```
 */
export function parseUrlEncoded(body: Uint8Array, limits: FormLimits): FormData {
  checkUrlEncoded(body, limits);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch (err) {
    throw new HTTPError(400, "The form body is not valid UTF-8.", { cause: err });
  }
  const form = new FormData();
  for (const [name, value] of new URLSearchParams(text)) form.append(name, value);
  return form;
}
