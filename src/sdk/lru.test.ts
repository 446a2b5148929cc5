import { describe, expect, it } from "vitest";
import { LruCache } from "./lru.js";

describe("LruCache", () => {
  it("forgets the least recently used entry beyond its capacity", () => {
    const cache = new LruCache<{ expiresAt: number; v: number }>(2);
    cache.set("a", { expiresAt: 100, v: 1 });
    cache.set("b", { expiresAt: 100, v: 2 });
    expect(cache.get("a", 0)?.v).toBe(1); // a is now the most recent
    cache.set("c", { expiresAt: 100, v: 3 });
    expect(cache.get("b", 0)).toBeUndefined();
    expect(cache.get("a", 0)?.v).toBe(1);
    expect(cache.size).toBe(2);
  });

  it("never returns an entry at or past its expiry", () => {
    const cache = new LruCache<{ expiresAt: number }>(5);
    cache.set("a", { expiresAt: 100 });
    expect(cache.get("a", 99)).toBeDefined();
    expect(cache.get("a", 100)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("drops what a predicate selects, and keeps nothing with capacity 0", () => {
    const cache = new LruCache<{ expiresAt: number; owner: string }>(5);
    cache.set("a", { expiresAt: 100, owner: "u1" });
    cache.set("b", { expiresAt: 100, owner: "u2" });
    expect(cache.deleteWhere((e) => e.owner === "u1")).toBe(1);
    expect(cache.get("a", 0)).toBeUndefined();
    expect(cache.get("b", 0)).toBeDefined();
    const none = new LruCache<{ expiresAt: number }>(0);
    none.set("a", { expiresAt: 100 });
    expect(none.size).toBe(0);
    expect(() => new LruCache(-1)).toThrow(TypeError);
  });
});
