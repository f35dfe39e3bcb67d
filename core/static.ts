/**
 * Serving files: {@linkcode staticFile}, Bottle's `static_file`.
 *
 * `staticFile()` takes no request, yet answers conditional (`If-None-Match`,
 * `If-Modified-Since`) and range requests. So it returns a {@linkcode StaticFile}: a
 * small description of what to send, which the app completes with the request by
 * calling {@linkcode StaticFile.respond}. Nothing touches the disk until then.
 *
 * Files are streamed in chunks, never read whole; a `HEAD` request, a `304` or an
 * error never opens the file.
 *
 * @example
 * ```ts
 * import { Carafe, staticFile } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/static/<path:path>", (req) => staticFile(req.params.path, { root: "./public" }));
 * app.get("/report", () => staticFile("report.pdf", { root: "./files", download: "Report 2024.pdf" }));
 * ```
 *
 * @module
 */
import { HTTPError, HTTPResponse, type HeadersLike } from "./errors.ts";
import { ANSWER_FOR } from "./reply.ts";
import { fileSystem, type FileInfo, type FileSystem } from "../shims/fs.ts";

/** Options of {@linkcode staticFile}. */
export interface StaticFileOptions {
  /**
   * The directory the file must be inside. A relative path is resolved against the
   * working directory; a `file:` URL such as `new URL("./public/", import.meta.url)`
   * finds the folder next to your module wherever the app is started from.
   */
  root: string | URL;
  /**
   * The `Content-Type`. Default: guessed from the file name (or the `download` name);
   * unknown extensions are sent as `application/octet-stream`.
   */
  mimetype?: string;
  /**
   * Send as an attachment (`Content-Disposition`): `true` uses the file's own name,
   * a string is the name the browser offers to save as.
   */
  download?: boolean | string;
  /** Charset added to textual types (`text/*`, JavaScript, JSON, XML). Default `UTF-8`. */
  charset?: string;
  /**
   * The entity tag. Default: derived from size, modification time and inode. A string
   * is sent as given (quote it, `'"v1"'`, to be RFC-correct); `false` sends none.
   */
  etag?: string | false;
  /** Extra headers (e.g. `Cache-Control`). They may override `Content-Type`, not the length or range. */
  headers?: HeadersLike;
  /**
   * Files and folders whose name starts with a dot (`.env`, `.git/…`) under `root`:
   * `"deny"` (the default) answers `404`, as if they did not exist; `"allow"` serves them.
   * The root itself may be a dot-folder.
   */
  dotfiles?: "deny" | "allow";
}

/** What {@linkcode StaticFile.respond} needs of a request: a `CarafeRequest` or a web `Request` both fit. */
export interface RequestLike {
  /** The request method. */
  readonly method: string;
  /** The request headers. */
  readonly headers: Headers;
}

/**
 * A file to send, waiting for the request. Returned by {@linkcode staticFile}; the app
 * calls {@linkcode StaticFile.respond} with the request. Call it yourself to use a
 * static file outside a Carafe route.
 *
 * @example
 * ```ts
 * import { staticFile } from "./static.ts";
 * const file = staticFile("index.html", { root: "./public" });
 * const answer = await file.respond(new Request("http://localhost/"));
 * answer.status; // 200, 304, 206, 403, 404 or 416
 * ```
 */
export class StaticFile {
  /** The requested name, relative to `root`. */
  readonly filename: string;
  /** The options given to `staticFile`. */
  readonly options: Readonly<StaticFileOptions>;

  /**
   * Use {@linkcode staticFile} instead.
   *
   * @param filename the requested name, relative to `options.root`
   * @param options see {@linkcode StaticFileOptions}
   */
  constructor(filename: string, options: StaticFileOptions) {
    if (!options || !(typeof options.root === "string" || options.root instanceof URL) || options.root === "") {
      throw new TypeError('staticFile() needs a root directory: staticFile(name, { root: "./public" }).');
    }
    this.filename = String(filename);
    this.options = options;
  }

