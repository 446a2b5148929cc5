import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { Jar } from "./cookies.js";
import { authenticatorCode as totp } from "../helpers/authenticator.js";

const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/** A browser-like caller: cookies in a jar, the CSRF header only when asked for. */
function browser(base: string) {
  const jar = new Jar();
  const send = async (
    method: string,
    path: string,
    options: { body?: unknown; csrf?: string | false } = {},
  ) => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (jar.cookies.size > 0) headers.cookie = jar.header();
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const csrf = options.csrf === undefined ? jar.cookies.get("lk_csrf") : options.csrf;
    if (csrf) headers["x-csrf-token"] = csrf;
    const response = await fetch(base + path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const set = jar.take(response.headers);
    const text = await response.text();
    return {
      status: response.status,
      body: text ? JSON.parse(text) : null,
      set,
      headers: response.headers,
    };
  };
  return { jar, send };
}

describeEachStore("portal session", (store) => {
  let clock = Date.now();
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ store, now: () => clock });
  });
  afterAll(() => server.close());

  async function signedIn() {
    const b = browser(server.url);
    const email = uniqueEmail("portal");
    expect(
      (await b.send("POST", "/v1/portal/signup", { body: { email, password: PASSWORD } })).status,
    ).toBe(201);
    const login = await b.send("POST", "/v1/portal/login", { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);
    return { ...b, email, login };
  }

  it("serves the portal with a strict CSP and frame, sniffing and referrer headers", async () => {
    for (const path of ["/", "/keys", "/keys/key_123", "/security"]) {
      const response = await fetch(server.url + path, { headers: { accept: "text/html" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/html/);
      expect(response.headers.get("content-security-policy")).toBe(CSP);
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      const html = await response.text();
      expect(html).toContain('<div id="app">');
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
      expect(html).not.toMatch(/\sstyle=/);
    }
  });

  it("answers API paths and non-browser requests with the JSON 404, never the page", async () => {
    for (const path of [
      "/v1/nope",
      "/v1/api-keys/x/y/z",
      "/.well-known/nope",
      "/assets/missing.js",
      "/favicon.ico",
    ]) {
      const response = await fetch(server.url + path, { headers: { accept: "text/html" } });
      expect(response.status).toBe(404);
      expect((await response.json()).error.code).toBe("not_found");
    }
    const api = await fetch(`${server.url}/keys`, { headers: { accept: "application/json" } });
    expect(api.status).toBe(404);
    expect((await api.json()).error.code).toBe("not_found");
    const post = await fetch(`${server.url}/keys`, {
      method: "POST",
      headers: { accept: "text/html" },
    });
    expect(post.status).toBe(404);
    expect((await post.json()).error.code).toBe("not_found");
  });

  it("signs in with httpOnly SameSite=Strict cookies and no token in the body", async () => {
    const b = await signedIn();
    const { login } = b;
    expect(Object.keys(login.body)).toEqual(["expires_in"]);
    const byName = new Map(login.set.map((c) => [c.name, c]));
    const session = byName.get("lk_session")!;
    expect(session.attributes.has("httponly")).toBe(true);
    expect(session.attributes.get("samesite")).toBe("Strict");
    expect(session.attributes.get("path")).toBe("/");
    expect(session.attributes.has("secure")).toBe(false); // plain http here
    const refresh = byName.get("lk_refresh")!;
    expect(refresh.attributes.has("httponly")).toBe(true);
    expect(refresh.attributes.get("path")).toBe("/v1/portal");
    const csrf = byName.get("lk_csrf")!;
    expect(csrf.attributes.has("httponly")).toBe(false);
    expect(csrf.value.length).toBeGreaterThanOrEqual(32);
    expect(login.headers.get("cache-control")).toBe("no-store");

    // A new sign-in never keeps a CSRF secret that was there before it.
    const again = await b.send("POST", "/v1/portal/login", {
      body: { email: b.email, password: PASSWORD },
    });
    expect(again.status).toBe(200);
    expect(b.jar.cookies.get("lk_csrf")).not.toBe(csrf.value);
  });

  it("authenticates API calls with the cookie and refuses unsafe ones without the CSRF header", async () => {
    const b = await signedIn();
    const me = await b.send("GET", "/v1/auth/whoami");
    expect(me.status).toBe(200);
    expect(me.body.credential_type).toBe("session");
    expect(me.body.email).toBe(b.email);

    const missing = await b.send("POST", "/v1/auth/2fa/setup", { csrf: false });
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe("forbidden");
    const wrong = await b.send("POST", "/v1/auth/2fa/setup", { csrf: "x".repeat(32) });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe("forbidden");
    const other = await b.send("DELETE", `/v1/auth/sessions/ses_nope`, { csrf: false });
    expectError(other, 403, "forbidden");

    const right = await b.send("POST", "/v1/auth/2fa/setup");
    expect(right.status).toBe(200);
    expect(right.body.secret).toBeTruthy();
  });

  it("refreshes silently from the cookie, and a replayed refresh cookie ends the session", async () => {
    const b = await signedIn();
    const spent = b.jar.cookies.get("lk_refresh")!;
    const csrf = b.jar.cookies.get("lk_csrf")!;
    expectError(await b.send("POST", "/v1/portal/refresh", { csrf: false }), 403, "forbidden");

    const refreshed = await b.send("POST", "/v1/portal/refresh");
    expect(refreshed.status).toBe(200);
    expect(b.jar.cookies.get("lk_csrf")).toBe(csrf); // kept: other tabs still hold it
    expect(b.jar.cookies.get("lk_refresh")).not.toBe(spent);
    expect((await b.send("GET", "/v1/auth/whoami")).status).toBe(200);

    const fresh = b.jar.cookies.get("lk_refresh")!;
    b.jar.cookies.set("lk_refresh", spent);
    const replay = await b.send("POST", "/v1/portal/refresh");
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe("refresh_token_reused");
    expect(b.jar.cookies.has("lk_session")).toBe(false); // cleared by the answer

    b.jar.cookies.set("lk_refresh", fresh);
    b.jar.cookies.set("lk_csrf", csrf);
    const after = await b.send("POST", "/v1/portal/refresh");
    expectError(after, 401, "refresh_token_reused"); // the whole family ended
  });

  it("signs out: the session ends and its cookies are cleared", async () => {
    const b = await signedIn();
    const access = b.jar.cookies.get("lk_session")!;
    expectError(await b.send("POST", "/v1/portal/logout", { csrf: false }), 403, "forbidden");
    const out = await b.send("POST", "/v1/portal/logout");
    expect(out.status).toBe(204);
    expect(b.jar.cookies.size).toBe(0);
    b.jar.cookies.set("lk_session", access);
    const again = await b.send("GET", "/v1/auth/whoami");
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe("token_invalid");
  });

  it("finishes a 2FA sign-in through /v1/portal/login/mfa", async () => {
    const b = await signedIn();
    const setup = await b.send("POST", "/v1/auth/2fa/setup");
    const verify = await b.send("POST", "/v1/auth/2fa/verify", {
      body: { code: totp(setup.body.secret, clock) },
    });
    expect(verify.status).toBe(200);
    clock += 30_000;

    const next = browser(server.url);
    const first = await next.send("POST", "/v1/portal/login", {
      body: { email: b.email, password: PASSWORD },
    });
    expect(first.status).toBe(401);
    expect(first.body.error.code).toBe("mfa_required");
    expect(next.jar.cookies.size).toBe(0);

    const token = first.body.error.mfa_token as string;
    const bad = await next.send("POST", "/v1/portal/login/mfa", {
      body: { mfa_token: token, code: "000000" },
    });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe("invalid_mfa_code");

    const good = await next.send("POST", "/v1/portal/login/mfa", {
      body: { mfa_token: token, code: totp(setup.body.secret, clock) },
    });
    expect(good.status).toBe(200);
    expect(next.jar.cookies.has("lk_session")).toBe(true);
    const me = await next.send("GET", "/v1/auth/whoami");
    expect(me.body.amr).toEqual(["pwd", "otp"]);
  });
});

describe("portal cookies behind https", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { LATCHKEY_SECURE_COOKIES: "true" } });
  });
  afterAll(() => server.close());

  it("marks every session cookie Secure", async () => {
    const b = browser(server.url);
    const email = uniqueEmail("secure");
    await b.send("POST", "/v1/portal/signup", { body: { email, password: PASSWORD } });
    const login = await b.send("POST", "/v1/portal/login", { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);
    expect(login.set).toHaveLength(3);
    for (const cookie of login.set) expect(cookie.attributes.has("secure")).toBe(true);
  });

  it("names them __Host- (and the path-bound refresh cookie __Secure-), reads only those, and sends HSTS", async () => {
    const b = browser(server.url);
    const email = uniqueEmail("host");
    await b.send("POST", "/v1/portal/signup", { body: { email, password: PASSWORD } });
    const login = await b.send("POST", "/v1/portal/login", { body: { email, password: PASSWORD } });
    const byName = new Map(login.set.map((c) => [c.name, c]));
    expect([...byName.keys()].sort()).toEqual([
      "__Host-lk_csrf",
      "__Host-lk_session",
      "__Secure-lk_refresh",
    ]);
    for (const name of ["__Host-lk_session", "__Host-lk_csrf"]) {
      const cookie = byName.get(name)!;
      // What the __Host- prefix demands: Secure, Path=/, no Domain.
      expect(cookie.attributes.get("path")).toBe("/");
      expect(cookie.attributes.has("domain")).toBe(false);
      expect(cookie.attributes.get("samesite")?.toLowerCase()).toBe("strict");
    }
    expect(byName.get("__Host-lk_session")!.attributes.has("httponly")).toBe(true);
    expect(byName.get("__Secure-lk_refresh")!.attributes.get("path")).toBe("/v1/portal");
    expect(login.headers.get("strict-transport-security")).toBe("max-age=31536000");
    const page = await fetch(`${server.url}/`, { headers: { accept: "text/html" } });
    expect(page.headers.get("strict-transport-security")).toBe("max-age=31536000");

    const csrf = b.jar.cookies.get("__Host-lk_csrf")!;
    const who = await b.send("GET", "/v1/auth/whoami");
    expect(who.status).toBe(200);
    // A cookie without the prefix (set by a sibling host or over plain http) is not read.
    const access = b.jar.cookies.get("__Host-lk_session")!;
    b.jar.cookies.delete("__Host-lk_session");
    b.jar.cookies.set("lk_session", access);
    expect((await b.send("GET", "/v1/auth/whoami")).status).toBe(401);
    b.jar.cookies.set("__Host-lk_session", access);
    b.jar.cookies.delete("lk_session");
    // The double-submit check reads the prefixed CSRF cookie too.
    const out = await b.send("POST", "/v1/portal/logout", { csrf });
    expect(out.status).toBe(204);
  });
});
