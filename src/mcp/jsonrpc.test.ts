import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { kindOf } from "./jsonrpc.ts";

const messageLike = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant("2.0"), fc.jsonValue()),
    id: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.double(), fc.jsonValue()),
    method: fc.oneof(fc.string(), fc.jsonValue()),
    params: fc.jsonValue(),
    result: fc.jsonValue(),
    error: fc.oneof(fc.record({ code: fc.integer(), message: fc.string() }), fc.jsonValue()),
  },
  { requiredKeys: [] },
);

describe("JSON-RPC classification", () => {
  test("any value is classified without throwing, and each kind has exactly the shape routing relies on", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), messageLike), (v) => {
        const kind = kindOf(v);
        if (kind === "invalid") return;
        const m = v as Record<string, unknown>;
        expect(m.jsonrpc).toBe("2.0");
        if (m.params !== undefined)
          expect(typeof m.params === "object" && !Array.isArray(m.params)).toBe(true);
        if (kind === "request") {
          expect(typeof m.method).toBe("string");
          expect(typeof m.id === "string" || Number.isFinite(m.id)).toBe(true);
        } else if (kind === "notification") {
          expect(typeof m.method).toBe("string");
          expect("id" in m).toBe(false);
        } else {
          // A response: no method, and exactly one usable outcome (a result object or an error with a code).
          expect("method" in m && typeof m.method === "string").toBe(false);
          const result = typeof m.result === "object" && m.result !== null && !Array.isArray(m.result);
          const error = m.error as { code?: unknown } | null | undefined;
          const failure =
            typeof error === "object" &&
            error !== null &&
            !Array.isArray(error) &&
            typeof error.code === "number";
          expect(result !== failure).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test("a request's id is never an object, array, boolean or non-finite number", () => {
    for (const id of [{}, [], true, Number.NaN, Number.POSITIVE_INFINITY, null]) {
      expect(kindOf({ jsonrpc: "2.0", id, method: "ping" })).toBe("invalid");
    }
  });
});
