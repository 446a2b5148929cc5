import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { signUp, testServices, type TestDeps } from "../../../test/store/deps.js";

describe("Projects", () => {
  let t: TestDeps;
  beforeEach(async () => {
    t = await testServices();
  });
  afterEach(async () => t.close());

  it("creates projects with seeded ids, lists them oldest first, knows their owner", async () => {
    const owner = await signUp(t, "ada@example.test");
    const other = await signUp(t, "bob@example.test");
    const by = { actor: "session:s", ip: null };
    const a = await t.services.projects.create(owner.id, "web", by);
    t.clock.now += 1;
    const b = await t.services.projects.create(owner.id, "api", by);
    expect(a).toEqual({ id: a.id, owner_id: owner.id, name: "web", created_at: t.clock.now - 1 });
    expect(a.id).toMatch(/^prj_/);
    expect((await t.services.projects.list(owner.id)).map((p) => p.name)).toEqual(["web", "api"]);
    expect(await t.services.projects.list(other.id)).toEqual([]);
    expect(await t.services.projects.isOwnedBy(b.id, owner.id)).toBe(true);
    expect(await t.services.projects.isOwnedBy(b.id, other.id)).toBe(false);
    const [event] = await t.services.audit.list({ userId: owner.id, limit: 1 });
    expect(event).toMatchObject({ event: "project_created", details: { project_id: b.id } });
  });

  it("the same seed gives the same ids", async () => {
    const again = await testServices();
    try {
      const first = await signUp(t, "ada@example.test");
      const second = await signUp(again, "ada@example.test");
      expect(second.id).toBe(first.id);
    } finally {
      await again.close();
    }
  });
});
