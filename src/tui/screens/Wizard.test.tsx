import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type FakeNpm, startFakeNpm } from "../../../test/fakes/npm-registry.ts";
import { type AnalysisEnv, startAnalysisEnv } from "../../../test/helpers/analysis-env.ts";
import { type FakeRemote, startFakeRemote } from "../../../test/helpers/fake-remote.ts";
import { initializeBody, rawPost } from "../../../test/helpers/mcp.ts";
import { startTestServer, type TestServer } from "../../../test/helpers/server.ts";
import { apiFor, type Rendered, renderApp } from "../../../test/helpers/tui.tsx";

setDefaultTimeout(30_000);

let ui: Rendered | undefined;
afterEach(() => {
  ui?.unmount();
  ui = undefined;
});

const TOKEN = /cwdep_[A-Za-z0-9_-]{20,}/;

describe("new deployment wizard, analysed GitHub-backed package with credentials", () => {
  let env: AnalysisEnv;
  let srv: TestServer;
  beforeAll(async () => {
    env = await startAnalysisEnv();
    srv = await startTestServer({ env: env.env() });
  });
  afterAll(async () => {
    await srv.close();
    await env.stop();
  });

  const start = async (source: string) => {
    ui = renderApp({ api: apiFor(srv.url, srv.token), initial: [{ name: "dashboard" }, { name: "wizard" }] });
    await ui.waitFor("[Source]");
    await ui.type(source);
    await ui.press("enter");
    return ui;
  };

  test("shows the analysis steps live, then the manifest with each field's evidence and confidence", async () => {
    const r = await start("npm:@acme/weather-mcp");
    const f = await r.waitFor(/Deploy as\s+weather-mcp/);
    const seen = r.frames().join("\n");
    expect(seen).toContain("Analysing npm:@acme/weather-mcp");
    expect(seen).toMatch(/✔ Fetching\s+acme\/weather-mcp at [0-9a-f]{7}/);
    expect(seen).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (Reading|Validating)/);
    expect(seen).toContain("– Asking Claude No Anthropic API key");
    expect(f).toContain("@acme/weather-mcp@1.4.2");
    expect(f).toMatch(/› Deploy as\s+weather-mcp\s+edit/);
    expect(f).toMatch(/Package\s+npm @acme\/weather-mcp\s+\d+%/);
    expect(f).toMatch(/OPENWEATHER_API_KEY \*\s+required, secret · Your OpenWeatherMap.*99%/);
    expect(f).toContain("The deployment's name: lowercase letters, digits and dashes.");
    while (!/› OPENWEATHER_API_KEY/.test(r.frame())) await r.press("j");
    const ev = await r.waitFor("evidence · OPENWEATHER_API_KEY *");
    expect(ev).toContain("confidence 99%");
    expect(ev).toContain("· README.md:23");
    expect(ev).toContain("· src/index.ts:7");
    await r.press("w");
    await r.waitFor("─ warnings");
  });

  test("the credential form marks required fields, masks secrets, checks values inline and deploys with them", async () => {
    const r = await start("npm:@acme/weather-mcp@1.3.0");
    await r.waitFor(/Deploy as\s+weather-mcp/);
    await r.press("a");
    let f = await r.waitFor("[Credentials]");
    expect(f).toMatch(/› OPENWEATHER_API_KEY \*\s+required/);
    expect(f).toContain("Your OpenWeatherMap API key (free tier works) · secret");
    expect(f).toMatch(/WEATHER_CACHE_TTL\s+600/);
    expect(f).toMatch(/WEATHER_UNITS\s+metric/);
    await r.press("tab");
    f = await r.waitFor("✖ required");
    expect(f).toMatch(/OPENWEATHER_API_KEY \*[\s\S]*✖ required/);
    await r.press("shift-tab");
    await r.type("sk-secret-123");
    f = await r.waitFor("•••••••••••••");
    expect(f).not.toContain("sk-secret-123");
    expect(f).not.toContain("✖ required");
    await r.press("ctrl-r");
    await r.waitFor("sk-secret-123");
    await r.press("ctrl-r");
    await r.waitFor((x) => !x.includes("sk-secret-123"));
    await r.press("down", "ctrl-u");
    await r.type("ten");
    await r.press("down");
    await r.waitFor("✖ must be a number");
    await r.press("up", "ctrl-u");
    await r.type("60");
    await r.press("down", "down", "enter");
    f = await r.waitFor((x) => x.includes("[Deploy]") && x.includes("✖ failed"));
    expect(f).toContain("Token for weather-mcp — shown only once");
    expect(f).toMatch(TOKEN);
    expect(f).not.toContain("sk-secret-123");
    const dep = (await (await srv.api("/api/deployments/weather-mcp")).json()) as {
      env: { name: string; secret: boolean }[];
    };
    expect(dep.env).toEqual([
      { name: "OPENWEATHER_API_KEY", secret: true },
      { name: "WEATHER_CACHE_TTL", secret: false },
      { name: "WEATHER_UNITS", secret: false },
    ]);
  });

  test("a source that cannot be analysed shows why, and can go back", async () => {
    const r = await start("npm:@acme/does-not-exist");
    const f = await r.waitFor("✖ ");
    expect(f).toContain("Analysing npm:@acme/does-not-exist");
    expect(f).toContain("d deploy without analysis");
    await r.press("esc");
    await r.waitFor("[Source]");
  });

  test("a source that is not one is refused inline", async () => {
    const r = await start("ftp://example.com/x");
    await r.waitFor("✖ Not a source: ftp://example.com/x");
  });
});

