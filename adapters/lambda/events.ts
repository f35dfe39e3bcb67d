/**
 * The HTTP events AWS Lambda delivers, and how each becomes a web `Request`: API
 * Gateway REST APIs (payload 1.0), HTTP APIs and Function URLs (payload 2.0), and
 * Application Load Balancers (single or multi-value headers). Only web standards are
 * used, so this runs wherever Lambda runs JavaScript.
 *
 * @example
 * ```ts
 * import { eventToRequest } from "./events.ts";
 * const { request, info } = eventToRequest({
 *   version: "2.0", rawPath: "/hello", rawQueryString: "a=1", headers: {},
 *   requestContext: { http: { method: "GET", path: "/hello", sourceIp: "192.0.2.1" }, stage: "$default" },
 * });
 * console.log(request.url, info.remoteAddr); // https://localhost/hello?a=1 192.0.2.1
 * ```
 *
 * @module
 */
import type { ServeInfo } from "../../core/contract.ts";

/** Header or query maps as Lambda sends them (values may be absent or null). */
export type StringMap = Record<string, string | undefined> | null | undefined;
/** Multi-value header or query maps as Lambda sends them. */
export type MultiMap = Record<string, string[] | undefined> | null | undefined;

/** What the payload format 1.0 events (API Gateway REST APIs, ALB) have in common. */
export interface V1Fields {
  /** The request method. */
  httpMethod: string;
  /** The path (API Gateway: without the stage prefix). */
  path: string;
  /** Headers, one value each (the last of repeated ones). */
  headers?: StringMap;
  /** Headers with every value (REST APIs; ALB when enabled). */
  multiValueHeaders?: MultiMap;
  /** Query parameters, one value each. */
  queryStringParameters?: StringMap;
  /** Query parameters with every value. */
  multiValueQueryStringParameters?: MultiMap;
  /** The body: text, or base64 when `isBase64Encoded`. */
  body?: string | null;
  /** Whether `body` is base64. */
  isBase64Encoded?: boolean;
}

/** An API Gateway REST API proxy event (payload format 1.0). */
export interface ApiGatewayV1Event extends V1Fields {
  /** Where the request came from. */
  requestContext: {
    /** The API Gateway stage (`prod`); `$default` for none. */
    stage?: string;
    /** The path (API Gateway: without the stage prefix). */
    path?: string;
    /** The host the client used. */
    domainName?: string;
    /** The caller, as API Gateway saw it. */
    identity?: { sourceIp?: string };
    /** Set only on ALB events. */
    elb?: undefined;
  };
}

/** An HTTP API (payload format 2.0) or Function URL event. */
export interface HttpApiV2Event {
  /** Always `"2.0"`. */
  version: "2.0";
  /** The path as the client sent it (with the stage prefix, if any). */
  rawPath: string;
  /** The query string as sent, without `?`. */
  rawQueryString?: string;
  /** The `Cookie` header split into its pairs. */
  cookies?: string[];
  /** Headers, one value each (the last of repeated ones). */
  headers?: StringMap;
  /** The body: text, or base64 when `isBase64Encoded`. */
  body?: string | null;
  /** Whether `body` is base64. */
  isBase64Encoded?: boolean;
  /** Where the request came from. */
  requestContext: {
    /** The API Gateway stage (`prod`); `$default` for none. */
    stage?: string;
    /** The host the client used. */
    domainName?: string;
    /** Method, path and client address. */
    http: { method: string; path?: string; sourceIp?: string };
  };
}

/** An Application Load Balancer event (multi-value maps when the target group enables them). */
export interface AlbEvent extends V1Fields {
  /** Where the request came from. */
  requestContext: { elb: { targetGroupArn?: string } };
}

/** Any HTTP event {@linkcode eventToRequest} understands. */
export type LambdaHttpEvent = ApiGatewayV1Event | HttpApiV2Event | AlbEvent;

/**
 * Which answer shape an event expects: `v1` (API Gateway REST), `v2` (HTTP API,
 * Function URL), `alb` or `alb-multi` (multi-value headers enabled).
 */
export type EventKind = "v1" | "v2" | "alb" | "alb-multi";

/** A converted event: the request, what the app learns besides it, and the answer shape. */
export interface ConvertedEvent {
  /** The web request. */
  request: Request;
  /** Connection facts for the app (client address, stage prefix). */
  info: ServeInfo;
  /** The answer shape the event expects. */
  kind: EventKind;
}

/** What kind of HTTP event this is, or `undefined` for anything else (an SQS batch, a cron tick…). */
export function eventKind(event: unknown): EventKind | undefined {
  if (typeof event !== "object" || event === null) return undefined;
  const e = event as Record<string, unknown> & { requestContext?: Record<string, unknown> };
  if (typeof e.requestContext !== "object" || e.requestContext === null) return undefined;
  if (e.version === "2.0" && typeof e.rawPath === "string") return "v2";
  if (typeof e.httpMethod !== "string" || typeof e.path !== "string") return undefined;
  if (e.requestContext.elb) return e.multiValueHeaders ? "alb-multi" : "alb";
  return "v1";
}

/**
 * The web `Request` for a Lambda HTTP event, with `remoteAddr` and (where API Gateway
 * adds a stage to the URL) `scriptName`. Throws a `TypeError` for an event that is not
 * HTTP, or whose headers a `Request` cannot hold.
 */
