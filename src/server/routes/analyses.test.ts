import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ACME_SEARCH } from "../../../test/fakes/mcp-registry.ts";
import { type AnalysisEnv, startAnalysisEnv } from "../../../test/helpers/analysis-env.ts";
import { cli } from "../../../test/helpers/cli.ts";
import { EVERYTHING_VERSION, everythingPackage } from "../../../test/helpers/everything.ts";
import { startTestServer, type TestServer, tempDir } from "../../../test/helpers/server.ts";
import { startedPids } from "../../../test/helpers/upstream.ts";
import { analysisServiceOf } from "../../analysis/instance.ts";
import type { Manifest } from "../../analysis/manifest.ts";
import { ServerJson } from "../../registry/server-json.ts";
import type { PoolOptions } from "../../runtime/types.ts";

let env: AnalysisEnv;
let srv: TestServer;
let uvxCalls: string;

/** A stand-in for uvx: logs its arguments; the prefetch succeeds, the server exits needing NOTES_DB_PATH. */
function standInUvx(): string {
  const dir = tempDir("catwalk-fake-uv-");
  uvxCalls = join(dir, "calls.log");
  const uvx = join(dir, "uvx");
  writeFileSync(
    uvx,
    [
      "#!/bin/sh",
      `echo "$*" >> ${uvxCalls}`,
      'if [ "$3" = python ]; then exit 0; fi',
      "echo 'Error: NOTES_DB_PATH environment variable is required' >&2",
      "exit 1",
      "",
    ].join("\n"),
  );
  chmodSync(uvx, 0o755);
  return uvx;
}

beforeAll(async () => {
  env = await startAnalysisEnv();
  const everything = everythingPackage();
  env.npm.add({
    ...everything,
    versions: everything.versions.map((v) => ({
      ...v,
      dependencies: { "@modelcontextprotocol/sdk": "^1.30.0" },
      description: "MCP server that exercises all the features of the MCP protocol",
    })),
  });
  // A stand-in for the dependency, so that installing the package resolves it without the network.
  env.npm.add({ name: "@modelcontextprotocol/sdk", versions: [{ version: "1.30.0" }] });
  env.registry.add(ACME_SEARCH);
  env.registry.add({
    name: "io.github.acme/weather",
    description: "Weather forecasts",
    version: "1.0.0",
    remotes: [{ type: "streamable-http", url: "https://weather.acme.example/mcp" }],
  });
  srv = await startTestServer({ env: { ...env.env(), CATWALK_LOCAL_UVX_PATH: standInUvx() } });
});
afterAll(async () => {
  await srv.close();
  await env.stop();
});

interface View {
  id: string;
  status: string;
  cached: boolean;
  manifest: Manifest | null;
  warnings: string[];
  steps: { step: string; status: string }[];
  error: { code: string; message: string; hint?: string } | null;
}

async function post(body: unknown): Promise<{ status: number; body: View & { error: View["error"] } }> {
  const res = await srv.api("/api/analyses", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as View };
}

async function events(id: string): Promise<string> {
  const res = await srv.api(`/api/analyses/${id}/events`, { signal: AbortSignal.timeout(30_000) });
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  return res.text();
}

async function get(id: string): Promise<View> {
  return (await (await srv.api(`/api/analyses/${id}`)).json()) as View;
}

