import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { until } from "../../test/helpers/proc.ts";
import { tempDir } from "../../test/helpers/server.ts";
import { createLogger } from "./log.ts";

describe("log file on a full disk", () => {
  test("logging goes on to the console with one warning, and the file resumes when it is writable again", async () => {
    const dir = join(tempDir(), "logs");
    mkdirSync(dir);
    const file = join(dir, "catwalk.log");
    symlinkSync("/dev/full", file); // every write fails with ENOSPC
    const console: string[] = [];
    const log = createLogger({ file, fileRetryMs: 50, write: (l) => console.push(l) });
    for (let i = 0; i < 5; i++) log.info(`line ${i}`);
    const warnings = console.filter((l) => l.includes("is not writable"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("ENOSPC");
    expect(console.filter((l) => l.includes("line "))).toHaveLength(5);

    rmSync(file); // space again: the next attempt after fileRetryMs writes a regular file
    await until(
      () => {
        log.info("after");
        return console.some((l) => l.includes("is writable again"));
      },
      5000,
      "the log file to be written again",
    );
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; lost?: number });
    expect(lines[0]?.msg).toBe("log file writable again");
    expect(lines[0]?.lost).toBeGreaterThanOrEqual(5);
    expect(lines.at(-1)?.msg).toBe("after");
    expect(console.filter((l) => l.includes("is not writable"))).toHaveLength(1);
  });
});
