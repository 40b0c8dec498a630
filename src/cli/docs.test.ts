import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cli } from "../../test/helpers/cli.ts";
import { COMMANDS } from "./commands.ts";

const readme = await Bun.file(join(import.meta.dir, "..", "..", "README.md")).text();

describe("README stays true to the code", () => {
  test("its configuration table is exactly what `catwalk config schema` prints", async () => {
    const res = await cli(["config", "schema"]);
    expect(res.code).toBe(0);
    const start = readme.indexOf("```\nKEY ");
    expect(start).toBeGreaterThan(0);
    const table = readme.slice(start + 4, readme.indexOf("```", start + 4)).trimEnd();
    expect(table).toBe(res.out.trimEnd());
  });

  test("its CLI table names every command", () => {
    const section = readme.slice(
      readme.indexOf("## CLI\n"),
      readme.indexOf("\n## ", readme.indexOf("## CLI\n") + 1),
    );
    const missing = COMMANDS.map((c) => c.name).filter((name) => !section.includes(`\`${name}`));
    expect(missing).toEqual([]);
  });
});
