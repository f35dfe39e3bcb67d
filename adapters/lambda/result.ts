/**
 * How a web `Response` becomes the result object Lambda hands back to API Gateway,
 * the Function URL or the load balancer, in the shape the event's kind expects:
 * several `Set-Cookie` headers in `cookies` (payload 2.0) or `multiValueHeaders`
 * (REST, ALB with multi-value headers); text bodies as text, binary ones base64.
 *
 * @example
 * ```ts
 * import { responseToResult } from "./result.ts";
 * const result = await responseToResult(new Response("hi"), "v2");
 * console.log(result); // { statusCode: 200, headers: { "content-type": "text/plain;charset=UTF-8" }, body: "hi", isBase64Encoded: false }
 * ```
 *
 * @module
 */
import { statusText } from "../../core/status.ts";
import type { EventKind } from "./events.ts";

/** The result object a Lambda HTTP handler returns. */
export interface LambdaResult {
  /** The status code. */
  statusCode: number;
  /** The ALB's status line text (`200 OK`); API Gateway ignores it. */
  statusDescription?: string;
  /** Headers, one value each. */
  headers?: Record<string, string>;
  /** Headers with every value (REST APIs, ALB with multi-value headers). */
  multiValueHeaders?: Record<string, string[]>;
  /** Payload 2.0: each `Set-Cookie` header. */
  cookies?: string[];
  /** The body: text, or base64 when `isBase64Encoded`. */
  body: string;
  /** Whether `body` is base64 (binary types). */
  isBase64Encoded: boolean;
}

// Types sent as text; everything else (images, archives, fonts, octet-stream) is base64.
const TEXT_TYPE = /^(text\/|application\/(json|xml|javascript|ecmascript|x-www-form-urlencoded|graphql|ld\+json)\b|[^;]*\+(json|xml)\b|image\/svg\+xml\b)/i;

/**
 * Whether a body of this `Content-Type` (and `Content-Encoding`) goes as text. A
 * compressed body is bytes whatever its type.
 */
export function isTextBody(contentType: string | null, contentEncoding: string | null): boolean {
  if (contentEncoding && contentEncoding !== "identity") return false;
  return contentType !== null && TEXT_TYPE.test(contentType.trim());
}

/** The answer's headers, split into single values and `Set-Cookie` lines. */
export function splitHeaders(headers: Headers): { single: Record<string, string>; cookies: string[] } {
  const single: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name !== "set-cookie") single[name] = value;
  });
  return { single, cookies: headers.getSetCookie() };
}

let warnedSingleValueCookies = false;

/** Reads `response` whole and returns the result object for an event of `kind`. */
export async function responseToResult(response: Response, kind: EventKind): Promise<LambdaResult> {
  const { single, cookies } = splitHeaders(response.headers);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const text = isTextBody(response.headers.get("content-type"), response.headers.get("content-encoding")) ? utf8(bytes) : undefined;
  const result: LambdaResult = {
    statusCode: response.status,
    body: text ?? encodeBase64(bytes),
    isBase64Encoded: text === undefined,
  };
  if (kind === "v2") {
    result.headers = single;
    if (cookies.length) result.cookies = cookies;
  } else if (kind === "v1") {
    result.headers = single;
    if (cookies.length) result.multiValueHeaders = { "set-cookie": cookies };
  } else {
    result.statusDescription = `${response.status} ${response.statusText || statusText(response.status)}`.trim();
    if (kind === "alb-multi") {
      result.multiValueHeaders = Object.fromEntries(Object.entries(single).map(([k, v]) => [k, [v]]));
      if (cookies.length) result.multiValueHeaders["set-cookie"] = cookies;
    } else {
      result.headers = single;
      if (cookies.length) result.headers["set-cookie"] = cookies[0];
      if (cookies.length > 1 && !warnedSingleValueCookies) {
        warnedSingleValueCookies = true;
        console.warn(
          "toLambdaHandler: an answer set several cookies but the load balancer's target group sends single-value " +
            "headers, which hold one Set-Cookie; only the first was sent. Enable multi-value headers on the target group.",
        );
      }
    }
  }
  return result;
}

// Text that is not valid UTF-8 goes as base64 instead of being altered.
function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** The base64 text of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  // Chunks keep String.fromCharCode's argument list short.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
