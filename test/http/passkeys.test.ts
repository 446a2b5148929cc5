/**
 * SPEC §9 passkeys (WebAuthn) over real HTTP on each store, with a software authenticator
 * (test/helpers/webauthn.ts; the portal test drives Chromium's virtual one): registration,
 * list, rename, remove; passwordless sign-in; a passkey as the second factor in place of a
 * TOTP code; reauthentication (step-up) with a passkey; and every way an answer is refused.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError, PASSWORD, signupAndLogin } from "../helpers/http.js";
import { routeSecurity } from "../helpers/route-security.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { SoftAuthenticator } from "../helpers/webauthn.js";
import { authenticatorCode, enableTwoFactor, jwtClaims, testClock } from "./twofa-support.js";

const MINUTE = 60_000;

describeEachStore("passkeys", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let origin: string;
  const clock = testClock();

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    api = client(server.url);
    origin = server.url.replace("127.0.0.1", "localhost");
    await signupAndLogin(server.url); // the first account is staff: let it be someone else
  });
  afterAll(async () => server?.close());

  routeSecurity("passkeys", () => server);

  const events = async (userId: string) =>
    (
      await server.db
        .selectFrom("audit_log")
        .select("event")
        .where("user_id", "=", userId)
        .orderBy("id")
        .execute()
    ).map((row) => row.event);

  /** A signed-in user with one registered passkey. */
  async function userWithPasskey(name?: string) {
    const user = await signupAndLogin(server.url);
    const authenticator = new SoftAuthenticator(origin);
    const options = await api.post("/v1/auth/passkeys/register/options", undefined, {
      token: user.accessToken,
    });
    expect(options.status, JSON.stringify(options.body)).toBe(200);
    expect(options.headers.get("cache-control")).toBe("no-store");
    const credential = authenticator.register(options.body);
    const registered = await api.post(
      "/v1/auth/passkeys/register",
      { credential, ...(name ? { name } : {}) },
      { token: user.accessToken },
    );
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    return { ...user, authenticator, passkey: registered.body };
  }

  async function passwordless(authenticator: SoftAuthenticator, userVerified = true) {
    const options = await api.post("/v1/auth/passkeys/login/options", {});
    expect(options.status).toBe(200);
    return api.post("/v1/auth/passkeys/login", {
      credential: authenticator.assert(options.body, { userVerified }),
    });
  }

  it("registers a passkey bound to the relying party, lists, renames and removes it", async () => {
    const user = await signupAndLogin(server.url);
    const options = await api.post("/v1/auth/passkeys/register/options", undefined, {
      token: user.accessToken,
    });
    expect(options.body.rp).toEqual({ name: "Latchkey", id: "localhost" });
    expect(options.body.user.name).toBe(user.email);
    // The user handle is the account id, never the email.
    expect(Buffer.from(options.body.user.id, "base64url").toString()).toBe(user.userId);
    expect(options.body.authenticatorSelection.residentKey).toBe("required");
    const authenticator = new SoftAuthenticator(origin);
    const registered = await api.post(
      "/v1/auth/passkeys/register",
      { credential: authenticator.register(options.body), name: "Laptop" },
      { token: user.accessToken },
    );
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({
      name: "Laptop",
      device_type: "singleDevice",
      backed_up: false,
      transports: ["internal"],
      last_used_at: null,
    });
    const id = registered.body.id as string;

    const listed = await api.get("/v1/auth/passkeys", { token: user.accessToken });
    expect(listed.body.passkeys).toEqual([registered.body]);
    // No key material in the answer.
    expect(JSON.stringify(listed.body)).not.toMatch(/public_key|credential_id/);

    // A second registration excludes the first credential.
    const again = await api.post("/v1/auth/passkeys/register/options", undefined, {
      token: user.accessToken,
    });
    expect(again.body.excludeCredentials.map((c: { id: string }) => c.id)).toEqual([
      listedCredentialId(authenticator),
    ]);

    const renamed = await api.patch(
      `/v1/auth/passkeys/${id}`,
      { name: "Work laptop" },
      { token: user.accessToken },
    );
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe("Work laptop");
    expectError(
      await api.patch(`/v1/auth/passkeys/${id}`, { name: "  " }, { token: user.accessToken }),
      400,
      "invalid_request",
    );

    const removed = await api.delete(`/v1/auth/passkeys/${id}`, { token: user.accessToken });
    expect(removed.status).toBe(204);
    expect((await api.get("/v1/auth/passkeys", { token: user.accessToken })).body.passkeys).toEqual(
      [],
    );
    expectError(
      await api.delete(`/v1/auth/passkeys/${id}`, { token: user.accessToken }),
      404,
      "not_found",
    );
    // A removed passkey signs in no more.
    expectError(await passwordless(authenticator), 401, "passkey_invalid");
    // Adding and removing a factor end every other session (ASVS 7.4.3), never this one.
    const other = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    const options2 = await api.post("/v1/auth/passkeys/register/options", undefined, {
      token: user.accessToken,
    });
    const second = await api.post(
      "/v1/auth/passkeys/register",
      { credential: new SoftAuthenticator(origin).register(options2.body) },
      { token: user.accessToken },
    );
    expect(second.status).toBe(201);
    expectError(
      await api.get("/v1/auth/sessions", { token: other.body.access_token }),
      401,
      "token_invalid",
    );
    const third = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(
      (await api.delete(`/v1/auth/passkeys/${second.body.id}`, { token: user.accessToken })).status,
    ).toBe(204);
    expectError(
      await api.get("/v1/auth/sessions", { token: third.body.access_token }),
      401,
      "token_invalid",
    );
    expect((await api.get("/v1/auth/sessions", { token: user.accessToken })).status).toBe(200);
    expect(await events(user.userId)).toEqual(
      expect.arrayContaining(["passkey_added", "passkey_renamed", "passkey_removed"]),
    );
  });

  function listedCredentialId(authenticator: SoftAuthenticator): string {
    return authenticator.credentials[0]!.id.toString("base64url");
  }

  it("answers 404 for another user's passkey and leaves it as it was", async () => {
    const owner = await userWithPasskey("Mine");
    const intruder = await signupAndLogin(server.url);
    const path = `/v1/auth/passkeys/${owner.passkey.id}`;
    expectError(
      await api.patch(path, { name: "Taken" }, { token: intruder.accessToken }),
      404,
      "not_found",
    );
    expectError(await api.delete(path, { token: intruder.accessToken }), 404, "not_found");
    const listed = await api.get("/v1/auth/passkeys", { token: owner.accessToken });
    expect(listed.body.passkeys.map((p: { name: string }) => p.name)).toEqual(["Mine"]);
    expect((await api.get("/v1/auth/passkeys", { token: intruder.accessToken })).body).toEqual({
      passkeys: [],
    });
  });

  it("signs in without a password, with user verification, as a multi-factor sign-in", async () => {
    const user = await userWithPasskey();
    const login = await passwordless(user.authenticator);
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.headers.get("cache-control")).toBe("no-store");
    const claims = jwtClaims(login.body.access_token);
    expect(claims.sub).toBe(user.userId);
    expect(claims.amr).toEqual(["hwk", "user", "mfa"]);
    const whoami = await api.get("/v1/auth/whoami", { token: login.body.access_token });
    expect(whoami.body.user_id).toBe(user.userId);
    // The refresh token works like any other session's.
    expect(
      (await api.post("/v1/auth/refresh", { refresh_token: login.body.refresh_token })).status,
    ).toBe(200);
    const list = await api.get("/v1/auth/passkeys", { token: login.body.access_token });
    expect(list.body.passkeys[0].last_used_at).not.toBeNull();
  });

  it("refuses a passwordless answer without user verification, a replay, another origin", async () => {
    const user = await userWithPasskey();
    expectError(await passwordless(user.authenticator, false), 401, "passkey_invalid");

    const options = await api.post("/v1/auth/passkeys/login/options", {});
    const answer = user.authenticator.assert(options.body);
    expect((await api.post("/v1/auth/passkeys/login", { credential: answer })).status).toBe(200);
    // The challenge was spent: the same answer never works twice.
    expectError(
      await api.post("/v1/auth/passkeys/login", { credential: answer }),
      401,
      "passkey_invalid",
    );

    const phishing = new SoftAuthenticator("https://latchkey.example.evil");
    phishing.credentials.push(...user.authenticator.credentials);
    const fresh = await api.post("/v1/auth/passkeys/login/options", {});
    const refused = await api.post("/v1/auth/passkeys/login", {
      credential: phishing.assert(fresh.body),
    });
    expectError(refused, 401, "passkey_invalid");
    expect(refused.body.error.message).toMatch(/origin/);

    // An expired challenge.
    const stale = await api.post("/v1/auth/passkeys/login/options", {});
    clock.advance(6 * MINUTE);
    expectError(
      await api.post("/v1/auth/passkeys/login", {
        credential: user.authenticator.assert(stale.body),
      }),
      401,
      "passkey_invalid",
    );
  });

  it("refuses a signature counter that goes backwards (a cloned authenticator)", async () => {
    const user = await userWithPasskey();
    const options = await api.post("/v1/auth/passkeys/login/options", {});
    const first = user.authenticator.assert(options.body, { counter: 5 });
    expect((await api.post("/v1/auth/passkeys/login", { credential: first })).status).toBe(200);
    const again = await api.post("/v1/auth/passkeys/login/options", {});
    expectError(
      await api.post("/v1/auth/passkeys/login", {
        credential: user.authenticator.assert(again.body, { counter: 3 }),
      }),
      401,
      "passkey_invalid",
    );
    expect(await events(user.userId)).toContain("login_failed");
  });

  it("is a second factor in place of the TOTP code, after the password", async () => {
    const user = await userWithPasskey();
    await enableTwoFactor(server.url, user.accessToken, clock.ms);
    clock.steps();
    const password = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expectError(password, 401, "mfa_required");
    expect(password.body.error.methods).toEqual(["totp", "backup_code", "passkey"]);
    const mfaToken = password.body.error.mfa_token as string;

    const options = await api.post("/v1/auth/passkeys/login/options", { mfa_token: mfaToken });
    expect(options.status).toBe(200);
    expect(options.body.allowCredentials.map((c: { id: string }) => c.id)).toEqual([
      listedCredentialId(user.authenticator),
    ]);
    // Without the mfa_token the answer is no second step of this sign-in.
    const answer = user.authenticator.assert(options.body, { userVerified: false });
    expectError(
      await api.post("/v1/auth/passkeys/login", { credential: answer }),
      401,
      "passkey_invalid",
    );
    const options2 = await api.post("/v1/auth/passkeys/login/options", { mfa_token: mfaToken });
    const login = await api.post("/v1/auth/passkeys/login", {
      credential: user.authenticator.assert(options2.body, { userVerified: false }),
      mfa_token: mfaToken,
    });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(jwtClaims(login.body.access_token).amr).toEqual(["pwd", "hwk", "user", "mfa"]);
    // The password step's token is spent.
    expectError(
      await api.post("/v1/auth/passkeys/login/options", { mfa_token: mfaToken }),
      401,
      "token_invalid",
    );
  });

  it("never lets one account's passkey answer another account's second step", async () => {
    const victim = await userWithPasskey();
    const factor = await enableTwoFactor(server.url, victim.accessToken, clock.ms);
    expect(factor.secret).toBeTruthy();
    const attacker = await userWithPasskey();
    clock.steps();
    const password = await api.post("/v1/auth/login", { email: victim.email, password: PASSWORD });
    const mfaToken = password.body.error.mfa_token as string;
    const options = await api.post("/v1/auth/passkeys/login/options", { mfa_token: mfaToken });
    const answer = attacker.authenticator.assert(options.body, {
      credential: attacker.authenticator.credentials[0]!,
    });
    expectError(
      await api.post("/v1/auth/passkeys/login", { credential: answer, mfa_token: mfaToken }),
      401,
      "passkey_invalid",
    );
    // An account without passkeys gets no options for its second step.
    const plain = await signupAndLogin(server.url);
    await enableTwoFactor(server.url, plain.accessToken, clock.ms);
    clock.steps();
    const step = await api.post("/v1/auth/login", { email: plain.email, password: PASSWORD });
    expect(step.body.error.methods).toEqual(["totp", "backup_code"]);
    expectError(
      await api.post("/v1/auth/passkeys/login/options", { mfa_token: step.body.error.mfa_token }),
      409,
      "conflict",
    );
    // The victim's own passkey does finish it.
    const own = await api.post("/v1/auth/passkeys/login/options", { mfa_token: mfaToken });
    const login = await api.post("/v1/auth/passkeys/login", {
      credential: victim.authenticator.assert(own.body),
      mfa_token: mfaToken,
    });
    expect(login.status).toBe(200);
    expect(jwtClaims(login.body.access_token).sub).toBe(victim.userId);
  });

  it("needs a recent authentication to add or remove a passkey, and a passkey renews it", async () => {
    const user = await userWithPasskey();
    clock.advance(10 * MINUTE + 1_000);
    expectError(
      await api.delete(`/v1/auth/passkeys/${user.passkey.id}`, { token: user.accessToken }),
      401,
      "reauthentication_required",
    );
    expectError(
      await api.post("/v1/auth/passkeys/register/options", undefined, {
        token: user.accessToken,
      }),
      401,
      "reauthentication_required",
    );
    // Renaming is no sensitive action.
    expect(
      (
        await api.patch(
          `/v1/auth/passkeys/${user.passkey.id}`,
          { name: "Renamed" },
          { token: user.accessToken },
        )
      ).status,
    ).toBe(200);

    const options = await api.post("/v1/auth/passkeys/reauthenticate/options", undefined, {
      token: user.accessToken,
    });
    expect(options.status).toBe(200);
    expect(options.body.userVerification).toBe("required");
    // User verification is required: presence alone does not stand in for password + 2FA.
    expectError(
      await api.post(
        "/v1/auth/reauthenticate",
        { passkey: user.authenticator.assert(options.body, { userVerified: false }) },
        { token: user.accessToken },
      ),
      401,
      "passkey_invalid",
    );
    const options2 = await api.post("/v1/auth/passkeys/reauthenticate/options", undefined, {
      token: user.accessToken,
    });
    const fresh = await api.post(
      "/v1/auth/reauthenticate",
      { passkey: user.authenticator.assert(options2.body) },
      { token: user.accessToken },
    );
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    expect(jwtClaims(fresh.body.access_token).amr).toEqual(["hwk", "user", "mfa"]);
    expect(
      (
        await api.delete(`/v1/auth/passkeys/${user.passkey.id}`, {
          token: fresh.body.access_token,
        })
      ).status,
    ).toBe(204);
    expect(await events(user.userId)).toContain("reauthenticated");
  });

  it("binds a reauthentication challenge to its session", async () => {
    const user = await userWithPasskey();
    const other = await api.post("/v1/auth/passkeys/login/options", {});
    const otherLogin = await api.post("/v1/auth/passkeys/login", {
      credential: user.authenticator.assert(other.body),
    });
    const secondSession = otherLogin.body.access_token as string;
    const options = await api.post("/v1/auth/passkeys/reauthenticate/options", undefined, {
      token: user.accessToken,
    });
    expectError(
      await api.post(
        "/v1/auth/reauthenticate",
        { passkey: user.authenticator.assert(options.body) },
        { token: secondSession },
      ),
      401,
      "passkey_invalid",
    );
    // A sign-in challenge is no reauthentication challenge.
    const login = await api.post("/v1/auth/passkeys/login/options", {});
    expectError(
      await api.post(
        "/v1/auth/reauthenticate",
        { passkey: user.authenticator.assert(login.body) },
        { token: user.accessToken },
      ),
      401,
      "passkey_invalid",
    );
  });

  it("answers malformed passkey input with a clear error, never a 500", async () => {
    const user = await signupAndLogin(server.url);
    const token = user.accessToken;
    const garbage = {
      id: "abc",
      rawId: "abc",
      type: "public-key",
      response: { clientDataJSON: "bm90LWpzb24", authenticatorData: "AA", signature: "AA" },
      clientExtensionResults: {},
    };
    expectError(
      await api.post("/v1/auth/passkeys/login", { credential: garbage }),
      401,
      "passkey_invalid",
    );
    expectError(
      await api.post("/v1/auth/passkeys/login", { credential: { ...garbage, type: "password" } }),
      400,
      "invalid_request",
    );
    expectError(await api.post("/v1/auth/passkeys/login", {}), 400, "invalid_request");
    const options = await api.post("/v1/auth/passkeys/register/options", undefined, { token });
    const good = new SoftAuthenticator(origin).register(options.body);
    const broken = {
      ...good,
      response: { ...good.response, attestationObject: Buffer.from("junk").toString("base64url") },
    };
    expectError(
      await api.post("/v1/auth/passkeys/register", { credential: broken }, { token }),
      401,
      "passkey_invalid",
    );
    expectError(
      await api.post(
        "/v1/auth/reauthenticate",
        { password: PASSWORD, passkey: garbage },
        { token },
      ),
      400,
      "invalid_request",
    );
    expectError(await api.post("/v1/auth/reauthenticate", {}, { token }), 400, "invalid_request");
    // Another account's registration challenge does not register a passkey here.
    const other = await signupAndLogin(server.url);
    const foreign = await api.post("/v1/auth/passkeys/register/options", undefined, {
      token: other.accessToken,
    });
    expectError(
      await api.post(
        "/v1/auth/passkeys/register",
        { credential: new SoftAuthenticator(origin).register(foreign.body) },
        { token },
      ),
      401,
      "passkey_invalid",
    );
  });

  it("keeps the TOTP sign-in working beside passkeys", async () => {
    const user = await userWithPasskey();
    const factor = await enableTwoFactor(server.url, user.accessToken, clock.ms);
    clock.steps();
    const login = await api.post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      code: authenticatorCode(factor.secret, clock.ms),
    });
    expect(login.status).toBe(200);
    expect(jwtClaims(login.body.access_token).amr).toEqual(["pwd", "otp"]);
  });
});

