/**
 * Cross-origin resource sharing as a plugin: {@linkcode cors}.
 *
 * Follows the Fetch standard's CORS protocol (§3.2): a preflight (`OPTIONS` with
 * `Origin` and `Access-Control-Request-Method`) from an allowed origin is answered
 * `204` before routing, so no route needs an `OPTIONS` handler and no `405` comes
 * first; every other answer to an allowed origin carries `Access-Control-Allow-Origin`
 * (and `-Allow-Credentials`, `-Expose-Headers` when configured), error pages and
 * `404`s included, so that scripts can read them. A disallowed origin gets no CORS
 * header and is otherwise served as usual (its preflight goes to routing like any
 * `OPTIONS`): the browser then withholds the answer from the script.
 * `Vary: Origin` is added whenever the answer depends on the origin.
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * import { cors } from "./cors.ts";
 * const app = new Carafe();
 * app.install(cors({ origin: ["https://app.example"], credentials: true, maxAge: 600 }));
 * app.put("/items/<id:int>", (req) => ({ id: req.params.id }));
 * ```
 *
 * @module
 */
import type { Carafe, Plugin } from "./app.ts";
import { HTTPResponse } from "./errors.ts";
import type { CarafeRequest } from "./request.ts";
import type { CarafeResponse } from "./response.ts";
import { addVary } from "./vary.ts";

/** Which origins may read answers: see {@linkcode CorsOptions.origin}. */
export type CorsOrigin =
  | "*"
  | string
  | readonly string[]
  | RegExp
  | ((origin: string, req: CarafeRequest) => boolean | Promise<boolean>);

/** Options of {@linkcode cors}. */
export interface CorsOptions {
  /**
   * The origins allowed: `"*"` (any, the default; not with `credentials`), one origin
   * (`"https://app.example"`), a list of them (compared exactly), a pattern tested on
   * the whole `Origin` value (anchor it: `/^https:\/\/([a-z0-9-]+\.)?example\.com$/`),
   * or a function of the origin and the request (it may be async).
   */
  origin?: CorsOrigin;
  /** Let scripts send cookies and HTTP authentication (`Access-Control-Allow-Credentials: true`). Default `false`. */
  credentials?: boolean;
  /** Methods a preflight allows. Default `GET, HEAD, PUT, POST, DELETE, PATCH`. */
  methods?: readonly string[];
  /** Request headers a preflight allows. Default: those the preflight asks for (`Access-Control-Request-Headers`). */
  allowHeaders?: readonly string[];
  /** Response headers scripts may read beyond the CORS-safelisted ones (`Access-Control-Expose-Headers`). */
  exposeHeaders?: readonly string[];
  /** Seconds a browser may cache a preflight's answer (`Access-Control-Max-Age`). Default: not sent (browsers use 5 s). */
  maxAge?: number;
}

const DEFAULT_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface Settings {
  isAllowed: (origin: string, req: CarafeRequest) => boolean | Promise<boolean>;
  /** Every origin allowed and no credentials: `*` is sent, and the answer does not depend on the origin. */
  wildcard: boolean;
  credentials: boolean;
  methods: string;
  allowHeaders: string | undefined;
  exposeHeaders: string | undefined;
  maxAge: string | undefined;
}

/**
 * The CORS plugin. Install it on the app whose answers it covers (its mounted apps
 * included); it works before routing, so it applies to every route of the app (the
 * route option `skip` does not exempt one). `uninstall` turns it off.
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * import { cors } from "./cors.ts";
 * const app = new Carafe();
 * app.install(cors({
 *   origin: /^https:\/\/([a-z0-9-]+\.)?example\.com$/,
 *   allowHeaders: ["Content-Type", "Authorization"],
 *   exposeHeaders: ["X-Total-Count"],
 * }));
 * ```
 */
