import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AnalysisEnv, startAnalysisEnv } from "../../test/helpers/analysis-env.ts";
import { ServiceNotFoundError, ServiceRateLimitedError } from "../registry/http.ts";
import type { EnvVar, Manifest } from "./manifest.ts";
import {
  type AnalysisSettings,
  analyze,
  type RunResult,
  resolveSource,
  runAnalysis,
  type StepEvent,
} from "./pipeline.ts";
import { InvalidSourceError, parseSource } from "./source.ts";

let env: AnalysisEnv;
beforeAll(async () => {
  env = await startAnalysisEnv();
});
afterAll(() => env.stop());

async function analyse(
  source: string,
  settings: AnalysisSettings = env.settings(),
): Promise<
  RunResult & {
    steps: StepEvent[];
    commit?: string | undefined;
    key: { repository: string; subdir: string; commit: string };
  }
> {
  const resolved = await resolveSource(parseSource(source), settings);
  const steps: StepEvent[] = [];
  const out = await runAnalysis(resolved, settings, { onStep: (e) => void steps.push(e) });
  return { ...out, steps, commit: resolved.commit, key: resolved.key };
}

/** The fields of an environment variable that matter, evidence as "file:line". */
function envShape(e: EnvVar) {
  return {
    name: e.name,
    isRequired: e.isRequired,
    isSecret: e.isSecret,
    default: e.default,
    format: e.format,
    description: e.description,
    evidence: e.evidence.map((x) => (x.kind === "file" ? `${x.file}:${x.line}` : x.kind)),
  };
}

function pkg(m: Manifest) {
  const p = m.packages[0];
  if (!p) throw new Error("no package");
  return p;
}

describe("a TypeScript server whose README lists its variables in a table", () => {
  let out: Awaited<ReturnType<typeof analyse>>;
  beforeAll(async () => {
    out = await analyse("https://github.com/acme/weather-mcp");
  });

  test("succeeds deterministically and says that no Claude key was configured", () => {
    expect(out.status).toBe("succeeded");
    expect(out.manifest.analysis.mode).toBe("deterministic");
    expect(out.warnings).toContain(
      "No Anthropic API key is configured (CATWALK_ANTHROPIC_API_KEY): the analysis is deterministic only.",
    );
    expect(out.steps.map((s) => `${s.step}:${s.status}`)).toEqual([
      "reading:started",
      "reading:done",
      "asking_claude:skipped",
      "validating:started",
      "validating:done",
    ]);
  });

  test("identifies the npm package, its exact version, bin and provenance", () => {
    const m = out.manifest;
    const p = pkg(m);
    expect(p.registryType).toBe("npm");
    expect(p.identifier.value).toBe("@acme/weather-mcp");
    expect(p.identifier.evidence).toContainEqual({ kind: "file", file: "package.json", line: 2 });
    expect(p.version.value).toBe("1.4.2");
    expect(p.version.confidence).toBeGreaterThanOrEqual(0.99);
    expect(p.runtimeHint).toBe("npx");
    expect(p.bin?.value).toBe("weather-mcp");
    expect(p.check).toMatchObject({ exists: true, resolvedVersion: "1.4.2", provenance: "match" });
    expect(m.version.value).toBe("1.4.2");
    expect(m.description).toMatchObject({
      value: "MCP server for OpenWeatherMap forecasts and severe-weather alerts",
      confidence: 0.9,
    });
    expect(m.name).toMatchObject({ value: "io.github.acme/weather-mcp", confidence: 0.5 });
    expect(m.repository).toMatchObject({
      url: "https://github.com/acme/weather-mcp",
      source: "github",
      commit: env.github.commitOf("acme/weather-mcp"),
    });
    expect(m.isMcpServer.value).toBe(true);
    expect(m.isMcpServer.evidence).toContainEqual({
      kind: "file",
      file: "src/index.ts",
      line: 2,
      note: "imports an MCP server SDK",
    });
  });

  test("reads every variable from the table, the config block and the code, with required, secret and defaults", () => {
    expect(pkg(out.manifest).environmentVariables.map(envShape)).toEqual([
      {
        name: "OPENWEATHER_API_KEY",
        isRequired: true,
        isSecret: true,
        default: undefined,
        format: "string",
        description: "Your OpenWeatherMap API key (free tier works)",
        evidence: ["README.md:23", "README.md:38", "src/index.ts:7"],
      },
      {
        name: "WEATHER_CACHE_TTL",
        isRequired: false,
        isSecret: false,
        default: "600",
        format: "number",
        description: "Seconds a forecast is cached",
        evidence: ["README.md:25", "src/client.ts:2"],
      },
      {
        name: "WEATHER_UNITS",
        isRequired: false,
        isSecret: false,
        default: "metric",
        format: "string",
        description: "Units: metric, imperial or standard",
        evidence: ["README.md:24", "src/index.ts:12"],
      },
    ]);
    expect(pkg(out.manifest).environmentVariables[0]?.confidence).toBe(0.99);
  });

  test("declares the tools and the resource registered in code and listed in the README", () => {
    const m = out.manifest;
    expect(m.tools.map((t) => [t.name, t.description, t.declared, t.verified])).toEqual([
      ["get_forecast", "5-day forecast for a city, in 3-hour steps", true, false],
      ["get_alerts", "Active severe-weather alerts for a latitude/longitude", true, false],
    ]);
    expect(m.resources.map((r) => [r.name, r.uri])).toEqual([["cities", "weather://cities"]]);
    expect(m.prompts).toEqual([]);
  });
});

