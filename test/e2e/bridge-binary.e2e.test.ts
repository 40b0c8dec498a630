/**
 * The runner as it ships in the image: the compiled binary, alone in an empty directory, installs
 * the pinned package with its embedded Bun and serves it as `catwalk bridge`.
 */

import { afterAll, beforeAll, describe, test } from "bun:test";
import { type FakeNpm, startFakeNpm } from "../fakes/npm-registry.ts";
import { isolatedBinary } from "../helpers/binary.ts";
import { expectRunnerServesPackage } from "../helpers/bridge.ts";

describe("catwalk bridge from the compiled binary", () => {
  let registry: FakeNpm;
  beforeAll(async () => {
    registry = await startFakeNpm([{ name: "@acme/notes-mcp", versions: [{ version: "1.2.3" }] }]);
  });
  afterAll(() => registry.stop());

  test("installs the pinned package at boot, serves it at /mcp and stops cleanly", async () => {
    const { bin } = isolatedBinary();
    await expectRunnerServesPackage([bin], registry);
  }, 120_000);
});
