/**
 * The app of the Passenger recipe (docs/deployment.md, "Inside Apache: Phusion
 * Passenger"): an ES module that serves itself with `run()` and top-level `await`, as
 * an app started with `node app.js` would. Passenger loads `passenger.cjs` next to it,
 * which imports this module; under Passenger `run()` listens on Passenger's socket,
 * mounts the app at `PassengerBaseURI` and stops gracefully when Passenger says so.
 *
 * @module
 */
import { Carafe, run } from "../../../mod.ts";

const app = new Carafe();

app.get("/", () => "Hello from Carafe inside Apache!\n");
// Which process answered, from where, and under which prefix.
app.get("/whoami", (req) => ({
  pid: globalThis.process?.pid ?? 0,
  remote: req.remoteAddr,
  scriptName: req.scriptName,
  path: req.path,
}));
app.post("/echo", async (req) => await req.text());

// Under Passenger, run() reads the client's address from Passenger's own header.
await run({ app });
