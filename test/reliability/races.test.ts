/**
 * The five races of issue 9, in one place, on SQLite and PostgreSQL: each ends with
 * exactly the allowed number of successes and rows that agree with the answers.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { sha256 } from "../../src/infra/secrets.js";
import { client, PASSWORD, signupAndLogin, uniqueEmail, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { enableTwoFactor, expectSpecError, manualClock } from "../security/support.js";

function count<T>(items: T[], predicate: (item: T) => boolean): number {
  return items.filter(predicate).length;
}

describeEachStore("races", (store) => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const clock = manualClock();

  beforeAll(async () => {
    server = await startTestServer({
      store,
      now: clock.now,
      // 20 racing logins from one address must not trip the per-IP throttle or the account's
      // back-off first (attempts in flight count as possible failures); the real argon2 cost
      // keeps racing requests in flight together as long as in production.
      env: {
        LATCHKEY_LOGIN_MAX_FAILURES_IP: "1000",
        LATCHKEY_LOGIN_MAX_FAILURES: "1000",
        LATCHKEY_LOGIN_BACKOFF_AFTER: "1000",
        LATCHKEY_PASSWORD_HASH: "owasp",
      },
    });
    api = client(server.url);
    await signupAndLogin(server.url, uniqueEmail("staff")); // the first account is staff
  });
  afterAll(async () => server?.close());

  it("30 concurrent key creations at a free plan's limit of 2: exactly 2 keys", async () => {
    const user = await signupAndLogin(server.url);
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        api.post(
          "/v1/api-keys",
          { name: `race-${i}`, scopes: ["services:read"] },
          { token: user.accessToken },
        ),
      ),
    );
    expect(count(replies, (r) => r.status === 201)).toBe(2);
    for (const reply of replies.filter((r) => r.status !== 201)) {
      expectSpecError(reply.status, reply.body);
      expect(reply.body.error.code).toBe("plan_limit_reached");
    }
    const rows = await server.db
      .selectFrom("api_keys")
      .select(["id", "key_hash", "revoked_at"])
      .where("owner_id", "=", user.userId)
      .execute();
    expect(rows).toHaveLength(2);
    const created = replies.filter((r) => r.status === 201).map((r) => r.body);
    expect(rows.map((r) => r.id).sort()).toEqual(created.map((k) => k.id).sort());
    for (const key of created)
      expect(rows.find((r) => r.id === key.id)!.key_hash).toBe(sha256(key.key));
  });

  it("20 concurrent uses of one backup code: exactly one sign-in", async () => {
    const user = await signupAndLogin(server.url);
    const { backupCodes } = await enableTwoFactor(server.url, user.accessToken, clock.now());
    const code = backupCodes[0]!;
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.post("/v1/auth/login", { email: user.email, password: PASSWORD, backup_code: code }),
      ),
    );
    expect(count(replies, (r) => r.status === 200)).toBe(1);
    for (const reply of replies.filter((r) => r.status !== 200)) {
      expectSpecError(reply.status, reply.body);
      expect(["invalid_mfa_code", "too_many_attempts"]).toContain(reply.body.error.code);
    }
    const rows = await server.db
      .selectFrom("backup_codes")
      .select(["used_at"])
      .where("user_id", "=", user.userId)
      .execute();
    expect(rows).toHaveLength(10);
    expect(count(rows, (r) => r.used_at !== null)).toBe(1);
    const sessions = await server.db
      .selectFrom("sessions")
      .select(["amr"])
      .where("user_id", "=", user.userId)
      .execute();
    // The sign-up login plus the one backup-code sign-in.
    expect(sessions).toHaveLength(2);
    expect(count(sessions, (s) => JSON.parse(s.amr).includes("otp"))).toBe(1);
  });

  it("20 concurrent refreshes with one refresh token: one new pair, then the family is ended", async () => {
    const user = await signupAndLogin(server.url);
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.post("/v1/auth/refresh", { refresh_token: user.refreshToken }),
      ),
    );
    const winners = replies.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    for (const reply of replies.filter((r) => r.status !== 200)) {
      expectSpecError(reply.status, reply.body);
      expect(reply.body.error.code).toBe("refresh_token_reused");
    }
    // Reuse ended the whole family: the winner's new tokens are dead too.
    const next = await api.post("/v1/auth/refresh", {
      refresh_token: winners[0]!.body.refresh_token,
    });
    expectError(next, 401, "refresh_token_reused");
    expectError(
      await api.get("/v1/auth/whoami", { token: winners[0]!.body.access_token }),
      401,
      "token_invalid",
    );

    const db = server.db;
    const sessions = await db
      .selectFrom("sessions")
      .selectAll()
      .where("user_id", "=", user.userId)
      .execute();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.ended_at).not.toBeNull();
    expect(sessions[0]!.end_reason).toBe("refresh_token_reused");
    const tokens = await db
      .selectFrom("refresh_tokens")
      .selectAll()
      .where("session_id", "=", sessions[0]!.id)
      .execute();
    // The original token and at most the one it was exchanged for; all spent.
    expect(tokens).toHaveLength(2);
    expect(tokens.every((t) => t.spent_at !== null)).toBe(true);
    const reuse = await db
      .selectFrom("audit_log")
      .select("event")
      .where("user_id", "=", user.userId)
      .where("event", "=", "refresh_token_reused")
      .execute();
    expect(reuse.length).toBeGreaterThanOrEqual(1);
  });

  it("concurrent revoke and use of a key: no use that starts after the revoke answers succeeds", async () => {
    const user = await signupAndLogin(server.url);
    const created = await api.post(
      "/v1/api-keys",
      { name: "doomed", scopes: ["*"] },
      { token: user.accessToken },
    );
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    const use = () => api.get("/v1/auth/whoami", { token: key });
    const revoke = api.delete(`/v1/api-keys/${created.body.id}`, { token: user.accessToken });
    const during = Array.from({ length: 20 }, use);
    const after = revoke.then(() => Promise.all(Array.from({ length: 20 }, use)));
    const [revoked, duringReplies, afterReplies] = await Promise.all([
      revoke,
      Promise.all(during),
      after,
    ]);
    expect(revoked.status).toBe(200);
    for (const reply of duringReplies) {
      if (reply.status === 200) expect(reply.body.key_id).toBe(created.body.id);
      else expect(reply.body.error.code).toBe("key_revoked");
    }
    for (const reply of afterReplies) {
      expect(reply.status).toBe(401);
      expect(reply.body.error.code).toBe("key_revoked");
    }
    const row = await server.db
      .selectFrom("api_keys")
      .select(["revoked_at"])
      .where("id", "=", created.body.id)
      .executeTakeFirstOrThrow();
    expect(row.revoked_at).not.toBeNull();
  });

  it("concurrent signup with one email: exactly one account", async () => {
    const email = uniqueEmail("same");
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.post("/v1/auth/signup", {
          email: i % 2 ? email.toUpperCase() : email,
          password: PASSWORD,
        }),
      ),
    );
    expect(count(replies, (r) => r.status === 201)).toBe(1);
    for (const reply of replies.filter((r) => r.status !== 201)) {
      expectSpecError(reply.status, reply.body);
      expect(reply.body.error.code).toBe("conflict");
    }
    const rows = await server.db
      .selectFrom("users")
      .select("id")
      .where("email", "=", email.toLowerCase())
      .execute();
    expect(rows).toHaveLength(1);
    const audit = await server.db
      .selectFrom("audit_log")
      .select("user_id")
      .where("event", "=", "signup")
      .where("user_id", "=", rows[0]!.id)
      .execute();
    expect(audit).toHaveLength(1);
  });
});
