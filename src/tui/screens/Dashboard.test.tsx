import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import chalk from "chalk";
import { deploy } from "../../../test/helpers/mcp.ts";
import { startTestServer, type TestServer } from "../../../test/helpers/server.ts";
import { apiFor, fixtureCommand, type Rendered, renderApp } from "../../../test/helpers/tui.tsx";
import type { TuiApi } from "../api.ts";
import { App } from "../app.tsx";

setDefaultTimeout(30_000);

let srv: TestServer;
let api: TuiApi;
let ui: Rendered | undefined;

beforeAll(async () => {
  srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
  api = apiFor(srv.url, srv.token);
  await deploy(srv, fixtureCommand("echo-server.ts", "echo"));
  const quiet = await deploy(srv, fixtureCommand("echo-server.ts", "quiet"));
  await srv.api(`/api/deployments/${quiet.id}/stop`, { method: "POST" });
  await srv.api("/api/deployments", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(fixtureCommand("crash-server.ts", "broken")),
  });
});
afterEach(() => {
  ui?.unmount();
  ui = undefined;
});
afterAll(() => srv.close());

const ESC = String.fromCharCode(27);
const lines = (f: string) => f.split("\n");
const row = (f: string, slug: string) => lines(f).find((l) => l.includes(` ${slug} `)) ?? "";

describe("dashboard", () => {
  test("shows every deployment with runtime, state (symbol and name), sessions, calls/min, errors and last activity", async () => {
    ui = renderApp({ api });
    const f = await ui.waitFor((x) => /broken .*(! crashed|✖ failed)/.test(x));
    expect(f).toMatch(/NAME\s+RUNTIME\s+STATE\s+SESS\s+CALLS\/M\s+ERRORS\s+LAST/);
    expect(row(f, "echo")).toMatch(/› echo\s+local\s+● running\s+0\s+0\s+0\s+never/);
    expect(row(f, "quiet")).toMatch(/quiet\s+local\s+■ stopped/);
    expect(f).toContain("3 deployments · 1 running");
    expect(f).toContain("● connected");
    expect(lines(f).length).toBeLessThanOrEqual(24);
    for (const l of lines(f)) expect(l.length).toBeLessThanOrEqual(80);
  });

  test("reads without colour: NO_COLOR keeps symbols and names and emits no colour codes", async () => {
    const level = chalk.level;
    chalk.level = 1;
    try {
      ui = renderApp({ api });
      await ui.waitFor("● running");
      expect(ui.raw()).toMatch(new RegExp(`${ESC}\\[32m\\s*● running`));
      ui.unmount();
      ui = renderApp({ api, noColor: true });
      const f = await ui.waitFor("● running");
      expect(f).toContain("■ stopped");
      expect(ui.raw()).not.toMatch(new RegExp(`${ESC}\\[(3[0-79]|9[0-7])m`));
    } finally {
      chalk.level = level;
    }
  });

  test("/ filters as typed, letters that are keys elsewhere (q, n, e) are text, and esc clears", async () => {
    let quit = false;
    ui = renderApp({
      api,
      onQuit: () => {
        quit = true;
      },
    });
    await ui.waitFor("quiet");
    await ui.press("/");
    await ui.type("quie");
    let f = await ui.waitFor("/ quie");
    expect(f).toContain("1 of 3 shown");
    expect(row(f, "quiet")).toContain("›");
    expect(f).not.toContain(" echo ");
    expect(quit).toBe(false);
    expect(f).not.toContain("New deployment");
    await ui.press("enter");
    f = await ui.waitFor((x) => x.includes("/ quie") && !x.includes("keep filter"));
    await ui.press("esc");
    f = await ui.waitFor((x) => x.includes(" echo ") && x.includes(" quiet "));
    expect(f).not.toContain("shown");
  });

  test("a burst of keys moves one row per key, and enter opens the selected deployment", async () => {
    ui = renderApp({ api });
    await ui.waitFor(" broken ");
    await ui.type("jj");
    const f = await ui.waitFor((x) => row(x, "broken").startsWith("›"));
    expect(row(f, "echo").startsWith("›")).toBe(false);
    await ui.type("k\r");
    await ui.waitFor((x) => x.includes("quiet  ■ stopped") && x.includes("[1 Overview]"));
    await ui.press("esc");
    const back = await ui.waitFor("3 deployments");
    expect(row(back, "quiet").startsWith("›")).toBe(true);
  });

  test("a state change shows up live, without a key press", async () => {
    ui = renderApp({ api });
    await ui.waitFor(/echo\s+local\s+● running/);
    await srv.api("/api/deployments/echo/stop", { method: "POST" });
    await ui.waitFor(/echo\s+local\s+■ stopped/);
    await srv.api("/api/deployments/echo/start", { method: "POST" });
    await ui.waitFor(/echo\s+local\s+● running/);
  });

  test("fits a smaller terminal after a resize: columns are dropped, rows truncated", async () => {
    ui = renderApp({ api });
    await ui.waitFor("● running");
    ui.rerender(<App api={api} size={{ columns: 60, rows: 12 }} />);
    const f = await ui.waitFor((x) => !x.includes("LAST") && x.includes("STATE"));
    expect(lines(f).length).toBeLessThanOrEqual(12);
    for (const l of lines(f)) expect(l.length).toBeLessThanOrEqual(60);
    expect(f).toContain("● running");
  });
});
