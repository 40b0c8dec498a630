import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { jsonDepth } from "./json.ts";

/** The depth by the obvious recursive definition, for values small enough to recurse over. */
function reference(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + Math.max(0, ...children.map(reference));
}

describe("JSON depth", () => {
  test("agrees with the recursive definition on any JSON value", () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => jsonDepth(v) === reference(v)));
  });

  test("200,000 levels are measured without overflowing the stack, and counting stops past the limit", () => {
    const deep = JSON.parse(`${"[".repeat(200_000)}${"]".repeat(200_000)}`) as unknown;
    expect(jsonDepth(deep)).toBe(200_000);
    expect(jsonDepth(deep, 64)).toBe(65);
    expect(jsonDepth({ a: [{ b: 1 }] })).toBe(3);
    expect(jsonDepth("text")).toBe(0);
  });
});
