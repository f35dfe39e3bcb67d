// Cookies: parsing, validated Set-Cookie serialisation, signed values and key rotation,
// and signed cookies through a live server.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type CookieOptions,
  deletionCookie,
  parseCookies,
  serializeCookie,
  signCookieValue,
  verifyCookieValue,
} from "../core/cookies.ts";
import { abort, Carafe, redirect, run } from "../mod.ts";
import { runtime } from "./_helpers.ts";

/** parseCookies returns a null-prototype record; compare its own entries. */
function plain(record: Record<string, string>): Record<string, string> {
  return { ...record };
}

/** Asserts that `fn` throws `type` with a message matching every pattern. */
function throwsWith(fn: () => unknown, type: ErrorConstructor, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    for (const p of patterns) assert.match((err as Error).message, p);
    return true;
  });
}

/** A Set-Cookie value's `name=value` part, as a browser would send it back. */
function pairOf(setCookie: string): string {
  return setCookie.split("; ")[0];
}

describe("serializeCookie: attributes", () => {
  test("name=value with the default Path=/", () => {
    assert.equal(serializeCookie("a", "b"), "a=b; Path=/");
    assert.equal(serializeCookie("empty", ""), "empty=; Path=/");
  });

  test("Max-Age in whole seconds; fractions round down; zero and negatives become 0", () => {
    assert.equal(serializeCookie("a", "b", { maxAge: 3600 }), "a=b; Max-Age=3600; Path=/");
    assert.equal(serializeCookie("a", "b", { maxAge: 59.9 }), "a=b; Max-Age=59; Path=/");
    assert.equal(serializeCookie("a", "b", { maxAge: 0 }), "a=b; Max-Age=0; Path=/");
    assert.equal(serializeCookie("a", "b", { maxAge: -5 }), "a=b; Max-Age=0; Path=/");
    assert.equal(serializeCookie("a", "b", { maxAge: 1e9 }), "a=b; Max-Age=1000000000; Path=/");
  });

  test("Expires from a Date, epoch milliseconds and HTTP-date / ISO strings, always IMF-fixdate", () => {
    const want = "a=b; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Path=/";
    assert.equal(serializeCookie("a", "b", { expires: new Date(Date.UTC(1994, 10, 6, 8, 49, 37)) }), want);
    assert.equal(serializeCookie("a", "b", { expires: Date.UTC(1994, 10, 6, 8, 49, 37) }), want);
    assert.equal(serializeCookie("a", "b", { expires: "Sun, 06 Nov 1994 08:49:37 GMT" }), want);
    assert.equal(serializeCookie("a", "b", { expires: "Sunday, 06-Nov-94 08:49:37 GMT" }), want);
    assert.equal(serializeCookie("a", "b", { expires: "Sun Nov  6 08:49:37 1994" }), want);
    assert.equal(serializeCookie("a", "b", { expires: "1994-11-06T08:49:37Z" }), want);
    assert.equal(serializeCookie("a", "b", { expires: "1994-11-06T09:49:37+01:00" }), want);
    assert.equal(
      serializeCookie("a", "b", { expires: 0 }),
      "a=b; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
    );
    // Two-digit RFC 850 years below 70 are in this century.
    assert.match(serializeCookie("a", "b", { expires: "Monday, 01-Jan-30 00:00:00 GMT" }), /Expires=Tue, 01 Jan 2030 /);
  });

  test("Max-Age and Expires together: both written (Max-Age wins in browsers)", () => {
    assert.equal(
      serializeCookie("a", "b", { maxAge: 10, expires: 0 }),
      "a=b; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
    );
  });

  test("Domain, Path, Secure, HttpOnly, SameSite (any case), Partitioned", () => {
    assert.equal(serializeCookie("a", "b", { domain: "example.com" }), "a=b; Domain=example.com; Path=/");
    assert.equal(serializeCookie("a", "b", { domain: ".sub-1.example.com" }), "a=b; Domain=.sub-1.example.com; Path=/");
    assert.equal(serializeCookie("a", "b", { domain: "127.0.0.1" }), "a=b; Domain=127.0.0.1; Path=/");
    assert.equal(serializeCookie("a", "b", { domain: "" }), "a=b; Path=/", "an empty domain means host-only");
    assert.equal(serializeCookie("a", "b", { path: "/admin/x y" }), "a=b; Path=/admin/x y");
    assert.equal(serializeCookie("a", "b", { secure: true }), "a=b; Path=/; Secure");
    assert.equal(serializeCookie("a", "b", { httpOnly: true }), "a=b; Path=/; HttpOnly");
    assert.equal(serializeCookie("a", "b", { secure: false, httpOnly: false, partitioned: false }), "a=b; Path=/");
    assert.equal(serializeCookie("a", "b", { sameSite: "lax" }), "a=b; Path=/; SameSite=Lax");
    assert.equal(serializeCookie("a", "b", { sameSite: "Strict" }), "a=b; Path=/; SameSite=Strict");
    assert.equal(serializeCookie("a", "b", { sameSite: "none", secure: true }), "a=b; Path=/; Secure; SameSite=None");
    assert.equal(serializeCookie("a", "b", { partitioned: true, secure: true }), "a=b; Path=/; Secure; Partitioned");
    assert.equal(
      serializeCookie("sid", "x", {
        maxAge: 60,
        expires: 0,
        domain: "example.com",
        path: "/app",
        secure: true,
        httpOnly: true,
        sameSite: "None",
        partitioned: true,
      }),
      "sid=x; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; Path=/app; Secure; HttpOnly; " +
        "SameSite=None; Partitioned",
    );
  });

  test("cookie-octets are kept as they are; everything else and % are percent-encoded", () => {
    const octets = "!#$&'()*+-./0123456789:<=>?@ABCXYZ[]^_`abcxyz{|}~";
    assert.equal(pairOf(serializeCookie("a", octets)), `a=${octets}`);
    assert.equal(pairOf(serializeCookie("a", "x y")), "a=x%20y");
    assert.equal(pairOf(serializeCookie("a", 'say "hi", ok; \\ 100%')), "a=say%20%22hi%22%2C%20ok%3B%20%5C%20100%25");
    assert.equal(pairOf(serializeCookie("a", "\t\x01\x7f")), "a=%09%01%7F");
    assert.equal(pairOf(serializeCookie("a", "café ☕ 😀")), "a=caf%C3%A9%20%E2%98%95%20%F0%9F%98%80");
  });

  test("valid names: every RFC 6265 token character", () => {
    const name = "!#$%&'*+-.^_`|~09AZaz";
    assert.equal(pairOf(serializeCookie(name, "v")), `${name}=v`);
  });
});

