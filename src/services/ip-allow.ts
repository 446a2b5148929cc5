import { BlockList, isIPv4, isIPv6 } from "node:net";

/** A key's `ip_allow` list, compiled once: addresses and CIDR ranges, IPv4 and IPv6. */
export interface IpAllow {
  /** The list as the user wrote it, normalised (`10.0.0.1` → `10.0.0.1/32`). */
  ranges: string[];
  list: BlockList;
}

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
  return problems.length > 0 ? problems : { ranges, list };
}

/** Whether `ip` falls in the list; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as IPv4. */
export function isIpAllowed(allow: IpAllow, ip: string | null | undefined): boolean {
  if (!ip) return false;
  const mapped = /^::ffff:([0-9.]+)$/i.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return allow.list.check(mapped[1]!, "ipv4");
  if (isIPv4(ip)) return allow.list.check(ip, "ipv4");
  if (isIPv6(ip)) return allow.list.check(ip, "ipv6");
  return false;
}
