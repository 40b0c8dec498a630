import { isIPv4, isIPv6 } from "node:net";

/**
 * Classifies IP addresses for outbound fetches of client-supplied URLs (client metadata
 * documents). Only globally routable unicast addresses are "public"; everything special-use
 * (RFC 6890 and later registrations) is refused: loopback, private, CGNAT, link-local (cloud
 * metadata at 169.254.169.254), ULA, multicast, documentation, benchmarking, and IPv6 forms that
 * embed an IPv4 address (mapped, NAT64, 6to4) are judged by the embedded address.
 */
export type AddressClass = "public" | "loopback" | "private" | "link-local" | "special" | "invalid";

const V4_RANGES: [string, number, AddressClass][] = [
  ["0.0.0.0", 8, "special"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "private"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "special"],
  ["192.0.2.0", 24, "special"],
  ["192.31.196.0", 24, "special"],
  ["192.52.193.0", 24, "special"],
  ["192.88.99.0", 24, "special"],
  ["192.168.0.0", 16, "private"],
  ["192.175.48.0", 24, "special"],
  ["198.18.0.0", 15, "special"],
  ["198.51.100.0", 24, "special"],
  ["203.0.113.0", 24, "special"],
  ["224.0.0.0", 4, "special"],
  ["240.0.0.0", 4, "special"],
];

function v4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

function classifyV4Int(n: number): AddressClass {
  for (const [base, bits, cls] of V4_RANGES) {
    const size = 2 ** (32 - bits);
    const start = v4ToInt(base);
    if (n >= start && n < start + size) return cls;
  }
  return "public";
}

/** Parses an IPv6 literal (with optional dotted IPv4 tail) into 16 bytes; undefined if invalid. */
export function parseV6(ip: string): Uint8Array | undefined {
  if (!isIPv6(ip) || ip.includes("%")) return undefined;
  let text = ip;
  let tail: number[] = [];
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = v4ToInt(dotted[2] as string);
    tail = [(n >>> 16) & 0xffff, n & 0xffff];
    text = dotted[1] as string;
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((p) => Number.parseInt(p, 16)));
  const left = groups(halves[0] as string);
  const right = halves.length === 2 ? groups(halves[1] as string) : [];
  const fill = 8 - left.length - right.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...left, ...new Array<number>(fill).fill(0), ...right, ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

function prefixMatches(bytes: Uint8Array, prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = Math.floor(i / 8);
    const mask = 0x80 >> (i % 8);
    if (((bytes[byte] ?? 0) & mask) !== ((prefix[byte] ?? 0) & mask)) return false;
  }
  return true;
}

function embeddedV4(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] as number) << 24) +
      ((bytes[offset + 1] as number) << 16) +
      ((bytes[offset + 2] as number) << 8) +
      (bytes[offset + 3] as number)) >>>
    0
  );
}

function classifyV6(bytes: Uint8Array): AddressClass {
  const zero = bytes.every((b, i) => i === 15 || b === 0);
  if (zero && bytes[15] === 1) return "loopback";
  if (zero && bytes[15] === 0) return "special";
  // ::ffff:0:0/96 (mapped) and 64:ff9b::/96 (NAT64): judged by the IPv4 address they carry.
  if (prefixMatches(bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96))
    return classifyV4Int(embeddedV4(bytes, 12));
  if (prefixMatches(bytes, [0, 0x64, 0xff, 0x9b], 96)) return classifyV4Int(embeddedV4(bytes, 12));
  // 2002::/16 (6to4) carries an IPv4 address in bits 16–48.
  if (prefixMatches(bytes, [0x20, 0x02], 16)) return classifyV4Int(embeddedV4(bytes, 2));
  if (prefixMatches(bytes, [0xfe, 0x80], 10)) return "link-local";
  if (prefixMatches(bytes, [0xfc], 7)) return "private";
  if (prefixMatches(bytes, [0xfe, 0xc0], 10)) return "private";
  // Everything outside global unicast 2000::/3 (multicast ff00::/8, IPv4-compatible ::/96, …).
  if (!prefixMatches(bytes, [0x20], 3)) return "special";
  // Inside 2000::/3: IETF protocol assignments incl. Teredo, documentation (old and new).
  if (prefixMatches(bytes, [0x20, 0x01, 0x00], 23)) return "special";
  if (prefixMatches(bytes, [0x20, 0x01, 0x0d, 0xb8], 32)) return "special";
  if (prefixMatches(bytes, [0x3f, 0xff], 20)) return "special";
  return "public";
}

/** The class of an IP literal (IPv6 with or without brackets). */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  if (isIPv4(bare)) return classifyV4Int(v4ToInt(bare));
  const bytes = parseV6(bare);
  return bytes ? classifyV6(bytes) : "invalid";
}