describe("serializeCookie: validation (each error names the problem)", () => {
  test("names that are not tokens", () => {
    throwsWith(() => serializeCookie("", "v"), TypeError, /name must not be empty/);
    for (const bad of ["a b", "a;b", "a=b", 'a"b', "a,b", "a(b", "a/b", "a@b", "a:b", "a\\b", "a[b", "a{b", "é", "a\tb"]) {
      throwsWith(() => serializeCookie(bad, "v"), TypeError, /not an RFC 6265 token/, new RegExp(escape(JSON.stringify(bad))));
    }
    throwsWith(() => serializeCookie(42 as unknown as string, "v"), TypeError, /name must be a string/);
  });

  test("CR, LF or NUL in name, value, domain or path", () => {
    for (const bad of ["a\r", "a\n", "a\0", "a\r\nSet-Cookie: evil=1"]) {
      throwsWith(() => serializeCookie(bad, "v"), TypeError, /CR, LF or NUL/);
      throwsWith(() => serializeCookie("n", bad), TypeError, /Cookie "n": the value contains CR, LF or NUL/);
      throwsWith(() => serializeCookie("n", "v", { domain: bad }), TypeError, /domain .* contains CR, LF, NUL or ";"/);
      throwsWith(() => serializeCookie("n", "v", { path: "/" + bad }), TypeError, /path .* contains CR, LF, NUL or ";"/);
    }
  });

  test("; in domain or path (attribute injection)", () => {
    throwsWith(() => serializeCookie("n", "v", { domain: "example.com; Secure" }), TypeError, /domain .*";"/);
    throwsWith(() => serializeCookie("n", "v", { path: "/; Domain=evil.com" }), TypeError, /path .*";"/);
  });

  test("values must be strings; objects are never serialised", () => {
    for (const bad of [{ a: 1 }, ["a"], 42, null, undefined, true]) {
      throwsWith(() => serializeCookie("n", bad as unknown as string), TypeError, /value must be a string/, /JSON\.stringify/);
    }
  });

  test("a value with a lone surrogate cannot be encoded", () => {
    throwsWith(() => serializeCookie("n", "a\uD800b"), TypeError, /lone UTF-16 surrogate/);
    throwsWith(() => serializeCookie("n", "\uDC00"), TypeError, /lone UTF-16 surrogate/);
  });

  test("name plus encoded value over 4096 bytes does not fit into a cookie", () => {
    assert.doesNotThrow(() => serializeCookie("n", "x".repeat(4095)));
    throwsWith(() => serializeCookie("n", "x".repeat(4096)), RangeError, /does not fit into a cookie/, /4097 bytes/);
    // Counted after encoding: 1366 × "é" is 2732 characters but 8196 bytes as %C3%A9.
    throwsWith(() => serializeCookie("n", "é".repeat(1366)), RangeError, /does not fit into a cookie/);
  });

  test("invalid domains", () => {
    for (const bad of ["exa mple.com", "example.com:8080", "-example.com", "example..com", "exämple.com", "a/b", "*.example.com"]) {
      throwsWith(() => serializeCookie("n", "v", { domain: bad }), TypeError, /is not a host name/);
    }
    throwsWith(() => serializeCookie("n", "v", { domain: ("a".repeat(60) + ".").repeat(18) + "com" }), RangeError, /domain is longer than 1024/);
  });

  test("invalid paths", () => {
    throwsWith(() => serializeCookie("n", "v", { path: "admin" }), TypeError, /must start with "\/"/);
    throwsWith(() => serializeCookie("n", "v", { path: "" }), TypeError, /must start with "\/"/);
    throwsWith(() => serializeCookie("n", "v", { path: "/caf\u00e9" }), TypeError, /printable ASCII/);
    throwsWith(() => serializeCookie("n", "v", { path: "/a\tb" }), TypeError, /printable ASCII/);
    throwsWith(() => serializeCookie("n", "v", { path: "/" + "a".repeat(1024) }), RangeError, /path is longer than 1024/);
  });

  test("invalid maxAge and expires", () => {
    for (const bad of [NaN, Infinity, -Infinity, "60" as unknown as number]) {
      throwsWith(() => serializeCookie("n", "v", { maxAge: bad }), RangeError, /maxAge must be a finite number of seconds/);
    }
    for (const bad of ["tomorrow", "", "Sun, 31 Feb 2026 00:00:00 GMT", "Sun, 06 Nov 1994 25:00:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"]) {
      throwsWith(() => serializeCookie("n", "v", { expires: bad }), RangeError, /is not a valid date/);
    }
    throwsWith(() => serializeCookie("n", "v", { expires: new Date("nope") }), RangeError, /not a valid date/);
    throwsWith(() => serializeCookie("n", "v", { expires: NaN }), RangeError, /not a valid date/);
    throwsWith(() => serializeCookie("n", "v", { expires: Date.UTC(10000, 0, 1) }), RangeError, /year 10000 is outside/);
    throwsWith(() => serializeCookie("n", "v", { expires: Date.UTC(1500, 0, 1) }), RangeError, /year 1500 is outside/);
    throwsWith(() => serializeCookie("n", "v", { expires: {} as unknown as Date }), TypeError, /expires must be a Date/);
  });

  test("sameSite: unknown values, and None without secure", () => {
    throwsWith(() => serializeCookie("n", "v", { sameSite: "loose" as "lax" }), TypeError, /sameSite must be "lax", "strict" or "none", got "loose"/);
    throwsWith(() => serializeCookie("n", "v", { sameSite: "none" }), TypeError, /sameSite "none" requires secure: true/);
    throwsWith(() => serializeCookie("n", "v", { sameSite: "None", secure: false }), TypeError, /requires secure/);
  });

  test("partitioned without secure", () => {
    throwsWith(() => serializeCookie("n", "v", { partitioned: true }), TypeError, /partitioned requires secure: true/);
  });

  test("__Secure- prefix needs secure (prefixes match case-insensitively)", () => {
    throwsWith(() => serializeCookie("__Secure-id", "v"), TypeError, /__Secure- prefix requires secure/);
    throwsWith(() => serializeCookie("__secure-id", "v"), TypeError, /__secure- prefix requires secure/);
    assert.equal(
      serializeCookie("__Secure-id", "v", { secure: true, domain: "example.com", path: "/x" }),
      "__Secure-id=v; Domain=example.com; Path=/x; Secure",
    );
    assert.equal(pairOf(serializeCookie("__Securely", "v")), "__Securely=v", "not the prefix");
  });

  test("__Host- prefix needs secure, path / and no domain", () => {
    throwsWith(() => serializeCookie("__Host-id", "v"), TypeError, /__Host- prefix requires secure/);
    throwsWith(() => serializeCookie("__HOST-id", "v"), TypeError, /__HOST- prefix requires secure/);
    throwsWith(() => serializeCookie("__Host-id", "v", { secure: true, domain: "example.com" }), TypeError, /forbids a domain/);
    throwsWith(() => serializeCookie("__Host-id", "v", { secure: true, path: "/app" }), TypeError, /requires path "\/"/);
    assert.equal(serializeCookie("__Host-id", "v", { secure: true }), "__Host-id=v; Path=/; Secure");
    assert.equal(serializeCookie("__Host-id", "v", { secure: true, path: "/", domain: "" }), "__Host-id=v; Path=/; Secure");
  });

  test("__Http- and __Host-Http- prefixes also need httpOnly", () => {
    throwsWith(() => serializeCookie("__Http-id", "v", { secure: true }), TypeError, /__Http- prefix requires httpOnly/);
    throwsWith(() => serializeCookie("__Http-id", "v", { httpOnly: true }), TypeError, /__Http- prefix requires secure/);
    throwsWith(() => serializeCookie("__Host-Http-id", "v", { secure: true }), TypeError, /__Host-Http- prefix requires httpOnly/);
    throwsWith(
      () => serializeCookie("__Host-Http-id", "v", { secure: true, httpOnly: true, path: "/a" }),
      TypeError,
      /__Host-Http- prefix requires path/,
    );
    assert.equal(serializeCookie("__Http-id", "v", { secure: true, httpOnly: true, path: "/a" }), "__Http-id=v; Path=/a; Secure; HttpOnly");
    assert.equal(serializeCookie("__Host-Http-id", "v", { secure: true, httpOnly: true }), "__Host-Http-id=v; Path=/; Secure; HttpOnly");
  });
});