describe("a Python server with pyproject.toml, smithery.yaml and a Dockerfile", () => {
  test("finds the PyPI package, the console script and the smithery-declared variables", async () => {
    const out = await analyse("https://github.com/acme/notes-mcp");
    expect(out.status).toBe("succeeded");
    const p = pkg(out.manifest);
    expect([p.registryType, p.identifier.value, p.version.value, p.runtimeHint, p.bin?.value]).toEqual([
      "pypi",
      "notes-mcp",
      "0.3.1",
      "uvx",
      "notes-mcp",
    ]);
    expect(p.check?.provenance).toBe("match");
    expect(p.environmentVariables.map(envShape)).toEqual([
      {
        name: "NOTES_DB_PATH",
        isRequired: true,
        isSecret: false,
        default: undefined,
        format: "string",
        description: "Path of the SQLite database file that holds the notes.",
        evidence: [
          "smithery.yaml:11",
          "README.md:29",
          "src/notes_mcp/server.py:7",
          "README.md:16",
          "Dockerfile:8",
        ],
      },
      {
        name: "NOTES_LOG_LEVEL",
        isRequired: false,
        isSecret: false,
        default: "INFO",
        format: "string",
        description: "Python log level.",
        evidence: ["smithery.yaml:14", "src/notes_mcp/server.py:8", "README.md:19"],
      },
    ]);
    const m = out.manifest;
    expect(m.tools.map((t) => [t.name, t.description])).toEqual([
      ["add_note", "Store a note with a title and body."],
      ["search_notes", "Full-text search over all notes."],
    ]);
    expect(m.resources.map((r) => [r.name, r.uri])).toEqual([["get_note", "notes://{title}"]]);
    expect(m.prompts.map((r) => r.name)).toEqual(["summarize_notes"]);
  });
});

