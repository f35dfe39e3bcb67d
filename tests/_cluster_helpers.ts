/**
 * Load-generation helpers for the cluster and deployment tests: bounded, real
 * sockets, one fresh connection per request (so no keep-alive race hides or
 * causes a failure), optional retry of idempotent GETs on connection errors.
 *
 * @module
 */
import http from "node:http";

/** The outcome of one GET. */
export interface Hit {
  status: number;
  body: string;
}

/** One GET on a fresh connection; rejects on a connection error. */
export function get(url: string, timeoutMs = 10_000): Promise<Hit> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** A GET retried (up to `retries` times) on connection errors, as HTTP lets a client do for idempotent requests. */
export async function getWithRetry(url: string, retries: number): Promise<Hit & { retried: number }> {
  for (let attempt = 0;; attempt++) {
    try {
      return { ...(await get(url)), retried: attempt };
    } catch (e) {
      if (attempt >= retries) throw e;
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
    }
  }
}

/** What a load run saw. */
export interface LoadResult {
  ok: number;
  /** Responses with a status other than 200, as "status body". */
  badStatus: string[];
  /** Requests that failed even after retries (connection errors). */
  errors: string[];
  retries: number;
  bodies: Map<string, number>;
}

/**
 * Sends GETs with `concurrency` in flight until `total` requests are done or
 * `until()` turns true (checked between requests) or `maxMs` passes. `onProgress`
 * is called with the count of completed requests.
 */
export async function load(
  url: string,
  opts: { total: number; concurrency: number; retries?: number; maxMs?: number; until?: () => boolean; onProgress?: (done: number) => void },
): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, badStatus: [], errors: [], retries: 0, bodies: new Map() };
  const deadline = Date.now() + (opts.maxMs ?? 20_000);
  let started = 0, done = 0;
  const more = () => started < opts.total && Date.now() < deadline && !(opts.until?.() ?? false);
  async function lane() {
    while (more()) {
      started++;
      try {
        const hit = await getWithRetry(url, opts.retries ?? 0);
        result.retries += hit.retried;
        if (hit.status === 200) {
          result.ok++;
          result.bodies.set(hit.body, (result.bodies.get(hit.body) ?? 0) + 1);
        } else result.badStatus.push(`${hit.status} ${hit.body.slice(0, 80)}`);
      } catch (e) {
        result.errors.push(String((e as Error).message ?? e));
      }
      opts.onProgress?.(++done);
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  return result;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every 50 ms until it returns true; rejects after `ms`. */
export async function waitUntil(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
