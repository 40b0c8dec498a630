import { describe, expect, test } from "bun:test";
import { osc52 } from "./clipboard.ts";
import { ago, chunk, joinArgs, ms, padEnd, splitArgs, truncate } from "./format.ts";

describe("text layout helpers", () => {
  test("truncate marks the cut with an ellipsis and never exceeds the width", () => {
    expect(truncate("deployment", 6)).toBe("deplo…");
    expect(truncate("short", 10)).toBe("short");
    expect(truncate("a\nb", 10)).toBe("a b");
    expect(padEnd("● running", 12)).toBe("● running   ");
  });

  test("chunk wraps long lines at the width", () => {
    expect(chunk("abcdefgh", 3)).toEqual(["abc", "def", "gh"]);
    expect(chunk("ab", 3)).toEqual(["ab"]);
  });

  test("relative times and durations read at a glance", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(ago(null)).toBe("never");
    expect(ago("2026-01-01T11:59:30Z", now)).toBe("30s ago");
    expect(ago("2026-01-01T11:00:00Z", now)).toBe("1h ago");
    expect(ago("2025-12-30T12:00:00Z", now)).toBe("2d ago");
    expect([ms(0.42), ms(12.4), ms(15_000), ms(null)]).toEqual(["0.4 ms", "12 ms", "15.0 s", "-"]);
  });

  test("arguments split like a shell's words and quotes, without any expansion", () => {
    expect(splitArgs(`--root "/srv/my files" --name 'a b' $HOME`)).toEqual([
      "--root",
      "/srv/my files",
      "--name",
      "a b",
      "$HOME",
    ]);
    expect(splitArgs(`"" x`)).toEqual(["", "x"]);
    expect(joinArgs(["--root", "/srv/my files"])).toBe(`--root "/srv/my files"`);
  });

  test("OSC 52 carries the text base64-encoded", () => {
    expect(osc52("cwdep_x")).toBe(`\x1b]52;c;${btoa("cwdep_x")}\x07`);
  });
});
