import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { freePort } from "../../test/helpers/everything.ts";
import { startTestServer, type TestServer, tempDir } from "../../test/helpers/server.ts";
import { apiFor, type Rendered, renderApp } from "../../test/helpers/tui.tsx";
import { HELP } from "./screens/Help.tsx";

setDefaultTimeout(30_000);

let ui: Rendered | undefined;
afterEach(() => {
  ui?.unmount();
  ui = undefined;
});

describe("the shell", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(() => srv.close());

  test("? shows every key in one 80x24 screen; any other key closes it", async () => {
    ui = renderApp({ api: apiFor(srv.url, srv.token) });
    await ui.waitFor("No deployments yet");
    await ui.press("?");
    const f = await ui.waitFor("esc or ? closes the help");
    expect(f.split("\n").length).toBeLessThanOrEqual(24);
    expect(f).not.toContain("↑↓ scroll");
    for (const [section, keys] of HELP) {
      expect(f).toContain(section.toUpperCase());
      for (const [key, what] of keys) expect(f).toContain(`${key.padEnd(9)} ${what}`);
    }
    for (const l of f.split("\n")) expect(l.length).toBeLessThanOrEqual(80);
    await ui.press("esc");
    await ui.waitFor("No deployments yet");
  });

  test("q quits from any screen but not while typing; ctrl-c always quits", async () => {
    let quits = 0;
    ui = renderApp({ api: apiFor(srv.url, srv.token), onQuit: () => quits++ });
    await ui.waitFor("No deployments yet");
    await ui.press("n");
    await ui.waitFor("[Source]");
    await ui.type("q");
    await ui.waitFor("Source q");
    expect(quits).toBe(0);
    await ui.press("ctrl-c");
    await Bun.sleep(50);
    expect(quits).toBe(1);
    ui.unmount();
    ui = renderApp({ api: apiFor(srv.url, srv.token), onQuit: () => quits++ });
    await ui.waitFor("No deployments yet");
    await ui.press("q");
    await Bun.sleep(50);
    expect(quits).toBe(2);
  });

  test("a long paste arrives intact, one character per key, in order", async () => {
    ui = renderApp({ api: apiFor(srv.url, srv.token), initial: [{ name: "dashboard" }, { name: "wizard" }] });
    await ui.waitFor("[Source]");
    const source = "https://github.com/modelcontextprotocol/servers/tree/main/src/x";
    await ui.type(source);
    await ui.waitFor(`Source ${source}`);
  });

  test("the header names the server; a refused token is a banner, not a crash", async () => {
    ui = renderApp({ api: apiFor(srv.url, "cwadm_wrong") });
    const f = await ui.waitFor("✖ token refused");
    expect(f).toContain(`catwalk  ${srv.url}`);
    expect(f).toContain("⚠ ");
    expect(f).toContain("The admin token is not valid.");
  });
});

describe("when the server goes away", () => {
  test("a banner counts down to the next retry, and everything reconnects when it is back", async () => {
    const dataDir = tempDir();
    const port = freePort();
    let srv = await startTestServer({ dataDir, flags: { port } });
    await srv.api("/api/deployments", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "http://127.0.0.1:9/mcp", name: "far-away" }),
    });
    ui = renderApp({ api: apiFor(srv.url, srv.token) });
    await ui.waitFor("far-away");
    await srv.close();
    let f = await ui.waitFor("⚠ server unreachable — retrying in");
    expect(f).toContain("✖ unreachable");
    expect(f).toContain("far-away");
    await ui.press("j", "k", "?");
    await ui.waitFor("EVERYWHERE");
    await ui.press("esc");
    srv = await startTestServer({ dataDir, flags: { port } });
    try {
      f = await ui.waitFor((x) => x.includes("● connected") && !x.includes("unreachable"));
      await srv.api("/api/deployments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ source: "http://127.0.0.1:9/other", name: "after-outage" }),
      });
      await ui.waitFor("after-outage");
    } finally {
      await srv.close();
    }
  });
});