  /**
   * Builds the answer for `req`: `200` (or `206` for a range) with a streamed body,
   * `304` when the client's copy is current, `403` outside the root, `404` when the file
   * is missing or a directory, `416` for a range beyond the end. Errors are returned as
   * `HTTPError`s, so the app's error handlers render them.
   *
   * @example
   * ```ts
   * import { staticFile } from "./static.ts";
   * const req = new Request("http://localhost/", { headers: { range: "bytes=0-99" } });
   * const answer = await staticFile("video.mp4", { root: "./media" }).respond(req);
   * ```
   */
  async respond(req: RequestLike): Promise<HTTPResponse> {
    const fs = await fileSystem();
    const found = await locateFile(fs, this.options.root, this.filename, this.options.dotfiles);
    if (found instanceof HTTPError) return found;
    if (!found.info.isFile) return MISSING();
    return sendLocated(fs, req, { ...found, filename: this.filename, options: this.options });
  }

  /** The app concludes a returned `StaticFile` through this (core/reply.ts {@linkcode ANSWER_FOR}). */
  [ANSWER_FOR](req: RequestLike): Promise<HTTPResponse> {
    return this.respond(req);
  }
}

/** A file found by {@linkcode locateFile}, with what to send it as. */
export interface LocatedFile {
  /** Its real path. */
  path: string;
  /** What `stat` said of it. */
  info: FileInfo;
  /** The name the type (and a download's name) is guessed from. */
  filename: string;
  /** The `staticFile` options to send it with. */
  options: Readonly<StaticFileOptions>;
}

/**
 * The answer for a file already found: `200`, `206`, `304` or `416`, as
 * {@linkcode StaticFile.respond} describes. For `serveDir`, which finds files itself.
 *
 * @example
 * ```ts
 * import { locateFile, sendLocated } from "./static.ts";
 * import { fileSystem } from "../shims/fs.ts";
 * const fs = await fileSystem();
 * const found = await locateFile(fs, "./public", "app.js");
 * if (!("status" in found) && found.info.isFile) {
 *   await sendLocated(fs, new Request("http://localhost/"), { ...found, filename: "app.js", options: { root: "./public" } });
 * }
 * ```
 */
export function sendLocated(fs: FileSystem, req: RequestLike, file: LocatedFile): HTTPResponse {
  const { path, info, filename, options: o } = file;
  const headers = new Headers();
  const downloadName = typeof o.download === "string" ? o.download : o.download ? basename(filename) : undefined;
  // Always set: a Blob body would otherwise bring the runtime's own guess.
  let type = o.mimetype ?? guessMimeType(downloadName ?? filename) ?? "application/octet-stream";
  const charset = o.charset ?? "UTF-8";
  if (charset && isTextual(type) && !/;\s*charset=/i.test(type)) type += `; charset=${charset}`;
  headers.set("content-type", type);
  if (downloadName !== undefined) headers.set("content-disposition", contentDisposition(downloadName));
  const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000).toUTCString();
  headers.set("last-modified", lastModified);
  const etag = o.etag === false ? undefined : o.etag ?? defaultEtag(info);
  if (etag !== undefined) headers.set("etag", etag);
  headers.set("accept-ranges", "bytes");
  if (o.headers) {
    const extra = o.headers instanceof Headers ? o.headers : new Headers(o.headers as Record<string, string>);
    for (const [name, value] of extra) {
      if (name !== "content-length" && name !== "content-range") headers.set(name, value);
    }
  }

  const method = req.method.toUpperCase();
  const getOrHead = method === "GET" || method === "HEAD";
  if (getOrHead && notModified(req.headers, etag, info.mtimeMs)) {
    // The app strips entity headers (Last-Modified, Content-Type…) from a 304.
    headers.delete("accept-ranges");
    return new HTTPResponse(null, 304, headers);
  }

  let start = 0, end = info.size - 1, status = 200;
  const rangeHeader = method === "GET" ? req.headers.get("range") : null;
  if (rangeHeader !== null && ifRangeHolds(req.headers.get("if-range"), etag, lastModified)) {
    const range = parseRange(rangeHeader, info.size);
    if (range === "unsatisfiable") {
      return new HTTPError(416, "Requested Range Not Satisfiable", {
        headers: { "content-range": `bytes */${info.size}` },
      });
    }
    if (range) {
      [start, end] = range;
      status = 206;
      headers.set("content-range", `bytes ${start}-${end}/${info.size}`);
    }
  }
  headers.set("content-length", String(end - start + 1));
  // Opened on first read: a HEAD answer (whose body the app drops) never opens the file.
  const body = fs.openBody?.(path, start, end) ?? fs.openRange(path, start, end);
  return new HTTPResponse(body, status, headers);
}