describe("analyses API", () => {
  test("a new analysis is 202, streams its steps as SSE and ends with a manifest; the same commit is then cached", async () => {
    const first = await post({ source: "https://github.com/acme/weather-mcp" });
    expect(first.status).toBe(202);
    expect(first.body.id).toMatch(/^ana_[0-9A-Z]{26}$/);
    expect(first.body.cached).toBe(false);
    const stream = await events(first.body.id);
    expect(stream).toContain('event: step\ndata: {"step":"fetching","status":"done"');
    expect(stream).toContain('"step":"validating","status":"done"');
    expect(stream.trimEnd().split("\n\n").at(-1)).toBe(
      `event: done\ndata: {"id":"${first.body.id}","status":"succeeded"}`,
    );
    const done = await get(first.body.id);
    expect(done.status).toBe("succeeded");
    expect(done.manifest?.packages[0]?.identifier.value).toBe("@acme/weather-mcp");

    const again = await post({ source: "github.com/acme/weather-mcp.git" });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, cached: true, status: "succeeded" });
    const replay = await events(first.body.id);
    expect(replay.trimEnd().split("\n\n").at(-1)).toBe(
      `event: done\ndata: {"id":"${first.body.id}","status":"succeeded"}`,
    );

    const forced = await post({ source: "https://github.com/acme/weather-mcp", force: true });
    expect(forced.status).toBe(202);
    expect(forced.body.id).toBe(first.body.id);
    await events(forced.body.id);
    expect((await get(first.body.id)).status).toBe("succeeded");
  });

  test("bad sources, missing repositories and rate limits are immediate errors in the envelope", async () => {
    const bad = await post({ source: "https://gitlab.com/acme/x" });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toMatchObject({ code: "analysis.invalid_source" });
    expect(bad.body.error?.hint).toContain("npm:<package>");
    const missing = await post({ source: "https://github.com/acme/nope" });
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe("github.not_found");
    env.github.setRateLimit(0);
    try {
      const limited = await post({ source: "https://github.com/acme/notes-mcp" });
      expect(limited.status).toBe(429);
      expect(limited.body.error?.code).toBe("github.rate_limited");
    } finally {
      env.github.setRateLimit(5000);
    }
  });

  test("an analysis that finds no MCP server fails with its reason", async () => {
    const { body } = await post({ source: "https://github.com/acme/strutil" });
    await events(body.id);
    const done = await get(body.id);
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("analysis.not_mcp_server");
  });

  test("verification without a wired runtime is refused at once with a clear error", async () => {
    const service = analysisServiceOf(srv.app);
    service.setPoolFactory(undefined);
    const { status, body } = await post({ source: "https://github.com/acme/weather-mcp", verify: true });
    expect(status).toBe(503);
    expect(body.error?.code).toBe("analysis.verifier_unavailable");
  });

  test("the credential schema, its validation and the server.json export are served", async () => {
    const { body } = await post({ source: "https://github.com/acme/search-mcp" });
    await events(body.id);
    const schema = (await (await srv.api(`/api/analyses/${body.id}/credential-schema`)).json()) as {
      required: string[];
      properties: Record<string, { writeOnly?: boolean }>;
    };
    expect(schema.required).toEqual(["ACME_SEARCH_API_KEY"]);
    expect(schema.properties.ACME_SEARCH_API_KEY?.writeOnly).toBe(true);
    const check = await srv.api(`/api/analyses/${body.id}/credentials/validate`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ values: { ACME_SEARCH_REGION: "mars" } }),
    });
    expect(await check.json()).toMatchObject({
      ok: false,
      errors: [
        { field: "ACME_SEARCH_REGION", code: "invalid" },
        { field: "ACME_SEARCH_API_KEY", code: "missing" },
      ],
    });
    const exported = await (await srv.api(`/api/analyses/${body.id}/server-json`)).json();
    const parsed = ServerJson.parse(exported);
    expect(parsed.name).toBe("io.github.acme/search");
    expect(parsed.packages?.[0]).toMatchObject({
      registryType: "npm",
      identifier: "@acme/search-mcp",
      version: "2.1.0",
      runtimeHint: "npx",
      transport: { type: "stdio" },
    });
    expect(JSON.stringify(exported)).not.toContain("evidence");
  });

  test("an unknown analysis id is 404", async () => {
    const res = await srv.api("/api/analyses/ana_01JD3Q7Z8K2M4N6P8R0T2V4X6Y");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("analysis.not_found");
  });

  test("every analyses and registry route is in the OpenAPI document", async () => {
    const doc = (await (await srv.api("/api/openapi.json")).json()) as { paths: Record<string, unknown> };
    for (const p of [
      "/api/analyses",
      "/api/analyses/{id}",
      "/api/analyses/{id}/events",
      "/api/analyses/{id}/credential-schema",
      "/api/analyses/{id}/server-json",
      "/api/registry/servers",
      "/api/registry/servers/{name}",
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
  });
});

