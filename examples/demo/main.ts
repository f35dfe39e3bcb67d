/**
 * Serves the demo (`./app.ts`) with the `auto` server on http://127.0.0.1:8080/, or
 * $HOST/$PORT when set: `deno run -A examples/demo/main.ts`, `bun examples/demo/main.ts`,
 * or `npm start` / `deno task start` / `bun run start`.
 *
 * @example
 * ```ts
 * // PORT=3000 deno run -A examples/demo/main.ts
 * ```
 *
 * @module
 */
import { run } from "../../mod.ts";
import app from "./app.ts";

await run({ app, server: "auto" });
