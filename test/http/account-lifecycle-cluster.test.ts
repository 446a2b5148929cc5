import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError, PASSWORD, signupAndLogin, uniqueEmail } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { describeCluster } from "../helpers/stores.js";

const NEW_PASSWORD = "changed-on-one-instance-only";

// Two instances behind one load balancer: one PostgreSQL database, one Redis prefix, one SMTP relay.
describeCluster("account lifecycle across two instances (PostgreSQL + Redis)", () => {
  let inbox: Inbox;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    inbox = await startSmtp();
    const redis = freshRedisPrefix();
    const env = { SMTP_URL: inbox.url, LATCHKEY_RESET_MAX_PER_EMAIL: "4" };
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await inbox?.close();
  });

  it("shares the per-email reset throttle between the instances", async () => {
    const email = uniqueEmail("cluster-reset");
    const replies = [];
    for (const server of [a, b, a, b, a])
      replies.push(await client(server.url).post("/v1/auth/password/reset", { email }));
    expect(replies.slice(0, 4).map((r) => r.status)).toEqual([202, 202, 202, 202]);
    expectError(replies[4]!, 429, "too_many_attempts");
  });

  it("a reset confirmed on one instance ends the sessions another instance serves", async () => {
    const user = await signupAndLogin(a.url);
    const onB = await client(b.url).post("/v1/auth/login", {
      email: user.email,
      password: PASSWORD,
    });
    expect(
      (await client(b.url).get("/v1/auth/whoami", { token: onB.body.access_token })).status,
    ).toBe(200);
    expect(
      (await client(b.url).post("/v1/auth/password/reset", { email: user.email })).status,
    ).toBe(202);
    const token = tokenIn(await inbox.waitFor(user.email, /reset your password/i));
    const done = await client(a.url).post("/v1/auth/password/reset/confirm", {
      token,
      new_password: NEW_PASSWORD,
    });
    expect(done.body).toEqual({ sessions_ended: 2 });
    for (const [server, access] of [
      [b, onB.body.access_token as string],
      [a, user.accessToken],
    ] as const)
      expectError(
        await client(server.url).get("/v1/auth/whoami", { token: access }),
        401,
        "token_invalid",
      );
    // The mail was sent once, by whichever instance claimed it.
    expect(
      inbox.to(user.email).filter((m) => /reset your password/i.test(m.subject ?? "")),
    ).toHaveLength(1);
  });
});