/**
 * Wires verification as the server does (`setPoolFactory((opts) => local.pool(opts))`) to the
 * server's own local runtime (the fake registries and the stand-in uvx), recording what each pool
 * was given.
 */
function wireLocalRuntime(): PoolOptions[] {
  const asked: PoolOptions[] = [];
  analysisServiceOf(srv.app).setPoolFactory((opts) => {
    asked.push(opts);
    return srv.running.services.local.pool(opts);
  });
  return asked;
}

describe("verification through the API with an injected runtime", () => {
  test("npm:@modelcontextprotocol/server-everything verifies with its real tools; credentials never reach the log", async () => {
    const asked = wireLocalRuntime();
    try {
      const { status, body } = await post({
        source: "npm:@modelcontextprotocol/server-everything",
        verify: true,
        credentials: { EVERYTHING_TOKEN: "tok-NEVER-LOGGED-42" },
      });
      expect(status).toBe(202);
      const stream = await events(body.id);
      expect(stream).toContain('"step":"verifying","status":"started"');
      const done = await get(body.id);
      expect(done.status).toBe("succeeded");
      const m = done.manifest as Manifest;
      expect(m.verification?.status).toBe("verified");
      expect(m.tools.filter((t) => t.verified).map((t) => t.name)).toEqual(
        expect.arrayContaining(["echo", "get-sum", "get-tiny-image"]),
      );
      expect(m.tools.every((t) => t.verified && !t.declared)).toBe(true);
      expect(env.npm.requests.map((r) => r.pathname)).toContain(
        `/@modelcontextprotocol/server-everything/-/server-everything-${EVERYTHING_VERSION}.tgz`,
      );
      expect(asked.map((o) => o.env)).toEqual([{ EVERYTHING_TOKEN: "tok-NEVER-LOGGED-42" }]);
      const pids = startedPids(m.verification?.lifecycle ?? []);
      expect(pids).toHaveLength(1);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
      const log = readFileSync(join(srv.dataDir, "logs", "catwalk.log"), "utf8") + srv.lines.join("\n");
      expect(log).not.toContain("tok-NEVER-LOGGED-42");
      expect(JSON.stringify(done)).not.toContain("tok-NEVER-LOGGED-42");
    } finally {
      analysisServiceOf(srv.app).setPoolFactory(undefined);
    }
  });

  test("asking to verify a cached analysis verifies it in place", async () => {
    const first = await post({ source: "https://github.com/acme/notes-mcp" });
    await events(first.body.id);
    wireLocalRuntime();
    try {
      const again = await post({ source: "https://github.com/acme/notes-mcp", verify: true });
      expect(again.body.id).toBe(first.body.id);
      expect(again.body.cached).toBe(true);
      await events(first.body.id);
      const done = await get(first.body.id);
      expect(done.manifest?.verification).toMatchObject({
        status: "needs_credentials",
        missingCredentials: ["NOTES_DB_PATH"],
      });
      expect(done.warnings).toContain(
        "The server could not start without credentials (NOTES_DB_PATH); verify again with them.",
      );
      // The manifest's PyPI package at its exact version, run by its entry point.
      expect(readFileSync(uvxCalls, "utf8").trim().split("\n")).toEqual([
        "--from notes-mcp==0.3.1 python -c ",
        "--from notes-mcp==0.3.1 notes-mcp",
      ]);
    } finally {
      analysisServiceOf(srv.app).setPoolFactory(undefined);
    }
  });
});

