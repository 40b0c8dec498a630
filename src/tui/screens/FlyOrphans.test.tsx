import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type FlyWorld, startFlyWorld } from "../../../test/helpers/fly.ts";
import { startTestServer, type TestServer } from "../../../test/helpers/server.ts";
import { apiFor, type Rendered, renderApp } from "../../../test/helpers/tui.tsx";

setDefaultTimeout(30_000);

let world: FlyWorld;
let srv: TestServer;
let ui: Rendered | undefined;

beforeAll(async () => {
  world = await startFlyWorld();
  srv = await startTestServer({ env: world.env });
});
afterEach(() => {
  ui?.unmount();
  ui = undefined;
});
afterAll(async () => {
  await srv.close();
  await world.close();
});

/** An app with the server's prefix that no deployment claims, made behind Catwalk's back. */
async function strayApp(name: string): Promise<void> {
  const res = await fetch(`${world.fake.url}/v1/apps`, {
    method: "POST",
    headers: { authorization: `Bearer ${world.fake.token}`, "content-type": "application/json" },
    body: JSON.stringify({ app_name: name, org_slug: "personal" }),
  });
  expect(res.status).toBe(201);
}

describe("Fly orphans", () => {
  test("F on the dashboard lists the apps no deployment claims; D deletes them after asking, n keeps them", async () => {
    await strayApp("catwalk-stray-aaaaaa");
    await strayApp("catwalk-stray-bbbbbb");
    ui = renderApp({ api: apiFor(srv.url, srv.token) });
    await ui.waitFor("No deployments yet");
    await ui.press("F");
    let f = await ui.waitFor("catwalk-stray-bbbbbb");
    expect(f).toContain("Fly apps no deployment claims");
    expect(f).toContain("catwalk-stray-aaaaaa");
    await ui.press("D");
    await ui.waitFor("Delete 2 apps on Fly, with their Machines, secrets and IPs?");
    await ui.press("n");
    await ui.waitFor("cancelled");
    expect(world.fake.hasApp("catwalk-stray-aaaaaa")).toBe(true);
    await ui.press("D");
    await ui.waitFor("Delete 2 apps on Fly");
    await ui.press("y");
    f = await ui.waitFor("✔ deleted 2 apps");
    await ui.waitFor("No orphaned Fly apps");
    expect(world.fake.hasApp("catwalk-stray-aaaaaa")).toBe(false);
    expect(world.fake.hasApp("catwalk-stray-bbbbbb")).toBe(false);
    await ui.press("esc");
    await ui.waitFor("No deployments yet");
  });

  test("without a Fly token the screen says what is missing", async () => {
    const bare = await startTestServer();
    try {
      ui = renderApp({
        api: apiFor(bare.url, bare.token),
        initial: [{ name: "dashboard" }, { name: "fly" }],
      });
      const f = await ui.waitFor("✖");
      expect(f).toMatch(/fly\.apiToken|CATWALK_FLY_API_TOKEN/);
    } finally {
      await bare.close();
    }
  });
});
