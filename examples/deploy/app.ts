/**
 * The app the deployment recipes serve (docs/deployment.md). It exports the app
 * and does not call run(), so each recipe chooses how to serve it:
 *
 * ```sh
 * carafe -b 127.0.0.1:8080 examples/deploy/app.ts          # one process
 * carafe -b 127.0.0.1:8080 -w 4 examples/deploy/app.ts     # cluster: 4 workers
 * carafe -b 127.0.0.1:8081 examples/deploy/app.ts          # a second instance for nginx
 * ```
 *
 * @module
 */
import { Carafe } from "../../mod.ts";

const app = new Carafe();

app.get("/", () => "Hello from Carafe!\n");
// For health checks (the HAProxy recipe): answers while the instance serves.
app.get("/health", () => "ok\n");
// Which process answered: shows the load balancing at work.
app.get("/whoami", (req) => ({ pid: globalThis.process?.pid ?? 0, remote: req.remoteAddr }));

// A request body, read whole.
app.post("/echo", async (req) => await req.text());

export default app;
