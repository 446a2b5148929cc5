/**
 * Sessions end on their own (ASVS 7.3.1, 7.3.2): an idle limit and an absolute lifetime,
 * both recorded at sign-in, so refreshing can never keep a session alive for ever.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { client, PASSWORD, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { account, manualClock, type Account, type Api } from "../http/api-keys-fixtures.js";

const DAY = 86_400_000;

describeEachStore("session lifetime", (store) => {
  let server: TestServer;
  let api: Api;
  let user: Account;
  const clock = manualClock();

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    api = client(server.url);
    user = await account(server);
  });
  afterAll(async () => server?.close());

  async function signIn() {
    const login = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(login.status).toBe(200);
    return login.body as { access_token: string; refresh_token: string };
  }

  it("refreshing daily still ends on day 31 (absolute lifetime 30 days)", async () => {
    let pair = await signIn();
    for (let day = 1; day <= 29; day++) {
      clock.advance(DAY);
      const next = await api.post("/v1/auth/refresh", { refresh_token: pair.refresh_token });
      expect(next.status, `day ${day}`).toBe(200);
      pair = next.body;
    }
    // Day 29 + 23.5 h: still inside; the access token works.
    clock.advance(23.5 * 3_600_000);
    const late = await api.post("/v1/auth/refresh", { refresh_token: pair.refresh_token });
    expect(late.status).toBe(200);
    pair = late.body;
    expect((await api.get("/v1/auth/whoami", { token: pair.access_token })).status).toBe(200);
    // Day 30 + 1 min: the session is over, and its access token (good for 29 more minutes)
    // with it.
    clock.advance(30 * 60_000 + 60_000);
    expectError(
      await api.get("/v1/auth/whoami", { token: pair.access_token }),
      401,
      "token_invalid",
    );
    clock.advance(DAY);
    const over = await api.post("/v1/auth/refresh", { refresh_token: pair.refresh_token });
    expect(over.status).toBe(401);
    expect(over.body.error.code).toBe("token_expired");
    const sessions = await api.get("/v1/auth/sessions", { token: (await signIn()).access_token });
    expect(sessions.body.sessions).toHaveLength(1);
  });

  it("ends a session left idle past the idle limit (14 days by default)", async () => {
    const pair = await signIn();
    clock.advance(14 * DAY + 60_000);
    const idle = await api.post("/v1/auth/refresh", { refresh_token: pair.refresh_token });
    expect(idle.status).toBe(401);
    expect(idle.body.error.code).toBe("token_expired");
  });
});

describeEachStore("session lifetime, configured", (store) => {
  let server: TestServer;
  const clock = manualClock();

  beforeAll(async () => {
    server = await startTestServer({
      store,
      now: clock.now,
      env: { LATCHKEY_SESSION_MAX_AGE: "2d", LATCHKEY_SESSION_IDLE: "12h" },
    });
  });
  afterAll(async () => server?.close());

  it("uses LATCHKEY_SESSION_MAX_AGE and LATCHKEY_SESSION_IDLE as recorded at sign-in", async () => {
    const api = client(server.url);
    const user = await account(server);
    let pair = (await api.post("/v1/auth/login", { email: user.email, password: PASSWORD })).body;
    const listed = await api.get("/v1/auth/sessions", { token: pair.access_token });
    expect(Date.parse(listed.body.sessions[0].expires_at)).toBe(clock.now() + 12 * 3_600_000);
    for (let i = 0; i < 3; i++) {
      clock.advance(11 * 3_600_000);
      const next = await api.post("/v1/auth/refresh", { refresh_token: pair.refresh_token });
      expect(next.status).toBe(200);
      pair = next.body;
    }
    // 44 h in: the next token may live only until the 48 h end, not 12 h more.
    clock.advance(11 * 3_600_000);
    const capped = await api.post("/v1/auth/refresh", { refresh_token: pair.refresh_token });
    expect(capped.status).toBe(200);
    clock.advance(5 * 3_600_000);
    const over = await api.post("/v1/auth/refresh", {
      refresh_token: capped.body.refresh_token,
    });
    expect(over.body.error.code).toBe("token_expired");
  });
});
