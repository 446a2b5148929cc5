/**
 * The route table of test/helpers/route-security.ts is complete: every operation the API
 * publishes is in it (so a new route cannot skip the common security checks), nothing in it
 * is stale, and every group with a guarded route is run by some test file.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { ROUTES, type RouteSpec } from "../helpers/route-security.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const TEST_DIR = resolve(import.meta.dirname, "..");

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const table = (Object.values(ROUTES) as readonly (readonly RouteSpec[])[]).flat();
const name = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

describe("the route security table", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  it("lists every operation of the API's OpenAPI document, and nothing else", async () => {
    const reply = await client(server.url).get("/openapi.json");
    expect(reply.status).toBe(200);
    const published = Object.entries(reply.body.paths as Record<string, object>).flatMap(
      ([path, operations]) =>
        Object.keys(operations).map((method) => name(method, path.replace(/\{(\w+)\}/g, ":$1"))),
    );
    expect(published.length).toBeGreaterThan(20);
    expect(table.map((route) => name(route.method, route.path)).sort()).toEqual(published.sort());
  });

  it("states auth the way the server enforces it: a guarded route refuses no credential, a public one does not", async () => {
    const api = client(server.url);
    for (const route of table) {
      if (route.method !== "GET" || route.path.includes(":") || route.path.endsWith("/revocations"))
        continue;
      const reply = await api.get(route.path);
      const refused = reply.status === 401 && reply.body?.error?.code === "unauthenticated";
      expect(refused, `${name(route.method, route.path)} answered ${reply.status}`).toBe(
        route.auth !== "public",
      );
    }
  });

  it("has every group with a guarded route run by a test file through routeSecurity()", () => {
    const sources = testFiles(TEST_DIR).map((file) => readFileSync(file, "utf8"));
    for (const [group, routes] of Object.entries(ROUTES)) {
      if (routes.every((route) => route.auth === "public")) continue;
      const call = `routeSecurity("${group}"`;
      expect(
        sources.some((source) => source.includes(call)),
        `no test file calls ${call}, …)`,
      ).toBe(true);
    }
  });
});