describeEachStore("passkeys with configured origins", (store) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      store,
      env: {
        LATCHKEY_WEBAUTHN_RP_ID: "example.com",
        LATCHKEY_WEBAUTHN_RP_NAME: "Example Cloud",
        LATCHKEY_WEBAUTHN_ORIGINS: "https://portal.example.com",
      },
    });
  });
  afterAll(async () => server?.close());

  it("accepts ceremonies from the configured origins only", async () => {
    const api = client(server.url);
    const user = await signupAndLogin(server.url);
    const options = await api.post("/v1/auth/passkeys/register/options", undefined, {
      token: user.accessToken,
    });
    expect(options.body.rp).toEqual({ name: "Example Cloud", id: "example.com" });
    const local = new SoftAuthenticator(
      server.url.replace("127.0.0.1", "localhost"),
      "example.com",
    );
    expectError(
      await api.post(
        "/v1/auth/passkeys/register",
        { credential: local.register(options.body) },
        { token: user.accessToken },
      ),
      401,
      "passkey_invalid",
    );
    const portal = new SoftAuthenticator("https://portal.example.com", "example.com");
    const again = await api.post("/v1/auth/passkeys/register/options", undefined, {
      token: user.accessToken,
    });
    const registered = await api.post(
      "/v1/auth/passkeys/register",
      { credential: portal.register(again.body) },
      { token: user.accessToken },
    );
    expect(registered.status).toBe(201);
    const login = await api.post("/v1/auth/passkeys/login/options", {});
    expect(login.body.rpId).toBe("example.com");
    const signedIn = await api.post("/v1/auth/passkeys/login", {
      credential: portal.assert(login.body),
    });
    expect(signedIn.status).toBe(200);
  });
});
