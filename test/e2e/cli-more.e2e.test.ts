/**
 * CLI commands around the deployment commands: status, metrics, analysis, registry search and
 * deploys from the official MCP registry, OAuth signing key rotation. Real server over HTTP,
 * wire-faithful fakes for GitHub, npm and the MCP registry.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ACME_SEARCH } from "../fakes/mcp-registry.ts";
import { type AnalysisEnv, startAnalysisEnv } from "../helpers/analysis-env.ts";
import { cli } from "../helpers/cli.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let fakes: AnalysisEnv;
let srv: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  fakes = await startAnalysisEnv();
  fakes.registry.add({
    name: "io.github.acme/weather",
    description: "Weather forecasts",
    version: "1.0.0",
    remotes: [{ type: "streamable-http", url: "https://weather.acme.example/mcp" }],
  });
  fakes.registry.add(ACME_SEARCH);
  srv = await startTestServer({ env: fakes.env() });
  env = { CATWALK_SERVER: srv.url, CATWALK_TOKEN: srv.token };
}, 60_000);
afterAll(async () => {
  await srv.close();
  await fakes.stop();
});

describe("more commands", () => {
  test("status says the server is up with its version and deployment counts", async () => {
    const res = await cli(["status", "--json"], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out)).toMatchObject({ status: "ok", server: srv.url, deployments: 0, sessions: 0 });
    expect((await cli(["status"], { CATWALK_SERVER: "http://127.0.0.1:1", CATWALK_TOKEN: "x" })).code).toBe(
      6,
    );
  });

  test("metrics prints Prometheus text", async () => {
    const res = await cli(["metrics"], env);
    expect(res.code).toBe(0);
    expect(res.out).toContain("# TYPE catwalk_process_resident_memory_bytes gauge");
  });

  test("a registry server with a remote deploys from its server.json without analysis", async () => {
    const res = await cli(["deploy", "registry:io.github.acme/weather", "--no-wait", "--json"], env);
    expect(res.code).toBe(0);
    const dep = JSON.parse(res.out) as { slug: string };
    expect(dep.slug).toBe("weather");
    const shown = JSON.parse((await cli(["show", "weather", "--json"], env)).out) as {
      source: string;
      runtime: string;
    };
    expect(shown).toMatchObject({ source: "https://weather.acme.example/mcp", runtime: "remote" });
  });

  test("a registry server's required credential is checked before anything is stored", async () => {
    const res = await cli(["deploy", "registry:io.github.acme/search", "--json"], env);
    expect(res.code).toBe(2);
    expect(res.err).toContain("ACME_SEARCH_API_KEY");
    const shown = await cli(["search", "--show", "io.github.acme/search", "--json"], env);
    const entry = JSON.parse(shown.out) as { credentialSchema: { required: string[] } };
    expect(entry.credentialSchema.required).toEqual(["ACME_SEARCH_API_KEY"]);
  });

  test("analysis ls, schema, validate and server-json read stored analyses", async () => {
    const started = await cli(["analyze", "https://github.com/acme/weather-mcp", "--json"], env);
    expect(started.code).toBe(0);
    const id = (JSON.parse(started.out) as { id: string }).id;
    expect((await cli(["analysis", "ls"], env)).out).toContain(id);
    const schema = JSON.parse((await cli(["analysis", "schema", id], env)).out) as { required: string[] };
    expect(schema.required).toContain("OPENWEATHER_API_KEY");
    const bad = await cli(["analysis", "validate", id, "UNKNOWN_THING=1"], env);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain("OPENWEATHER_API_KEY: missing");
    const good = await cli(["analysis", "validate", id, "OPENWEATHER_API_KEY=abc123"], env);
    expect(good.code).toBe(0);
    const exported = JSON.parse((await cli(["analysis", "server-json", id], env)).out) as {
      packages: { identifier: string }[];
    };
    expect(exported.packages[0]?.identifier).toBe("@acme/weather-mcp");
  });

  test("keys rotate-signing starts signing OAuth tokens with a new key", async () => {
    const res = await cli(["keys", "rotate-signing", "--json"], env);
    expect(res.code).toBe(0);
    expect((JSON.parse(res.out) as { kid: string }).kid).toStartWith("key_");
  });
});