describe("a monorepo with the server in a subdirectory", () => {
  test("analyses only the folder, via a ref that contains a slash", async () => {
    const out = await analyse("https://github.com/acme/mcp-servers/tree/release/2025/src/github");
    expect(out.status).toBe("succeeded");
    const m = out.manifest;
    expect(m.repository?.subfolder).toBe("src/github");
    expect(m.analysis.filesRead).toEqual([
      "src/github/package.json",
      "src/github/README.md",
      "src/github/src/index.ts",
    ]);
    expect(m.name).toMatchObject({ value: "io.github.acme/github", confidence: 0.9 });
    const p = pkg(m);
    expect([p.identifier.value, p.version.value, p.bin?.value, p.check?.provenance]).toEqual([
      "@acme/mcp-server-github",
      "0.9.0",
      "mcp-server-github",
      "match",
    ]);
    expect(p.environmentVariables.map((e) => [e.name, e.isRequired, e.isSecret, e.default ?? null])).toEqual([
      ["GITHUB_PERSONAL_ACCESS_TOKEN", true, true, null],
      ["GITHUB_API_URL", false, false, "https://api.github.com"],
    ]);
    expect(m.tools.map((t) => t.name)).toEqual(["list_issues", "get_file_contents"]);
  });

  test("the repository root is refused with the folders to analyse instead", async () => {
    const out = await analyse("https://github.com/acme/mcp-servers");
    expect(out.status).toBe("failed");
    expect(out.error?.code).toBe("analysis.monorepo");
    expect(out.error?.hint).toContain("https://github.com/acme/mcp-servers/tree/main/src/github");
    expect(out.error?.hint).toContain("https://github.com/acme/mcp-servers/tree/main/src/time");
  });
});

describe("a repository with an official server.json", () => {
  test("takes packages and variables from server.json alone, with full confidence", async () => {
    const out = await analyse("https://github.com/acme/search-mcp");
    expect(out.status).toBe("succeeded");
    const m = out.manifest;
    expect(m.analysis.mode).toBe("server.json");
    expect([m.name.value, m.title?.value, m.description.value, m.version.value]).toEqual([
      "io.github.acme/search",
      "Acme Search",
      "Web and news search through the Acme Search API",
      "2.1.0",
    ]);
    const p = pkg(m);
    expect([p.identifier.value, p.version.value, p.identifier.confidence]).toEqual([
      "@acme/search-mcp",
      "2.1.0",
      1,
    ]);
    expect(p.bin?.value).toBe("acme-search-mcp");
    expect(
      p.environmentVariables.map((e) => ({ ...envShape(e), choices: e.choices, confidence: e.confidence })),
    ).toEqual([
      {
        name: "ACME_SEARCH_API_KEY",
        isRequired: true,
        isSecret: true,
        default: undefined,
        format: "string",
        description: "API key from the Acme developer console",
        evidence: ["server.json:1"],
        choices: undefined,
        confidence: 1,
      },
      {
        name: "ACME_SEARCH_REGION",
        isRequired: false,
        isSecret: false,
        default: "us",
        format: "string",
        description: "Result region",
        evidence: ["server.json:1"],
        choices: ["us", "eu", "apac"],
        confidence: 1,
      },
    ]);
    expect(m.tools.map((t) => t.name)).toEqual(["web_search"]);
  });
});

describe("a repository that is not an MCP server", () => {
  test("fails with a clear reason and never asks Claude", async () => {
    const before = env.claude.bodies.length;
    const out = await analyse("https://github.com/acme/strutil", env.settings({ withClaude: true }));
    expect(out.status).toBe("failed");
    expect(out.error?.code).toBe("analysis.not_mcp_server");
    expect(out.error?.message).toContain("github.com/acme/strutil does not look like an MCP server");
    expect(out.manifest.isMcpServer.value).toBe(false);
    expect(env.claude.bodies.length).toBe(before);
    expect(out.steps.find((s) => s.step === "asking_claude")?.status).toBe("skipped");
  });
});

