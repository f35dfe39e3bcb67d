/**
 * An app for the `carafe` command (Bottle's `python -m bottle`): the module exports the
 * app and does not call `run()`; the command serves it, and its options choose the
 * server, address, workers and configuration.
 *
 *     deno run -A cli.ts -b 127.0.0.1:8080 examples/cli_app.ts
 *     bun cli.ts -w 2 -C greeting=Hi examples/cli_app.ts             # two workers
 *     npx carafe -s fastcgi -b 127.0.0.1:9000 npm/esm/examples/cli_app.js
 *     curl http://127.0.0.1:8080/                                    # Hi from the carafe command!
 *
 * @module
 */
import { Carafe } from "../mod.ts";

const app = new Carafe();
// -C key=value and config files (-c app.ini) land in app.config.
app.get("/", () => `${(app.config as unknown as Record<string, unknown>).greeting ?? "Hello"} from the carafe command!\n`);
app.get("/health", () => "ok\n");

export default app;
