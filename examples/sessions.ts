/**
 * Signed cookies as a session: the value is readable but cannot be changed without the
 * secret (HMAC-SHA256). Bottle's `set_cookie(..., secret=...)`, synchronous as there.
 *
 *     deno run -A examples/sessions.ts        # or: bun examples/sessions.ts
 *     curl -c jar -d name=ada http://127.0.0.1:8080/login    # 303, Set-Cookie
 *     curl -b jar http://127.0.0.1:8080/                     # Hello ada! You have been here 1 time(s).
 *
 * @module
 */
import process from "node:process";
import { Carafe, redirect, run } from "../mod.ts";

// Keep the secret out of the code: a list verifies with every key and signs with the
// first, so a new key can be put in front and the old one dropped later.
const SECRET = [process.env.SESSION_SECRET ?? "change-me-in-production"];
const app = new Carafe();

app.get("/", (req, res) => {
  const name = req.getSignedCookie("name", SECRET); // missing or tampered: undefined
  if (!name) return 'Nobody is logged in: POST a "name" to /login.\n';
  const visits = Number(req.getSignedCookie("visits", SECRET) ?? 0) + 1;
  res.setSignedCookie("visits", String(visits), SECRET, { httpOnly: true, sameSite: "lax" });
  res.contentType = "text/plain; charset=utf-8"; // the name is the user's: not HTML
  return `Hello ${name}! You have been here ${visits} time(s).\n`;
});

app.post("/login", async (req, res) => {
  const name = String((await req.form()).get("name") ?? "").slice(0, 40);
  if (!/^\w+$/.test(name)) {
    res.status = 400;
    return 'Send a name of letters and digits, e.g. "name=ada".\n';
  }
  res.setSignedCookie("name", name, SECRET, { httpOnly: true, sameSite: "lax", maxAge: 3600 });
  redirect("/");
});

app.post("/logout", (_req, res) => {
  res.deleteCookie("name");
  res.deleteCookie("visits");
  redirect("/");
});

await run({ app });
