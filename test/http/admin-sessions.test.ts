/**
 * Staff end a user's sessions (ASVS 7.4.5), and disabling an account ends them too (7.4.2):
 * enabling it again brings none of them back. Over real HTTP on each store.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError, PASSWORD, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

describeEachStore("staff and a user's sessions", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let staff: string;

  beforeAll(async () => {
    server = await startTestServer({ store });
    api = client(server.url);
    staff = (await signupAndLogin(server.url)).accessToken; // the first account is staff
  });
  afterAll(async () => server?.close());

  /** A user signed in twice (two sessions), with one API key. */
  async function twiceSignedIn() {
    const user = await signupAndLogin(server.url);
    const second = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    const key = await api.post(
      "/v1/api-keys",
      { name: "ci", scopes: ["projects:read"] },
      { token: user.accessToken },
    );
    expect(key.status).toBe(201);
    return { ...user, second: second.body, key: key.body.key as string };
  }

  it("signs a user out everywhere; their API keys keep working", async () => {
    const user = await twiceSignedIn();
    const ended = await api.delete(`/v1/admin/users/${user.userId}/sessions`, { token: staff });
    expect(ended.status, JSON.stringify(ended.body)).toBe(200);
    expect(ended.body).toEqual({ sessions_ended: 2 });
    for (const token of [user.accessToken, user.second.access_token])
      expectError(await api.get("/v1/auth/whoami", { token }), 401, "token_invalid");
    for (const refresh of [user.refreshToken, user.second.refresh_token])
      expect((await api.post("/v1/auth/refresh", { refresh_token: refresh })).status).toBe(401);
    expect((await api.get("/v1/projects", { token: user.key })).status).toBe(200);
    // Signing in again works.
    expect(
      (await api.post("/v1/auth/login", { email: user.email, password: PASSWORD })).status,
    ).toBe(200);
    const audit = await server.db
      .selectFrom("audit_log")
      .select(["event", "details"])
      .where("user_id", "=", user.userId)
      .where("event", "=", "sessions_ended_by_staff")
      .execute();
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.details!)).toMatchObject({ sessions_ended: 2 });
    expectError(
      await api.delete("/v1/admin/users/usr_nobody/sessions", { token: staff }),
      404,
      "not_found",
    );
    // Not staff: refused, and nothing ended.
    const other = await twiceSignedIn();
    const refused = await api.delete(`/v1/admin/users/${other.userId}/sessions`, {
      token: user.key,
    });
    expect(refused.status).toBe(403);
    expect((await api.get("/v1/auth/whoami", { token: other.accessToken })).status).toBe(200);
  });

  it("ends the sessions of an account it disables: enabling it again brings none back", async () => {
    const user = await twiceSignedIn();
    const disabled = await api.patch(
      `/v1/admin/users/${user.userId}`,
      { disabled: true },
      { token: staff },
    );
    expect(disabled.status).toBe(200);
    expect(
      (await api.patch(`/v1/admin/users/${user.userId}`, { disabled: false }, { token: staff }))
        .status,
    ).toBe(200);
    for (const token of [user.accessToken, user.second.access_token])
      expectError(await api.get("/v1/auth/whoami", { token }), 401, "token_invalid");
    expect((await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken })).status).toBe(
      401,
    );
    // Keys belong to the account, not to a session: they work again once it is enabled.
    expect((await api.get("/v1/projects", { token: user.key })).status).toBe(200);
  });
});
