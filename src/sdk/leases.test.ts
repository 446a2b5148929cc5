import { describe, expect, it } from "vitest";
import { LeaseBook } from "./leases.js";

describe("LeaseBook", () => {
  it("spends one leased use per cached hit, then sends the hit back to Latchkey", () => {
    const book = new LeaseBook(10);
    expect(book.take("key_a", 0)).toBe(false);
    book.add("key_a", 2, 1_000, 0);
    expect(book.take("key_a", 10)).toBe(true);
    expect(book.take("key_a", 20)).toBe(true);
    expect(book.take("key_a", 30)).toBe(false);
    book.add("key_a", 0, 1_000, 40);
    expect(book.take("key_a", 50)).toBe(false);
  });

  it("lets unused uses lapse when the key's window ends", () => {
    const book = new LeaseBook(10);
    book.add("key_a", 5, 1_000, 0);
    expect(book.left("key_a", 999)).toBe(5);
    expect(book.take("key_a", 1_000)).toBe(false);
    expect(book.left("key_a", 1_000)).toBe(0);
  });

  it("adds a new lease to what is held, under the earlier deadline", () => {
    const book = new LeaseBook(10);
    book.add("key_a", 3, 1_000, 0);
    book.add("key_a", 4, 61_000, 500);
    expect(book.left("key_a", 900)).toBe(7);
    expect(book.left("key_a", 1_000)).toBe(0);
    // Nothing held any more: the new lease's own deadline.
    book.add("key_a", 2, 61_000, 1_000);
    expect(book.left("key_a", 60_999)).toBe(2);
  });

  it("forgets the oldest lease past its capacity", () => {
    const book = new LeaseBook(2);
    book.add("key_a", 1, 1_000, 0);
    book.add("key_b", 1, 1_000, 0);
    book.add("key_c", 1, 1_000, 0);
    expect(["key_a", "key_b", "key_c"].map((k) => book.left(k, 0))).toEqual([0, 1, 1]);
  });
});
