import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessionCaller, signUp, testServices, type TestDeps } from "../../../test/store/deps.js";
import type { KeyRow } from "../../store/port.js";

describe("UsageReports", () => {
  let t: TestDeps;
  let key: KeyRow;
  let revoked: KeyRow;
  let bound: KeyRow;
  beforeEach(async () => {
    t = await testServices({ env: { LATCHKEY_DEFAULT_PLAN: "enterprise" } });
    const owner = await signUp(t, "ada@example.test");
    const caller = sessionCaller(owner);
    const project = await t.services.projects.create(owner.id, "web", caller);
    const mint = async (extra: Record<string, unknown> = {}) =>
      (await t.services.apiKeys.create(caller, { name: "k", scopes: ["keys:read"], ...extra })).row;
    key = await mint();
    revoked = await mint();
    bound = await mint({ project_id: project.id });
    await t.services.apiKeys.revoke(caller, revoked.id);
  });
  afterEach(async () => t.close());

  const stored = async (row: KeyRow) => (await t.deps.store.keys.byIds([row.id]))[0]!;
  const flush = () => t.services.keyVerifier.usage.flush();

  it("counts reported hits like calls: total, last use, buckets, one activity row each", async () => {
    const at = t.clock.now - 2_000;
    const outcome = await t.services.usageReports.report(
      [
        { key_id: key.id, count: 40, endpoint: "GET /a", ip: "203.0.113.9" },
        {
          key_id: key.id,
          count: 2,
          endpoint: "GET /b",
          project_id: "prj_x",
          last_at: new Date(at).toISOString(),
        },
      ],
      "key_service",
    );
    expect(outcome).toEqual({ accepted: 2, ignored: 0 });
    await flush();
    expect(await stored(key)).toMatchObject({ usage_count: 42, last_used_at: t.clock.now });
    const usage = await t.services.keyViews.usage(key.id);
    expect(usage.byEndpoint).toEqual([
      { endpoint: "GET /a", count: 40 },
      { endpoint: "GET /b", count: 2 },
    ]);
    expect(usage.byProject).toEqual([
      { project_id: "", count: 40 },
      { project_id: "prj_x", count: 2 },
    ]);
    const activity = await t.services.keyViews.activity(key.id, { limit: 10 });
    expect(activity.map((a) => [a.endpoint, a.count, a.verified_by, a.outcome, a.at])).toEqual([
      ["GET /b", 2, "key_service", "valid", at],
      ["GET /a", 40, "key_service", "valid", t.clock.now],
    ]);
  });

  it("ignores unknown and revoked keys and another project's hits, and counts the rest", async () => {
    const outcome = await t.services.usageReports.report(
      [
        { key_id: "key_unknown", count: 5 },
        { key_id: revoked.id, count: 5 },
        { key_id: bound.id, count: 5, project_id: "prj_other" },
        { key_id: bound.id, count: 3 },
        { key_id: bound.id, count: 1, project_id: "prj_other", outcome: "project_mismatch" },
      ],
      "key_service",
    );
    expect(outcome).toEqual({ accepted: 2, ignored: 3 });
    await flush();
    expect((await stored(revoked)).usage_count).toBe(0);
    expect((await stored(bound)).usage_count).toBe(4);
    const usage = await t.services.keyViews.usage(bound.id);
    expect(usage.byProject).toEqual([
      { project_id: bound.project_id, count: 3 },
      { project_id: "prj_other", count: 1 },
    ]);
  });

  it("does not let a report move a key's last use into the future", async () => {
    const future = new Date(t.clock.now + 3_600_000).toISOString();
    await t.services.usageReports.report([{ key_id: key.id, count: 1, last_at: future }], "x");
    await flush();
    expect((await stored(key)).last_used_at).toBe(t.clock.now);
  });

  it("gives reported uses back to the key's lease allowance", async () => {
    await t.deps.limiter.hit(`lease:${key.id}`, 60_000, 30);
    await t.services.usageReports.report([{ key_id: key.id, count: 20 }], "x");
    const earlier = new Date(t.clock.now - 120_000).toISOString();
    await t.services.usageReports.report(
      [
        { key_id: key.id, count: 5, first_at: new Date(t.clock.now).toISOString() },
        { key_id: key.id, count: 7, first_at: earlier }, // the last window's: kept
      ],
      "x",
    );
    expect((await t.deps.limiter.peek(`lease:${key.id}`)).count).toBe(5);
  });
});
