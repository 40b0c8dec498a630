import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseEventId } from "./stream.ts";

describe("Last-Event-ID parsing", () => {
  test("our own event ids round-trip, and any other header value parses or is ignored without throwing", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[pg][0-9]{1,6}$/), fc.nat(), (stream, seq) => {
        expect(parseEventId(`${stream}.${seq}`)).toEqual({ stream, seq });
      }),
    );
    fc.assert(
      fc.property(fc.option(fc.string()), (value) => {
        const parsed = parseEventId(value);
        if (parsed === undefined) return;
        expect(Number.isInteger(parsed.seq) && parsed.seq >= 0).toBe(true);
        expect(parsed.stream.length).toBeGreaterThan(0);
      }),
    );
  });
});
