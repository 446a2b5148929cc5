import { Latchkey, LatchkeyApiError, LatchkeyNetworkError } from "latchkey";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { authenticatorCode, testClock } from "../http/twofa-support.js";

/** The thrown error, for asserting its fields. */
async function failure(promise: Promise<unknown>): Promise<LatchkeyApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LatchkeyApiError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

describeEachStore("SDK client against a real server", (store) => {
  let server: TestServer;
  const clock = testClock();
  /** The first account of the server: staff. */
  let staff: Latchkey;
  let staffId: string;

  async function signedIn(email = uniqueEmail("sdk")) {
    const sdk = new Latchkey({ baseUrl: server.url });
    const { user } = await sdk.auth.signup({ email, password: PASSWORD });
    const tokens = await sdk.auth.login({ email, password: PASSWORD });
    return { sdk, user, tokens, email };
  }

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    const first = await signedIn(uniqueEmail("staff"));
    staff = first.sdk;
    staffId = first.user.id;
  });
  afterAll(async () => server?.close());

  it("auth: signs up, logs in, answers whoami, lists and ends sessions, refreshes, logs out", async () => {
    const { sdk, user, tokens, email } = await signedIn();
    expect(user.email).toBe(email);
    expect(tokens.token_type).toBe("Bearer");

    const me = await sdk.auth.whoami();
    expect(me).toMatchObject({ user_id: user.id, credential_type: "session", key_id: null });
    expect(me.scopes).toContain("services:read");

    const other = new Latchkey({ baseUrl: server.url });
    await other.auth.login({ email, password: PASSWORD });
    const { sessions } = await sdk.auth.sessions();
    expect(sessions).toHaveLength(2);
    const otherSession = sessions.find((s) => !s.current)!;
    await sdk.auth.endSession(otherSession.id);
    expect((await failure(other.auth.whoami())).code).toBe("token_invalid");

    const renewed = await sdk.auth.refresh(tokens.refresh_token);
    expect(renewed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await sdk.auth.whoami()).user_id).toBe(user.id);
    const reused = await failure(sdk.auth.refresh(tokens.refresh_token));
    expect(reused).toMatchObject({ code: "refresh_token_reused", status: 401 });

    const again = await signedIn();
    await again.sdk.auth.logout();
    const after = await failure(again.sdk.auth.whoami());
    expect(after.code).toBe("token_invalid");
  });

  it("throws LatchkeyApiError with the spec's code, status, request id and details", async () => {
    const sdk = new Latchkey({ baseUrl: server.url });
    const wrong = await failure(
      sdk.auth.login({ email: uniqueEmail(), password: "not-it-at-all" }),
    );
    expect(wrong).toBeInstanceOf(LatchkeyApiError);
    expect(wrong).toMatchObject({ code: "invalid_credentials", status: 401 });
    expect(wrong.requestId).toMatch(/^req_/);

    const invalid = await failure(sdk.auth.signup({ email: "not-an-email", password: PASSWORD }));
    expect(invalid).toMatchObject({ code: "invalid_request", status: 400 });
    expect(invalid.details?.[0]?.field).toBe("email");

    const none = await failure(sdk.auth.whoami());
    expect(none).toMatchObject({ code: "unauthenticated", status: 401 });
  });

  it("auth.login inside an account's back-off: waitTicket and retryAfter, then the ticket signs in", async () => {
    const { email } = await signedIn(uniqueEmail("sdk-backoff"));
    const sdk = new Latchkey({ baseUrl: server.url });
    for (let i = 0; i < 6; i++)
      await failure(sdk.auth.login({ email, password: `wrong-guess-${i}-sdk` }));
    const waiting = await failure(sdk.auth.login({ email, password: PASSWORD }));
    expect(waiting).toMatchObject({ code: "rate_limited", status: 429 });
    expect(waiting.retryAfter).toBeGreaterThan(0);
    expect(waiting.waitTicket).toBeTypeOf("string");
    clock.advance(waiting.retryAfter! * 1_000);
    const tokens = await sdk.auth.login({
      email,
      password: PASSWORD,
      wait_ticket: waiting.waitTicket!,
    });
    expect(tokens.access_token).toBeTypeOf("string");
  });

  it("throws LatchkeyNetworkError when Latchkey cannot be reached", async () => {
    const sdk = new Latchkey({ baseUrl: "http://127.0.0.1:9", timeoutMs: 2000 });
    await expect(sdk.auth.whoami()).rejects.toBeInstanceOf(LatchkeyNetworkError);
  });

  it("twofa: sets up, verifies, reports status, signs in with the second step, regenerates, disables", async () => {
    const { sdk, email } = await signedIn();
    const setup = await sdk.twofa.setup();
    expect(setup.otpauth_url).toContain("otpauth://totp/");
    const { backup_codes } = await sdk.twofa.verify({
      code: authenticatorCode(setup.secret, clock.now()),
    });
    expect(backup_codes).toHaveLength(10);
    expect(await sdk.twofa.status()).toMatchObject({ enabled: true, backup_codes_remaining: 10 });

    const fresh = new Latchkey({ baseUrl: server.url });
    const needed = await failure(fresh.auth.login({ email, password: PASSWORD }));
    expect(needed.code).toBe("mfa_required");
    expect(needed.mfaToken).toBeTruthy();
    clock.steps(1);
    await fresh.auth.loginMfa({
      mfa_token: needed.mfaToken!,
      code: authenticatorCode(setup.secret, clock.now()),
    });
    expect((await fresh.auth.whoami()).amr).toEqual(["pwd", "otp"]);

    const renewed = await fresh.twofa.regenerateBackupCodes({ backup_code: backup_codes[0]! });
    expect(renewed.backup_codes).toHaveLength(10);
    expect(renewed.backup_codes).not.toContain(backup_codes[1]);
    clock.steps(1);
    expect(
      await fresh.twofa.disable({ code: authenticatorCode(setup.secret, clock.now()) }),
    ).toEqual({ enabled: false });
    expect((await fresh.twofa.status()).enabled).toBe(false);
  });

  it("keys and projects: create, list, get, activity, update, rotate, verify, revoke", async () => {
    const { sdk, user } = await signedIn();
    const project = await sdk.projects.create({ name: "shop" });
    expect((await sdk.projects.list()).projects.map((p) => p.id)).toContain(project.id);

    const created = await sdk.keys.create({
      name: "deploy",
      scopes: ["services:read", "services:write"],
      environment: "test",
      expires_in: "90d",
      project_id: project.id,
    });
    expect(created.key).toMatch(/^lk_test_/);
    expect(created).toMatchObject({ name: "deploy", environment: "test", status: "active" });

    const listed = await sdk.keys.list();
    expect(listed.api_keys.map((k) => k.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.key);

    const asKey = new Latchkey({ apiKey: created.key, baseUrl: server.url });
    expect(await asKey.auth.whoami()).toMatchObject({
      credential_type: "api_key",
      key_id: created.id,
      environment: "test",
      project_id: project.id,
    });
    const details = await sdk.keys.get(created.id);
    expect(details.id).toBe(created.id);
    expect(details.usage).toHaveProperty("by_endpoint");
    const activity = await sdk.keys.activity(created.id, { limit: 10 });
    expect(Array.isArray(activity.activity)).toBe(true);

    const narrowed = await sdk.keys.update(created.id, { scopes: ["services:read"] });
    expect(narrowed.scopes).toEqual(["services:read"]);
    const widen = await failure(sdk.keys.update(created.id, { scopes: ["*"] }));
    expect(widen).toMatchObject({ code: "scope_expansion_not_allowed", status: 403 });

    // Verifying is a platform service's privilege: staff mark a service account.
    const platform = await signedIn(uniqueEmail("svc"));
    expect((await staff.admin.updateUser(platform.user.id, { service: true })).service).toBe(true);
    const checker = await platform.sdk.keys.create({ name: "svc", scopes: ["keys:verify"] });
    const service = new Latchkey({ apiKey: checker.key, baseUrl: server.url });
    const verdict = await service.keys.verify({ key: created.key, scopes: ["services:read"] });
    expect(verdict).toMatchObject({ valid: true, code: "valid", key_id: created.id });
    expect(verdict.owner_id).toBe(user.id);

    const rotated = await sdk.keys.rotate(created.id, { expire_old_in: "1h" });
    expect(rotated.key).not.toBe(created.key);
    expect(rotated.scopes).toEqual(["services:read"]);

    const revoked = await sdk.keys.revoke(created.id);
    expect(revoked.status).toBe("revoked");
    const after = await service.keys.verify({ key: created.key });
    expect(after).toMatchObject({ valid: false, code: "key_revoked" });
    expect((await failure(asKey.auth.whoami())).code).toBe("key_revoked");
  });

  it("keys.reportLeaks: anyone reports and the key is revoked; keys:report sees outcomes", async () => {
    const { sdk } = await signedIn();
    const leaked = await sdk.keys.create({ name: "pasted", scopes: ["services:read"] });
    const other = await sdk.keys.create({ name: "also-pasted", scopes: ["services:read"] });
    const anonymous = new Latchkey({ baseUrl: server.url });
    expect(await anonymous.keys.reportLeaks({ keys: [{ key: leaked.key }] })).toEqual({
      received: 1,
    });
    const asLeaked = new Latchkey({ apiKey: leaked.key, baseUrl: server.url });
    expect((await failure(asLeaked.auth.whoami())).code).toBe("key_revoked");
    // A signed-in client may still report without its credential.
    expect(await sdk.keys.reportLeaks({ keys: [{ key: other.key }] }, { anonymous: true })).toEqual(
      { received: 1 },
    );
    // Staff hold keys:report: each key's outcome, by prefix.
    const told = await staff.keys.reportLeaks({
      keys: [{ key: leaked.key, url: "https://paste.example/1", source: "sdk test" }],
    });
    expect(told.results).toEqual([
      { index: 0, prefix: leaked.key.slice(0, 12), outcome: "already_revoked" },
    ]);
    const bad = await failure(staff.keys.reportLeaks({ keys: [] }));
    expect(bad).toMatchObject({ code: "invalid_request", status: 400 });
  });

  it("audit and admin: lists events and users, and staff change a user's plan", async () => {
    const { user } = await signedIn();
    const events = await staff.audit.list({ limit: 50, event: "signup" });
    expect(events.events.some((e) => e.user_id === user.id)).toBe(true);
    // Every event through the cursor, a page of 2 at a time: as one large page lists them.
    const paged: unknown[] = [];
    for await (const event of staff.audit.entries({ limit: 2, event: "signup" })) paged.push(event);
    const whole = await staff.audit.list({ limit: 500, event: "signup" });
    expect(whole.events.length).toBeGreaterThan(2);
    expect(paged).toEqual(whole.events);
    const { users } = await staff.admin.listUsers({ limit: 500 });
    expect(users.map((u) => u.id)).toContain(staffId);
    const changed = await staff.admin.updateUser(user.id, { plan: "pro" });
    expect(changed.plan).toBe("pro");
    const limited = await staff.admin.setOwnerLimits(user.id, {
      ratelimits: [{ name: "api", limit: 100, window: "1m" }],
    });
    expect(limited.ratelimits.map((l) => l.name)).toEqual(["api"]);
    expect(await staff.admin.ownerLimits(user.id)).toEqual(limited);
    const signedOut = await signedIn();
    expect(await staff.admin.endSessions(signedOut.user.id)).toEqual({ sessions_ended: 1 });
    expect(await failure(signedOut.sdk.auth.whoami())).toMatchObject({ code: "token_invalid" });

    const { sdk } = await signedIn();
    const forbidden = await failure(sdk.admin.listUsers());
    expect(forbidden).toMatchObject({ code: "scope_insufficient", status: 403 });
    expect(forbidden.required).toEqual(["admin:*"]);
  });
});
