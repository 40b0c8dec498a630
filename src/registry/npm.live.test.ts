import { describe, expect, test } from "bun:test";
import { isExactSemver } from "./names.ts";
import { PackageNotFoundError } from "./npm.ts";
import { checkNpm } from "./validate.ts";

/**
 * Opt-in: `CATWALK_TEST_LIVE_NPM=1 bun test src/registry/npm.live.test.ts` validates against the real
 * registry.npmjs.org (reachable from CI), proving the fake's wire format matches the real one.
 */
const live = Bun.env.CATWALK_TEST_LIVE_NPM === "1";
const ep = { npmUrl: "https://registry.npmjs.org", pypiUrl: "https://pypi.org", timeoutMs: 20_000 };

describe.skipIf(!live)("live npm registry", () => {
  test("server-everything resolves to an exact version whose repository is modelcontextprotocol/servers", async () => {
    const check = await checkNpm(
      "@modelcontextprotocol/server-everything",
      undefined,
      { owner: "modelcontextprotocol", repo: "servers" },
      ep,
    );
    expect(isExactSemver(check.version)).toBe(true);
    expect(check.provenance).toBe("match");
    expect(Object.keys(check.bin)).toContain("mcp-server-everything");
    expect(check.warnings).toEqual([]);
  });

  test("a package that does not exist is a not-found error", async () => {
    await expect(
      checkNpm("@catwalk-test/does-not-exist-4f1c2a9e", undefined, undefined, ep),
    ).rejects.toBeInstanceOf(PackageNotFoundError);
  });
});
