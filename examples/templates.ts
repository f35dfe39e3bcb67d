/**
 * Templates and views (Bottle's SimpleTemplate, with JavaScript): `{{ x }}` is escaped,
 * `% for (...) {` lines are code, `rebase("layout", ...)` wraps a page in a base
 * layout, and `view("name")` renders what a handler returns. The templates are
 * `examples/views/*.tpl`, found next to this file, not in the working directory.
 *
 *     deno run -A examples/templates.ts       # or: bun examples/templates.ts
 *     curl http://127.0.0.1:8080/hello/Ada    # <h1>Hello Ada!</h1> inside the layout
 *
 * @module
 */
import { Carafe, run, template, view } from "../mod.ts";

// A file: URL finds views/ next to this file, whatever the working directory.
const options = { lookup: [new URL("./views/", import.meta.url)] };
const app = new Carafe();

// A template given as text; the name is escaped, so <script> stays text.
app.get("/hello/<name>", (req) => template("greeting", { name: req.params.name }, options));

// view(): the handler returns the variables, views/shelf.tpl renders them.
const books = [{ title: "The Pragmatic Programmer", year: 1999 }, { title: "Structure and Interpretation of Computer Programs", year: 1985 }];
app.get("/", view("shelf", { title: "Books" }, options)(() => ({ books })));

await run({ app });
