import { afterAll, beforeAll, expect, it } from "vitest";
import { sha256 } from "../../src/infra/secrets.js";
import { client, expectError, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { linkIn, startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { describeEachStore } from "../helpers/stores.js";
import { testClock } from "./twofa-support.js";

const PORTAL = "https://portal.example.test/";

describeEachStore("email verification", (store) => {
  let inbox: Inbox;
  let server: TestServer;
  let strict: TestServer;
  let api: ReturnType<typeof client>;
  const clock = testClock();

  beforeAll(async () => {
    inbox = await startSmtp();
    const env = { SMTP_URL: inbox.url, LATCHKEY_PUBLIC_URL: PORTAL };
    [server, strict] = await Promise.all([
      startTestServer({ store, env, now: clock.now }),
      startTestServer({ store, env: { ...env, LATCHKEY_REQUIRE_VERIFIED_EMAIL: "true" } }),
    ]);
    api = client(server.url);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), strict?.close()]);
    await inbox?.close();
  });

  async function signUpAndLogIn(base: string, email = uniqueEmail("verify")) {
    const http = client(base);
    expect((await http.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await http.post("/v1/auth/login", { email, password: PASSWORD });
    expect(login.status).toBe(200);
    return { email, token: login.body.access_token as string };
  }

  it("mails a verification link at signup, over SMTP, in text and HTML", async () => {
    const { email } = await signUpAndLogIn(server.url);
    const mail = await inbox.waitFor(email, /confirm your email/i);
    const link = linkIn(mail);
    expect(link.origin + link.pathname).toBe(`${PORTAL}verify-email`);
    expect(mail.html).toContain(tokenIn(mail));
    expect(mail.text).not.toContain(PASSWORD);
    expect(mail.from?.text).toContain("no-reply@portal.example.test");
    expect(mail.messageId).toMatch(/^<msg_/);
  });

  it("stores only the token's SHA-256, and the outbox never holds the link in clear", async () => {
    const { email } = await signUpAndLogIn(server.url);
    const token = tokenIn(await inbox.waitFor(email, /confirm/i));
    const user = await server.db
      .selectFrom("users")
      .select("id")
      .where("email", "=", email)
      .executeTakeFirstOrThrow();
    const tokens = await server.db
      .selectFrom("account_tokens")
      .selectAll()
      .where("user_id", "=", user.id)
      .execute();
    expect(tokens.map((t) => t.token_hash)).toEqual([sha256(token)]);
    const outbox = await server.db.selectFrom("mail_outbox").selectAll().execute();
    expect(outbox.length).toBeGreaterThan(0);
    for (const row of outbox) expect(JSON.stringify(row)).not.toContain(token);
  });

  it("verifies with the mailed token once; whoami then shows email_verified", async () => {
    const { email, token: access } = await signUpAndLogIn(server.url);
    const before = await api.get("/v1/auth/whoami", { token: access });
    expect(before.body.email_verified).toBe(false);
    const token = tokenIn(await inbox.waitFor(email, /confirm/i));
    const verified = await api.post("/v1/auth/email/verify", { token });
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({ email, email_verified: true });
    const after = await api.get("/v1/auth/whoami", { token: access });
    expect(after.body.email_verified).toBe(true);
    expectError(await api.post("/v1/auth/email/verify", { token }), 401, "token_invalid");
    const audit = await api.get("/v1/audit-log?event=email_verified", { token: access });
    expect(audit.body.events).toHaveLength(1);
  });

  it("refuses a verification link after 24 hours", async () => {
    const { email } = await signUpAndLogIn(server.url);
    const token = tokenIn(await inbox.waitFor(email, /confirm/i));
    clock.advance(24 * 3_600_000 + 1_000);
    try {
      expectError(await api.post("/v1/auth/email/verify", { token }), 401, "token_expired");
    } finally {
      clock.advance(-(24 * 3_600_000 + 1_000));
    }
  });

  it("re-sends a link that supersedes the first, throttled, and not once verified", async () => {
    const { email, token: access } = await signUpAndLogIn(server.url);
    const first = tokenIn(await inbox.waitFor(email, /confirm/i));
    const resent = await api.post("/v1/auth/email/verify/resend", undefined, { token: access });
    expect(resent.status).toBe(202);
    expect(resent.body).toEqual({ sent: true, email });
    await expect.poll(() => inbox.to(email).length, { timeout: 10_000 }).toBe(2);
    const second = tokenIn(inbox.to(email)[1]!);
    expect(second).not.toBe(first);
    expectError(await api.post("/v1/auth/email/verify", { token: first }), 401, "token_invalid");
    expect((await api.post("/v1/auth/email/verify", { token: second })).status).toBe(200);
    expectError(
      await api.post("/v1/auth/email/verify/resend", undefined, { token: access }),
      409,
      "conflict",
    );

    const other = await signUpAndLogIn(server.url);
    const replies = [];
    for (let i = 0; i < 6; i++)
      replies.push(
        await api.post("/v1/auth/email/verify/resend", undefined, { token: other.token }),
      );
    expect(replies.slice(0, 5).map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expectError(replies[5]!, 429, "too_many_attempts");
    expect(replies[5]!.body.error.retry_after).toBeGreaterThan(0);
  });

  it("answers bad verification bodies with invalid_request, never a 500", async () => {
    for (const body of [{}, { token: 5 }, { token: "" }, { token: "x", extra: 1 }, []]) {
      expectError(await api.post("/v1/auth/email/verify", body), 400, "invalid_request");
    }
    expectError(
      await api.post("/v1/auth/email/verify", { token: "lkv_nope" }),
      401,
      "token_invalid",
    );
    expectError(await api.post("/v1/auth/email/verify/resend"), 401, "unauthenticated");
  });

  it("with LATCHKEY_REQUIRE_VERIFIED_EMAIL=true, an unverified account cannot mint keys", async () => {
    const strictApi = client(strict.url);
    // The portal learns the rule, to say so on the keys page.
    expect((await strictApi.get("/v1/portal/meta")).body.require_verified_email).toBe(true);
    expect((await api.get("/v1/portal/meta")).body.require_verified_email).toBe(false);
    const { email, token: access } = await signUpAndLogIn(strict.url);
    const body = { name: "ci", scopes: ["services:read"] };
    const refused = await strictApi.post("/v1/api-keys", body, { token: access });
    expectError(refused, 403, "email_unverified");
    const token = tokenIn(await inbox.waitFor(email, /confirm/i));
    expect((await strictApi.post("/v1/auth/email/verify", { token })).status).toBe(200);
    const created = await strictApi.post("/v1/api-keys", body, { token: access });
    expect(created.status).toBe(201);
  });

  it("lets unverified accounts mint keys while the setting is off (the default)", async () => {
    const { token: access } = await signUpAndLogIn(server.url);
    const created = await api.post(
      "/v1/api-keys",
      { name: "ci", scopes: ["services:read"] },
      { token: access },
    );
    expect(created.status).toBe(201);
  });
});
