import type { AnalysisSettings } from "../../src/analysis/pipeline.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";
import { type FakeGitHub, fixtureRepo, startFakeGitHub } from "../fakes/github.ts";
import { type FakeMcpRegistry, startFakeMcpRegistry } from "../fakes/mcp-registry.ts";
import { type FakeNpm, startFakeNpm } from "../fakes/npm-registry.ts";
import { type FakePypi, startFakePypi } from "../fakes/pypi.ts";

/**
 * Every external service analysis talks to, faked over HTTP and loaded with the fixture
 * repositories (test/fixtures/repos) and the packages they publish:
 *   acme/weather-mcp   ts-table-server   npm @acme/weather-mcp 1.3.0, 1.4.2
 *   acme/notes-mcp     py-server         PyPI notes-mcp 0.2.0, 0.3.1
 *   acme/mcp-servers   monorepo          npm @acme/mcp-server-github 0.9.0 (directory src/github); ref release/2025
 *   acme/search-mcp    with-server-json  npm @acme/search-mcp 2.1.0
 *   acme/strutil       not-mcp           (unpublished)
 *   acme/notes-helper  injection         npm mcp-notes-helper 0.4.0
 *   acme/private-mcp   ts-table-server   private repository, readable with GITHUB_TOKEN
 */
export const ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef";
export const GITHUB_TOKEN = "ghp_testtoken0123456789";

export interface AnalysisEnv {
  github: FakeGitHub;
  npm: FakeNpm;
  pypi: FakePypi;
  claude: FakeAnthropic;
  registry: FakeMcpRegistry;
  /** Settings for the pipeline functions; `withClaude` adds the API key. */
  settings(opts?: {
    withClaude?: boolean;
    token?: boolean;
    claudeTimeoutMs?: number;
    maxRetries?: number;
  }): AnalysisSettings;
  /** CATWALK_* variables for `startTestServer`. */
  env(opts?: { withClaude?: boolean }): Record<string, string>;
  stop(): Promise<void>;
}

export async function startAnalysisEnv(): Promise<AnalysisEnv> {
  const github = await startFakeGitHub({
    token: GITHUB_TOKEN,
    repos: [
      {
        owner: "acme",
        repo: "weather-mcp",
        dir: fixtureRepo("ts-table-server"),
        description: "Weather for MCP clients",
      },
      { owner: "acme", repo: "notes-mcp", dir: fixtureRepo("py-server") },
      { owner: "acme", repo: "mcp-servers", dir: fixtureRepo("monorepo"), refs: ["release/2025"] },
      { owner: "acme", repo: "search-mcp", dir: fixtureRepo("with-server-json") },
      { owner: "acme", repo: "strutil", dir: fixtureRepo("not-mcp") },
      { owner: "acme", repo: "notes-helper", dir: fixtureRepo("injection") },
      { owner: "acme", repo: "private-mcp", dir: fixtureRepo("ts-table-server"), private: true },
    ],
  });
  const sdk = { "@modelcontextprotocol/sdk": "^1.17.0" };
  const npm = await startFakeNpm([
    {
      name: "@acme/weather-mcp",
      versions: [
        {
          version: "1.3.0",
          repository: { url: "git+https://github.com/acme/weather-mcp.git" },
          bin: { "weather-mcp": "dist/index.js" },
          dependencies: sdk,
        },
        {
          version: "1.4.2",
          repository: { url: "git+https://github.com/acme/weather-mcp.git" },
          bin: { "weather-mcp": "dist/index.js" },
          dependencies: sdk,
          gitHead: github.commitOf("acme/weather-mcp"),
        },
      ],
    },
    {
      name: "@acme/mcp-server-github",
      versions: [
        {
          version: "0.9.0",
          repository: { url: "https://github.com/acme/mcp-servers.git", directory: "src/github" },
          bin: "dist/index.js",
          dependencies: sdk,
          mcpName: "io.github.acme/github",
        },
      ],
    },
    {
      name: "@acme/search-mcp",
      versions: [
        {
          version: "2.1.0",
          repository: "github:acme/search-mcp",
          bin: { "acme-search-mcp": "dist/index.js" },
          dependencies: sdk,
        },
      ],
    },
    {
      name: "mcp-notes-helper",
      versions: [
        {
          version: "0.4.0",
          repository: "github:acme/notes-helper",
          bin: { "mcp-notes-helper": "build/index.js" },
          dependencies: sdk,
        },
      ],
    },
  ]);
  const pypi = await startFakePypi([
    {
      name: "notes-mcp",
      releases: [
        { version: "0.2.0" },
        { version: "0.3.1", summary: "MCP server that keeps searchable notes in a SQLite database" },
      ],
      projectUrls: {
        Homepage: "https://notes.acme.example",
        Repository: "https://github.com/acme/notes-mcp",
      },
      requiresDist: ["mcp[cli]>=1.9.0", "aiosqlite>=0.20.0"],
    },
  ]);
  const claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
  const registry = await startFakeMcpRegistry();
  const settings: AnalysisEnv["settings"] = (o = {}) => ({
    githubApiUrl: github.url,
    githubToken: o.token ? GITHUB_TOKEN : undefined,
    anthropic: {
      apiKey: o.withClaude ? ANTHROPIC_KEY : undefined,
      baseUrl: claude.url,
      model: "claude-test-model",
      timeoutMs: o.claudeTimeoutMs ?? 5000,
      maxRetries: o.maxRetries ?? 0,
    },
    npmUrl: npm.url,
    pypiUrl: pypi.url,
    httpTimeoutMs: 5000,
  });
  return {
    github,
    npm,
    pypi,
    claude,
    registry,
    settings,
    env: (o = {}) => ({
      CATWALK_GITHUB_API_URL: github.url,
      CATWALK_LOCAL_NPM_REGISTRY_URL: npm.url,
      CATWALK_PYPI_URL: pypi.url,
      CATWALK_ANTHROPIC_BASE_URL: claude.url,
      CATWALK_ANTHROPIC_MODEL: "claude-test-model",
      CATWALK_ANTHROPIC_MAX_RETRIES: "0",
      CATWALK_MCP_REGISTRY_URL: registry.url,
      ...(o.withClaude ? { CATWALK_ANTHROPIC_API_KEY: ANTHROPIC_KEY } : {}),
    }),
    stop: async () => {
      await Promise.all([github.stop(), npm.stop(), pypi.stop(), claude.stop(), registry.stop()]);
    },
  };
}