export function cors(options: CorsOptions = {}): Plugin {
  const settings = settingsOf(options);
  // Per request: the origin allowed (decided once, before routing), or "preflight" when answered already.
  const decided = new WeakMap<CarafeRequest, string | false | "preflight">();
  let active = true;

  const before = async (req: CarafeRequest): Promise<void> => {
    if (!active) return;
    const origin = req.headers.get("origin");
    if (origin === null) return;
    const allowed = await settings.isAllowed(origin, req) === true;
    decided.set(req, allowed ? origin : false);
    if (allowed && req.method === "OPTIONS" && req.headers.has("access-control-request-method")) {
      decided.set(req, "preflight");
      throw new HTTPResponse(null, 204, preflightHeaders(settings, origin, req.headers.get("access-control-request-headers")));
    }
  };

  const after = (req: CarafeRequest, res: CarafeResponse): void => {
    if (!active) return;
    const origin = decided.get(req);
    if (origin === "preflight") return;
    if (!settings.wildcard) addVary(res.headers, "Origin");
    if (origin === undefined || origin === false) return;
    res.headers.set("access-control-allow-origin", settings.wildcard ? "*" : origin);
    if (settings.credentials) res.headers.set("access-control-allow-credentials", "true");
    if (settings.exposeHeaders !== undefined) res.headers.set("access-control-expose-headers", settings.exposeHeaders);
  };

  return {
    name: "cors",
    setup(app: Carafe) {
      app.hook("before_request", before);
      app.hook("after_request", after);
    },
    apply: (handler) => handler,
    close() {
      active = false; // hooks cannot be removed; they stay and do nothing
    },
  };
}

function preflightHeaders(settings: Settings, origin: string, requested: string | null): Headers {
  const headers = new Headers();
  headers.set("access-control-allow-origin", settings.wildcard ? "*" : origin);
  if (settings.credentials) headers.set("access-control-allow-credentials", "true");
  headers.set("access-control-allow-methods", settings.methods);
  let allowHeaders = settings.allowHeaders;
  if (allowHeaders === undefined && requested !== null) {
    // Echo the names asked for, as names only: nothing else of the request gets into a header.
    const names = requested.split(",", 64).map((n) => n.trim()).filter((n) => TOKEN.test(n));
    if (names.length) allowHeaders = names.join(", ");
  }
  if (allowHeaders !== undefined) headers.set("access-control-allow-headers", allowHeaders);
  if (settings.maxAge !== undefined) headers.set("access-control-max-age", settings.maxAge);
  if (!settings.wildcard) addVary(headers, "Origin");
  if (settings.allowHeaders === undefined) addVary(headers, "Access-Control-Request-Headers");
  return headers;
}

function settingsOf(options: CorsOptions): Settings {
  const origin = options.origin ?? "*";
  const credentials = options.credentials === true;
  if (origin === "*" && credentials) {
    throw new TypeError(
      'cors(): origin "*" cannot be combined with credentials (browsers refuse it); list the origins, or give a pattern or a function.',
    );
  }
  return {
    isAllowed: originTest(origin),
    wildcard: origin === "*",
    credentials,
    methods: tokenList("methods", options.methods ?? DEFAULT_METHODS)!,
    allowHeaders: tokenList("allowHeaders", options.allowHeaders),
    exposeHeaders: tokenList("exposeHeaders", options.exposeHeaders),
    maxAge: maxAgeOf(options.maxAge),
  };
}

function originTest(origin: CorsOrigin): Settings["isAllowed"] {
  if (origin === "*") return () => true;
  if (typeof origin === "function") return origin;
  if (origin instanceof RegExp) {
    return (value) => {
      origin.lastIndex = 0; // a /g or /y pattern keeps state between tests
      return origin.test(value);
    };
  }
  const list = typeof origin === "string" ? [origin] : origin;
  if (!Array.isArray(list) || list.some((o) => typeof o !== "string")) {
    throw new TypeError("cors(): origin must be \"*\", an origin string, a list of them, a RegExp or a function.");
  }
  const set = new Set(list.map((o) => o.replace(/\/+$/, "")));
  return (value) => set.has(value);
}

function tokenList(name: string, values: readonly string[] | undefined): string | undefined {
  if (values === undefined) return undefined;
  for (const v of values) {
    if (!TOKEN.test(v)) throw new TypeError(`cors(): ${name} has ${JSON.stringify(v)}, which is not a header or method name.`);
  }
  return values.length ? values.join(", ") : undefined;
}

function maxAgeOf(maxAge: number | undefined): string | undefined {
  if (maxAge === undefined) return undefined;
  if (!Number.isInteger(maxAge) || maxAge < 0) throw new RangeError(`cors(): maxAge must be a whole number of seconds ≥ 0, got ${maxAge}.`);
  return String(maxAge);
}
