import { afterAll, beforeAll, expect, it } from "vitest";
import { client, expectError, PASSWORD, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startSmtp, type Inbox } from "../helpers/smtp.js";
import { describeEachStore } from "../helpers/stores.js";

const NEW_PASSWORD = "another-long-and-unusual-passphrase";

describeEachStore("change password", (store) => {
  let inbox: Inbox;
  let server: TestServer;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    inbox = await startSmtp();
    server = await startTestServer({ store, env: { SMTP_URL: inbox.url } });
    api = client(server.url);
  });
  afterAll(async () => {
    await server?.close();
    await inbox?.close();
  });

  const change = (token: string, current_password: string, new_password = NEW_PASSWORD) =>
    api.post("/v1/auth/password", { current_password, new_password }, { token });

  it("ends every other session of the user and keeps the current one", async () => {
    const user = await signupAndLogin(server.url);
    const other = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(other.status).toBe(200);

    const reply = await change(user.accessToken, PASSWORD);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ sessions_ended: 1 });

    // The current session goes on: its access token and its refresh token both work.
    expect((await api.get("/v1/auth/whoami", { token: user.accessToken })).status).toBe(200);
    const refreshed = await api.post("/v1/auth/refresh", { refresh_token: user.refreshToken });
    expect(refreshed.status).toBe(200);
    // The other one is over at once, access and refresh token alike.
    expectError(
      await api.get("/v1/auth/whoami", { token: other.body.access_token }),
      401,
      "token_invalid",
    );
    const stale = await api.post("/v1/auth/refresh", { refresh_token: other.body.refresh_token });
    expect(stale.status).toBe(401);
    const sessions = await api.get("/v1/auth/sessions", { token: refreshed.body.access_token });
    expect(sessions.body.sessions).toHaveLength(1);

    expectError(
      await api.post("/v1/auth/login", { email: user.email, password: PASSWORD }),
      401,
      "invalid_credentials",
    );
    const again = await api.post("/v1/auth/login", { email: user.email, password: NEW_PASSWORD });
    expect(again.status).toBe(200);
  });

  it("audits password_changed and mails a notice without any link", async () => {
    const user = await signupAndLogin(server.url);
    expect((await change(user.accessToken, PASSWORD)).status).toBe(200);
    const notice = await inbox.waitFor(user.email, /password was changed/i);
    expect(notice.text).toMatch(/changed/);
    expect(notice.text).not.toMatch(/https?:\/\//);
    expect(notice.html).toBeTruthy();
    const audit = await api.get("/v1/audit-log?event=password_changed", {
      token: user.accessToken,
    });
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0].details).toEqual({ sessions_ended: 0 });
  });

  it("refuses a wrong current password as sign-in does, throttled per account", async () => {
    const user = await signupAndLogin(server.url);
    for (let i = 0; i < 10; i++)
      expectError(
        await change(user.accessToken, "not-the-password-at-all"),
        401,
        "invalid_credentials",
      );
    // Like sign-in: after 10 failures even the right password waits.
    const throttled = await change(user.accessToken, PASSWORD);
    expectError(throttled, 429, "too_many_attempts");
    expect(throttled.body.error.retry_after).toBeGreaterThan(0);
    // Nothing changed, and the session is intact.
    expect((await api.get("/v1/auth/whoami", { token: user.accessToken })).status).toBe(200);
  });

  it("holds the new password to the password rules", async () => {
    const user = await signupAndLogin(server.url);
    for (const weak of ["short", "password1234", "x".repeat(257), user.email, PASSWORD]) {
      const reply = await change(user.accessToken, PASSWORD, weak);
      expectError(reply, 400, "invalid_request", weak);
      expect(reply.body.error.details[0].field).toBe("new_password");
    }
    const login = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(login.status).toBe(200);
  });

  it("needs a signed-in session: an API key is refused", async () => {
    const user = await signupAndLogin(server.url);
    const key = await api.post(
      "/v1/api-keys",
      { name: "ci", scopes: ["*"] },
      { token: user.accessToken },
    );
    expect(key.status).toBe(201);
    expectError(await change(key.body.key, PASSWORD), 403, "forbidden");
  });

  it("answers malformed bodies with invalid_request naming the field", async () => {
    const user = await signupAndLogin(server.url);
    const bodies = [
      {},
      { current_password: PASSWORD },
      { current_password: PASSWORD, new_password: 12 },
      { current_password: PASSWORD, new_password: NEW_PASSWORD, extra: true },
    ];
    for (const body of bodies) {
      const reply = await api.post("/v1/auth/password", body, { token: user.accessToken });
      expectError(reply, 400, "invalid_request", JSON.stringify(body));
    }
  });
});