describe("deletionCookie", () => {
  test("empty value, Max-Age=0, Expires in 1970, same path and domain", () => {
    assert.equal(deletionCookie("sid"), "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/");
    assert.equal(
      deletionCookie("sid", { path: "/admin", domain: "example.com" }),
      "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; Path=/admin",
    );
  });

  test("keeps the flags that select the cookie; ignores maxAge/expires", () => {
    assert.equal(
      deletionCookie("__Host-sid", { secure: true, httpOnly: true, sameSite: "strict", partitioned: true, maxAge: 99, expires: Date.now() + 1e6 }),
      "__Host-sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=Strict; Partitioned",
    );
  });

  test("validates like serializeCookie", () => {
    throwsWith(() => deletionCookie("a b"), TypeError, /not an RFC 6265 token/);
    throwsWith(() => deletionCookie("__Host-sid"), TypeError, /__Host- prefix requires secure/);
    throwsWith(() => deletionCookie("sid", { path: "/\r\n" }), TypeError, /CR, LF, NUL/);
  });
});

describe("parseCookies", () => {
  test("absent or empty headers give an empty record", () => {
    assert.deepEqual(plain(parseCookies(null)), {});
    assert.deepEqual(plain(parseCookies(undefined)), {});
    assert.deepEqual(plain(parseCookies("")), {});
    assert.deepEqual(plain(parseCookies(" ; ;; ")), {});
  });

  test("a typical header", () => {
    assert.deepEqual(plain(parseCookies("sid=abc123; theme=dark; lang=en-GB")), { sid: "abc123", theme: "dark", lang: "en-GB" });
    assert.deepEqual(plain(parseCookies("a=1;b=2")), { a: "1", b: "2" }, "no space after ;");
  });

  test("junk is skipped: no '=', empty names, stray semicolons", () => {
    assert.deepEqual(plain(parseCookies("a=1; junk; b=two; =x; ;; c=")), { a: "1", b: "two", c: "" });
    assert.deepEqual(plain(parseCookies("=")), {});
    assert.deepEqual(plain(parseCookies("a")), {});
  });

  test("spaces and tabs around names and values are trimmed; inner spaces kept", () => {
    assert.deepEqual(plain(parseCookies("  a = 1 ;\tb\t=\tx y\t;")), { a: "1", b: "x y" });
  });

  test("values may contain '='", () => {
    assert.deepEqual(plain(parseCookies("t=a=b==; u==")), { t: "a=b==", u: "=" });
  });

  test("double-quoted values are unquoted (once); a lone quote is kept", () => {
    assert.deepEqual(plain(parseCookies('a="x"; b=""; c="; d="y')), { a: "x", b: "", c: '"', d: '"y' });
    assert.deepEqual(plain(parseCookies('a=""x""')), { a: '"x"' });
  });

  test("percent-encoded values are decoded; broken encodings are kept as sent", () => {
    assert.deepEqual(plain(parseCookies("a=caf%C3%A9; b=%; c=100%25; d=%E0%A4%A; e=%FF; f=%zz")), {
      a: "café",
      b: "%",
      c: "100%",
      d: "%E0%A4%A",
      e: "%FF",
      f: "%zz",
    });
  });

  test("duplicate names: the first wins (browsers send the most specific path first)", () => {
    assert.deepEqual(plain(parseCookies("a=path-specific; a=root; b=1")), { a: "path-specific", b: "1" });
  });

  test("names are case-sensitive", () => {
    assert.deepEqual(plain(parseCookies("A=1; a=2")), { A: "1", a: "2" });
  });

  test("no prototype: __proto__ and constructor are just names; unknown names are undefined", () => {
    const cookies = parseCookies("__proto__=x; constructor=y");
    assert.equal(Object.getPrototypeOf(cookies), null);
    assert.equal(cookies["__proto__"], "x");
    assert.equal(cookies.constructor as unknown, "y");
    assert.equal(parseCookies("a=1").toString, undefined);
    assert.equal(parseCookies("a=1").hasOwnProperty, undefined);
    assert.deepEqual(JSON.parse(JSON.stringify(parseCookies("a=1; b=2"))), { a: "1", b: "2" });
  });

  test("never throws on hostile input", () => {
    const inputs = [
      "%",
      "=;=;=",
      "a=\u0000; b=\uffff",
      "a=%E0%A4%A; a=%",
      ";".repeat(10_000),
      "a=" + "%".repeat(10_000),
      '"',
      '""=""',
      "\t\t",
      Array.from({ length: 1000 }, (_, i) => `k${i}=v${i}`).join("; "),
    ];
    for (const input of inputs) assert.doesNotThrow(() => parseCookies(input), JSON.stringify(input).slice(0, 40));
    assert.equal(Object.keys(parseCookies(inputs.at(-1))).length, 1000);
  });

  test("round trip: serialise then parse gives back the exact value", () => {
    const values = [
      "",
      "plain",
      "with space",
      "semi;colon",
      "a=b=c",
      'quote"inside',
      '"fully quoted"',
      "comma,separated",
      "back\\slash",
      "100%",
      "%41 is not A",
      "%E0%A4%A",
      "tab\there",
      "café ☕ 瓶 😀",
      "+plus+",
      "!#$&'()*+-./:<=>?@[]^_`{|}~",
    ];
    for (const value of values) {
      const header = serializeCookie("k", value, { httpOnly: true });
      const sent = `other=1; ${pairOf(header)}; last=2`;
      assert.deepEqual(plain(parseCookies(sent)), { other: "1", k: value, last: "2" }, `value ${JSON.stringify(value)}`);
    }
  });
});

