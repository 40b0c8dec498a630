import { describe, expect, test } from "bun:test";
import { type AddressClass, classifyAddress } from "./ssrf.ts";

const table: [string, AddressClass][] = [
  ["8.8.8.8", "public"],
  ["172.32.0.1", "public"],
  ["2606:4700::1111", "public"],
  ["2001:4860:4860::8888", "public"],
  ["::ffff:8.8.8.8", "public"],
  ["127.0.0.1", "loopback"],
  ["127.255.0.9", "loopback"],
  ["::1", "loopback"],
  ["[::1]", "loopback"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["2002:7f00:1::", "loopback"],
  ["10.1.2.3", "private"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["192.168.1.1", "private"],
  ["100.64.0.1", "private"],
  ["64:ff9b::a00:1", "private"],
  ["fc00::1", "private"],
  ["fd12:3456::1", "private"],
  ["169.254.169.254", "link-local"],
  ["::ffff:169.254.169.254", "link-local"],
  ["fe80::1", "link-local"],
  ["0.0.0.0", "special"],
  ["::", "special"],
  ["255.255.255.255", "special"],
  ["224.0.0.1", "special"],
  ["ff02::1", "special"],
  ["192.0.2.10", "special"],
  ["198.18.0.1", "special"],
  ["2001:db8::1", "special"],
  ["2001::1", "special"],
  ["::1.2.3.4", "special"],
  ["fe80::1%eth0", "invalid"],
  ["example.com", "invalid"],
  ["999.1.1.1", "invalid"],
];

describe("address classification for outbound fetches", () => {
  for (const [address, expected] of table) {
    test(`${address} is ${expected}`, () => {
      expect(classifyAddress(address)).toBe(expected);
    });
  }
});