describe("package sources", () => {
  test("npm:<pkg> analyses the repository at the commit npm recorded (gitHead)", async () => {
    const out = await analyse("npm:@acme/weather-mcp");
    expect(out.key).toEqual({ repository: "npm:@acme/weather-mcp", subdir: "", commit: "1.4.2" });
    expect(out.commit).toBe(env.github.commitOf("acme/weather-mcp"));
    expect(out.warnings.some((w) => w.includes("does not record the commit"))).toBe(false);
    expect(pkg(out.manifest).version.value).toBe("1.4.2");
  });

  test("npm:<pkg>@<old version> keeps that exact version and says which commit it read", async () => {
    const out = await analyse("npm:@acme/weather-mcp@1.3.0");
    expect(pkg(out.manifest).version.value).toBe("1.3.0");
    expect(out.warnings).toContain(
      `npm does not record the commit of @acme/weather-mcp@1.3.0; analysed main at ${env.github.commitOf("acme/weather-mcp").slice(0, 7)}.`,
    );
  });

  test("npm:<pkg> of a monorepo package analyses the folder npm declares", async () => {
    const out = await analyse("npm:@acme/mcp-server-github@0.9.0");
    expect(out.manifest.repository?.subfolder).toBe("src/github");
    expect(pkg(out.manifest).environmentVariables.map((e) => e.name)).toEqual([
      "GITHUB_PERSONAL_ACCESS_TOKEN",
      "GITHUB_API_URL",
    ]);
  });

  test("npm:<pkg> whose declared repository GitHub does not show is analysed from registry metadata", async () => {
    env.npm.add({
      name: "gone-mcp",
      versions: [
        {
          version: "1.0.0",
          repository: "github:acme/gone-mcp",
          bin: { "gone-mcp": "index.js" },
          dependencies: { "@modelcontextprotocol/sdk": "^1.17.0" },
        },
      ],
    });
    const out = await analyse("npm:gone-mcp");
    expect(out.status).toBe("succeeded");
    expect(out.key).toEqual({ repository: "npm:gone-mcp", subdir: "", commit: "1.0.0" });
    expect(out.commit).toBeUndefined();
    expect(out.manifest.repository).toBeUndefined();
    expect([pkg(out.manifest).identifier.value, pkg(out.manifest).bin?.value]).toEqual([
      "gone-mcp",
      "gone-mcp",
    ]);
    expect(out.warnings).toContain(
      "The package declares github.com/acme/gone-mcp, which GitHub does not show (deleted, renamed or private); the analysis uses registry metadata only.",
    );
  });

  test("npm:<pkg> analysed while GitHub is down is cached apart from a full analysis", async () => {
    env.github.fail({ path: "/repos/acme/weather-mcp", status: 502, times: 1 });
    const degraded = await analyse("npm:@acme/weather-mcp");
    expect(degraded.status).toBe("succeeded");
    expect(degraded.commit).toBeUndefined();
    expect(degraded.key.subdir).toBe("#registry-only");
    expect(degraded.warnings.some((w) => w.startsWith("GitHub could not be read for acme/weather-mcp"))).toBe(
      true,
    );
    const full = await analyse("npm:@acme/weather-mcp");
    expect(full.key.subdir).toBe("");
    expect(full.commit).toBe(env.github.commitOf("acme/weather-mcp"));
  });

  test("pypi:<project>==<version> normalizes the name and keeps the version", async () => {
    const out = await analyse("pypi:Notes_MCP==0.2.0");
    expect(out.key).toEqual({ repository: "pypi:notes-mcp", subdir: "", commit: "0.2.0" });
    expect([pkg(out.manifest).identifier.value, pkg(out.manifest).version.value]).toEqual([
      "notes-mcp",
      "0.2.0",
    ]);
  });
});

describe("analyze()", () => {
  test("parses, resolves and runs in one call for callers without the service", async () => {
    const out = await analyze("npm:@acme/search-mcp", env.settings());
    expect(out.status).toBe("succeeded");
    expect(out.resolved.key).toEqual({ repository: "npm:@acme/search-mcp", subdir: "", commit: "2.1.0" });
    expect(out.manifest.analysis.mode).toBe("server.json");
  });
});

describe("versions and provenance", () => {
  test("a repository version that is not published resolves to the latest release, with a warning", async () => {
    env.github.add({
      owner: "acme",
      repo: "weather-next",
      files: {
        "package.json": JSON.stringify({
          name: "@acme/weather-mcp",
          version: "2.0.0",
          repository: "github:acme/weather-next",
          dependencies: { "@modelcontextprotocol/sdk": "^1" },
        }),
      },
    });
    const out = await analyse("https://github.com/acme/weather-next");
    expect(pkg(out.manifest).version.value).toBe("1.4.2");
    expect(out.warnings).toContain(
      "npm @acme/weather-mcp@2.0.0 (the version in the repository) is not published; using 1.4.2, the latest release.",
    );
  });

  test("a package whose registry entry names another repository is a loud provenance warning", async () => {
    env.github.add({
      owner: "mallory",
      repo: "weather-fork",
      files: {
        "package.json": JSON.stringify({
          name: "@acme/weather-mcp",
          version: "1.4.2",
          dependencies: { "@modelcontextprotocol/sdk": "^1" },
        }),
      },
    });
    const out = await analyse("https://github.com/mallory/weather-fork");
    const p = pkg(out.manifest);
    expect(p.check?.provenance).toBe("mismatch");
    expect(p.identifier.confidence).toBeLessThanOrEqual(0.3);
    expect(out.warnings.find((w) => w.startsWith("PROVENANCE MISMATCH"))).toContain(
      "github.com/mallory/weather-fork",
    );
  });
});