export function eventToRequest(event: LambdaHttpEvent): ConvertedEvent {
  const kind = eventKind(event);
  if (!kind) {
    throw new TypeError(
      "toLambdaHandler: the event is not an HTTP event (API Gateway REST or HTTP API, Function URL or ALB); " +
        "invoke this handler from one of those, and handle other events (SQS, schedules…) with a handler of their own",
    );
  }
  const headers = kind === "v2" ? v2Headers(event as HttpApiV2Event) : v1Headers(event as ApiGatewayV1Event | AlbEvent);
  const target = kind === "v2" ? v2Target(event as HttpApiV2Event) : kind === "v1" ? v1Target(event as ApiGatewayV1Event) : albTarget(event as AlbEvent);
  const method = kind === "v2" ? (event as HttpApiV2Event).requestContext.http.method : (event as ApiGatewayV1Event).httpMethod;
  const origin = `${protocolOf(kind, headers)}://${hostOf(event, headers)}`;
  const body = method === "GET" || method === "HEAD" ? null : bodyOf(event);
  const request = new Request(origin + target.pathAndQuery, { method, headers, body });
  const info: ServeInfo = { remoteAddr: remoteAddrOf(event, kind, headers) };
  if (target.scriptName) info.scriptName = target.scriptName;
  return { request, info, kind };
}

function v1Headers(event: ApiGatewayV1Event | AlbEvent): Headers {
  const headers = new Headers();
  if (event.multiValueHeaders) {
    for (const [name, values] of Object.entries(event.multiValueHeaders)) {
      for (const value of values ?? []) headers.append(name, value);
    }
  } else {
    for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) headers.append(name, value);
  }
  return headers;
}

function v2Headers(event: HttpApiV2Event): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) headers.append(name, value);
  // Payload 2.0 moves the Cookie header into `cookies`, one entry per cookie.
  if (event.cookies?.length) headers.set("cookie", event.cookies.join("; "));
  return headers;
}

interface Target {
  pathAndQuery: string;
  scriptName?: string;
}

// A path API Gateway delivers decoded: `?` and `#` in it are data, not delimiters.
const escapeDelimiters = (path: string) => path.replace(/[?#]/g, (c) => encodeURIComponent(c));

function v1Target(event: ApiGatewayV1Event): Target {
  const query = joinQuery(event, encodeURIComponent);
  const path = escapeDelimiters(event.path || "/");
  // requestContext.path is the path as the client sent it: `/prod/items` for `/items`
  // on the execute-api host (the stage), `/api/items` under a custom domain's mapping.
  const full = event.requestContext.path;
  const prefix = full && full.length > event.path.length && full.endsWith(event.path) ? full.slice(0, -event.path.length) : "";
  return { pathAndQuery: path + query, scriptName: prefix && prefix !== "/" ? prefix : undefined };
}

function v2Target(event: HttpApiV2Event): Target {
  const query = event.rawQueryString ? `?${event.rawQueryString}` : "";
  const { stage, domainName } = event.requestContext;
  const path = event.rawPath || "/";
  // On the execute-api host a named stage is the URL's first segment and rawPath keeps
  // it; a custom domain's URL has no stage, so nothing is cut there.
  const onApiHost = !domainName || domainName.includes(".execute-api.");
  if (stage && stage !== "$default" && onApiHost) {
    const prefix = `/${stage}`;
    if (path === prefix || path.startsWith(`${prefix}/`)) return { pathAndQuery: (path.slice(prefix.length) || "/") + query, scriptName: prefix };
  }
  return { pathAndQuery: path + query };
}

function albTarget(event: AlbEvent): Target {
  // The load balancer passes query strings as the client sent them (still encoded).
  return { pathAndQuery: (event.path || "/") + joinQuery(event, (s) => s) };
}

function joinQuery(event: ApiGatewayV1Event | AlbEvent, encode: (s: string) => string): string {
  const pairs: string[] = [];
  if (event.multiValueQueryStringParameters) {
    for (const [key, values] of Object.entries(event.multiValueQueryStringParameters)) {
      for (const value of values ?? []) pairs.push(`${encode(key)}=${encode(value)}`);
    }
  } else {
    for (const [key, value] of Object.entries(event.queryStringParameters ?? {})) {
      if (value !== undefined) pairs.push(`${encode(key)}=${encode(value)}`);
    }
  }
  return pairs.length ? `?${pairs.join("&")}` : "";
}

function protocolOf(kind: EventKind, headers: Headers): string {
  if (kind === "v1" || kind === "v2") return "https";
  return headers.get("x-forwarded-proto") === "https" ? "https" : "http";
}

// The host only shapes req.url (routing reads the path alone); anything that is not a
// plain host name is replaced rather than trusted into a URL.
const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

function hostOf(event: LambdaHttpEvent, headers: Headers): string {
  const context = event.requestContext as { domainName?: string };
  const host = context.domainName ?? headers.get("host") ?? "";
  return PLAIN_HOST.test(host) ? host : "localhost";
}

function remoteAddrOf(event: LambdaHttpEvent, kind: EventKind, headers: Headers): string | undefined {
  if (kind === "v2") return (event as HttpApiV2Event).requestContext.http.sourceIp;
  if (kind === "v1") return (event as ApiGatewayV1Event).requestContext.identity?.sourceIp;
  // The load balancer appends the address it saw to X-Forwarded-For: the last entry.
  const forwarded = headers.get("x-forwarded-for");
  return forwarded ? forwarded.split(",").pop()!.trim() : undefined;
}

function bodyOf(event: LambdaHttpEvent): string | Uint8Array<ArrayBuffer> | null {
  if (event.body === undefined || event.body === null || event.body === "") return null;
  return event.isBase64Encoded ? decodeBase64(event.body) : event.body;
}

/** The bytes of a base64 string (throws a `TypeError` on invalid base64). */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new TypeError("toLambdaHandler: the event's body is marked isBase64Encoded but is not valid base64");
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
