/**
 * Plugins and hooks: a plugin wraps every route's handler (here: timing each request,
 * and a per-route option read by a plugin), hooks run before and after every request,
 * and the bundled `compress()` and `cors()` are plugins too.
 *
 *     deno run -A examples/plugins.ts         # or: bun examples/plugins.ts
 *     curl -i http://127.0.0.1:8080/          # X-Response-Time, X-Request-Id headers
 *     curl -i http://127.0.0.1:8080/admin     # 401 unless the header X-Token: secret
 *
 * @module
 */
import { abort, Carafe, compress, cors, type Plugin, run } from "../mod.ts";

const app = new Carafe();

/** Adds X-Response-Time to every answer. */
const timing: Plugin = {
  name: "timing",
  apply: (handler) => async (req, res) => {
    const start = performance.now();
    try {
      return await handler(req, res);
    } finally {
      res.setHeader("x-response-time", `${(performance.now() - start).toFixed(1)}ms`);
    }
  },
};

/** Routes with the option `{ auth: true }` need the right X-Token header. */
const tokenAuth: Plugin = {
  name: "auth",
  apply: (handler, route) => {
    if (!route.options.auth) return handler; // other routes are left as they are
    return (req, res) => {
      if (req.headers.get("x-token") !== "secret") abort(401, "Send the header X-Token: secret.");
      return handler(req, res);
    };
  },
};

app.install(timing);
app.install(tokenAuth);
app.install(compress());
app.install(cors({ origin: "*" }));

app.hook("before_request", (req) => {
  if (req.path.length > 200) abort(414, "That path is too long.");
});
app.hook("after_request", (_req, res) => {
  res.setHeader("x-request-id", crypto.randomUUID());
});

app.get("/", () => "Hello, with headers from plugins and hooks.\n");
app.get("/admin", () => "Welcome, admin.\n", { auth: true });
app.get("/raw", () => "Not timed.\n", { skip: ["timing"] });

await run({ app });