describe("new deployment wizard, end to end with a registry-only package", () => {
  let npm: FakeNpm;
  let srv: TestServer;
  beforeAll(async () => {
    npm = await startFakeNpm([
      {
        name: "@fixture/hello-mcp",
        versions: [
          {
            version: "1.0.0",
            mcpName: "io.github.fixture/hello",
            description: "Says hello over MCP",
            bin: { "hello-mcp": "server.js" },
          },
        ],
      },
    ]);
    srv = await startTestServer({ env: { CATWALK_LOCAL_NPM_REGISTRY_URL: npm.url } });
  });
  afterAll(async () => {
    await srv.close();
    await npm.stop();
  });

  test("edits name, session mode and arguments, deploys, follows installing and starting, and shows the endpoint and token", async () => {
    ui = renderApp({ api: apiFor(srv.url, srv.token) });
    await ui.waitFor("No deployments yet");
    await ui.press("n");
    await ui.waitFor("[Source]");
    await ui.type("npm:@fixture/hello-mcp\r");
    let f = await ui.waitFor("[Manifest]");
    expect(f).toMatch(/Description\s+Says hello over MCP/);
    expect(f).toContain("! 2 warnings: The package declares no GitHub repository");
    await ui.press("enter", "ctrl-u");
    await ui.type("hello");
    await ui.press("enter", "down", "right", "down", "enter");
    await ui.type('--greeting "hi there"\r');
    f = await ui.waitFor(/Extra args\s+--greeting "hi there"/);
    expect(f).toMatch(/Deploy as\s+hello\s/);
    expect(f).toMatch(/Sessions\s+‹ shared ›/);
    await ui.press("a");
    f = await ui.waitFor((x) => x.includes("● running") && x.includes("Claude Code:"), 60_000);
    const seen = ui.frames().join("\n");
    expect(seen).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (installing|starting)/);
    expect(f).toMatch(/✔ installing\s+npm:@fixture\/hello-mcp@1\.0\.0/);
    expect(f).toContain(`Endpoint ${srv.url}/mcp/hello`);
    const token = TOKEN.exec(f)?.[0] as string;
    expect(f.replace(/\s+/g, "")).toContain(`--header'Authorization:Bearer${token}'`);
    const res = await rawPost(`${srv.url}/mcp/hello`, initializeBody(), { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const dep = (await (await srv.api("/api/deployments/hello")).json()) as {
      sessionMode: string;
      source: string;
    };
    expect(dep.sessionMode).toBe("shared");
    await ui.press("esc");
    f = await ui.waitFor(/hello\s+local\s+● running/);
    expect(f).not.toContain(token);
  });
});

describe("new deployment wizard, a remote server that needs a header", () => {
  let srv: TestServer;
  let remote: FakeRemote;
  beforeAll(async () => {
    remote = startFakeRemote();
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.close();
    await remote.stop();
  });

  test("the header name is typed plainly, its value masked; the remote gets it and the value never shows", async () => {
    ui = renderApp({ api: apiFor(srv.url, srv.token), initial: [{ name: "dashboard" }, { name: "wizard" }] });
    await ui.waitFor("[Source]");
    await ui.type(`${remote.url}\r`);
    let f = await ui.waitFor("[Manifest]");
    expect(f).toMatch(/Header\s+\(none\)/);
    expect(f).not.toContain("Extra args");
    await ui.press("down", "down");
    await ui.waitFor("A header the remote server needs");
    await ui.press("enter");
    await ui.type("X-Api-Key\r");
    // A name without a value is refused when deploying.
    await ui.press("a");
    await ui.waitFor("✖ Give X-Api-Key a value, or clear the header name.");
    await ui.press("enter");
    await ui.type("wiz-secret-83b0");
    f = await ui.waitFor("•••••••••••••••");
    expect(f).not.toContain("wiz-secret-83b0");
    await ui.press("enter");
    f = await ui.waitFor(/Header value\s+•+/);
    expect(f).not.toContain("wiz-secret-83b0");
    await ui.press("a");
    f = await ui.waitFor((x) => x.includes("● running") && x.includes("Claude Code:"), 60_000);
    expect(ui.frames().join("\n")).not.toContain("wiz-secret-83b0");
    expect(remote.lastInitializeHeaders()["x-api-key"]).toBe("wiz-secret-83b0");
  });
});
