import { afterAll, beforeAll, expect, it } from "vitest";
import { routeSecurity } from "../helpers/route-security.js";
import { client, PASSWORD, signupAndLogin, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { authenticatorCode, enableTwoFactor, jwtClaims, testClock } from "./twofa-support.js";

describeEachStore("2FA enrolment, disable and backup codes", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const clock = testClock();

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    api = client(server.url);
  });
  afterAll(async () => server?.close());

  const auditEvents = async (userId: string) =>
    (
      await server.db
        .selectFrom("audit_log")
        .select("event")
        .where("user_id", "=", userId)
        .orderBy("id")
        .execute()
    ).map((row) => row.event);

  it("sets up a pending secret with an otpauth URL and an SVG QR code", async () => {
    const user = await signupAndLogin(server.url);
    const setup = await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken });
    expect(setup.status).toBe(200);
    expect(setup.headers.get("cache-control")).toBe("no-store");
    const { secret, otpauth_url, qr_svg } = setup.body;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 20 bytes, base32
    expect(otpauth_url).toBe(
      `otpauth://totp/Latchkey:${user.email}?secret=${secret}&issuer=Latchkey`,
    );
    expect(qr_svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);

    const status = await api.get("/v1/auth/2fa/status", { token: user.accessToken });
    expect(status.body).toEqual({
      enabled: false,
      enabled_at: null,
      pending: true,
      backup_codes_remaining: 0,
    });
    // Pending is not enabled: sign-in still needs only the password.
    const login = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(login.status).toBe(200);
  });

  it("keeps the secret encrypted at rest, bound to its user", async () => {
    const user = await signupAndLogin(server.url);
    const { secret } = (
      await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken })
    ).body;
    const row = await server.db
      .selectFrom("totp_factors")
      .selectAll()
      .where("user_id", "=", user.userId)
      .executeTakeFirstOrThrow();
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(secret);
    expect(stored.toUpperCase()).not.toContain(secret);
    expect(stored).not.toContain(Buffer.from(secret).toString("base64"));
    const box = server.services.deps.box;
    expect(box.open(row.secret_ciphertext, `totp:${user.userId}`)).toBe(secret);
    // AES-GCM with the user id as associated data: the row cannot be moved to another account.
    expect(() => box.open(row.secret_ciphertext, "totp:usr_someone_else")).toThrow();
  });

  it("enables 2FA with a code from an independent authenticator and returns 10 backup codes once", async () => {
    const user = await signupAndLogin(server.url);
    const noPending = await api.post(
      "/v1/auth/2fa/verify",
      { code: "123456" },
      { token: user.accessToken },
    );
    expect(noPending.status).toBe(409);
    expect(noPending.body.error.code).toBe("conflict");
    expect(noPending.body.error.message).toMatch(/setup/);

    const { secret } = (
      await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken })
    ).body;
    const wrong = await api.post(
      "/v1/auth/2fa/verify",
      { code: authenticatorCode(secret, clock.ms + 5 * 30_000) },
      { token: user.accessToken },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("invalid_mfa_code");

    const verify = await api.post(
      "/v1/auth/2fa/verify",
      { code: authenticatorCode(secret, clock.ms) },
      { token: user.accessToken },
    );
    expect(verify.status).toBe(200);
    expect(verify.headers.get("cache-control")).toBe("no-store");
    const codes: string[] = verify.body.backup_codes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);

    const status = await api.get("/v1/auth/2fa/status", { token: user.accessToken });
    expect(status.body).toMatchObject({
      enabled: true,
      pending: false,
      backup_codes_remaining: 10,
      enabled_at: new Date(clock.ms).toISOString(),
    });
    // Stored as keyed hashes, never the codes.
    const rows = await server.db
      .selectFrom("backup_codes")
      .selectAll()
      .where("user_id", "=", user.userId)
      .execute();
    expect(rows).toHaveLength(10);
    const dump = JSON.stringify(rows);
    for (const code of codes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replaceAll("-", ""));
    }

    const again = await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
    const reverify = await api.post(
      "/v1/auth/2fa/verify",
      { code: authenticatorCode(secret, clock.ms) },
      { token: user.accessToken },
    );
    expectError(reverify, 409, "conflict");
    expect(await auditEvents(user.userId)).toContain("2fa_enabled");
  });

  it("lets a second setup replace a pending secret", async () => {
    const user = await signupAndLogin(server.url);
    const first = (await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken }))
      .body.secret;
    const second = (await api.post("/v1/auth/2fa/setup", undefined, { token: user.accessToken }))
      .body.secret;
    expect(second).not.toBe(first);
    const stale = await api.post(
      "/v1/auth/2fa/verify",
      { code: authenticatorCode(first, clock.ms) },
      { token: user.accessToken },
    );
    expectError(stale, 401, "invalid_mfa_code");
    const fresh = await api.post(
      "/v1/auth/2fa/verify",
      { code: authenticatorCode(second, clock.ms) },
      { token: user.accessToken },
    );
    expect(fresh.status).toBe(200);
  });

  it("ends the user's other sessions when 2FA is turned on and off, keeping the caller's (ASVS)", async () => {
    const user = await signupAndLogin(server.url);
    const other = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(other.status).toBe(200);
    const { secret } = await enableTwoFactor(server.url, user.accessToken, clock.ms);
    // The session signed in with the password alone is over, at once and for its refresh token.
    expect((await api.get("/v1/auth/whoami", { token: other.body.access_token })).status).toBe(401);
    const refresh = await api.post("/v1/auth/refresh", { refresh_token: other.body.refresh_token });
    expect(refresh.status).toBe(401);
    expect((await api.get("/v1/auth/whoami", { token: user.accessToken })).status).toBe(200);

    clock.steps();
    const second = await api.post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      code: authenticatorCode(secret, clock.ms),
    });
    expect(second.status).toBe(200);
    clock.steps();
    const off = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(secret, clock.ms) },
      { token: user.accessToken },
    );
    expect(off.status).toBe(200);
    expect((await api.get("/v1/auth/whoami", { token: second.body.access_token })).status).toBe(
      401,
    );
    expect((await api.get("/v1/auth/whoami", { token: user.accessToken })).status).toBe(200);
    const ended = await server.db
      .selectFrom("audit_log")
      .select(["event", "details"])
      .where("user_id", "=", user.userId)
      .where("event", "in", ["2fa_enabled", "2fa_disabled"])
      .execute();
    expect(ended.map((e) => JSON.parse(e.details ?? "{}").sessions_ended)).toEqual([1, 1]);
  });

  it("disables 2FA with a current code, after which the password alone signs in", async () => {
    const user = await signupAndLogin(server.url);
    const { secret } = await enableTwoFactor(server.url, user.accessToken, clock.ms);
    clock.steps();
    const wrong = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(secret, clock.ms + 10 * 30_000) },
      { token: user.accessToken },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("invalid_mfa_code");

    const off = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(secret, clock.ms) },
      { token: user.accessToken },
    );
    expect(off.status).toBe(200);
    expect(off.body).toEqual({ enabled: false });
    const status = await api.get("/v1/auth/2fa/status", { token: user.accessToken });
    expect(status.body).toEqual({
      enabled: false,
      enabled_at: null,
      pending: false,
      backup_codes_remaining: 0,
    });
    const leftovers = await server.db
      .selectFrom("backup_codes")
      .select("id")
      .where("user_id", "=", user.userId)
      .execute();
    expect(leftovers).toHaveLength(0);

    const login = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(login.status).toBe(200);
    expect(jwtClaims(login.body.access_token).amr).toEqual(["pwd"]);

    const twice = await api.post(
      "/v1/auth/2fa/disable",
      { code: authenticatorCode(secret, clock.ms) },
      { token: user.accessToken },
    );
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe("conflict");
    expect(await auditEvents(user.userId)).toEqual(
      expect.arrayContaining(["2fa_enabled", "2fa_failed_code", "2fa_disabled"]),
    );
  });

  it("disables 2FA with a backup code, given as `code` or `backup_code`", async () => {
    for (const field of ["code", "backup_code"]) {
      const user = await signupAndLogin(server.url);
      const { backupCodes } = await enableTwoFactor(server.url, user.accessToken, clock.ms);
      const off = await api.post(
        "/v1/auth/2fa/disable",
        { [field]: backupCodes[3]!.toUpperCase() },
        { token: user.accessToken },
      );
      expect(off.status).toBe(200);
      const events = await auditEvents(user.userId);
      expect(events).toEqual(expect.arrayContaining(["backup_code_used", "2fa_disabled"]));
    }
  });

  it("regenerates backup codes: a new set of 10, the old set void", async () => {
    const user = await signupAndLogin(server.url);
    const { secret, backupCodes } = await enableTwoFactor(server.url, user.accessToken, clock.ms);
    clock.steps();
    // Another session, signed in with the code: regenerating ends it (ASVS 7.4.3).
    const other = await api.post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      backup_code: backupCodes[9],
    });
    expect(other.status).toBe(200);
    const regen = await api.post(
      "/v1/auth/2fa/backup-codes",
      { code: authenticatorCode(secret, clock.ms) },
      { token: user.accessToken },
    );
    expect(regen.status).toBe(200);
    expect(
      (await api.get("/v1/auth/sessions", { token: other.body.access_token })).body.error?.code,
    ).toBe("token_invalid");
    expect(regen.headers.get("cache-control")).toBe("no-store");
    const fresh: string[] = regen.body.backup_codes;
    expect(fresh).toHaveLength(10);
    expect(fresh.some((code) => backupCodes.includes(code))).toBe(false);

    const old = await api.post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      backup_code: backupCodes[0],
    });
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe("invalid_mfa_code");

    // Regenerating with a backup code spends it and replaces the set all the same.
    const again = await api.post(
      "/v1/auth/2fa/backup-codes",
      { code: fresh[0] },
      { token: user.accessToken },
    );
    expect(again.status).toBe(200);
    const newest: string[] = again.body.backup_codes;
    const status = await api.get("/v1/auth/2fa/status", { token: user.accessToken });
    expect(status.body.backup_codes_remaining).toBe(10);
    const login = await api.post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
      backup_code: newest[9],
    });
    expect(login.status).toBe(200);
    expect(jwtClaims(login.body.access_token).amr).toEqual(["pwd", "otp"]);
    expect(await auditEvents(user.userId)).toContain("backup_codes_regenerated");
  });

  it("refuses regeneration when 2FA is off", async () => {
    const user = await signupAndLogin(server.url);
    const reply = await api.post(
      "/v1/auth/2fa/backup-codes",
      { code: "123456" },
      { token: user.accessToken },
    );
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe("conflict");
  });

  it("needs a session: no credential is 401, an API key is 403 forbidden", async () => {
    const user = await signupAndLogin(server.url);
    const created = await api.post(
      "/v1/api-keys",
      { name: "ci", scopes: ["*"] },
      { token: user.accessToken },
    );
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    const whoami = await api.get("/v1/auth/whoami", { token: key });
    expect(whoami.status).toBe(200);
    expect(whoami.body.credential_type).toBe("api_key");

    const routes: [string, string, unknown][] = [
      ["POST", "/v1/auth/2fa/setup", undefined],
      ["POST", "/v1/auth/2fa/verify", { code: "123456" }],
      ["GET", "/v1/auth/2fa/status", undefined],
      ["POST", "/v1/auth/2fa/disable", { code: "123456" }],
      ["POST", "/v1/auth/2fa/backup-codes", { code: "123456" }],
    ];
    for (const [method, path, body] of routes) {
      const anonymous =
        method === "GET" ? await api.get(path) : await api.post(path, body ?? undefined);
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error.code).toBe("unauthenticated");
      const withKey =
        method === "GET"
          ? await api.get(path, { token: key })
          : await api.post(path, body ?? undefined, { token: key });
      expect(withKey.status).toBe(403);
      expect(withKey.body.error.code).toBe("forbidden");
    }
    const rows = await server.db
      .selectFrom("totp_factors")
      .select("user_id")
      .where("user_id", "=", user.userId)
      .execute();
    expect(rows).toHaveLength(0);
  });

  it("documents the 2FA routes in the OpenAPI document", async () => {
    const doc = await api.get("/openapi.json");
    expect(doc.status).toBe(200);
    for (const path of [
      "/v1/auth/2fa/setup",
      "/v1/auth/2fa/verify",
      "/v1/auth/2fa/status",
      "/v1/auth/2fa/disable",
      "/v1/auth/2fa/backup-codes",
      "/v1/auth/login/mfa",
    ])
      expect(Object.keys(doc.body.paths)).toContain(path);
    expect(JSON.stringify(doc.body.paths["/v1/auth/2fa/setup"])).toContain("qr_svg");
  });

  it("answers malformed bodies with invalid_request naming the field", async () => {
    const user = await signupAndLogin(server.url);
    const cases: [string, unknown, string][] = [
      ["/v1/auth/2fa/verify", { code: "12" }, "code"],
      ["/v1/auth/2fa/verify", { code: "123456", extra: 1 }, "extra"],
      ["/v1/auth/2fa/disable", {}, "code"],
      ["/v1/auth/2fa/disable", { code: "123456", backup_code: "abcd-efgh-jkmn" }, "code"],
      ["/v1/auth/2fa/backup-codes", { code: 123456 }, "code"],
    ];
    for (const [path, body, field] of cases) {
      const reply = await api.post(path, body, { token: user.accessToken });
      expect(reply.status, path).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
      // The field is named in `field`, or (for an unknown key) in the message.
      expect(JSON.stringify(reply.body.error.details)).toContain(field);
    }
  });

  // The common checks for every route of the group (test/helpers/route-security.ts).
  routeSecurity("twofa", () => server);
});