describe("signed cookie values", () => {
  const secret = "correct horse battery staple";

  test("sign → verify round trip; the value stays readable; format <value>.<43 base64url chars>", () => {
    const signed = signCookieValue("user", "alice", secret);
    assert.match(signed, /^alice\.[A-Za-z0-9_-]{43}$/);
    assert.equal(verifyCookieValue("user", signed, secret), "alice");
  });

  test("deterministic and bound to name, value and secret", () => {
    const a = signCookieValue("user", "alice", secret);
    assert.equal(signCookieValue("user", "alice", secret), a);
    assert.notEqual(signCookieValue("user2", "alice", secret), a);
    assert.notEqual(signCookieValue("user", "alicf", secret), a);
    assert.notEqual(signCookieValue("user", "alice", secret + "!"), a);
    // "us"+"er=alice" vs "user"+"=alice": the "=" separator cannot be moved because names are tokens.
    assert.throws(() => signCookieValue("us=er", "alice", secret), TypeError);
  });

  test("cookies signed by the previous (WebCrypto) version verify, and signing gives the same bytes", async () => {
    const long = "k".repeat(200); // longer than HMAC's 64-byte block: hashed first
    const cases: Array<[string, string, string | Uint8Array]> = [
      ["user", "alice", secret],
      ["data", "", "s"],
      ["data", "café ☕ 😀 " + "x".repeat(300), long],
      ["sid", '{"id":42}', new Uint8Array([0, 1, 2, 255])],
      ["n", "v".repeat(55 - 2), "block-boundary"], // "n=" + value: 55, 56, 63, 64, 65 bytes
      ["n", "v".repeat(56 - 2), "block-boundary"],
      ["n", "v".repeat(63 - 2), "block-boundary"],
      ["n", "v".repeat(64 - 2), "block-boundary"],
      ["n", "v".repeat(65 - 2), "block-boundary"],
    ];
    for (const [name, value, key] of cases) {
      const old = await webCryptoSigned(name, value, key);
      const label = `${name}=${value.slice(0, 20)}`;
      assert.equal(verifyCookieValue(name, old, key), value, label);
      assert.equal(verifyCookieValue(name, old, ["rotated-in", key]), value, label);
      assert.equal(signCookieValue(name, value, key), old, label);
    }
  });

  test("round trip through Set-Cookie and Cookie headers with special characters", () => {
    for (const value of ["", "a b; c=d", "café ☕ 😀", "x.y.z", '{"id":42,"roles":["admin"]}', "%25"]) {
      const signed = signCookieValue("data", value, secret);
      const cookies = parseCookies(pairOf(serializeCookie("data", signed, { httpOnly: true })));
      assert.equal(verifyCookieValue("data", cookies.data, secret), value, `value ${JSON.stringify(value)}`);
    }
  });

  test("tampered value → undefined", () => {
    const signed = signCookieValue("user", "alice", secret);
    assert.equal(verifyCookieValue("user", signed.replace("alice", "admin"), secret), undefined);
    assert.equal(verifyCookieValue("user", "x" + signed, secret), undefined);
    assert.equal(verifyCookieValue("user", signed.slice(1), secret), undefined);
    assert.equal(verifyCookieValue("user", signed.replace("alice", "alic"), secret), undefined);
  });

  test("tampered signature → undefined (every position, truncated, extended, re-padded)", () => {
    const signed = signCookieValue("user", "alice", secret);
    const dot = signed.lastIndexOf(".");
    for (let i = dot + 1; i < signed.length; i++) {
      const flipped = signed[i] === "A" ? "B" : "A";
      const tampered = signed.slice(0, i) + flipped + signed.slice(i + 1);
      assert.equal(verifyCookieValue("user", tampered, secret), undefined, `position ${i}`);
    }
    assert.equal(verifyCookieValue("user", signed.slice(0, -1), secret), undefined);
    assert.equal(verifyCookieValue("user", signed + "A", secret), undefined);
    assert.equal(verifyCookieValue("user", signed + "=", secret), undefined);
    // Standard base64 instead of base64url is a different string, not accepted.
    const std = signed.replace(/-/g, "+").replace(/_/g, "/");
    if (std !== signed) assert.equal(verifyCookieValue("user", std, secret), undefined);
  });

  test("wrong secret → undefined", () => {
    const signed = signCookieValue("user", "alice", secret);
    assert.equal(verifyCookieValue("user", signed, "another secret"), undefined);
    assert.equal(verifyCookieValue("user", signed, new TextEncoder().encode(secret + " ")), undefined);
  });

  test("renamed cookie (value moved to another name) → undefined", () => {
    const signed = signCookieValue("role", "admin", secret);
    assert.equal(verifyCookieValue("role", signed, secret), "admin");
    assert.equal(verifyCookieValue("isAdmin", signed, secret), undefined);
    assert.equal(verifyCookieValue("Role", signed, secret), undefined);
  });

  test("unsigned, empty, missing or garbage → undefined, never a throw", () => {
    const garbage: unknown[] = [
      undefined,
      null,
      "",
      "alice",
      ".",
      "." + "A".repeat(43),
      "alice." + "A".repeat(43),
      "alice." + "!".repeat(43),
      "alice." + "A".repeat(42),
      "A".repeat(44),
      "\u0000\uD800\uFFFF." + "A".repeat(43),
      "%%%%",
      "x".repeat(100_000),
      42,
      {},
    ];
    for (const value of garbage) {
      assert.equal(verifyCookieValue("user", value as string, secret), undefined, String(value).slice(0, 40));
    }
    const signed = signCookieValue("user", "alice", secret);
    for (const name of ["", "a b", 42 as unknown as string]) {
      assert.equal(verifyCookieValue(name, signed, secret), undefined);
    }
  });

  test("key rotation: the first secret signs, every secret verifies", () => {
    const oldKey = "key-2025";
    const newKey = new TextEncoder().encode("key-2026-bytes");
    const oldSigned = signCookieValue("sid", "s1", oldKey);
    const rotated = [newKey, oldKey];
    assert.equal(verifyCookieValue("sid", oldSigned, rotated), "s1", "old cookies still verify");
    const newSigned = signCookieValue("sid", "s2", rotated);
    assert.equal(newSigned, signCookieValue("sid", "s2", newKey), "signed with the first key");
    assert.equal(verifyCookieValue("sid", newSigned, rotated), "s2");
    assert.equal(verifyCookieValue("sid", newSigned, [newKey]), "s2");
    assert.equal(verifyCookieValue("sid", newSigned, oldKey), undefined, "the old key alone does not verify new cookies");
    assert.equal(verifyCookieValue("sid", oldSigned, [newKey]), undefined, "retired key: old cookies stop verifying");
  });

  test("string and byte secrets with the same content are the same key; a mutated byte secret is not served stale", () => {
    const bytes = new TextEncoder().encode("shared");
    assert.equal(signCookieValue("n", "v", bytes), signCookieValue("n", "v", "shared"));
    const before = signCookieValue("n", "v", bytes);
    bytes[0] ^= 1;
    const after = signCookieValue("n", "v", bytes);
    assert.notEqual(after, before);
    assert.equal(verifyCookieValue("n", before, bytes), undefined);
  });

  test("invalid secrets, names or values when signing are configuration errors that throw", () => {
    assert.throws(() => signCookieValue("n", "v", ""), /secret must not be empty/);
    assert.throws(() => signCookieValue("n", "v", new Uint8Array()), /secret must not be empty/);
    assert.throws(() => signCookieValue("n", "v", []), /secret list must not be empty/);
    assert.throws(() => signCookieValue("n", "v", 42 as unknown as string), /secret must be a string or a Uint8Array/);
    assert.throws(() => verifyCookieValue("n", "v", ""), /secret must not be empty/);
    assert.throws(() => verifyCookieValue("n", undefined, []), /secret list must not be empty/);
    assert.throws(() => signCookieValue("a b", "v", "s"), /not an RFC 6265 token/);
    assert.throws(() => signCookieValue("n", { a: 1 } as unknown as string, "s"), /must be a string/);
    assert.throws(() => signCookieValue("n", "a\uD800", "s"), /lone UTF-16 surrogate/);
  });

  test("synchronous: a string or undefined, never a Promise, so `if (verify…)` means what it says", () => {
    const signed: unknown = signCookieValue("user", "alice", secret);
    assert.equal(typeof signed, "string");
    const missing: unknown = verifyCookieValue("user", undefined, secret);
    assert.equal(missing, undefined);
    assert.ok(!missing, "a missing cookie is falsy");
  });

  test("a Promise as the value (a forgotten await upstream) is refused, saying to await it", () => {
    const pending = Promise.resolve("alice");
    assert.throws(() => signCookieValue("user", pending as unknown as string, secret), /got object.*await/);
  });

  test("the key cache is bounded (a secret per request cannot grow it forever) and stays correct", () => {
    const signed: string[] = [];
    for (let i = 0; i < 150; i++) signed.push(signCookieValue("n", "v", `bounded-${i}`));
    assert.equal(new Set(signed).size, 150);
    for (let i = 0; i < 150; i += 7) {
      assert.equal(verifyCookieValue("n", signed[i], `bounded-${i}`), "v");
      assert.equal(verifyCookieValue("n", signed[i], `bounded-${i + 1}`), undefined);
    }
  });
});

