/**
 * Onboarding end to end through the real server, the real local runtime and the real npm
 * registry (reachable from CI): analysis with verification lists the server's real tools, and
 * `catwalk deploy` analyses npm and GitHub sources first. GitHub is the wire-faithful fake; Claude
 * is not configured (deterministic analysis).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type FakeGitHub, fixtureRepo, startFakeGitHub } from "../fakes/github.ts";
import { type AnalysisEnv, startAnalysisEnv } from "../helpers/analysis-env.ts";
import { cli } from "../helpers/cli.ts";
import { connectLegacy } from "../helpers/mcp.ts";
import { sharedCacheDir, startTestServer, type TestServer } from "../helpers/server.ts";

/** Shared across runs so the real package is downloaded once per machine. */
const CACHE = sharedCacheDir("catwalk-test-packages");
const EVERYTHING = "npm:@modelcontextprotocol/server-everything";

let github: FakeGitHub;
let srv: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  github = await startFakeGitHub({
    repos: [{ owner: "acme", repo: "everything", dir: fixtureRepo("everything-fork") }],
  });
  srv = await startTestServer({
    env: { CATWALK_LOCAL_PACKAGE_CACHE_DIR: CACHE, CATWALK_GITHUB_API_URL: github.url },
  });
  env = { CATWALK_SERVER: srv.url, CATWALK_TOKEN: srv.token };
}, 60_000);
afterAll(async () => {
  await srv.close();
  await github.stop();
});

describe("analysis and deploy through the local runtime", () => {
  test("a verified manifest of npm:@modelcontextprotocol/server-everything lists its real tools", async () => {
    const res = await cli(["analyze", EVERYTHING, "--verify", "--json"], env);
    expect(res.code).toBe(0);
    const analysis = JSON.parse(res.out) as {
      status: string;
      manifest: {
        packages: { identifier: { value: string }; version: { value: string } }[];
        verification: { status: string; tools: { name: string }[] };
      };
    };
    expect(analysis.status).toBe("succeeded");
    const pkg = analysis.manifest.packages[0];
    expect(pkg?.identifier.value).toBe("@modelcontextprotocol/server-everything");
    expect(pkg?.version.value).toMatch(/^\d+\.\d+\.\d+/);
    expect(analysis.manifest.verification.status).toBe("verified");
    const tools = analysis.manifest.verification.tools.map((t) => t.name);
    for (const name of ["echo", "get-sum", "trigger-long-running-operation"]) expect(tools).toContain(name);
  }, 180_000);

  test("deploy --analyze runs the analysed package and the endpoint answers", async () => {
    const res = await cli(["deploy", EVERYTHING, "--analyze", "--name", "analysed", "--json"], env);
    expect(res.code).toBe(0);
    const dep = JSON.parse(res.out) as { url: string; token: string; state: string };
    expect(dep.state).toBe("running");
    const c = await connectLegacy(dep);
    const r = (await c.client.callTool({ name: "echo", arguments: { message: "analysed" } })).content as {
      text: string;
    }[];
    expect(r[0]?.text).toBe("Echo: analysed");
    await c.close();
  }, 180_000);

  test("deploy of a GitHub URL analyses the repository first, with its steps on stderr", async () => {
    const human = await cli(["deploy", "https://github.com/acme/everything", "--name", "from-github"], env);
    expect(human.code).toBe(0);
    expect(human.err).toMatch(/analysis: fetching/);
    expect(human.err).toContain("PROVENANCE MISMATCH");
    expect(human.out).toContain("state     running");
    const shown = JSON.parse((await cli(["show", "from-github", "--json"], env)).out) as { source: string };
    expect(shown.source).toStartWith("npm:@modelcontextprotocol/server-everything@");
    // The same commit again: the cached analysis is reused, and --json prints only the result.
    const res = await cli(
      ["deploy", "https://github.com/acme/everything", "--name", "from-github-2", "--json"],
      env,
    );
    expect(res.code).toBe(0);
    const dep = JSON.parse(res.out) as { url: string; token: string; state: string };
    expect(dep.state).toBe("running");
    const c = await connectLegacy(dep);
    expect((await c.client.listTools()).tools.length).toBeGreaterThan(5);
    await c.close();
  }, 180_000);
});

describe("credentials checked against the analysed schema", () => {
  let fakes: AnalysisEnv;
  let withFakes: TestServer;

  beforeAll(async () => {
    fakes = await startAnalysisEnv();
    withFakes = await startTestServer({ env: fakes.env() });
  }, 60_000);
  afterAll(async () => {
    await withFakes.close();
    await fakes.stop();
  });

  test("a missing required credential stops the deploy before anything starts, naming the field", async () => {
    const e = { CATWALK_SERVER: withFakes.url, CATWALK_TOKEN: withFakes.token };
    const res = await cli(["deploy", "https://github.com/acme/weather-mcp", "--json"], e);
    expect(res.code).toBe(2);
    expect(res.err).toContain("OPENWEATHER_API_KEY");
    expect(res.err).toContain("missing");
    const listed = JSON.parse((await cli(["ls", "--json"], e)).out) as unknown[];
    expect(listed).toEqual([]);
  }, 60_000);
});
