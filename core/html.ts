/**
 * HTML that Carafe writes itself: one escape for text (used by the error pages, the
 * templates and users), and the error page.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * console.log(escapeHtml(`<a href="x">`)); // &lt;a href=&quot;x&quot;&gt;
 * ```
 *
 * @module
 */
import { describeError, type HTTPError } from "./errors.ts";
import { statusText } from "./status.ts";

const ESCAPE_TEST = /[&<>"']/;
const ESCAPE_ALL = /[&<>"']/g;
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * Escapes text for HTML (`&`, `<`, `>`, quotes).
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * escapeHtml("<b>"); // "&lt;b&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  // Most text has nothing to escape: test first, and return it as it is.
  return ESCAPE_TEST.test(text) ? text.replace(ESCAPE_ALL, (c) => ENTITIES[c]) : text;
}

/**
 * Bottle's error page: the status, the message, and with `debug` the exception's stack,
 * everything escaped.
 *
 * @example
 * ```ts
 * import { errorPage } from "./html.ts";
 * import { HTTPError } from "./errors.ts";
 * const page = errorPage(new HTTPError(404, "No such item."), { fullpath: "/items/7" }, false);
 * ```
 */
export function errorPage(err: HTTPError, req: { readonly fullpath: string }, debug: boolean): string {
  const title = `Error: ${err.status} ${statusText(err.status)}`;
  const message = typeof err.body === "string" ? err.body : statusText(err.status);
  let details = "";
  if (debug && err.cause !== undefined) {
    details = `<h2>Exception:</h2><pre>${escapeHtml(describeError(err.cause))}</pre>`;
  }
  return `<!DOCTYPE html>
<html><head><title>${title}</title>
<style>html{background-color:#eee;font-family:sans-serif}body{background-color:#fff;border:1px solid #ddd;padding:15px;margin:15px}pre{background-color:#eee;border:1px solid #ddd;padding:5px}</style>
</head><body><h1>${title}</h1>
<p>Sorry, the requested URL <tt>${escapeHtml(`'${req.fullpath}'`)}</tt> caused an error:</p>
<pre>${escapeHtml(message)}</pre>${details}
</body></html>
`;
}
