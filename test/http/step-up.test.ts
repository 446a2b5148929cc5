/**
 * SPEC §9 step-up: sensitive actions need an authentication (`auth_time`) under 10 minutes
 * old, else 401 `reauthentication_required`; `POST /v1/auth/reauthenticate` renews it for the
 * same session. Over real HTTP on each store, with an injected clock.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { routeSecurity } from "../helpers/route-security.js";
import { client, expectError, PASSWORD, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { authenticatorCode, enableTwoFactor, jwtClaims, testClock } from "./twofa-support.js";

const MINUTE = 60_000;
const LIMIT = 10 * MINUTE;

describeEachStore("step-up before sensitive actions", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const clock = testClock();

  beforeAll(async () => {
    // Enterprise: no plan limit gets in the way of the keys these tests mint.
    server = await startTestServer({
      store,
      now: clock.now,
      env: { LATCHKEY_DEFAULT_PLAN: "enterprise" },
    });
    api = client(server.url);
    // On a fresh server the first account is staff: let it be someone else.
    await signupAndLogin(server.url);
  });
  afterAll(async () => server?.close());

  const events = async (userId: string) =>
    (
      await server.db
        .selectFrom("audit_log")
        .select(["event", "details"])
        .where("user_id", "=", userId)
        .orderBy("id")
        .execute()
    ).map((row) => row.event);

  /** A signed-in user with 2FA on, and the clock where their sign-in happened. */
  async function twoFactorUser() {
    const user = await signupAndLogin(server.url);
    const factor = await enableTwoFactor(server.url, user.accessToken, clock.ms);
    clock.steps();
    const login = await api.post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      code: authenticatorCode(factor.secret, clock.ms),
    });
    expect(login.status).toBe(200);
    return {
      ...user,
      ...factor,
      accessToken: login.body.access_token as string,
      refreshToken: login.body.refresh_token as string,
      signedInAt: clock.ms,
    };
  }

  it("allows disabling 2FA at 10 min − 1 s after sign-in, refuses it at 10 min + 1 s", async () => {
    const early = await twoFactorUser();
    const late = await twoFactorUser();
    clock.ms = late.signedInAt + LIMIT + 1_000;
    const refused = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(late.secret, clock.ms) },
      { token: late.accessToken },
    );
    expectError(refused, 401, "reauthentication_required");
    expect(refused.body.error.max_age).toBe(600);
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect((await api.get("/v1/auth/2fa/status", { token: late.accessToken })).body.enabled).toBe(
      true,
    );
    // The refusal came before the code was looked at: no failed code was counted.
    expect(await events(late.userId)).not.toContain("2fa_failed_code");

    clock.ms = early.signedInAt + LIMIT - 1_000;
    const allowed = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(early.secret, clock.ms) },
      { token: early.accessToken },
    );
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
  });

  it("refuses turning 2FA on with a stale sign-in: a stolen old token cannot enrol its own authenticator", async () => {
    const user = await signupAndLogin(server.url);
    const signedInAt = clock.ms;
    // A setup begun in time cannot be finished once the sign-in is stale.
    const setup = await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken });
    expect(setup.status).toBe(200);
    clock.ms = signedInAt + LIMIT + 1_000;
    expectError(
      await api.post(
        "/v1/auth/2fa/verify",
        { code: authenticatorCode(setup.body.secret, clock.ms) },
        { token: user.accessToken },
      ),
      401,
      "reauthentication_required",
    );
    expectError(
      await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken }),
      401,
      "reauthentication_required",
    );
    expect((await api.get("/v1/auth/2fa/status", { token: user.accessToken })).body.enabled).toBe(
      false,
    );
    // The other sessions (the owner's) were not ended.
    expect(await events(user.userId)).not.toContain("2fa_enabled");
    const fresh = await api.post(
      "/v1/auth/reauthenticate",
      { password: PASSWORD },
      { token: user.accessToken },
    );
    const again = await api.post("/v1/auth/2fa/setup", undefined, {
      token: fresh.body.access_token,
    });
    expect(again.status).toBe(200);
    const enabled = await api.post(
      "/v1/auth/2fa/verify",
      { code: authenticatorCode(again.body.secret, clock.ms) },
      { token: fresh.body.access_token },
    );
    expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
  });

  it("refuses regenerating backup codes with a stale sign-in until the user reauthenticates", async () => {
    const user = await twoFactorUser();
    clock.ms = user.signedInAt + LIMIT + 1_000;
    const regenerate = (token: string) =>
      api.post("/v1/auth/2fa/backup-codes", { code: user.backupCodes[0] }, { token });
    expectError(await regenerate(user.accessToken), 401, "reauthentication_required");

    // Without the second factor, reauthentication is refused: 2FA is on.
    const noCode = await api.post(
      "/v1/auth/reauthenticate",
      { password: PASSWORD },
      { token: user.accessToken },
    );
    expectError(noCode, 401, "mfa_required");
    const wrongCode = await api.post(
      "/v1/auth/reauthenticate",
      { password: PASSWORD, code: "000000" },
      { token: user.accessToken },
    );
    expectError(wrongCode, 401, "invalid_mfa_code");

    clock.steps();
    const fresh = await api.post(
      "/v1/auth/reauthenticate",
      { password: PASSWORD, code: authenticatorCode(user.secret, clock.ms) },
      { token: user.accessToken },
    );
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    expect(fresh.headers.get("cache-control")).toBe("no-store");
    expect(fresh.body).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
    expect(Date.parse(fresh.body.auth_time)).toBe(Math.floor(clock.ms / 1000) * 1000);
    expect(Date.parse(fresh.body.step_up_expires_at) - Date.parse(fresh.body.auth_time)).toBe(
      LIMIT,
    );
    const before = jwtClaims(user.accessToken);
    const after = jwtClaims(fresh.body.access_token);
    expect(after.sid).toBe(before.sid);
    expect(after.amr).toEqual(["pwd", "otp"]);
    expect(after.auth_time).toBe(Math.floor(clock.ms / 1000));

    // The old token still works, but is still stale; the fresh one may regenerate.
    expect((await api.get("/v1/auth/whoami", { token: user.accessToken })).status).toBe(200);
    expectError(await regenerate(user.accessToken), 401, "reauthentication_required");
    const codes = await regenerate(fresh.body.access_token);
    expect(codes.status, JSON.stringify(codes.body)).toBe(200);
    expect(codes.body.backup_codes).toHaveLength(10);
    expect(await events(user.userId)).toContain("reauthenticated");
  });

  it("refuses changing the password with a stale sign-in, and allows it after reauthenticating", async () => {
    const user = await signupAndLogin(server.url);
    const signedInAt = clock.ms;
    clock.ms = signedInAt + LIMIT + 1_000;
    const change = (token: string) =>
      api.post(
        "/v1/auth/password",
        { current_password: PASSWORD, new_password: "another-long-passphrase-7" },
        { token },
      );
    expectError(await change(user.accessToken), 401, "reauthentication_required");
    const wrong = await api.post(
      "/v1/auth/reauthenticate",
      { password: "not-the-password" },
      { token: user.accessToken },
    );
    expectError(wrong, 401, "invalid_credentials");
    expect(await events(user.userId)).toContain("login_failed");
    // Without 2FA, the password alone reauthenticates.
    const fresh = await api.post(
      "/v1/auth/reauthenticate",
      { password: PASSWORD },
      { token: user.accessToken },
    );
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    expect(jwtClaims(fresh.body.access_token).amr).toEqual(["pwd"]);
    expect((await change(fresh.body.access_token)).status).toBe(200);
  });

  it("keeps the session's auth time through a refresh, and a reauthentication's after it", async () => {
    const user = await signupAndLogin(server.url);
    const signedInAt = clock.ms;
    clock.ms = signedInAt + LIMIT + 1_000;
    const refresh = async (token: string) => {
      const reply = await api.post("/v1/auth/refresh", { refresh_token: token });
      expect(reply.status).toBe(200);
      return reply.body as { access_token: string; refresh_token: string };
    };
    const refreshed = await refresh(user.refreshToken);
    expect(jwtClaims(refreshed.access_token).auth_time).toBe(Math.floor(signedInAt / 1000));
    const create = (token: string) =>
      api.post("/v1/api-keys", { name: "deploy", scopes: ["services:write"] }, { token });
    expectError(await create(refreshed.access_token), 401, "reauthentication_required");

    const fresh = await api.post(
      "/v1/auth/reauthenticate",
      { password: PASSWORD },
      { token: refreshed.access_token },
    );
    expect(fresh.status).toBe(200);
    // The refresh token is unchanged by reauthentication, and its next access token carries it.
    const next = await refresh(refreshed.refresh_token);
    expect(jwtClaims(next.access_token).auth_time).toBe(Math.floor(clock.ms / 1000));
    expect((await create(next.access_token)).status).toBe(201);
  });

  it("needs step-up only for live keys with write or admin scopes, on create and rotate", async () => {
    const user = await signupAndLogin(server.url);
    const token = user.accessToken;
    const create = (body: object, as = token) =>
      api.post("/v1/api-keys", { name: "k", ...body }, { token: as });
    const privileged = await create({ scopes: ["services:*"] });
    const readOnly = await create({ scopes: ["services:read"] });
    expect([privileged.status, readOnly.status]).toEqual([201, 201]);

    clock.ms += LIMIT + 1_000;
    for (const scopes of [["services:write"], ["*"], ["keys:write", "logs:read"]])
      expectError(await create({ scopes }), 401, "reauthentication_required", scopes.join());
    expectError(
      await create({ scopes: ["services:write"], environment: "live" }),
      401,
      "reauthentication_required",
    );
    // Not sensitive: read-only live keys and test keys of any scope.
    expect((await create({ scopes: ["services:read", "logs:read"] })).status).toBe(201);
    expect((await create({ scopes: ["*"], environment: "test" })).status).toBe(201);
    const rotate = (id: string) => api.post(`/v1/api-keys/${id}/rotate`, {}, { token });
    expectError(await rotate(privileged.body.id), 401, "reauthentication_required");
    expect((await rotate(readOnly.body.id)).status).toBe(201);
    // Narrowing and revoking never need it.
    expect(
      (
        await api.patch(
          `/v1/api-keys/${privileged.body.id}`,
          { scopes: ["services:read"] },
          { token },
        )
      ).status,
    ).toBe(200);
  });

  it("refuses API keys minting or rotating privileged live keys (forbidden), lets them mint read-only ones", async () => {
    const user = await signupAndLogin(server.url);
    const minter = await api.post(
      "/v1/api-keys",
      { name: "ci", scopes: ["keys:write", "keys:read", "services:read"] },
      { token: user.accessToken },
    );
    expect(minter.status).toBe(201);
    const asKey = (path: string, body: object) => api.post(path, body, { token: minter.body.key });
    const write = await asKey("/v1/api-keys", { name: "x", scopes: ["services:read"] });
    expect(write.status).toBe(201);
    // Even at once: an API key proves no person, however fresh.
    const refused = await asKey("/v1/api-keys", { name: "y", scopes: ["keys:write"] });
    expectError(refused, 403, "forbidden");
    expect(refused.body.error.message).toMatch(/API key cannot/);
    expectError(await asKey(`/v1/api-keys/${minter.body.id}/rotate`, {}), 403, "forbidden");
    expect((await asKey(`/v1/api-keys/${write.body.id}/rotate`, {})).status).toBe(201);
    // Session-only, like every 2FA route: a key cannot reauthenticate either.
    expectError(await asKey("/v1/auth/reauthenticate", { password: PASSWORD }), 403, "forbidden");
  });

  it("answers bad reauthentication input with invalid_request, never a 500", async () => {
    const user = await signupAndLogin(server.url);
    for (const body of [
      {},
      { password: 42 },
      { password: PASSWORD, code: "12" },
      { password: PASSWORD, code: "123456", backup_code: "abcd-efgh-ijkl" },
      { password: PASSWORD, extra: true },
      { password: "x".repeat(5000) },
    ]) {
      const reply = await api.post("/v1/auth/reauthenticate", body, { token: user.accessToken });
      expectError(reply, 400, "invalid_request", JSON.stringify(body).slice(0, 80));
      expect(JSON.stringify(reply.body)).not.toContain(PASSWORD);
    }
  });

  it("throttles reauthentication like sign-in: wrong passwords count against the account", async () => {
    const user = await signupAndLogin(server.url);
    const max = server.config.login.maxFailuresPerAccount;
    for (let i = 0; i < max; i += 1) {
      const reply = await api.post(
        "/v1/auth/reauthenticate",
        { password: `wrong-password-${i}` },
        { token: user.accessToken },
      );
      expectError(reply, 401, "invalid_credentials");
    }
    const throttled = await api.post(
      "/v1/auth/reauthenticate",
      { password: PASSWORD },
      { token: user.accessToken },
    );
    expectError(throttled, 429, "too_many_attempts");
    const login = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expectError(login, 429, "too_many_attempts");
  });
});

describeEachStore("step-up routes and a configured maximum age", (store) => {
  let server: TestServer;
  const clock = testClock();
  beforeAll(async () => {
    server = await startTestServer({
      store,
      now: clock.now,
      env: { LATCHKEY_STEP_UP_MAX_AGE: "2m" },
    });
  });
  afterAll(async () => server?.close());

  it("honours LATCHKEY_STEP_UP_MAX_AGE", async () => {
    const api = client(server.url);
    await signupAndLogin(server.url);
    const user = await signupAndLogin(server.url);
    const start = clock.ms;
    const create = () =>
      api.post(
        "/v1/api-keys",
        { name: "k", scopes: ["services:write"] },
        { token: user.accessToken },
      );
    clock.ms = start + 2 * MINUTE - 1_000;
    expect((await create()).status).toBe(201);
    clock.ms = start + 2 * MINUTE + 1_000;
    const refused = await create();
    expectError(refused, 401, "reauthentication_required");
    expect(refused.body.error.max_age).toBe(120);
  });

  routeSecurity("portal", () => server);
});
