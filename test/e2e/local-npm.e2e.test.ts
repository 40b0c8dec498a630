/**
 * The npm path for real: needs the public npm registry (reachable in development and CI).
 * Resolves server-everything to an exact version, installs it into a temp package cache with the
 * embedded Bun, runs its bin directly (no npx) and performs the MCP handshake.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EXACT_SEMVER } from "../../src/runtime/local/npm.ts";
import { testRuntime } from "../helpers/local.ts";
import { rpc } from "../helpers/upstream.ts";

const NAME = "@modelcontextprotocol/server-everything";
const rt = testRuntime({ "local.startTimeoutMs": 30_000 });
afterAll(() => rt.close());

describe("npm packages from the real registry", () => {
  test("server-everything resolves, installs once into the cache, and runs from its bin", async () => {
    const { spec } = await rt.runtime.resolve(`npm:${NAME}`, { args: ["stdio"] });
    if (spec.kind !== "npm") throw new Error("expected an npm spec");
    expect(spec.version).toMatch(EXACT_SEMVER);

    const p = rt.pool(spec, { warm: false });
    p.start();
    const up = await p.acquire();
    expect(p.lifecycle()).toContain(`installing npm:${NAME}@${spec.version}`);
    expect(up.init.serverInfo.name).toContain("everything");
    const list = await rpc(up.channel).call("tools/list", {}, 20_000);
    const tools = "result" in list ? (list.result.tools as { name: string }[]).map((t) => t.name) : [];
    expect(tools).toContain("echo");
    await up.release();
    await p.stop();

    const dir = join(
      rt.dataDir,
      "packages",
      "npm",
      `@modelcontextprotocol+server-everything@${spec.version}`,
    );
    expect(existsSync(join(dir, ".catwalk-installed"))).toBe(true);
    const launch = await rt.runtime.cache.prepare(spec);
    expect(launch.command).not.toContain("npx");
    expect(launch.args[0]).toStartWith(
      join(dir, "node_modules", "@modelcontextprotocol", "server-everything"),
    );
    expect(launch.args.at(-1)).toBe("stdio");

    expect(await rt.runtime.cache.installNpm(NAME, spec.version)).toEqual({ dir, fresh: false });
  });
});
