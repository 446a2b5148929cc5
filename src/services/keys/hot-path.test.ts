import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sessionCaller, signUp, testServices, type TestDeps } from "../../../test/store/deps.js";
import type { Store } from "../../store/port.js";
import type { CheckResult } from "./check.js";

/**
 * The hot path's regression guard, without timing anything: verification on a warm cache
 * makes no store call at all, and a usage flush makes a bounded number of calls however many
 * verifications it carries. A change that adds a per-request query, or a per-use statement to
 * the flush, fails here.
 */

/** `store` with every call of every group method counted, inside transactions too. */
function counting(store: Store, calls: Map<string, number>): Store {
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
  const wrap = (target: Store): Store =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver) as unknown;
        if (property === "transaction")
          return <T>(fn: (tx: Store) => Promise<T>) => {
            count("transaction");
            return object.transaction((tx) => fn(wrap(tx)));
          };
        if (typeof value === "function") return (value as () => unknown).bind(object);
        if (typeof value !== "object" || value === null) return value;
        return new Proxy(value, {
          get(group, method) {
            const fn = Reflect.get(group, method) as unknown;
            if (typeof fn !== "function") return fn;
            return (...args: unknown[]) => {
              count(`${String(property)}.${String(method)}`);
              return (fn as (...a: unknown[]) => unknown).apply(group, args);
            };
          },
        });
      },
    });
  return wrap(store);
}

const total = (calls: Map<string, number>) => [...calls.values()].reduce((a, b) => a + b, 0);
const identity = (result: CheckResult) => result;

describe("the verification hot path", () => {
  let t: TestDeps;
  const calls = new Map<string, number>();
  beforeEach(async () => {
    calls.clear();
    t = await testServices({
      env: { LATCHKEY_RATE_LIMIT_LIVE: "1000000" },
      wrapStore: (store) => counting(store, calls),
    });
    await signUp(t, "staff@example.test");
  });
  afterEach(async () => t.close());

  async function warmKey(): Promise<string> {
    const owner = await signUp(t, "ada@example.test");
    const { key } = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "k",
      scopes: ["keys:read"],
    });
    const first = await t.services.keyVerifier.verify({ key }, "usr_service", identity);
    expect(first.code).toBe("valid");
    await t.services.keyVerifier.usage.flush();
    return key;
  }

  it("makes no store call for 1 000 verifications on a warm cache", async () => {
    const key = await warmKey();
    calls.clear();
    for (let i = 0; i < 1000; i++) {
      const result = await t.services.keyVerifier.verify(
        { key, scopes: ["keys:read"] },
        "usr_service",
        identity,
      );
      expect(result.code).toBe("valid");
    }
    expect(Object.fromEntries(calls)).toEqual({});
  });

  it("answers a warm key in the same turn, with no promise, for a client and a service", async () => {
    const key = await warmKey();
    const verified = t.services.keyVerifier.verify(
      { key, scopes: ["keys:read"] },
      "usr_s",
      identity,
    );
    expect(verified).not.toBeInstanceOf(Promise);
    expect((verified as CheckResult).code).toBe("valid");
    // Bearer authentication: spending the key's budget, and as a service's own credential.
    for (const spend of [true, false, false]) {
      const auth = t.services.keyVerifier.authenticate(key, {
        ip: "127.0.0.1",
        endpoint: "e",
        spend,
      });
      expect(auth).not.toBeInstanceOf(Promise);
    }
    // What does need the store still answers, through a promise: a key not seen yet.
    const owner = await signUp(t, "bob@example.test");
    const cold = await t.services.apiKeys.create(sessionCaller(owner), { name: "c", scopes: [] });
    const first = t.services.keyVerifier.verify({ key: cold.key }, "usr_s", identity);
    expect(first).toBeInstanceOf(Promise);
    expect((await first).code).toBe("valid");
  });

  it("makes as many store calls to flush 2 000 uses as to flush 10", async () => {
    const key = await warmKey();
    const flushOf = async (uses: number) => {
      for (let i = 0; i < uses; i++)
        await t.services.keyVerifier.verify({ key }, "usr_service", identity);
      calls.clear();
      await t.services.keyVerifier.usage.flush();
      return new Map(calls);
    };
    const small = await flushOf(10);
    const large = await flushOf(2000);
    // One port call per flush (usage.flush: one transaction, one statement per table), and
    // nothing else: no per-key or per-use call, no separate transaction.
    expect(Object.fromEntries(small)).toEqual({ "usage.flush": 1 });
    expect(Object.fromEntries(large)).toEqual({ "usage.flush": 1 });
    expect(total(large)).toBe(total(small));
    const usage = await t.store.db
      .selectFrom("api_keys")
      .select("usage_count")
      .executeTakeFirstOrThrow();
    expect(usage.usage_count).toBe(1 + 10 + 2000);
  });

  it("meters a key with credits and a named limit in the same turn, writing back once per flush", async () => {
    const owner = await signUp(t, "cleo@example.test");
    const { key } = await t.services.apiKeys.create(sessionCaller(owner), {
      name: "metered",
      scopes: ["keys:read"],
      remaining: 5000,
      ratelimits: [{ name: "api", limit: 100_000, window: "1m" }],
    });
    expect((await t.services.keyVerifier.verify({ key }, "usr_s", identity)).code).toBe("valid");
    calls.clear();
    for (let i = 0; i < 1000; i++) {
      const result = t.services.keyVerifier.verify({ key }, "usr_s", identity);
      expect(result).not.toBeInstanceOf(Promise);
      expect((result as CheckResult).credits).toBe(5000 - 2 - i);
    }
    expect(Object.fromEntries(calls)).toEqual({});
    await t.services.keyMetering.flush();
    expect(Object.fromEntries(calls)).toEqual({ "usage.writeCredits": 1 });
    const stored = await t.store.db
      .selectFrom("api_keys")
      .select("credits_remaining")
      .where("name", "=", "metered")
      .executeTakeFirstOrThrow();
    expect(stored.credits_remaining).toBe(5000 - 1001);
  });
});
