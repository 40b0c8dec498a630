import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeNpm, type NpmVersionSpec, startFakeNpm } from "../../test/fakes/npm-registry.ts";
import { EVERYTHING_VERSION, everythingPackage } from "../../test/helpers/everything.ts";
import { type TestRuntime, testRuntime } from "../../test/helpers/local.ts";
import { FIXTURES, startedPids } from "../../test/helpers/upstream.ts";
import { DEFAULT_TIMING } from "../runtime/local/pool.ts";
import type { PoolOptions, UpstreamPool } from "../runtime/types.ts";
import { manifestFromServerJson } from "./from-server-json.ts";
import type { CapabilityItem, Manifest } from "./manifest.ts";
import { ManifestNotDeployableError, manifestToUpstreamSpec } from "./upstream.ts";
import { applyVerification, classifyFailure, verifyManifest } from "./verify.ts";

/** `@acme/weather-mcp` runs the weather fixture server; its package arguments are `args`. */
function weather(args: string[] = []): Manifest {
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
          packageArguments: args.map((value) => ({ type: "positional", value })),
          environmentVariables: [
            { name: "WEATHER_API_KEY", isRequired: true, isSecret: true, description: "API key" },
            { name: "WEATHER_UNITS", default: "metric" },
          ],
        },
      ],
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

const weatherVersion = (version: string): NpmVersionSpec => ({
  version,
  files: { "server.js": readFileSync(join(FIXTURES, "weather-server.js"), "utf8") },
});

let registry: FakeNpm;
let local: TestRuntime;
beforeAll(async () => {
  // 1.5.0 is `latest`: the verifier must install the manifest's exact version, not the newest.
  registry = await startFakeNpm([
    { name: "@acme/weather-mcp", versions: [weatherVersion("1.4.2"), weatherVersion("1.5.0")] },
    everythingPackage(),
  ]);
  // The local runtime over that registry with the production crash policy; one package cache per file.
  local = testRuntime({ "local.npmRegistryUrl": registry.url }, DEFAULT_TIMING);
});
afterAll(async () => {
  await local.close();
  await registry.stop();
});

/** The production wiring (`setPoolFactory((opts) => local.pool(opts))`), keeping each pool to look at afterwards. */
function runtimePools() {
  const pools: UpstreamPool[] = [];
  const createPool = (opts: PoolOptions): UpstreamPool => {
    const pool = local.runtime.pool(opts);
    pools.push(pool);
    return pool;
  };
  return { createPool, pools };
}

