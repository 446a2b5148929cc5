import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sessionCaller, signUp, testServices, type TestDeps } from "../../../test/store/deps.js";
import { formatKey } from "../../core/key-format.js";

const trusted = { actor: "session:staff", ip: "192.0.2.1", seesOutcomes: true };

describe("LeakReports", () => {
  let t: TestDeps;
  beforeEach(async () => {
    t = await testServices();
  });
  afterEach(async () => t.close());

  it("drops candidates whose checksum fails, or of another brand, before any lookup", async () => {
    const byHash = vi.spyOn(t.deps.store.keys, "byHash");
    const real = formatKey("lk", "live", randomBytes(32));
    const bad = real.slice(0, -1) + (real.endsWith("0") ? "1" : "0");
    const results = await t.services.leaks.report(
      [
        { key: bad },
        { key: "not a key at all" },
        { key: formatKey("zz", "test", randomBytes(32)) },
      ],
      trusted,
    );
    expect(results.map((r) => r.outcome)).toEqual([
      "invalid_checksum",
      "invalid_checksum",
      "unknown",
    ]);
    expect(byHash).not.toHaveBeenCalled();
  });

  it("looks a key up once however often a report repeats it, and revokes it once", async () => {
    const owner = await signUp(t, "ada@example.test");
    const created = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "ci",
      scopes: ["keys:read"],
    });
    const byHash = vi.spyOn(t.deps.store.keys, "byHash");
    const results = await t.services.leaks.report(
      [{ key: created.key, url: "https://x.example/" }, { key: created.key }],
      trusted,
    );
    expect(results.map((r) => r.outcome)).toEqual(["revoked", "revoked"]);
    expect(byHash).toHaveBeenCalledTimes(1);
    const leaked = await t.services.audit.list({
      userId: owner.id,
      limit: 10,
      event: "key_leaked",
    });
    expect(leaked).toHaveLength(1);
    expect(leaked[0]!.details).toMatchObject({ key_id: created.row.id, url: "https://x.example/" });
    expect(JSON.stringify(leaked)).not.toContain(created.key);
  });
});
