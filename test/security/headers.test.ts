/**
 * Every API answer is `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`
 * (ASVS 3.4.4, 14.3.2): tokens, keys and account data are never kept by a cache or proxy.
 * Routes come from /openapi.json, so a new route is covered without touching this file.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import { WEB_DIST } from "../../src/http/portal.js";
import { client, PASSWORD } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { enableTwoFactor } from "../http/twofa-support.js";
import { account, type Account, type Api } from "../http/api-keys-fixtures.js";

function expectNoStore(headers: Headers, label: string): void {
  expect(headers.get("cache-control"), label).toMatch(/\bno-store\b/);
  expect(headers.get("x-content-type-options"), label).toBe("nosniff");
}

describeEachStore("security headers on every answer", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
    user = await account(server);
  });
  afterAll(async () => server?.close());

  it("answers every route in /openapi.json with no-store and nosniff, with and without a token", async () => {
    const doc = (await api.get("/openapi.json")).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
    );
    expect(routes.length).toBeGreaterThan(30);
    for (const { method, path } of routes) {
      const url = path.replace(/\{[^}]+\}/g, "x_1");
      for (const token of [undefined, user.token]) {
        const reply = await fetch(server.url + url, {
          method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(method === "GET" ? {} : { "content-type": "application/json" }),
          },
          ...(method === "GET" ? {} : { body: "{}" }),
        });
        await reply.arrayBuffer();
        expectNoStore(reply.headers, `${method} ${path} → ${reply.status}`);
      }
    }
    for (const path of ["/openapi.json", "/healthz", "/nowhere"])
      expectNoStore((await api.get(path)).headers, path);
  });

  it("answers sign-in, refresh and mfa_required with no-store", async () => {
    const login = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(login.status).toBe(200);
    expectNoStore(login.headers, "login");
    const refresh = await api.post("/v1/auth/refresh", {
      refresh_token: login.body.refresh_token,
    });
    expect(refresh.status).toBe(200);
    expectNoStore(refresh.headers, "refresh");

    const twofa = await account(server);
    await enableTwoFactor(server.url, twofa.token, Date.now());
    const mfa = await api.post("/v1/auth/login", { email: twofa.email, password: PASSWORD });
    expect(mfa.body.error.code).toBe("mfa_required");
    expectNoStore(mfa.headers, "mfa_required");
  });

  it.skipIf(!existsSync(`${WEB_DIST}assets`))(
    "keeps the portal's hashed assets cacheable, and its page revalidated",
    async () => {
      const asset = readdirSync(`${WEB_DIST}assets`).find((f) => f.endsWith(".js"))!;
      const file = await fetch(`${server.url}/assets/${asset}`);
      await file.arrayBuffer();
      expect(file.headers.get("cache-control")).toMatch(/immutable/);
      expect(file.headers.get("x-content-type-options")).toBe("nosniff");
      const page = await fetch(`${server.url}/keys`, { headers: { accept: "text/html" } });
      await page.text();
      expect(page.headers.get("cache-control")).toBe("no-cache");
    },
  );
});
