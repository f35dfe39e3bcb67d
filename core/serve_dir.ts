/**
 * A whole folder as routes: {@linkcode serveDir}.
 *
 * Built on `staticFile`'s safe lookup and answers (conditional and range requests,
 * confinement to the root, dotfiles refused by default), plus what serving a folder
 * needs: index files, a redirect for a folder asked for without its trailing slash,
 * `Cache-Control`, and precompressed siblings (`app.js.br`, `app.js.gz`).
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * import { serveDir } from "./serve_dir.ts";
 * const app = new Carafe();
 * app.get("/static/<path:path>", serveDir("./public"));
 * app.get("/static/", serveDir("./public")); // the folder's index.html
 * app.get("/assets/<path:path>", serveDir("./dist/assets", { cacheControl: "immutable", precompressed: true }));
 * ```
 *
 * @module
 */
import { HTTPError, HTTPResponse, type HeadersLike } from "./errors.ts";
import type { CarafeRequest } from "./request.ts";
import { guessMimeType, locateFile, sendLocated, type StaticFileOptions } from "./static.ts";
import { negotiateEncoding } from "./compress.ts";
import { fileSystem, type FileInfo, type FileSystem } from "../shims/fs.ts";

/** A precompressed sibling {@linkcode serveDir} can send: `name.br` or `name.gz`. */
export type PrecompressedEncoding = "br" | "gzip";

/** Options of {@linkcode serveDir}. */
export interface ServeDirOptions {
  /** The route parameter holding the path inside the folder. Default `"path"`; a route without it serves the folder itself. */
  param?: string;
  /** Files tried, in order, for a folder. Default `["index.html"]`; `[]` answers `404` for folders. There are no listings. */
  index?: readonly string[];
  /** Dotfiles and dot-folders: `"deny"` (default, `404`) or `"allow"`. */
  dotfiles?: "deny" | "allow";
  /**
   * `Cache-Control` for the files sent: a header value, `"immutable"` (a year,
   * `immutable`: for fingerprinted names like `app.3f9a1c.js`), or a function of the
   * path inside the folder (`undefined` sends none). Default: none.
   */
  cacheControl?: string | ((path: string) => string | undefined);
  /**
   * Send `x.js.br` or `x.js.gz` in place of `x.js` when it exists and the client
   * accepts that coding (`true`: both, brotli preferred). Default `false`.
   */
  precompressed?: boolean | readonly PrecompressedEncoding[];
  /** Extra headers on every file sent (as `staticFile`'s `headers`). */
  headers?: HeadersLike;
  /** Charset added to textual types. Default `UTF-8`. */
  charset?: string;
}

/** The `Cache-Control` of `cacheControl: "immutable"`. */
export const IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable";

const SUFFIX: Record<PrecompressedEncoding, string> = { br: ".br", gzip: ".gz" };

interface Settings {
  root: string | URL;
  param: string;
  index: readonly string[];
  dotfiles: "deny" | "allow";
  cacheControl: (path: string) => string | undefined;
  precompressed: PrecompressedEncoding[];
  headers: Headers;
  charset: string | undefined;
}

/**
 * A handler serving the files under `root`, for a route with a `<path:path>` parameter.
 *
 * - A file: as `staticFile` sends it (`200`, `206`, `304`, `416`; `403` for a way out
 *   of the root; `404` for what is missing or a denied dotfile).
 * - A folder asked for with a trailing slash: its first index file; without one: a
 *   `301` to the same path with the slash (so relative links in the page work).
 * - With `precompressed`, a sibling `x.br`/`x.gz` the client accepts is sent with
 *   `Content-Encoding`, the original's type, and its own length, validators and ranges;
 *   `Vary: Accept-Encoding` is on every file answer then.
 *
 * @example
 * ```ts
 * import { Carafe } from "./app.ts";
 * import { serveDir } from "./serve_dir.ts";
 * const app = new Carafe();
 * app.get("/docs/<path:path>", serveDir("./site", { index: ["index.html", "index.htm"], cacheControl: "max-age=60" }));
 * ```
 */