describe("signed cookies over a real socket, written without await", () => {
  const SECRET = ["key-2026", "key-2025"];

  function authApp(): Carafe {
    const app = new Carafe();
    app.post("/login", (_req, res) => {
      res.setSignedCookie("user", "alice", SECRET, { httpOnly: true, sameSite: "lax" });
      redirect("/admin");
    });
    app.get("/admin", (req) => {
      if (req.getSignedCookie("user", SECRET)) return "admin area";
      abort(401, "Log in first.");
    });
    return app;
  }

  /** Serves `authApp()` with `server` on a free port for the duration of `fn`. */
  async function serving(server: string, fn: (url: string) => Promise<void>): Promise<void> {
    const s = await run({ app: authApp(), server, port: 0, quiet: true, handleSignals: false });
    try {
      await fn(s.url);
    } finally {
      await s.close();
      await s.finished;
    }
  }

  for (const server of runtime === "node" ? ["auto"] : ["auto", "node"]) {
    test(`${server} server: the signed cookie is in the redirect that follows setSignedCookie`, async () => {
      await serving(server, async (url) => {
        const login = await fetch(new URL("login", url), { method: "POST", redirect: "manual" });
        await login.body?.cancel();
        assert.equal(login.status, 303);
        assert.equal(new URL(login.headers.get("location")!, url).pathname, "/admin");
        const setCookie = login.headers.getSetCookie();
        assert.equal(setCookie.length, 1, "the signed cookie is in the redirect");
        assert.match(setCookie[0], /^user=alice\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
        const admin = await fetch(new URL("admin", url), { headers: { cookie: pairOf(setCookie[0]) } });
        assert.deepEqual([admin.status, await admin.text()], [200, "admin area"]);
      });
    });

    test(`${server} server: \`if (req.getSignedCookie(…))\` refuses a missing, forged or tampered cookie`, async () => {
      await serving(server, async (url) => {
        const admin = (cookie?: string) => fetch(new URL("admin", url), { headers: cookie ? { cookie } : {} });
        const current = await webCryptoSigned("user", "alice", SECRET[0]);
        const signature = current.slice(current.lastIndexOf(".") + 1);
        const refused = {
          "no cookie": undefined,
          "unsigned": "user=alice",
          "forged signature": `user=alice.${"A".repeat(43)}`,
          "tampered value": `user=admin.${signature}`,
          "another key": `user=${await webCryptoSigned("user", "alice", "not-our-key")}`,
          "renamed": `admin=${current}; other=1`,
        };
        for (const [what, cookie] of Object.entries(refused)) {
          const res = await admin(cookie);
          assert.deepEqual([res.status, (await res.text()).includes("admin area")], [401, false], what);
        }
        for (const key of SECRET) {
          const res = await admin(`user=${await webCryptoSigned("user", "alice", key)}`);
          assert.deepEqual([res.status, await res.text()], [200, "admin area"], `signed with ${key}`);
        }
      });
    });
  }
});

/** A signed value exactly as the previous, WebCrypto-based version made it. */
async function webCryptoSigned(name: string, value: string, secret: string | Uint8Array): Promise<string> {
  const raw = typeof secret === "string" ? new TextEncoder().encode(secret) : new Uint8Array(secret);
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${name}=${value}`)));
  const b64url = btoa(String.fromCharCode(...mac)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${value}.${b64url}`;
}

describe("options type", () => {
  test("CookieOptions accepts every documented attribute", () => {
    const options: CookieOptions = {
      maxAge: 1,
      expires: "Sun, 06 Nov 1994 08:49:37 GMT",
      domain: "example.com",
      path: "/",
      secure: true,
      httpOnly: true,
      sameSite: "Lax",
      partitioned: true,
    };
    assert.match(serializeCookie("n", "v", options), /; Partitioned$/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
