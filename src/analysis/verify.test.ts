import { describe, expect, test } from "bun:test";
import { FIXTURE_SERVER, localNodeModules, stdioPoolFactory } from "../../test/helpers/stdio-pool.ts";
import type { ServerJson } from "../registry/server-json.ts";
import { manifestFromServerJson } from "./from-server-json.ts";
import type { CapabilityItem, Manifest } from "./manifest.ts";
import { ManifestNotDeployableError, manifestToUpstreamSpec } from "./upstream.ts";
import { applyVerification, classifyFailure, verifyManifest } from "./verify.ts";

function weather(over: Partial<ServerJson> = {}): Manifest {
  const m = manifestFromServerJson(
    {
      name: "io.github.acme/weather-mcp",
      description: "Weather",
      version: "1.4.2",
      packages: [
        {
          registryType: "npm",
          identifier: "@acme/weather-mcp",
          version: "1.4.2",
          transport: { type: "stdio" },
          environmentVariables: [
            { name: "WEATHER_API_KEY", isRequired: true, isSecret: true, description: "API key" },
            { name: "WEATHER_UNITS", default: "metric" },
          ],
        },
      ],
      ...over,
    },
    "registry",
  );
  const declared = (name: string): CapabilityItem => ({
    name,
    declared: true,
    verified: false,
    evidence: [{ kind: "file", file: "src/index.ts", line: 3 }],
    confidence: 0.7,
  });
  m.tools = [declared("get_forecast"), declared("old_tool")];
  return m;
}

const fixture = (extraEnv: Record<string, string> = {}) =>
  stdioPoolFactory(() => [process.execPath, FIXTURE_SERVER], { extraEnv });