/**
 * Sends a file from inside `options.root`, answering conditional and range requests
 * (Bottle's `static_file`). Return the result from a handler.
 *
 * - `If-None-Match` / `If-Modified-Since` → `304`; `Range` → `206`, `416` when no
 *   range can be served; `If-Range` with a stale validator → the whole file; `HEAD` →
 *   headers only. Of several ranges only the first is sent (a plain `206` whose
 *   `Content-Range` says which; no `multipart/byteranges`), which RFC 9110 allows
 *   and clients handle by asking again for the rest.
 * - `ETag` and `Last-Modified` come from the file's size and modification time only,
 *   so they stay the same across restarts and across servers holding the same files.
 * - A name that leaves `root` — `..`, backslashes, NUL, or a symlink pointing out —
 *   → `403`; a missing file or a directory → `404`; a dotfile, or anything in a
 *   dot-folder (`.env`, `.git/config`) → `404` unless `dotfiles: "allow"`.
 *
 * @example
 * ```ts
 * import { Carafe, staticFile } from "../mod.ts";
 * const app = new Carafe();
 * app.get("/static/<path:path>", (req) =>
 *   staticFile(req.params.path, { root: "./public", headers: { "cache-control": "max-age=3600" } }));
 * ```
 */
export function staticFile(filename: string, options: StaticFileOptions): StaticFile {
  return new StaticFile(filename, options);
}

// ---------------------------------------------------------------------------
// Finding the file safely
// ---------------------------------------------------------------------------

const FORBIDDEN = () => new HTTPError(403, "Access denied.");
const MISSING = () => new HTTPError(404, "File does not exist.");

function rootError(root: string | URL, absolute: string, err: unknown): Error {
  return new Error(`staticFile(): the root directory ${JSON.stringify(String(root))} (${absolute}) cannot be used: ${codeOf(err) ?? err}.`, {
    cause: err,
  });
}

/**
 * Finds `filename` under `root`, safely: its real path and `stat`, for a file or a
 * directory (the root itself when the name is empty), or the `HTTPError` to answer
 * (`403` for a way out of the root, `404` for what is missing or a denied dotfile).
 *
 * @example
 * ```ts
 * import { locateFile } from "./static.ts";
 * import { fileSystem } from "../shims/fs.ts";
 * const found = await locateFile(await fileSystem(), "./public", "docs/");
 * if (!("status" in found)) console.log(found.path, found.info.isDirectory);
 * ```
 */
export async function locateFile(
  fs: FileSystem,
  root: string | URL,
  filename: string,
  dotfiles: "deny" | "allow" = "deny",
): Promise<{ path: string; info: FileInfo } | HTTPError> {
  const segments = safeSegments(filename);
  if (segments instanceof HTTPError) return segments;
  if (dotfiles !== "allow" && segments.some((segment) => segment.startsWith("."))) return MISSING();
  const absolute = fs.resolve(root);
  // The root's real path is looked up on every request, not cached: deployments swap
  // a `current -> releases/N` symlink under running servers.
  const rootReal = fs.realPath(absolute).catch((err) => {
    throw rootError(root, absolute, err);
  });
  const candidate = segments.length === 0
    ? absolute
    : (absolute.endsWith(fs.sep) ? absolute : absolute + fs.sep) + segments.join(fs.sep);
  // All at once: one round trip to the file system's thread pool instead of three.
  // stat follows symlinks, so it describes the same file as the real path.
  const [base, target] = await Promise.all([
    rootReal,
    Promise.all([fs.realPath(candidate), fs.stat(candidate)]).catch(errorFor),
  ]);
  if (target instanceof HTTPError) return target;
  const [real, info] = target;
  if (segments.length === 0) return { path: real, info };
  // Compare canonical paths: a symlink inside root that points outside is refused.
  const prefix = base.endsWith(fs.sep) ? base : base + fs.sep;
  if (!real.startsWith(prefix)) return FORBIDDEN();
  // A plain name may be a symlink to a dotfile inside the root: judge where it leads too.
  if (dotfiles !== "allow" && real.slice(prefix.length).split(fs.sep).some((segment) => segment.startsWith("."))) return MISSING();
  return { path: real, info };
}

