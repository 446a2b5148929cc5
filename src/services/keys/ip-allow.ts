import { BlockList, isIPv4, isIPv6 } from "node:net";

/** A key's `ip_allow` list, compiled once: addresses and CIDR ranges, IPv4 and IPv6. */
export interface IpAllow {
  /** The list as the user wrote it, normalised (`10.0.0.1` → `10.0.0.1/32`). */
  ranges: string[];
  list: BlockList;
  /**
   * Answers already given, by address: `BlockList.check` builds a `SocketAddress` per call
   * (about 6 % of a verification's CPU in the b-org profile), while a key or an organization
   * is usually called from a handful of addresses. Bounded; the list never changes.
   */
  seen: Map<string, boolean>;
}

/** Addresses remembered per list before the memo starts over. */
const SEEN_MAX = 128;

export type CidrProblem = { index: number; message: string };

/** Parses a CIDR list; problems name the offending entries by index. */
export function parseIpAllow(entries: readonly string[]): IpAllow | CidrProblem[] {
  const list = new BlockList();
  const ranges: string[] = [];
  const problems: CidrProblem[] = [];
  entries.forEach((entry, index) => {
    const [address = "", bits, extra] = entry.trim().split("/");
    const type = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : null;
    const max = type === "ipv4" ? 32 : 128;
    const prefix = bits === undefined ? max : /^[0-9]{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!type || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      problems.push({ index, message: `not an IP address or CIDR range: ${entry.slice(0, 64)}` });
      return;
    }
    list.addSubnet(address, prefix, type);
    ranges.push(`${address}/${prefix}`);
  });
  return problems.length > 0 ? problems : { ranges, list, seen: new Map() };
}

/** Whether `ip` falls in the list; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as IPv4. */
export function isIpAllowed(allow: IpAllow, ip: string | null | undefined): boolean {
  if (!ip) return false;
  const known = allow.seen.get(ip);
  if (known !== undefined) return known;
  const allowed = checkAddress(allow.list, ip);
  if (allow.seen.size >= SEEN_MAX) allow.seen.clear();
  allow.seen.set(ip, allowed);
  return allowed;
}

function checkAddress(list: BlockList, ip: string): boolean {
  const mapped = /^::ffff:([0-9.]+)$/i.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return list.check(mapped[1]!, "ipv4");
  if (isIPv4(ip)) return list.check(ip, "ipv4");
  if (isIPv6(ip)) return list.check(ip, "ipv6");
  return false;
}

/** An address as a number and its width in bits; null when it is not an IP address. */
function addressBits(address: string): { value: bigint; width: 32 | 128 } | null {
  if (isIPv4(address)) {
    const value = address.split(".").reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
    return { value, width: 32 };
  }
  if (!isIPv6(address)) return null;
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const tail = addressBits(v4[1]!)!.value;
    text = `${text.slice(0, -v4[1]!.length)}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const groups =
    rest === undefined
      ? left
      : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const value = groups.reduce((n, group) => (n << 16n) | BigInt(parseInt(group, 16)), 0n);
  return { value, width: 128 };
}

/**
 * Whether the CIDR range `inner` lies wholly inside one of `outer` (all normalised
 * `address/bits`, as `parseIpAllow` writes them). Families must match.
 */
export function isRangeWithin(inner: string, outer: readonly string[]): boolean {
  const [address = "", bits = ""] = inner.split("/");
  const a = addressBits(address);
  if (!a) return false;
  return outer.some((range) => {
    const [outerAddress = "", outerBits = ""] = range.split("/");
    const b = addressBits(outerAddress);
    if (!b || b.width !== a.width || Number(bits) < Number(outerBits)) return false;
    const shift = BigInt(a.width - Number(outerBits));
    return a.value >> shift === b.value >> shift;
  });
}