describe("verification through an injected UpstreamPool", () => {
  test("records what the lists really return, across pages, and marks declared against verified", async () => {
    const pool = fixture({ FIXTURE_PAGE: "2" });
    const m = weather();
    const v = await verifyManifest(m, {
      createPool: pool,
      credentials: { WEATHER_API_KEY: "k-123" },
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("verified");
    expect(v.serverInfo).toEqual({ name: "fixture-weather", version: "1.4.2" });
    expect(v.tools.map((t) => t.name)).toEqual(["get_forecast", "get_alerts", "geocode"]);
    expect(v.resources).toEqual([{ name: "cities", uri: "weather://cities", description: "Known cities" }]);
    expect(v.prompts).toEqual([{ name: "weekly_outlook", description: "A week ahead" }]);
    expect(pool.record.specs).toEqual([
      { kind: "npm", package: "@acme/weather-mcp", version: "1.4.2", bin: undefined, args: [] },
    ]);
    expect(pool.record.envs).toEqual([{ WEATHER_API_KEY: "k-123" }]);
    expect(pool.record.stopped).toBe(1);
    expect(pool.record.live()).toBe(0);

    const { manifest, warnings } = applyVerification(m, v);
    expect(manifest.tools.map((t) => [t.name, t.declared, t.verified])).toEqual([
      ["get_forecast", true, true],
      ["old_tool", true, false],
      ["get_alerts", false, true],
      ["geocode", false, true],
    ]);
    expect(manifest.tools[0]?.evidence.at(-1)).toEqual({
      kind: "verification",
      note: "listed by the running server",
    });
    expect(warnings).toEqual(["Declared tools not listed by the running server: old_tool."]);
  });

  test("a server that exits naming a missing variable needs credentials; it is not broken", async () => {
    const pool = fixture({ FIXTURE_REQUIRE: "WEATHER_API_KEY" });
    const v = await verifyManifest(weather(), {
      createPool: pool,
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("needs_credentials");
    expect(v.missingCredentials).toEqual(["WEATHER_API_KEY"]);
    expect(v.stderr).toContain("Error: WEATHER_API_KEY environment variable is required");
    expect(pool.record.live()).toBe(0);
    const again = await verifyManifest(weather(), {
      createPool: pool,
      credentials: { WEATHER_API_KEY: "k" },
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(again.status).toBe("verified");
  });

  test("a crash with every required credential given is a failure with the reason", async () => {
    const v = await verifyManifest(weather(), {
      createPool: fixture({ FIXTURE_CRASH: "1" }),
      credentials: { WEATHER_API_KEY: "k" },
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("failed");
    expect(v.error).toContain("ended before initialize completed");
    expect(v.stderr.join("\n")).toContain("TypeError");
  });

  test("a server that never answers is cut off at the time limit and its process is gone", async () => {
    const pool = fixture({ FIXTURE_HANG: "1" });
    const v = await verifyManifest(weather(), {
      createPool: pool,
      credentials: { WEATHER_API_KEY: "k" },
      timeoutMs: 400,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("failed");
    expect(v.error).toBe("starting the server did not finish in time");
    expect(pool.record.stopped).toBe(1);
    await Bun.sleep(100);
    expect(pool.record.live()).toBe(0);
  });

  test("the real @modelcontextprotocol/server-everything verifies with its real tools", async () => {
    const m = manifestFromServerJson(
      {
        name: "io.github.modelcontextprotocol/server-everything",
        description: "MCP server that exercises all the features of the MCP protocol",
        version: "2026.8.31",
        packages: [
          {
            registryType: "npm",
            identifier: "@modelcontextprotocol/server-everything",
            version: "2026.8.31",
            transport: { type: "stdio" },
          },
        ],
      },
      "registry",
    );
    const v = await verifyManifest(m, {
      createPool: stdioPoolFactory(localNodeModules),
      timeoutMs: 30_000,
      deploymentId: "verify-everything",
    });
    expect(v.status).toBe("verified");
    const names = v.tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(["echo", "get-sum", "get-tiny-image", "trigger-long-running-operation"]),
    );
    expect(v.prompts.length).toBeGreaterThan(0);
    expect(v.serverInfo?.name).toBeTruthy();
  });
});

describe("failure classification", () => {
  const m = weather();
  test("an error that names an absent variable needs that credential", () => {
    expect(classifyFailure(m, {}, "Error: WEATHER_UNITS must be one of metric|imperial", false)).toEqual({
      status: "needs_credentials",
      missing: ["WEATHER_UNITS"],
    });
  });
  test("a start failure while required variables are absent needs them", () => {
    expect(classifyFailure(m, {}, "exited with code 1", true)).toEqual({
      status: "needs_credentials",
      missing: ["WEATHER_API_KEY"],
    });
    expect(classifyFailure(m, {}, "tools/list: 401 Unauthorized", false)).toEqual({
      status: "needs_credentials",
      missing: ["WEATHER_API_KEY"],
    });
  });
  test("with every required credential given, a failure is a failure", () => {
    expect(classifyFailure(m, { WEATHER_API_KEY: "k" }, "exited with code 1", true)).toEqual({
      status: "failed",
      missing: [],
    });
  });
});

describe("manifest to UpstreamSpec", () => {
  test("maps npm and PyPI packages with bin/entry and constant arguments", () => {
    const m = weather();
    const p = m.packages[0];
    if (!p) throw new Error("no package");
    p.bin = { value: "weather-mcp", evidence: [], confidence: 1 };
    p.packageArguments = [
      { argument: { type: "positional", value: "stdio" }, evidence: [], confidence: 1 },
      { argument: { type: "named", name: "--units", value: "metric" }, evidence: [], confidence: 1 },
      { argument: { type: "named", name: "--verbose" }, evidence: [], confidence: 1 },
    ];
    expect(manifestToUpstreamSpec(m)).toEqual({
      kind: "npm",
      package: "@acme/weather-mcp",
      version: "1.4.2",
      bin: "weather-mcp",
      args: ["stdio", "--units", "metric", "--verbose"],
    });
    const py = manifestFromServerJson(
      {
        name: "io.github.acme/notes",
        description: "n",
        version: "0.3.1",
        packages: [{ registryType: "pypi", identifier: "notes-mcp", version: "0.3.1" }],
      },
      "registry",
    );
    expect(manifestToUpstreamSpec(py)).toEqual({
      kind: "pypi",
      package: "notes-mcp",
      version: "0.3.1",
      entry: undefined,
      args: [],
    });
  });

  test("refuses what could reach a command line unsafely or cannot run", () => {
    const cases: [string, (m: Manifest) => void, string][] = [
      [
        "not an MCP server",
        (m) => {
          m.isMcpServer.value = false;
        },
        "is not an MCP server",
      ],
      [
        "a range instead of a version",
        (m) => {
          (m.packages[0] as Manifest["packages"][0]).version.value = "^1.4.0";
        },
        "no exact version",
      ],
      [
        "shell syntax in a name",
        (m) => {
          (m.packages[0] as Manifest["packages"][0]).identifier.value = "x; rm -rf ~";
        },
        "not a safe constant",
      ],
      [
        "shell syntax in an argument",
        (m) =>
          void m.packages[0]?.packageArguments.push({
            argument: { type: "positional", value: "$(id)" },
            evidence: [],
            confidence: 1,
          }),
        "not a safe constant",
      ],
      [
        "a required argument without value",
        (m) =>
          void m.packages[0]?.packageArguments.push({
            argument: { type: "positional", valueHint: "dir", isRequired: true },
            evidence: [],
            confidence: 1,
          }),
        "needs a value for dir",
      ],
      [
        "an unpublished package",
        (m) => {
          (m.packages[0] as Manifest["packages"][0]).check = {
            exists: false,
            provenance: "not_checked",
            error: "does not exist",
          };
        },
        "could not be validated",
      ],
    ];
    for (const [, mutate, message] of cases) {
      const m = weather();
      mutate(m);
      const e = (() => {
        try {
          manifestToUpstreamSpec(m);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(ManifestNotDeployableError);
      expect((e as Error).message).toContain(message);
    }
  });
});