/** The path's segments, or `403` for one that could climb out of the root. */
function safeSegments(filename: string): string[] | HTTPError {
  // Backslashes are separators on Windows and never part of a sane URL path; NUL cuts paths in C.
  if (filename.includes("\0") || filename.includes("\\")) return FORBIDDEN();
  const segments: string[] = [];
  for (const segment of filename.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      // Even `a/../b` is refused: no legitimate link needs it, and it hints at probing.
      return FORBIDDEN();
    }
    // A name still percent-encoded (taken from the raw URL) must not sneak a `..` or separator through.
    if (segment.includes("%") && /%(2e|2f|5c|00)/i.test(segment)) {
      let decoded = segment;
      try {
        decoded = decodeURIComponent(segment);
      } catch { /* not an encoding: a literal name */ }
      if (decoded === ".." || /[\/\\\0]/.test(decoded)) return FORBIDDEN();
    }
    segments.push(segment);
  }
  return segments;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function errorFor(err: unknown): HTTPError {
  const code = codeOf(err);
  if (code === "ENOENT" || code === "ENOTDIR" || code === "ENAMETOOLONG") return MISSING();
  if (code === "EACCES" || code === "EPERM") return new HTTPError(403, "You do not have permission to access this file.");
  if (code === "ELOOP") return FORBIDDEN();
  throw err;
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

function defaultEtag(info: FileInfo): string {
  // Cheap and changes whenever the content plausibly does; no hashing of file data. Size
  // and whole milliseconds only: the same across restarts, runtimes and servers that
  // hold the same files (an inode would differ from one server, or one copy, to the next).
  return `"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`;
}

function basename(name: string): string {
  const parts = name.split("/").filter((p) => p !== "");
  return parts[parts.length - 1] ?? "download";
}

function isTextual(type: string): boolean {
  const t = type.toLowerCase();
  return t.startsWith("text/") || /^application\/(javascript|json|xml|manifest\+json)\b/.test(t) || t === "image/svg+xml";
}

/**
 * `Content-Disposition: attachment` with a plain `filename` for old clients and an
 * RFC 6266 / RFC 8187 `filename*` when the name is not plain ASCII.
 */
function contentDisposition(name: string): string {
  // deno-lint-ignore no-control-regex -- control characters are exactly what must go
  const clean = name.replace(/[\0-\x1f\x7f]/g, "");
  const fallback = clean.replace(/[^\x20-\x7e]|["\\]/g, "_");
  if (fallback === clean) return `attachment; filename="${clean}"`;
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/** RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since only without it. */
function notModified(headers: Headers, etag: string | undefined, mtimeMs: number): boolean {
  const inm = headers.get("if-none-match");
  if (inm !== null) {
    if (etag === undefined) return false;
    const mine = weak(etag);
    return inm.split(",").some((tag) => {
      const t = tag.trim();
      return t === "*" || weak(t) === mine;
    });
  }
  const ims = headers.get("if-modified-since");
  if (ims === null) return false;
  const since = Date.parse(ims.split(";")[0]);
  return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/** Weak comparison: `W/"x"` equals `"x"`. */
function weak(tag: string): string {
  return tag.startsWith("W/") ? tag.slice(2) : tag;
}

/** If-Range: serve the range only if the client's validator still matches (strong comparison). */
function ifRangeHolds(ifRange: string | null, etag: string | undefined, lastModified: string): boolean {
  if (ifRange === null) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith("W/")) return etag !== undefined && !v.startsWith("W/") && v === etag;
  return v === lastModified;
}

/**
 * Parses a `Range` header against a length: the first satisfiable range as inclusive
 * `[start, end]`, `"unsatisfiable"` when it is valid but none can be served, or
 * `undefined` when the header is to be ignored (not `bytes`, or malformed — RFC 9110
 * §14.2 lets the server then send the whole file).
 *
 * @example
 * ```ts
 * import { parseRange } from "./static.ts";
 * parseRange("bytes=0-99", 1000);  // [0, 99]
 * parseRange("bytes=-100", 1000);  // [900, 999]
 * parseRange("bytes=2000-", 1000); // "unsatisfiable"
 * ```
 */
export function parseRange(header: string, size: number): [number, number] | "unsatisfiable" | undefined {
  const eq = header.indexOf("=");
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== "bytes") return undefined;
  let first: [number, number] | undefined;
  for (const part of header.slice(eq + 1).split(",")) {
    const spec = part.trim();
    if (spec === "") continue;
    const m = /^(\d*)-(\d*)$/.exec(spec);
    if (!m || (m[1] === "" && m[2] === "")) return undefined;
    let start: number, end: number;
    if (m[1] === "") {
      const suffix = Number(m[2]);
      if (suffix === 0 || size === 0) continue;
      start = Math.max(0, size - suffix);
      end = size - 1;
    } else {
      start = Number(m[1]);
      if (m[2] !== "" && Number(m[2]) < start) return undefined;
      if (start >= size) continue;
      end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    }
    first ??= [start, end];
  }
  return first ?? "unsatisfiable";
}

// ---------------------------------------------------------------------------
// MIME types: the ones a web app serves, no dependency.
// ---------------------------------------------------------------------------

const MIME: Record<string, string> = {
  html: "text/html", htm: "text/html", css: "text/css", js: "text/javascript", mjs: "text/javascript",
  cjs: "text/javascript", json: "application/json", map: "application/json", jsonld: "application/ld+json",
  webmanifest: "application/manifest+json", xml: "application/xml", txt: "text/plain", md: "text/markdown",
  csv: "text/csv", tsv: "text/tab-separated-values", ics: "text/calendar", vtt: "text/vtt", yaml: "text/yaml",
  yml: "text/yaml", toml: "text/plain", ts: "text/plain", wasm: "application/wasm",
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp",
  avif: "image/avif", svg: "image/svg+xml", ico: "image/vnd.microsoft.icon", bmp: "image/bmp", tif: "image/tiff",
  tiff: "image/tiff", woff: "font/woff", woff2: "font/woff2", ttf: "font/ttf", otf: "font/otf",
  eot: "application/vnd.ms-fontobject", mp3: "audio/mpeg", wav: "audio/wav", ogg: "audio/ogg", oga: "audio/ogg",
  flac: "audio/flac", m4a: "audio/mp4", aac: "audio/aac", weba: "audio/webm", opus: "audio/opus",
  mp4: "video/mp4", m4v: "video/mp4", webm: "video/webm", ogv: "video/ogg", mov: "video/quicktime",
  avi: "video/x-msvideo", mkv: "video/x-matroska", pdf: "application/pdf", zip: "application/zip",
  gz: "application/gzip", tgz: "application/gzip", bz2: "application/x-bzip2", xz: "application/x-xz",
  zst: "application/zstd", tar: "application/x-tar", "7z": "application/x-7z-compressed",
  rtf: "application/rtf", doc: "application/msword", epub: "application/epub+zip",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odt: "application/vnd.oasis.opendocument.text", bin: "application/octet-stream",
};

/**
 * The MIME type for a file name from its extension, or `undefined` when unknown.
 *
 * @example
 * ```ts
 * import { guessMimeType } from "./static.ts";
 * guessMimeType("app.js");      // "text/javascript"
 * guessMimeType("x.tar.gz");    // "application/gzip"
 * guessMimeType("README");      // undefined
 * ```
 */
export function guessMimeType(filename: string): string | undefined {
  const dot = filename.lastIndexOf(".");
  if (dot < 0 || dot < filename.lastIndexOf("/")) return undefined;
  return MIME[filename.slice(dot + 1).toLowerCase()];
}
