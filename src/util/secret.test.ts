import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { bearer, safeEqual } from "./secret.ts";

const TOKEN = fc.stringMatching(/^[A-Za-z0-9._~+/=-]{1,64}$/);

describe("bearer tokens", () => {
  test("Authorization: Bearer <token> yields exactly the token, in any case of the scheme", () => {
    fc.assert(
      fc.property(TOKEN, fc.constantFrom("Bearer", "bearer", "BEARER"), (token, scheme) => {
        expect(bearer(`${scheme} ${token}`)).toBe(token);
      }),
    );
  });

  test("no header without the Bearer scheme, or with more than one token, yields a token", () => {
    fc.assert(
      fc.property(fc.string(), (header) => {
        fc.pre(!/^bearer[ \t]/i.test(header));
        expect(bearer(header)).toBeUndefined();
      }),
    );
    expect(bearer("Bearer a b")).toBeUndefined();
    expect(bearer("Basic dXNlcjpwYXNz")).toBeUndefined();
    expect(bearer(null)).toBeUndefined();
  });

  test("comparison is equality, for any pair of strings", () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => expect(safeEqual(a, b)).toBe(a === b)));
  });
});
