import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Deployed, deploy } from "../../../test/helpers/mcp.ts";
import { startTestServer, type TestServer } from "../../../test/helpers/server.ts";
import { apiFor, fixtureCommand, type Rendered, renderApp } from "../../../test/helpers/tui.tsx";
import type { TuiApi } from "../api.ts";

setDefaultTimeout(30_000);

let srv: TestServer;
let api: TuiApi;
let echo: Deployed;
let ui: Rendered | undefined;

beforeAll(async () => {
  srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
  api = apiFor(srv.url, srv.token);
  echo = await deploy(srv, fixtureCommand("echo-server.ts", "echo"));
});
afterEach(() => {
  ui?.unmount();
  ui = undefined;
});
afterAll(() => srv.close());

const restart = () => srv.api(`/api/deployments/${echo.id}/restart`, { method: "POST" });
const bodyLines = (f: string) => f.split("\n").slice(2, -2);

describe("logs", () => {
  test("follow new lines live, pause (the view stays, new lines are counted), search, and follow again", async () => {
    // 10 rows leave 6 for log lines, so a restart's lines scroll the view.
    ui = renderApp({
      api,
      size: { columns: 80, rows: 10 },
      initial: [{ name: "logs", id: echo.id, slug: echo.slug }],
    });
    let f = await ui.waitFor("▸ state starting -> running");
    expect(f).toContain("echo log · ▸ lifecycle │ stderr");
    expect(f).toMatch(/● following · \d+ lines/);
    await restart();
    f = await ui.waitFor(
      (x) => x.includes("stopped -> installing") && bodyLines(x).at(-1)?.includes("-> running") === true,
    );
    await ui.press(" ");
    const paused = await ui.waitFor("‖ paused");
    const view = bodyLines(paused);
    await restart();
    f = await ui.waitFor(/‖ paused · \d+ new/);
    expect(bodyLines(f)).toEqual(view);
    await ui.press("/");
    await ui.type("ready pid");
    await ui.press("enter");
    f = await ui.waitFor(/\d+ of \d+ lines {2}\/ ready pid/);
    for (const l of bodyLines(f).filter((x) => x.trim())) expect(l).toContain("ready pid");
    await ui.press("esc");
    await ui.waitFor((x) => !x.includes("/ ready pid"));
    await ui.press("G");
    f = await ui.waitFor("● following");
    expect(bodyLines(f).at(-1)).toContain("-> running");
  });
});

describe("events", () => {
  test("shows the history, then new events live, with the deployment's name and what happened", async () => {
    ui = renderApp({ api, initial: [{ name: "dashboard" }, { name: "events" }] });
    let f = await ui.waitFor("deployment.created");
    expect(f).toMatch(/deployment\.created\s+echo\s+command:/);
    expect(f).toMatch(/deployment\.state\s+echo\s+starting → running/);
    await srv.api(`/api/deployments/${echo.id}/stop`, { method: "POST" });
    f = await ui.waitFor(/deployment\.state\s+echo\s+running → stopped/);
    await srv.api(`/api/deployments/${echo.id}/start`, { method: "POST" });
    await ui.waitFor(/deployment\.state\s+echo\s+\S+ → running[\s\S]*● following/);
    await ui.press("/");
    await ui.type("stopped");
    f = await ui.waitFor(/\d+ of \d+ lines {2}\/ stopped/);
    for (const l of bodyLines(f).filter((x) => x.trim())) expect(l).toContain("stopped");
  });

  test("from a deployment, e shows only its events", async () => {
    const other = await deploy(srv, fixtureCommand("echo-server.ts", "other"));
    ui = renderApp({ api, initial: [{ name: "dashboard" }, { name: "detail", id: echo.id }] });
    await ui.waitFor("echo  ●");
    await ui.press("e");
    const f = await ui.waitFor(/Events of echo[\s\S]*token\.created\s+echo/);
    expect(f).not.toMatch(/\s+other\s+/);
    expect(other.slug).toBe("other");
  });
});