describe("registry API", () => {
  test("searches the official registry and serves one server as manifest and credential schema", async () => {
    const res = await srv.api("/api/registry/servers?search=acme");
    const list = (await res.json()) as {
      servers: { name: string; packages: { identifier: string }[]; remotes: { url: string }[] }[];
      nextCursor: string | null;
    };
    expect(list.servers.map((s) => s.name)).toEqual(["io.github.acme/search", "io.github.acme/weather"]);
    expect(list.nextCursor).toBeNull();
    const one = await srv.api(`/api/registry/servers/${encodeURIComponent("io.github.acme/search")}`);
    expect(one.status).toBe(200);
    const body = (await one.json()) as { manifest: Manifest; credentialSchema: { required: string[] } };
    expect(body.manifest.analysis.mode).toBe("registry");
    expect(body.manifest.packages[0]?.environmentVariables[0]?.evidence).toEqual([
      { kind: "registry", registry: "mcp-registry" },
    ]);
    expect(body.credentialSchema.required).toEqual(["ACME_SEARCH_API_KEY"]);
    const missing = await srv.api(`/api/registry/servers/${encodeURIComponent("io.github.acme/nope")}`);
    expect(missing.status).toBe(404);
  });
});

describe("catwalk analyze and catwalk search", () => {
  const args = () => ["--server", srv.url, "--token", srv.token];

  test("analyze prints the manifest fields with evidence and confidence", async () => {
    const res = await cli(["analyze", "https://github.com/acme/mcp-servers/tree/main/src/github", ...args()]);
    expect(res.code).toBe(0);
    expect(res.out).toContain(
      "Package      npm @acme/mcp-server-github@0.9.0 (npx, bin mcp-server-github; exists, provenance match)",
    );
    expect(res.out).toMatch(
      / {2}GITHUB_PERSONAL_ACCESS_TOKEN {2}required, secret — the token the server calls the API with\. {2}\[97%; src\/github\/README\.md:21, src\/github\/src\/index\.ts:7/,
    );
    expect(res.out).toContain("Mode         deterministic");
    expect(res.out).toContain("No Anthropic API key is configured");
    expect(res.err).toContain("reading");
  });

  test("analyze --json prints the analysis; a failed analysis exits 7 with its reason", async () => {
    const ok = await cli(["analyze", "pypi:notes-mcp", "--json", ...args()]);
    expect(ok.code).toBe(0);
    const parsed = JSON.parse(ok.out) as View;
    expect(parsed.manifest?.packages[0]?.identifier.value).toBe("notes-mcp");
    expect(ok.err).toBe("");
    const bad = await cli(["analyze", "https://github.com/acme/strutil", ...args()]);
    expect(bad.code).toBe(7);
    expect(bad.err).toContain("error: github.com/acme/strutil does not look like an MCP server");
    const usage = await cli(["analyze", "left-pad", ...args()]);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain("hint: Accepted sources:");
    const verify = await cli(["analyze", "https://github.com/acme/weather-mcp", "--verify", ...args()]);
    expect(verify.code).toBe(7);
    expect(verify.err).toContain("Verification needs a local runtime");
  });

  test("search lists registry servers as a table or JSON", async () => {
    const table = await cli(["search", "acme", ...args()]);
    expect(table.code).toBe(0);
    expect(table.out.split("\n")[0]).toMatch(/^NAME\s+VERSION\s+RUNS AS\s+DESCRIPTION$/);
    expect(table.out).toContain("io.github.acme/search   2.1.0    npm:@acme/search-mcp");
    expect(table.out).toContain("remote:streamable-http");
    const json = await cli(["search", "weather", "--json", ...args()]);
    expect((JSON.parse(json.out) as { servers: { name: string }[] }).servers.map((s) => s.name)).toEqual([
      "io.github.acme/weather",
    ]);
    const none = await cli(["search", "zzz", ...args()]);
    expect(none.out).toBe("No server matches.");
  });
});
