/**
 * A Carafe app on AWS Lambda (docs/deployment.md, "Edge and serverless"): API Gateway (REST and HTTP
 * APIs), Function URLs and ALB all call `handler`. Import Carafe from `app.ts` (no
 * servers) and the adapter from `adapters/lambda/mod.ts`; bundle for Node:
 *
 *   esbuild examples/edge/lambda.ts --bundle --platform=node --format=esm --outfile=dist/index.mjs
 *
 * then deploy `dist/index.mjs` with the handler `index.handler` (Node.js 20 or later).
 * For a Function URL in RESPONSE_STREAM mode export `toLambdaHandler(app, { streaming: true })`.
 * tests/lambda_local_test.ts bundles this file and invokes it through lambda-local.
 *
 * @module
 */
import { Carafe, escapeHtml } from "../../app.ts";
import { toLambdaHandler } from "../../adapters/lambda/mod.ts";

const app = new Carafe();

app.get("/", () => "Hello from Carafe on Lambda!\n");
// A string answer is HTML: request data in it is escaped.
app.get("/hello/<name>", (req) => `Hello ${escapeHtml(req.params.name)}!\n`);
// req.scriptName is the stage prefix API Gateway adds ("/prod"), so app.url() and
// redirects stay inside the stage.
app.get("/where", (req) => ({ stage: req.scriptName, url: app.url("where", {}, req) }), { name: "where" });

export const handler = toLambdaHandler(app);
