import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testServices, type TestDeps } from "../../../test/store/deps.js";

describe("AuditLog", () => {
  let t: TestDeps;
  beforeEach(async () => {
    t = await testServices();
  });
  afterEach(async () => t.close());

  it("records events at the clock's time and lists them newest first, filtered and paged", async () => {
    const audit = t.services.audit;
    await audit.record({ event: "signup", userId: "usr_a", ip: "203.0.113.1" });
    t.clock.now += 1000;
    await audit.record({
      event: "login",
      userId: "usr_a",
      orgId: null,
      actor: "session:ses_1",
      details: { amr: ["pwd"] },
    });
    await audit.record({ event: "login", userId: "usr_b" });
    const mine = await audit.list({ userId: "usr_a", limit: 10 });
    expect(mine).toEqual([
      {
        id: mine[0]!.id,
        at: t.clock.now,
        event: "login",
        userId: "usr_a",
        orgId: null,
        actor: "session:ses_1",
        ip: null,
        details: { amr: ["pwd"] },
      },
      {
        id: mine[1]!.id,
        at: t.clock.now - 1000,
        event: "signup",
        userId: "usr_a",
        orgId: null,
        actor: null,
        ip: "203.0.113.1",
        details: {},
      },
    ]);
    const older = await audit.list({ userId: "usr_a", limit: 10, before: mine[0]!.id });
    expect(older.map((e) => e.event)).toEqual(["signup"]);
    const logins = await audit.list({ userId: null, limit: 10, event: "login" });
    expect(logins.map((e) => e.userId)).toEqual(["usr_b", "usr_a"]);
  });
});
