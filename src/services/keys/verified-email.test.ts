import { afterEach, describe, expect, it } from "vitest";
import {
  expectCode,
  sessionCaller,
  signUp,
  testServices,
  type TestDeps,
} from "../../../test/store/deps.js";

describe("LATCHKEY_REQUIRE_VERIFIED_EMAIL and minting", () => {
  let t: TestDeps;
  afterEach(async () => t?.close());

  it("refuses creating and rotating keys for an unverified owner, and allows both once verified", async () => {
    t = await testServices({ env: { LATCHKEY_REQUIRE_VERIFIED_EMAIL: "true" } });
    await signUp(t, "staff@example.test");
    const owner = await signUp(t, "ada@example.test");
    expect(owner.emailVerified).toBe(false);
    const unverified = sessionCaller(owner);
    await expectCode(
      t.services.apiKeys.create(unverified, { name: "ci", scopes: ["keys:read"] }),
      "email_unverified",
    );

    const verified = sessionCaller({ ...owner, emailVerified: true });
    const created = await t.services.apiKeys.create(verified, {
      name: "ci",
      scopes: ["keys:read"],
    });
    // A key minted while verified keeps working; minting another from it does not.
    await expectCode(
      t.services.apiKeys.rotate(unverified, created.row.id, undefined),
      "email_unverified",
    );
    const rotated = await t.services.apiKeys.rotate(verified, created.row.id, undefined);
    expect(rotated.row.rotated_from).toBe(created.row.id);
  });

  it("lets unverified owners mint keys when the setting is off", async () => {
    t = await testServices();
    const owner = await signUp(t, "ada@example.test");
    const created = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "ci",
      scopes: ["keys:read"],
    });
    expect(created.key).toMatch(/^lk_live_/);
  });
});