describe("verification through an injected UpstreamPool", () => {
  test("records what the lists really return, across pages, and marks declared against verified", async () => {
    const { createPool, pools } = runtimePools();
    const m = weather();
    const v = await verifyManifest(m, {
      createPool,
      credentials: { WEATHER_API_KEY: "k-123" },
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("verified");
    expect(v.serverInfo).toEqual({ name: "fixture-weather", version: "1.4.2" });
    expect(v.tools.map((t) => t.name)).toEqual(["get_forecast", "get_alerts", "geocode"]);
    expect(v.resources).toEqual([{ name: "cities", uri: "weather://cities", description: "Known cities" }]);
    expect(v.prompts).toEqual([{ name: "weekly_outlook", description: "A week ahead" }]);
    // What the verifier asked for: the manifest's spec, installed at exactly its version.
    expect(manifestToUpstreamSpec(m)).toEqual({
      kind: "npm",
      package: "@acme/weather-mcp",
      version: "1.4.2",
      bin: undefined,
      args: [],
    });
    expect(
      (v.lifecycle ?? []).some((l) => /^(installing|using cached) npm:@acme\/weather-mcp@1\.4\.2$/.test(l)),
    ).toBe(true);
    expect(v.stderr.some((l) => /^(installing|using cached|started pid) /.test(l))).toBe(false);
    expect(
      registry.requests.map((r) => r.pathname).filter((p) => p.startsWith("/@acme/weather-mcp/-/")),
    ).toEqual(["/@acme/weather-mcp/-/weather-mcp-1.4.2.tgz"]);
    expect(pools.map((p) => p.state())).toEqual([{ state: "stopped", children: 0, restarts: 0 }]);
    const pids = startedPids(v.lifecycle ?? []);
    expect(pids).toHaveLength(1);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();

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

  test("the server runs with the package arguments and the given credentials, and no other variable of ours", async () => {
    const v = await verifyManifest(weather(["--env-tool"]), {
      createPool: runtimePools().createPool,
      credentials: { WEATHER_API_KEY: "k-123" },
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("verified");
    const seen = JSON.parse(v.tools.find((t) => t.name === "env")?.description ?? "{}") as Record<
      string,
      string
    >;
    // PATH, HOME, LANG and TMPDIR are the runtime's; BUN_BE_BUN is set only when Bun stands in for node.
    const { PATH, HOME, LANG, TMPDIR, BUN_BE_BUN: _runner, ...rest } = seen;
    expect({ PATH, HOME, LANG, TMPDIR }).toEqual({
      PATH: expect.any(String),
      HOME: join(local.dataDir, "homes", "verify-test"),
      LANG: "C.UTF-8",
      TMPDIR: expect.any(String),
    });
    expect(rest).toEqual({ WEATHER_API_KEY: "k-123" });
  });

  test("a server that exits naming a missing variable needs credentials; it is not broken", async () => {
    const { createPool, pools } = runtimePools();
    const m = weather(["--require", "WEATHER_API_KEY"]);
    const v = await verifyManifest(m, { createPool, timeoutMs: 10_000, deploymentId: "verify-test" });
    expect(v.status).toBe("needs_credentials");
    expect(v.missingCredentials).toEqual(["WEATHER_API_KEY"]);
    expect(v.stderr).toContain("Error: WEATHER_API_KEY environment variable is required");
    expect(pools[0]?.state()).toMatchObject({ state: "stopped", children: 0 });
    for (const pid of startedPids(v.lifecycle ?? [])) expect(() => process.kill(pid, 0)).toThrow();
    const again = await verifyManifest(m, {
      createPool,
      credentials: { WEATHER_API_KEY: "k" },
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(again.status).toBe("verified");
  });

  test("a crash with every required credential given is a failure with the reason", async () => {
    const v = await verifyManifest(weather(["--crash"]), {
      createPool: runtimePools().createPool,
      credentials: { WEATHER_API_KEY: "k" },
      timeoutMs: 10_000,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("failed");
    expect(v.error).toStartWith("The server did not start: ");
    expect(v.error).toContain("TypeError: Cannot read properties of undefined");
    expect(v.error).not.toContain("restarting");
    expect(v.stderr.join("\n")).toContain("TypeError");
  });

  test("a server that never answers is cut off at the time limit and its process is gone", async () => {
    // Installed first, so the short limit is spent on the start, not on the install.
    await local.runtime.cache.installNpm("@acme/weather-mcp", "1.4.2");
    const { createPool, pools } = runtimePools();
    const v = await verifyManifest(weather(["--hang"]), {
      createPool,
      credentials: { WEATHER_API_KEY: "k" },
      timeoutMs: 400,
      deploymentId: "verify-test",
    });
    expect(v.status).toBe("failed");
    expect(v.error).toBe("starting the server did not finish in time");
    expect(pools[0]?.state()).toMatchObject({ state: "stopped", children: 0 });
    const pids = startedPids(v.lifecycle ?? []);
    expect(pids).toHaveLength(1);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });

  test("the real @modelcontextprotocol/server-everything verifies with its real tools", async () => {
    const m = manifestFromServerJson(
      {
        name: "io.github.modelcontextprotocol/server-everything",
        description: "MCP server that exercises all the features of the MCP protocol",
        version: EVERYTHING_VERSION,
        packages: [
          {
            registryType: "npm",
            identifier: "@modelcontextprotocol/server-everything",
            version: EVERYTHING_VERSION,
            transport: { type: "stdio" },
          },
        ],
      },
      "registry",
    );
    const v = await verifyManifest(m, {
      createPool: runtimePools().createPool,
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
