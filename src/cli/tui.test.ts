import { describe, expect, test } from "bun:test";
import { cli } from "../../test/helpers/cli.ts";

describe("catwalk tui", () => {
  test("refuses without a terminal, with exit code 2 and how to run it", async () => {
    const res = await cli(["tui", "--server", "http://127.0.0.1:9"]);
    expect(res.code).toBe(2);
    expect(res.err).toContain(
      "error: catwalk tui needs an interactive terminal (stdin and stdout must be a TTY).",
    );
    expect(res.err).toContain("hint: Run it in a terminal (over SSH: ssh -t host catwalk tui).");
  });

  test("is listed in the help with its options", async () => {
    const res = await cli(["help", "tui"]);
    expect(res.code).toBe(0);
    expect(res.out).toContain("Usage: catwalk tui [--server URL] [--token TOKEN] [--data-dir DIR]");
    expect(res.out).toContain("--data-dir DIR");
  });
});
