import { describe, expect, it } from "vitest";
import { isIpAllowed, isRangeWithin, parseIpAllow, type IpAllow } from "./ip-allow.js";

function allow(entries: string[]): IpAllow {
  const parsed = parseIpAllow(entries);
  if (Array.isArray(parsed)) throw new Error(JSON.stringify(parsed));
  return parsed;
}

describe("ip_allow lists", () => {
  it("normalises addresses to single-address ranges", () => {
    expect(allow(["10.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"]).ranges).toEqual([
      "10.0.0.1/32",
      "10.0.0.0/8",
      "::1/128",
      "2001:db8::/32",
    ]);
  });

  it("names every entry that is not an address or CIDR range", () => {
    expect(
      parseIpAllow(["10.0.0.0/8", "10.0.0.0/33", "::/129", "bad", "1.2.3.4/8/9", "1.2.3.4/x", ""]),
    ).toEqual([1, 2, 3, 4, 5, 6].map((index) => ({ index, message: expect.any(String) })));
  });

  it("matches IPv4, IPv6 and IPv4-mapped IPv6 addresses", () => {
    const list = allow(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]);
    for (const ip of [
      "10.0.0.1",
      "10.255.255.255",
      "192.168.1.7",
      "2001:db8::1",
      "::ffff:10.9.9.9",
    ])
      expect(isIpAllowed(list, ip), ip).toBe(true);
    for (const ip of ["11.0.0.0", "192.168.1.8", "2001:db9::", "::ffff:11.0.0.1", "", null, "x"])
      expect(isIpAllowed(list, ip), String(ip)).toBe(false);
  });

  it("gives the same answers from its memo, also past its bound", () => {
    const list = allow(["10.0.0.0/24"]);
    // 10.0.0.0–10.0.1.255: the first 256 inside, the next 256 outside; asked twice over.
    const ips = Array.from({ length: 512 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    for (let round = 0; round < 2; round++)
      ips.forEach((ip, i) => expect(isIpAllowed(list, ip), ip).toBe(i < 256));
    expect(list.seen.size).toBeLessThanOrEqual(128);
    expect(isIpAllowed(list, "10.0.0.9")).toBe(true);
    expect(isIpAllowed(list, "10.0.0.9")).toBe(true);
    expect(list.seen.get("10.0.0.9")).toBe(true);
  });

  it("denies everything with an empty list", () => {
    expect(isIpAllowed(allow([]), "127.0.0.1")).toBe(false);
  });

  it("tells whether a range lies wholly inside another (a child key's ip_allow)", () => {
    const cases: [string, string[], boolean][] = [
      ["127.0.0.1/32", ["127.0.0.1/32"], true],
      ["127.0.0.1/32", ["10.0.0.0/8", "127.0.0.0/8"], true],
      ["127.0.0.0/8", ["127.0.0.1/32"], false],
      ["10.0.0.0/8", ["127.0.0.0/8"], false],
      ["0.0.0.0/0", ["127.0.0.1/32"], false],
      ["2001:db8::1/128", ["2001:db8::/32"], true],
      ["2001:db8::/31", ["2001:db8::/32"], false],
      ["2001:db9::1/128", ["2001:db8::/32"], false],
      ["::ffff:10.1.2.3/128", ["::ffff:10.0.0.0/104"], true],
      ["127.0.0.1/32", ["::/0"], false],
      ["::1/128", ["0.0.0.0/0"], false],
    ];
    for (const [inner, outer, want] of cases)
      expect(isRangeWithin(inner, outer), `${inner} in ${outer.join(",")}`).toBe(want);
  });
});
