import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectCode, signUp, testServices, type TestDeps } from "../../../test/store/deps.js";

describe("Users", () => {
  let t: TestDeps;
  beforeEach(async () => {
    t = await testServices();
  });
  afterEach(async () => t.close());

  it("derives access from role and staff flag, and caches it until the user changes", async () => {
    const staff = await signUp(t, "staff@example.test");
    const member = await signUp(t, "member@example.test");
    expect(staff.isStaff).toBe(true);
    expect(staff.access.has("admin:*")).toBe(true);
    expect(member.access.has("admin:*")).toBe(false);
    expect(member.access.has("keys:verify")).toBe(false);
    expect(await t.services.users.access(member.id)).toBe(member); // cached object

    const updated = await t.services.users.update(
      member.id,
      { plan: "pro", service: true },
      { actor: "session:s", userId: staff.id, ip: null },
    );
    expect(updated).toMatchObject({ id: member.id, plan: "pro", isService: true, isStaff: false });
    const fresh = await t.services.users.access(member.id);
    expect(fresh).not.toBe(member);
    expect(fresh?.access.has("keys:verify")).toBe(true);
    const [event] = await t.services.audit.list({ userId: member.id, limit: 1 });
    expect(event).toMatchObject({
      event: "user_updated",
      details: { plan: "pro", service: true, by: staff.id },
    });
  });

  it("lists users oldest first, in pages", async () => {
    const a = await signUp(t, "a@example.test");
    t.clock.now += 1;
    const b = await signUp(t, "b@example.test");
    expect((await t.services.users.list({ limit: 10, offset: 0 })).map((u) => u.id)).toEqual([
      a.id,
      b.id,
    ]);
    expect((await t.services.users.list({ limit: 1, offset: 1 })).map((u) => u.id)).toEqual([b.id]);
  });

  it("answers not_found for an unknown user, and null access for one", async () => {
    await expectCode(
      t.services.users.update("usr_none", { plan: "pro" }, { actor: "x", userId: "y", ip: null }),
      "not_found",
    );
    expect(await t.services.users.access("usr_none")).toBeNull();
  });
});
