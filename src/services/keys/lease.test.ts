import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessionCaller, signUp, testServices, type TestDeps } from "../../../test/store/deps.js";
import { fitUnder, leaseSize, outstandingCap } from "./lease.js";

describe("leaseSize", () => {
  it("grants a tenth of what remains, at most what was asked", () => {
    expect(leaseSize({ limit: 1000, used: 1, outstanding: 0, requested: 500 })).toBe(99);
    expect(leaseSize({ limit: 1000, used: 1, outstanding: 0, requested: 20 })).toBe(20);
    expect(leaseSize({ limit: 1000, used: 900, outstanding: 0, requested: 500 })).toBe(10);
  });

  it("shrinks to nothing near the limit and past it", () => {
    expect(leaseSize({ limit: 1000, used: 991, outstanding: 0, requested: 500 })).toBe(0);
    expect(leaseSize({ limit: 1000, used: 1000, outstanding: 0, requested: 500 })).toBe(0);
    expect(leaseSize({ limit: 1000, used: 1400, outstanding: 0, requested: 500 })).toBe(0);
    // A tiny limit never leases: every use goes to the server.
    expect(leaseSize({ limit: 5, used: 1, outstanding: 0, requested: 500 })).toBe(0);
  });

  it("keeps what is out on lease, on every verifier together, under a tenth of the limit", () => {
    expect(outstandingCap(1000)).toBe(100);
    expect(leaseSize({ limit: 1000, used: 1, outstanding: 95, requested: 500 })).toBe(5);
    expect(leaseSize({ limit: 1000, used: 1, outstanding: 100, requested: 500 })).toBe(0);
    expect(leaseSize({ limit: 1000, used: 1, outstanding: 130, requested: 500 })).toBe(0);
    // However many verifiers ask, one after another, the sum of their leases stays in the cap.
    let outstanding = 0;
    let used = 0;
    for (let verifier = 0; verifier < 500; verifier++) {
      used += 1;
      const granted = leaseSize({ limit: 1000, used, outstanding, requested: 1000 });
      outstanding += granted;
      used += granted;
    }
    expect(outstanding).toBe(100);
  });
});

describe("fitUnder", () => {
  it("keeps only what fits after others added theirs at the same time", () => {
    expect(fitUnder(100, 60, 10)).toBe(10);
    expect(fitUnder(100, 100, 10)).toBe(10);
    expect(fitUnder(100, 104, 10)).toBe(6);
    expect(fitUnder(100, 150, 10)).toBe(0);
  });
});

describe("KeyLeases", () => {
  let t: TestDeps;
  let key: string;
  let keyId: string;
  beforeEach(async () => {
    t = await testServices({ env: { LATCHKEY_RATE_LIMIT_LIVE: "100" } });
    const owner = await signUp(t, "ada@example.test");
    const created = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "k",
      scopes: ["keys:read"],
    });
    key = created.key;
    keyId = created.row.id;
  });
  afterEach(async () => t.close());

  const verify = (lease: number) =>
    Promise.resolve(t.services.keyVerifier.verify({ key }, "usr_svc", (result) => result)).then(
      (result) => t.services.keyLeases.grant(result, lease),
    );

  it("spends the lease from the key's window and never grants past the limit", async () => {
    const first = await verify(50);
    expect(first.granted).toBe(9); // a tenth of the 99 left after the call itself
    expect(first.resetIn).toBeGreaterThan(59_000);
    expect(first.reset).toBe(t.clock.now + first.resetIn);
    expect((await t.deps.limiter.peek(`key:${keyId}`)).count).toBe(10);
    // Leased and unreported: the cap (10 of 100) leaves room for one more use only.
    expect((await verify(50)).granted).toBe(1);
    expect((await verify(50)).granted).toBe(0);
    await t.services.keyLeases.settle(keyId, [{ count: 10, firstAt: t.clock.now }]);
    let admitted = 13; // three calls and ten leased uses
    for (let i = 0; i < 200; i++) {
      const result = await t.services.keyVerifier.verify({ key }, "usr_svc", (r) => r);
      if (result.code !== "valid") continue;
      const lease = await t.services.keyLeases.grant(result, 50);
      admitted += 1 + lease.granted;
      await t.services.keyLeases.settle(keyId, [{ count: lease.granted, firstAt: t.clock.now }]);
    }
    expect(admitted).toBe(100);
  });

  it("gives back only uses reported for hits of the current window", async () => {
    const first = await verify(50);
    expect(first.granted).toBe(9);
    t.clock.now += 61_000; // the window (and the lease's) is over; a new lease, a new window
    expect((await verify(50)).granted).toBe(9);
    // A late report of the last window's hits must not make room this window's lease holds.
    await t.services.keyLeases.settle(keyId, [{ count: 9, firstAt: t.clock.now - 30_000 }]);
    expect((await t.deps.limiter.peek(`lease:${keyId}`)).count).toBe(9);
    await t.services.keyLeases.settle(keyId, [{ count: 4, firstAt: t.clock.now }]);
    expect((await t.deps.limiter.peek(`lease:${keyId}`)).count).toBe(5);
  });

  it("grants nothing to a refused key", async () => {
    const result = await t.services.keyVerifier.verify(
      { key, scopes: ["keys:write"] },
      "x",
      (r) => r,
    );
    expect(result.code).toBe("scope_insufficient");
    expect((await t.services.keyLeases.grant(result, 50)).granted).toBe(0);
  });
});
