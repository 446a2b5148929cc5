import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectCode, signUp, testServices, type TestDeps } from "../../../test/store/deps.js";

describe("Sessions", () => {
  let t: TestDeps;
  let userId: string;
  beforeEach(async () => {
    t = await testServices({
      env: { LATCHKEY_SESSION_IDLE: "1h", LATCHKEY_SESSION_MAX_AGE: "2h" },
    });
    userId = (await signUp(t, "ada@example.test")).id;
  });
  afterEach(async () => t.close());

  const start = () =>
    t.services.sessions.start({ userId, amr: ["pwd"], ip: "203.0.113.1", userAgent: "ua" });

  it("starts a session whose access token names it, and lists it as current", async () => {
    const pair = await start();
    const check = await t.deps.tokens.verify(pair.accessToken);
    if (!check.ok) throw new Error("token did not verify");
    expect(await t.services.sessions.isActive(check.claims.sid, userId)).toBe(true);
    expect(await t.services.sessions.isActive(check.claims.sid, "usr_other")).toBe(false);
    const [listed] = await t.services.sessions.list(userId, check.claims.sid);
    expect(listed).toEqual({
      id: check.claims.sid,
      createdAt: t.clock.now,
      lastUsedAt: t.clock.now,
      expiresAt: t.clock.now + 60 * 60_000, // the idle limit, sooner than the absolute end
      ip: "203.0.113.1",
      userAgent: "ua",
      amr: ["pwd"],
      current: true,
    });
  });

  it("refreshes once per token; presenting a spent one ends the whole session", async () => {
    const first = await start();
    const second = await t.services.sessions.refresh(first.refreshToken, null);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await expectCode(t.services.sessions.refresh(first.refreshToken, null), "refresh_token_reused");
    // Ending the session spent its newer token too.
    await expectCode(
      t.services.sessions.refresh(second.refreshToken, null),
      "refresh_token_reused",
    );
    const events = await t.services.audit.list({ userId, limit: 10 });
    expect(events.map((e) => e.event)).toContain("refresh_token_reused");
  });

  it("expires a refresh token after the idle limit, and every session at its absolute end", async () => {
    const idle = await start();
    t.clock.now += 60 * 60_000;
    await expectCode(t.services.sessions.refresh(idle.refreshToken, null), "token_expired");

    const busy = await start();
    let token = busy.refreshToken;
    for (let i = 0; i < 2; i++) {
      t.clock.now += 40 * 60_000;
      token = (await t.services.sessions.refresh(token, null)).refreshToken;
    }
    t.clock.now += 40 * 60_000; // at sign-in + 2h: within the idle limit, at the absolute end
    const ended = await expectCode(t.services.sessions.refresh(token, null), "token_expired");
    expect(ended.message).toMatch(/maximum age/);
  });

  it("ends only the user's own live sessions", async () => {
    const pair = await start();
    const check = await t.deps.tokens.verify(pair.accessToken);
    if (!check.ok) throw new Error("token did not verify");
    const sid = check.claims.sid;
    expect(await t.services.sessions.endOwn("usr_other", sid, "logout")).toBe(false);
    expect(await t.services.sessions.isActive(sid, userId)).toBe(true); // cached now
    expect(await t.services.sessions.endOwn(userId, sid, "logout")).toBe(true);
    expect(await t.services.sessions.isActive(sid, userId)).toBe(false); // the bus cleared it
    expect(await t.services.sessions.endOwn(userId, sid, "logout")).toBe(false);
    expect(await t.services.sessions.list(userId, null)).toEqual([]);
    await expectCode(t.services.sessions.refresh(pair.refreshToken, null), "refresh_token_reused");
  });

  it("refuses an unknown token and the token of a disabled user", async () => {
    await expectCode(t.services.sessions.refresh("lkr_unknown", null), "token_invalid");
    const pair = await start();
    await t.deps.store.users.update(userId, { disabled: 1 });
    await expectCode(t.services.sessions.refresh(pair.refreshToken, null), "token_invalid");
  });
});