describe("sources and GitHub failures", () => {
  test("anything but a GitHub URL, npm: or pypi: is refused with what is accepted", () => {
    for (const bad of [
      "https://gitlab.com/a/b",
      "ftp://github.com/a/b",
      "left-pad",
      "npm:Bad Name",
      "pypi:x==^1",
      "https://github.com/a",
      "https://github.com/a/b/blob/main/x",
      "",
    ]) {
      const e = (() => {
        try {
          parseSource(bad);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(InvalidSourceError);
      expect((e as InvalidSourceError).hint).toContain("npm:<package>");
    }
    expect(parseSource("github.com/acme/weather-mcp.git")).toEqual({
      kind: "github",
      owner: "acme",
      repo: "weather-mcp",
      refPath: undefined,
    });
    expect(parseSource("npm:@scope/pkg@^1.2")).toEqual({ kind: "npm", name: "@scope/pkg", spec: "^1.2" });
    expect(parseSource("pypi:mcp-server-fetch==0.6.2")).toEqual({
      kind: "pypi",
      name: "mcp-server-fetch",
      version: "0.6.2",
    });
  });

  test("a private repository is a 404 that explains the token, and readable with one", async () => {
    const e = await analyse("https://github.com/acme/private-mcp").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ServiceNotFoundError);
    expect((e as ServiceNotFoundError).message).toBe(
      "github.com/acme/private-mcp does not exist or is private.",
    );
    expect((e as ServiceNotFoundError).hint).toContain("CATWALK_GITHUB_TOKEN");
    const ok = await analyse("https://github.com/acme/private-mcp", env.settings({ token: true }));
    expect(pkg(ok.manifest).identifier.value).toBe("@acme/weather-mcp");
    expect(env.github.requests.at(-1)?.headers.authorization).toBe("Bearer ghp_testtoken0123456789");
  });

  test("an exhausted rate limit names its reset time and suggests a token", async () => {
    const reset = Math.floor(Date.now() / 1000) + 1800;
    env.github.setRateLimit(0, reset);
    try {
      const e = await analyse("https://github.com/acme/weather-mcp").catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ServiceRateLimitedError);
      const r = e as ServiceRateLimitedError;
      expect(r.status).toBe(429);
      expect(r.resetAt?.getTime()).toBe(reset * 1000);
      expect(r.message).toContain(new Date(reset * 1000).toISOString());
      expect(r.hint).toContain("CATWALK_GITHUB_TOKEN");
    } finally {
      env.github.setRateLimit(5000);
    }
  });

  test("a secondary rate limit (429 with retry-after) and a slow GitHub are clear errors too", async () => {
    env.github.fail({
      path: "/repos/acme/weather-mcp",
      status: 429,
      headers: { "retry-after": "60" },
      body: { message: "You have exceeded a secondary rate limit." },
      times: 1,
    });
    const e = await analyse("https://github.com/acme/weather-mcp").catch((x: unknown) => x);
    expect((e as ServiceRateLimitedError).message).toContain("secondary rate limit");
    env.github.fail({ path: "/git/trees/", delayMs: 400, times: 1 });
    const slow = await analyse("https://github.com/acme/weather-mcp", {
      ...env.settings(),
      httpTimeoutMs: 150,
    }).catch((x: unknown) => x);
    expect((slow as { code?: string }).code).toBe("github.timeout");
  });
});
