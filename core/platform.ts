/**
 * What the platform passes in besides the request: its bindings (`req.env`) and a way
 * to keep work going after the answer (`req.waitUntil`), the same two names on every
 * runtime.
 *
 * - Cloudflare Workers call `fetch(request, env, ctx)`: `env` holds the Worker's
 *   bindings (vars, secrets, KV, D1 …) and `ctx.waitUntil` keeps the isolate alive for
 *   work that outlives the answer. {@linkcode platformInfo} turns that call into a
 *   {@linkcode ServeInfo} with `env` and `waitUntil`, and takes the client's address
 *   from `CF-Connecting-IP`, which Cloudflare sets (and overwrites) itself.
 * - Vercel's Edge Runtime and similar hosts pass a context with `waitUntil` as the
 *   second argument.
 * - Deno, Bun and Node (`run()` or the runtime's own serve command) have no platform
 *   context: `req.env` is the process environment, and work given to `waitUntil` is
 *   tracked here ({@linkcode backgroundWork}) so that a graceful shutdown waits for it.
 * - AWS Lambda (`toLambdaHandler`) waits for that work before it hands Lambda the
 *   answer: Lambda freezes the process as soon as the handler returns.
 *
 * @example
 * ```ts
 * import { Carafe } from "../app.ts";
 * const app = new Carafe();
 * app.post("/signup", async (req) => {
 *   const { email } = await req.json() as { email: string };
 *   req.waitUntil(fetch("https://mail.example/welcome", { method: "POST", body: email }));
 *   return { ok: true, from: String(req.env.MAIL_FROM ?? "noreply@example.com") };
 * });
 * // The Worker's entry module: export default app (req.env is then the Worker's env).
 * ```
 *
 * @module
 */
import type { ServeInfo } from "./contract.ts";

/** The part of a Workers `ExecutionContext` (or an edge host's context) Carafe uses. */
export interface PlatformContext {
  /** Keeps the host running until `promise` settles, after the answer was sent. */
  waitUntil(promise: Promise<unknown>): void;
}

/** Work handed to `req.waitUntil` where no platform keeps it alive: see {@linkcode backgroundWork}. */
const pending = new Set<Promise<unknown>>();

/**
 * Keeps `promise` in the set a graceful shutdown waits for, until it settles. A rejection
 * is passed to `onError` (the app's logger), never left unhandled.
 *
 * @example
 * ```ts
 * import { keepAlive } from "./platform.ts";
 * keepAlive(Promise.resolve(), (e) => console.error(e));
 * ```
 */
export function keepAlive(promise: Promise<unknown>, onError: (error: unknown) => void): void {
  const tracked = Promise.resolve(promise).then(undefined, onError).finally(() => pending.delete(tracked));
  pending.add(tracked);
}

/**
 * Resolves when all work handed to `req.waitUntil` so far (outside a platform that
 * tracks it itself) has settled, or after `timeoutMs`. Servers call it while shutting
 * down, after the last answer went out.
 *
 * @example
 * ```ts
 * import { backgroundWork } from "./platform.ts";
 * await backgroundWork(5_000);
 * ```
 */
export async function backgroundWork(timeoutMs = Infinity): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = Number.isFinite(timeoutMs) ? new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))) : undefined;
  try {
    // Work may add more work: wait until the set stays empty.
    while (pending.size > 0) {
      const all = Promise.all(pending);
      if (limit === undefined) await all;
      else if ((await Promise.race([all.then(() => true), limit.then(() => false)])) === false) return;
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * Reads what the caller of `app.fetch(request, second, third)` passed: a Workers call
 * (`env`, `ctx`), an edge host's context (`{ waitUntil }`), or a server's connection
 * facts (Carafe's adapters, or what a runtime's own serve command passes) left as they are.
 *
 * Only the three-argument call with a `ctx.waitUntil` is taken for Workers, so that a
 * server's info object is never mistaken for bindings; and `CF-Connecting-IP` is
 * believed only then, because elsewhere any client can send that header.
 *
 * @example
 * ```ts
 * import { platformInfo } from "./platform.ts";
 * const ctx = { waitUntil(_p: Promise<unknown>) {} };
 * const info = platformInfo(new Request("http://x/", { headers: { "cf-connecting-ip": "203.0.113.9" } }), { KV: {} }, ctx);
 * console.log(info?.remoteAddr); // "203.0.113.9"
 * ```
 */
export function platformInfo(request: Request, second: unknown, third: unknown): ServeInfo | undefined {
  if (isContext(third)) {
    return {
      env: (second ?? {}) as Record<string, unknown>,
      waitUntil: (p) => third.waitUntil(p),
      remoteAddr: request.headers.get("cf-connecting-ip") ?? undefined,
    };
  }
  if (isContext(second) && !("remoteAddr" in second) && !("requestIP" in second)) {
    return { waitUntil: (p) => second.waitUntil(p) };
  }
  return second as ServeInfo | undefined;
}

function isContext(value: unknown): value is PlatformContext {
  return typeof value === "object" && value !== null && typeof (value as PlatformContext).waitUntil === "function";
}
