import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { type FakePypi, startFakePypi } from "../../../test/fakes/pypi.ts";
import { testRuntime } from "../../../test/helpers/local.ts";
import { tempDir } from "../../../test/helpers/server.ts";
import { FIXTURES, rpc, toolText } from "../../../test/helpers/upstream.ts";
import { InvalidInputError } from "../../util/error.ts";
import { MissingToolError } from "./exec.ts";
import { PackageNotFoundError, VersionNotFoundError } from "./npm.ts";
import { PackageCache } from "./packages.ts";
import { isValidPypiName, normalizePypiName, parsePypiSpecifier, resolvePypi } from "./pypi.ts";

let pypi: FakePypi;
beforeAll(async () => {
  pypi = await startFakePypi([
    {
      name: "mcp-server-fixture",
      releases: [{ version: "1.0.0" }, { version: "1.1.0", yanked: "broken build" }, { version: "1.2.0" }],
    },
  ]);
});
afterAll(() => pypi.stop());

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("PyPI names and resolution", () => {
  test("PEP 508 names are accepted and normalized, anything shell-like is refused", () => {
    expect(isValidPypiName("mcp-server-fetch")).toBe(true);
    expect(isValidPypiName("Mcp_Server.Fetch")).toBe(true);
    expect(normalizePypiName("Mcp_Server..Fetch")).toBe("mcp-server-fetch");
    for (const bad of ["-x", "x-", "a b", "a;b", "../x", "x/y", ""]) expect(isValidPypiName(bad)).toBe(false);
    const meta = fc.constantFrom(..." ;&|$`'\"<>()\\/*?!~{}[]#%^\n".split(""));
    fc.assert(fc.property(fc.string(), meta, fc.string(), (a, m, b) => !isValidPypiName(`${a}${m}${b}`)));
  });

  test("a source is name[==version]; other specifiers are refused", () => {
    expect(parsePypiSpecifier("mcp-server-fetch==2025.1.17")).toEqual({
      name: "mcp-server-fetch",
      wanted: "2025.1.17",
    });
    expect(parsePypiSpecifier("mcp-server-fetch")).toEqual({ name: "mcp-server-fetch", wanted: undefined });
    expect(() => parsePypiSpecifier("x>=1")).toThrow(InvalidInputError);
    expect(() => parsePypiSpecifier("x==1;rm -rf /")).toThrow(InvalidInputError);
  });

  test("no version resolves to the index's latest; an exact one must exist", async () => {
    const opts = { pypiUrl: pypi.url };
    expect(await resolvePypi("MCP_Server_Fixture", undefined, opts)).toEqual({
      name: "mcp-server-fixture",
      version: "1.2.0",
      yanked: undefined,
    });
    expect(pypi.requests.map((r) => r.pathname)).toContain("/pypi/mcp-server-fixture/json");
    expect((await resolvePypi("mcp-server-fixture", "1.0.0", opts)).version).toBe("1.0.0");
    const err = await rejection(resolvePypi("mcp-server-fixture", "9.9.9", opts));
    expect(err).toBeInstanceOf(VersionNotFoundError);
    expect((err as VersionNotFoundError).hint).toContain("1.2.0");
  });

  test("a yanked version resolves with the yank reason as a warning", async () => {
    expect(await resolvePypi("mcp-server-fixture", "1.1.0", { pypiUrl: pypi.url })).toMatchObject({
      version: "1.1.0",
      yanked: "broken build",
    });
  });

  test("an unknown package is a not-found error", async () => {
    expect(await rejection(resolvePypi("nope", undefined, { pypiUrl: pypi.url }))).toBeInstanceOf(
      PackageNotFoundError,
    );
  });

  test("the runtime resolves a pypi: source to an exact spec", async () => {
    const rt = testRuntime({ "pypi.url": pypi.url });
    try {
      const { spec, warning } = await rt.runtime.resolve("pypi:mcp-server-fixture==1.1.0", { args: ["--x"] });
      expect(spec).toEqual({
        kind: "pypi",
        package: "mcp-server-fixture",
        version: "1.1.0",
        entry: undefined,
        args: ["--x"],
      });
      expect(warning).toContain("yanked: broken build");
    } finally {
      await rt.close();
    }
  });
});

