/**
 * Changing the account's email address (SPEC §9 step-up list): `POST /v1/auth/email` needs a
 * recent authentication, mails a link to the new address (which moves the account there once
 * opened, and proves it) and a notice with no link to the old one. Over real HTTP and SMTP,
 * on each store.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { linkIn, startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { describeEachStore } from "../helpers/stores.js";
import { testClock } from "./twofa-support.js";

describeEachStore("email change", (store) => {
  let inbox: Inbox;
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const clock = testClock();

  beforeAll(async () => {
    inbox = await startSmtp();
    server = await startTestServer({
      store,
      now: clock.now,
      env: { SMTP_URL: inbox.url, LATCHKEY_PUBLIC_URL: "https://portal.example.test/" },
    });
    api = client(server.url);
  });
  afterAll(async () => {
    await server?.close();
    await inbox?.close();
  });

  async function user() {
    const email = uniqueEmail("change");
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    return { email, token: login.body.access_token as string, refresh: login.body.refresh_token };
  }

  const events = async (email: string) => {
    const row = await server.db
      .selectFrom("users")
      .select("id")
      .where("email", "=", email)
      .executeTakeFirstOrThrow();
    return (
      await server.db
        .selectFrom("audit_log")
        .select("event")
        .where("user_id", "=", row.id)
        .orderBy("id")
        .execute()
    ).map((r) => r.event);
  };

  it("mails the new address a link that moves the account there, and the old one a notice", async () => {
    const { email, token } = await user();
    const next = uniqueEmail("moved");
    const asked = await api.post(
      "/v1/auth/email",
      { email: `  ${next.toUpperCase()} ` },
      { token },
    );
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    expect(asked.body).toEqual({ sent: true, email: next });

    const notice = await inbox.waitFor(email, /being changed/i);
    expect(notice.text).toContain(next);
    expect(notice.text).not.toMatch(/token=/);
    const mail = await inbox.waitFor(next, /confirm your new email/i);
    expect(linkIn(mail).pathname).toBe("/verify-email");

    // Until the link is opened nothing changes.
    expect((await api.get("/v1/auth/whoami", { token })).body.email).toBe(email);
    const confirmed = await api.post("/v1/auth/email/verify", { token: tokenIn(mail) });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body).toEqual({ email: next, email_verified: true, previous_email: email });

    const me = await api.get("/v1/auth/whoami", { token });
    expect(me.body).toMatchObject({ email: next, email_verified: true });
    expect((await api.post("/v1/auth/login", { email: next, password: PASSWORD })).status).toBe(
      200,
    );
    expectError(
      await api.post("/v1/auth/login", { email, password: PASSWORD }),
      401,
      "invalid_credentials",
    );
    expect(await events(next)).toEqual(
      expect.arrayContaining(["email_change_requested", "email_changed"]),
    );
    // The link works once.
    expectError(
      await api.post("/v1/auth/email/verify", { token: tokenIn(mail) }),
      401,
      "token_invalid",
    );
  });

  it("needs a recent authentication, and refuses API keys", async () => {
    const { token } = await user();
    clock.advance(10 * 60_000 + 1_000);
    expectError(
      await api.post("/v1/auth/email", { email: uniqueEmail("late") }, { token }),
      401,
      "reauthentication_required",
    );
    const fresh = await api.post("/v1/auth/reauthenticate", { password: PASSWORD }, { token });
    expect(
      (
        await api.post(
          "/v1/auth/email",
          { email: uniqueEmail("late") },
          { token: fresh.body.access_token },
        )
      ).status,
    ).toBe(202);
    const key = await api.post(
      "/v1/api-keys",
      { name: "k", scopes: ["*"], environment: "test" },
      { token: fresh.body.access_token },
    );
    expectError(
      await api.post("/v1/auth/email", { email: uniqueEmail("key") }, { token: key.body.key }),
      403,
      "forbidden",
    );
  });

  it("refuses a taken, the same or a malformed address, and a race for one address", async () => {
    const a = await user();
    const b = await user();
    expectError(
      await api.post("/v1/auth/email", { email: b.email }, { token: a.token }),
      409,
      "conflict",
    );
    expectError(
      await api.post("/v1/auth/email", { email: a.email }, { token: a.token }),
      409,
      "conflict",
    );
    expectError(
      await api.post("/v1/auth/email", { email: "not an email" }, { token: a.token }),
      400,
      "invalid_request",
    );
    // Both ask for the same free address; whoever opens the link second is refused.
    const wanted = uniqueEmail("wanted");
    expect((await api.post("/v1/auth/email", { email: wanted }, { token: a.token })).status).toBe(
      202,
    );
    expect((await api.post("/v1/auth/email", { email: wanted }, { token: b.token })).status).toBe(
      202,
    );
    await expect.poll(() => inbox.to(wanted).length, { timeout: 10_000 }).toBe(2);
    const [first, second] = inbox.to(wanted);
    expect((await api.post("/v1/auth/email/verify", { token: tokenIn(first!) })).status).toBe(200);
    expectError(
      await api.post("/v1/auth/email/verify", { token: tokenIn(second!) }),
      409,
      "conflict",
    );
  });

  it("keeps only the newest change request, and voids links mailed to the old address", async () => {
    const { email, token } = await user();
    const verifyOld = await inbox.waitFor(email, /confirm your email/i);
    const one = uniqueEmail("one");
    const two = uniqueEmail("two");
    await api.post("/v1/auth/email", { email: one }, { token });
    await api.post("/v1/auth/email", { email: two }, { token });
    const stale = await inbox.waitFor(one, /confirm your new/i);
    expectError(
      await api.post("/v1/auth/email/verify", { token: tokenIn(stale) }),
      401,
      "token_invalid",
    );
    const current = await inbox.waitFor(two, /confirm your new/i);
    expect((await api.post("/v1/auth/email/verify", { token: tokenIn(current) })).status).toBe(200);
    // The signup link proved the old address: it verifies nothing now.
    expectError(
      await api.post("/v1/auth/email/verify", { token: tokenIn(verifyOld) }),
      401,
      "token_invalid",
    );
  });
});
