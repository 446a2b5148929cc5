import { afterAll, beforeAll, expect, it } from "vitest";
import { client, PASSWORD, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

describeEachStore("the audit log: export and append-only", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
  });
  afterAll(async () => server?.close());

  /** GET as text, with the caller's token (the NDJSON answer is not JSON). */
  async function getText(path: string, token: string) {
    const response = await fetch(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  it("exports the caller's events as NDJSON, page by page through a cursor, as the JSON list has them", async () => {
    const user = await signupAndLogin(server.url);
    // More events: failed and good sign-ins.
    for (let i = 0; i < 3; i++)
      await api.post("/v1/auth/login", { email: user.email, password: "not-the-password" });
    await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });

    const all = await api.get("/v1/audit-log?limit=500", { token: user.accessToken });
    expect(all.status).toBe(200);
    expect(all.body.events.length).toBeGreaterThanOrEqual(6);

    const exported: unknown[] = [];
    let path: string | null = "/v1/audit-log?format=ndjson&limit=2";
    let pages = 0;
    while (path !== null) {
      const page = await getText(path, user.accessToken);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
      const lines = page.text.split("\n");
      expect(lines.pop()).toBe(""); // every line ends with a newline
      expect(lines.length).toBeLessThanOrEqual(2);
      exported.push(...lines.map((line) => JSON.parse(line) as unknown));
      pages += 1;
      const next = page.headers.get("x-next-before");
      const link = page.headers.get("link");
      if (next === null) {
        expect(link).toBeNull();
        path = null;
      } else {
        const match = /^<([^>]+)>; rel="next"$/.exec(link ?? "");
        expect(match).not.toBeNull();
        path = match![1]!;
        expect(path).toContain(`before=${next}`);
        expect(path).toContain("format=ndjson");
        expect(path).toContain("limit=2");
      }
    }
    expect(pages).toBeGreaterThanOrEqual(3);
    // The same entries, in the same order (newest first), as the JSON listing.
    expect(exported).toEqual(all.body.events);
  });

  it("filters the export like the list, and refuses a format it does not know", async () => {
    const user = await signupAndLogin(server.url);
    await api.post("/v1/auth/login", { email: user.email, password: "not-the-password" });
    const page = await getText("/v1/audit-log?format=ndjson&event=login_failed", user.accessToken);
    const events = page.text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { event: string });
    expect(events.length).toBe(1);
    expect(events.every((e) => e.event === "login_failed")).toBe(true);

    const bad = await api.get("/v1/audit-log?format=csv", { token: user.accessToken });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_request");
  });

  it("is append-only through the API: no operation on it but GET, and a DELETE is not found", async () => {
    const doc = await api.get("/openapi.json");
    const operations = Object.entries(doc.body.paths as Record<string, object>)
      .filter(([path]) => path.includes("audit"))
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
    expect(operations).toEqual(["get /v1/audit-log", "get /v1/orgs/{id}/audit-log"]);

    const staff = await signupAndLogin(server.url);
    const before = await api.get("/v1/audit-log", { token: staff.accessToken });
    for (const method of ["DELETE", "PUT", "PATCH", "POST"] as const) {
      const reply = await fetch(`${server.url}/v1/audit-log`, {
        method,
        headers: { authorization: `Bearer ${staff.accessToken}` },
      });
      expect([404, 405]).toContain(reply.status);
    }
    const after = await api.get("/v1/audit-log", { token: staff.accessToken });
    expect(after.body.events).toEqual(before.body.events);
  });
});