describe("PyPI servers run through uvx", () => {
  const spec = { kind: "pypi" as const, package: "mcp-server-fixture", version: "1.2.0", args: ["--flag"] };

  test("without uvx the install fails with a MissingToolError naming uvx, where we looked and how to get it", async () => {
    const cache = new PackageCache({
      dir: tempDir(),
      npmRegistryUrl: "http://127.0.0.1:9",
      pypiUrl: pypi.url,
      installTimeoutMs: 10_000,
      searchPath: "/nonexistent-bin",
    });
    const err = await rejection(cache.prepare(spec));
    expect(err).toBeInstanceOf(MissingToolError);
    expect(err.message).toBe("uvx was not found (looked in PATH /nonexistent-bin).");
    expect((err as MissingToolError).hint).toContain("astral.sh/uv");
    expect((err as MissingToolError).hint).toContain("local.uvxPath");

    const configured = new PackageCache({ ...cache.opts, uvxPath: "/opt/nowhere/uvx" });
    expect((await rejection(configured.prepare(spec))).message).toContain("local.uvxPath /opt/nowhere/uvx");
  });

  test("a pool of a PyPI server without uvx ends failed with that reason, spawning nothing", async () => {
    const rt = testRuntime({ "local.uvxPath": "/opt/nowhere/uvx" });
    try {
      const p = rt.pool(spec);
      p.start();
      await p.until(() => p.state().state === "failed");
      expect(p.states.map((s) => s.state)).toEqual(["installing", "failed"]);
      expect(p.state().reason).toContain("uvx was not found");
      expect(p.spawned()).toHaveLength(0);
    } finally {
      await rt.close();
    }
  });

  test("with uvx: a prefetch builds the environment once, children run uvx --from name==version entry", async () => {
    // A stand-in uvx: logs its argv and UV_CACHE_DIR, succeeds for the prefetch, runs a fixture server otherwise.
    const bin = tempDir("catwalk-fake-uv-");
    const log = join(bin, "calls.log");
    const uvx = join(bin, "uvx");
    writeFileSync(
      uvx,
      [
        "#!/bin/sh",
        `echo "$UV_CACHE_DIR|$*" >> ${log}`,
        'if [ "$3" = python ]; then exit 0; fi',
        `exec ${process.execPath} ${join(FIXTURES, "echo-server.ts")} uvx-fixture`,
        "",
      ].join("\n"),
    );
    chmodSync(uvx, 0o755);
    const rt = testRuntime({ "local.uvxPath": uvx, "pypi.url": pypi.url });
    try {
      const p = rt.pool(spec, { warm: false });
      p.start();
      const up = await p.acquire();
      expect(up.init.serverInfo.name).toBe("uvx-fixture");
      const env = toolText(
        await rpc(up.channel).call("tools/call", { name: "env", arguments: { name: "UV_CACHE_DIR" } }),
      );
      const cacheDir = join(rt.dataDir, "packages", "uv");
      expect(env).toBe(cacheDir);
      await up.release();
      await p.stop();
      p.start();
      await (await p.acquire()).release();
      await p.stop();
      const calls = readFileSync(log, "utf8").trim().split("\n");
      expect(calls).toEqual([
        `${cacheDir}|--from mcp-server-fixture==1.2.0 python -c `,
        `${cacheDir}|--from mcp-server-fixture==1.2.0 mcp-server-fixture --flag`,
        `${cacheDir}|--from mcp-server-fixture==1.2.0 mcp-server-fixture --flag`,
      ]);
      expect(
        existsSync(join(rt.dataDir, "packages", "pypi", "mcp-server-fixture@1.2.0", ".catwalk-installed")),
      ).toBe(true);
    } finally {
      await rt.close();
    }
  });
});
