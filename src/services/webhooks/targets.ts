/**
 * Where webhooks may go (SSRF): http(s) URLs whose host resolves only to public addresses.
 * Checked when an endpoint is saved and again at every delivery, on the addresses the
 * connection then really uses (the delivery's DNS lookup goes through `guardedLookup`), so
 * a name that later resolves to 127.0.0.1 or 169.254.169.254 is refused at that moment.
 * LATCHKEY_WEBHOOKS_ALLOW_PRIVATE=true lifts the address rule (development, tests).
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { lookup as lookupAll } from "node:dns/promises";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { LatchkeyError } from "../../core/errors.js";

const NOT_PUBLIC = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const)
  NOT_PUBLIC.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
] as const)
  NOT_PUBLIC.addSubnet(net, bits, "ipv6");

/** An IPv4 address carried in an IPv6 one (`::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`). */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return null;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Whether an address literal is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return !NOT_PUBLIC.check(address, "ipv4");
  const v4 = embeddedIpv4(address);
  if (v4 !== null) return !NOT_PUBLIC.check(v4, "ipv4");
  if (address.toLowerCase().startsWith("::ffff:")) return false;
  return !NOT_PUBLIC.check(address, "ipv6");
}

function refuse(message: string): LatchkeyError {
  return new LatchkeyError("webhook_url_not_allowed", message, {
    details: [{ field: "url", message }],
  });
}

/**
 * The URL as it will be stored: http(s) only, no credentials in it, a host. With
 * `allowPrivate` false, its host must resolve, and only to public addresses.
 */
export async function checkTarget(raw: string, allowPrivate: boolean): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse("not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw refuse("webhook URLs are http:// or https://");
  if (url.username || url.password) throw refuse("a webhook URL may not hold credentials");
  if (!url.hostname) throw refuse("a webhook URL needs a host");
  url.hash = "";
  if (allowPrivate) return url.href;
  const host = bareHost(url.hostname);
  if (isIP(host) !== 0) {
    if (!isPublicAddress(host)) throw refuse(`${host} is not a public address`);
    return url.href;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await lookupAll(host, { all: true, verbatim: true });
  } catch {
    throw refuse(`${host} does not resolve`);
  }
  const bad = addresses.find((a) => !isPublicAddress(a.address));
  if (addresses.length === 0 || bad)
    throw refuse(`${host} resolves to ${bad?.address ?? "nothing"}, which is not a public address`);
  return url.href;
}

/** `[::1]` → `::1`: URL keeps the brackets of an IPv6 literal. */
export function bareHost(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/**
 * A `lookup` for node:http that resolves as usual and refuses any answer holding a
 * non-public address: the connection can only go where the check allowed.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, "", 0);
    const list = addresses as unknown as LookupAddress[];
    const bad = list.find((a) => !isPublicAddress(a.address));
    if (list.length === 0 || bad) {
      const refused = Object.assign(
        new Error(`${hostname} resolves to ${bad?.address ?? "nothing"}, not a public address`),
        { code: "EADDRNOTPUBLIC" },
      );
      return callback(refused, "", 0);
    }
    if (options.all)
      return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};