export function serveDir(root: string | URL, options: ServeDirOptions = {}): (req: CarafeRequest) => Promise<HTTPResponse> {
  const settings = settingsOf(root, options);
  return async (req) => {
    const value = req.params[settings.param];
    const name = value === undefined || value === null ? "" : String(value);
    const fs = await fileSystem();
    const found = await locateFile(fs, settings.root, name, settings.dotfiles);
    if (found instanceof HTTPError) return found;
    if (found.info.isFile) return await sendFile(fs, req, settings, { name, path: found.path, info: found.info });
    if (!found.info.isDirectory) return new HTTPError(404, "File does not exist.");
    if (name !== "" && !name.endsWith("/")) return slashRedirect(req, name);
    for (const index of settings.index) {
      const file = await locateFile(fs, settings.root, name + index, settings.dotfiles);
      if (!(file instanceof HTTPError) && file.info.isFile) {
        return await sendFile(fs, req, settings, { name: name + index, path: file.path, info: file.info });
      }
    }
    return new HTTPError(404, "File does not exist.");
  };
}

function settingsOf(root: string | URL, options: ServeDirOptions): Settings {
  if (!(typeof root === "string" || root instanceof URL) || root === "") {
    throw new TypeError('serveDir() needs the folder to serve: serveDir("./public").');
  }
  const cc = options.cacheControl;
  const cacheControl = typeof cc === "function" ? cc : cc === "immutable" ? () => IMMUTABLE_CACHE_CONTROL : () => cc;
  const pre = options.precompressed;
  const precompressed: PrecompressedEncoding[] = pre === true ? ["br", "gzip"] : pre ? [...pre] : [];
  for (const e of precompressed) {
    if (!(e in SUFFIX)) throw new TypeError(`serveDir(): precompressed has ${JSON.stringify(e)}; use "br" or "gzip".`);
  }
  for (const index of options.index ?? []) {
    if (index === "" || index.includes("/")) throw new TypeError(`serveDir(): index ${JSON.stringify(index)} must be a plain file name.`);
  }
  return {
    root,
    param: options.param ?? "path",
    index: options.index ?? ["index.html"],
    dotfiles: options.dotfiles ?? "deny",
    cacheControl,
    precompressed,
    headers: new Headers(options.headers as HeadersInit | undefined),
    charset: options.charset,
  };
}

/** `301` to the folder's path with a slash: relative (`docs/`), so any mount prefix is kept. */
function slashRedirect(req: CarafeRequest, name: string): HTTPResponse {
  const last = name.split("/").pop()!;
  const url = req.url;
  const query = url.indexOf("?");
  return new HTTPResponse(null, 301, { location: encodeURIComponent(last) + "/" + (query < 0 ? "" : url.slice(query)) });
}

interface Found {
  /** The path inside the folder, as asked. */
  name: string;
  path: string;
  info: FileInfo;
}

async function sendFile(fs: FileSystem, req: CarafeRequest, settings: Settings, file: Found): Promise<HTTPResponse> {
  const headers = new Headers(settings.headers);
  const cacheControl = settings.cacheControl(file.name);
  if (cacheControl !== undefined) headers.set("cache-control", cacheControl);
  const options: StaticFileOptions = { root: settings.root, headers, charset: settings.charset };
  if (settings.precompressed.length === 0) return sendLocated(fs, req, { ...file, filename: file.name, options });
  // The answer depends on Accept-Encoding whether or not a sibling is sent.
  headers.set("vary", headers.has("vary") ? `${headers.get("vary")}, Accept-Encoding` : "Accept-Encoding");
  const sibling = await precompressedSibling(fs, req, settings, file.name);
  if (sibling === undefined) return sendLocated(fs, req, { ...file, filename: file.name, options });
  headers.set("content-encoding", sibling.encoding);
  // The type is the original's: `app.js.br` is JavaScript, sent br-encoded.
  const mimetype = guessMimeType(file.name) ?? "application/octet-stream";
  return sendLocated(fs, req, { path: sibling.path, info: sibling.info, filename: file.name, options: { ...options, mimetype } });
}

/** The best precompressed sibling the client accepts, if one exists. */
async function precompressedSibling(
  fs: FileSystem,
  req: CarafeRequest,
  settings: Settings,
  name: string,
): Promise<{ encoding: PrecompressedEncoding; path: string; info: FileInfo } | undefined> {
  const accept = req.headers.get("accept-encoding");
  let offered = settings.precompressed;
  for (;;) {
    const encoding = negotiateEncoding(accept, offered) as PrecompressedEncoding | undefined;
    if (encoding === undefined) return undefined;
    const found = await locateFile(fs, settings.root, name + SUFFIX[encoding], settings.dotfiles);
    if (!(found instanceof HTTPError) && found.info.isFile) return { encoding, ...found };
    offered = offered.filter((e) => e !== encoding);
  }
}
