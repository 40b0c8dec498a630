import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startFakeRemote } from "../../../test/helpers/fake-remote.ts";
import { connectLegacy, type Deployed, deploy, initializeBody, rawPost } from "../../../test/helpers/mcp.ts";
import { connectWithCode } from "../../../test/helpers/oauth.ts";
import { until } from "../../../test/helpers/proc.ts";
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

const open = (tab?: "tokens" | "connect" | "clients") =>
  renderApp({
    api,
    initial: [{ name: "dashboard" }, { name: "detail", id: echo.id, ...(tab ? { tab } : {}) }],
  });

/** Whether a deployment token opens an MCP session at the gateway. */
async function accepted(token: string): Promise<boolean> {
  const res = await rawPost(echo.url, initializeBody(), { authorization: `Bearer ${token}` });
  await res.body?.cancel();
  return res.status === 200;
}

/** Moves the selection down until the row matching `row` is selected. */
async function select(r: Rendered, row: RegExp): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if (
      r
        .frame()
        .split("\n")
        .some((l) => l.startsWith("›") && row.test(l))
    )
      return;
    await r.press("j");
  }
  throw new Error(`no row ${row} to select in:\n${r.frame()}`);
}

const TOKEN = /cwdep_[A-Za-z0-9_-]{20,}/;

describe("deployment detail", () => {
  test("the overview shows the endpoint, recent calls with latency and outcome, and the last log lines", async () => {
    const mcp = await connectLegacy(echo);
    await mcp.client.callTool({ name: "echo", arguments: { text: "hi" } });
    await mcp.client.listResources().catch(() => undefined);
    await mcp.close();
    ui = open();
    const f = await ui.waitFor(
      (x) => x.includes("resources/list") && x.includes("tools/call echo") && x.includes("-> running"),
    );
    expect(f).toContain(`Endpoint   ${echo.url}`);
    expect(f).toContain("echo  ● running");
    expect(f).toMatch(/tools\/call echo\s+\d+(\.\d)? ms\s+✔ ok/);
    expect(f).toMatch(/resources\/list\s+\d+(\.\d)? ms\s+✖ -32601/);
    expect(f).toContain("Last log lines");
    expect(f).toContain("▸ state starting -> running");
    expect(f).toMatch(/Activity\s+\d+ sessions? · [2-9]\d* calls/);
  });

  test("v sets a variable with its value masked, u unsets it; the values never show", async () => {
    ui = open();
    await ui.waitFor("v set variable");
    await ui.press("v");
    await ui.type("API_KEY\r");
    await ui.waitFor("Value of API_KEY (ctrl-r shows):");
    await ui.type("s3cret-value");
    let f = await ui.waitFor("••••••••••••");
    expect(f).not.toContain("s3cret-value");
    await ui.press("enter");
    f = await ui.waitFor(
      (x) => x.includes("✔ API_KEY set; echo restarts") && /Env\s+API_KEY \(secret\)/.test(x),
    );
    expect(f).not.toContain("s3cret-value");
    await ui.waitFor("echo  ● running");
    await ui.press("u");
    await ui.type("API_KEY\r");
    await ui.waitFor(/Env\s+none/);
  });

  test("A edits the arguments (prefilled), M switches the session mode after asking, V refuses a deployment without a package", async () => {
    const other = await deploy(srv, fixtureCommand("echo-server.ts", "changing"));
    ui = renderApp({ api, initial: [{ name: "dashboard" }, { name: "detail", id: other.id }] });
    await ui.waitFor(/changing {2}● running/);
    await ui.press("V");
    await ui.waitFor("✖ changing runs no npm or PyPI package, so it has no version to change.");

    await ui.press("A");
    // The command's whole argument list (the fixture's path), with the cursor at its end; a second
    // argument is the server name the fixture reports.
    const f = await ui.waitFor("Arguments: ");
    expect(f).toMatch(/Arguments: \S*echo-server\.ts\n/);
    await ui.type(" renamed\r");
    await ui.waitFor("✔ changing: 2 arguments; it restarts");
    const changed = await api.deployment(other.id);
    expect(changed.upstream.args?.at(-1)).toBe("renamed");
    // The restarted server reports the new name.
    await until(
      async () => (await api.logs(other.id, 100)).some((l) => l.line.includes("(renamed 1.0.0")),
      15_000,
      "the restarted server's ready line",
    );

    await ui.waitFor(/changing {2}● running/);
    await ui.press("M");
    await ui.waitFor("Switch changing to shared sessions? It restarts and its sessions end.");
    await ui.press("y");
    await ui.waitFor("✔ changing uses shared sessions");
    expect((await api.deployment(other.id)).sessionMode).toBe("shared");
    await ui.waitFor(/Runtime\s+local · shared sessions/);
  });

  test("on a remote deployment v sets a header it sends upstream, masked, and the remote receives it", async () => {
    const remote = startFakeRemote();
    try {
      const keyed = await deploy(srv, { source: remote.url, name: "remote-keyed" });
      ui = renderApp({ api, initial: [{ name: "dashboard" }, { name: "detail", id: keyed.id }] });
      await ui.waitFor(/Env\s+no headers/);
      expect(ui.frame()).toContain("v set header");
      await ui.press("v");
      await ui.type("X-Api-Key\r");
      await ui.waitFor("Value of X-Api-Key (ctrl-r shows):");
      await ui.type("hdr-secret-4e2");
      expect(await ui.waitFor("••••••••••••••")).not.toContain("hdr-secret-4e2");
      await ui.press("enter");
      const f = await ui.waitFor(
        (x) =>
          x.includes("✔ header X-Api-Key set; remote-keyed restarts") && /Env\s+X-Api-Key \(header\)/.test(x),
      );
      expect(f).not.toContain("hdr-secret-4e2");
      await until(
        () => remote.lastInitializeHeaders()["x-api-key"] === "hdr-secret-4e2",
        15_000,
        "the remote to be initialized with the header",
      );
    } finally {
      await remote.stop();
    }
  });

  test("a new token is shown once with a copy hint, works at the gateway, and is gone when dismissed", async () => {
    ui = open();
    await ui.waitFor("[1 Overview]");
    await ui.press("t");
    await ui.waitFor(/default\s+.*active/);
    await ui.press("c");
    await ui.waitFor("New token name:");
    await ui.type("laptop\r");
    const f = await ui.waitFor('New token "laptop" for echo — shown only once');
    expect(f).toContain("y copies it to your clipboard");
    const token = TOKEN.exec(f)?.[0] as string;
    expect(await accepted(token)).toBe(true);
    await ui.press("enter");
    const after = await ui.waitFor((x) => !x.includes("shown only once") && x.includes("laptop"));
    expect(after).not.toContain(token);
    expect(after).toMatch(/laptop\s+\S+ ago\s+\S+( ago)?\s+active/);
  });

  test("rotating asks first; the new value is shown once and the old one stops working", async () => {
    const created = (await (
      await srv.api(`/api/deployments/${echo.id}/tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "ci" }),
      })
    ).json()) as { token: string };
    ui = open("tokens");
    await ui.waitFor(/ci\s+\S+ ago/);
    await select(ui, / ci /);
    await ui.press("r");
    await ui.waitFor("Rotate token ci? The old value stops working at once. y/N");
    await ui.press("n");
    await ui.waitFor("✖ cancelled");
    expect(await accepted(created.token)).toBe(true);
    await ui.press("r", "y");
    const f = await ui.waitFor('New token "ci" for echo — shown only once');
    const rotated = TOKEN.exec(f)?.[0] as string;
    expect(rotated).not.toBe(created.token);
    expect(await accepted(rotated)).toBe(true);
    expect(await accepted(created.token)).toBe(false);
  });

  test("revoking a token asks first, then marks it revoked", async () => {
    await srv.api(`/api/deployments/${echo.id}/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "old-one" }),
    });
    ui = open("tokens");
    await ui.waitFor(" old-one ");
    await select(ui, / old-one /);
    await ui.press("x");
    await ui.waitFor("Revoke token old-one? Clients using it are cut off. y/N");
    await ui.press("y");
    await ui.waitFor("✔ revoked old-one");
    await ui.waitFor(/old-one\s+.*revoked \d+s ago/);
  });

  test("the connect tab shows the Claude Code and Claude Desktop snippets with a token placeholder", async () => {
    ui = open("connect");
    const f = await ui.waitFor("Claude Desktop");
    const squeeze = (s: string) => s.replace(/\s+/g, "");
    const flat = squeeze(f);
    expect(flat).toContain(
      squeeze(`claude mcp add --transport http echo ${echo.url} --header 'Authorization: Bearer <TOKEN>'`),
    );
    expect(flat).toContain('{"mcpServers":{"echo":{"command":"npx","args":["-y","mcp-remote"');
    expect(f).toContain("y copy Claude Code command");
  });

  test("OAuth: a one-time connect code, the client it approved is listed, and revoking asks first", async () => {
    ui = open("clients");
    await ui.waitFor("No OAuth clients connected");
    await ui.press("c");
    const f = await ui.waitFor(/Connect code [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
    expect(f.replace(/\s+/g, "")).toContain(echo.url);
    const code = /[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(f)?.[0] as string;
    await connectWithCode(srv.url, code, "TUI test client");
    await ui.press("enter");
    await ui.waitFor(/TUI test client\s+dcr\s+127\.0\.0\.1:9/);
    await ui.press("x");
    await ui.waitFor("Revoke every grant of TUI test client? It has to be approved again. y/N");
    await ui.press("y");
    await ui.waitFor("✔ revoked 1 grant of TUI test client");
  });

  test("stop and start ask nothing, delete asks first and returns to the dashboard", async () => {
    const doomed = await deploy(srv, fixtureCommand("echo-server.ts", "doomed"));
    ui = renderApp({ api, initial: [{ name: "dashboard" }, { name: "detail", id: doomed.id }] });
    await ui.waitFor("doomed  ● running");
    await ui.press("X");
    await ui.waitFor("doomed  ■ stopped");
    await ui.press("S");
    await ui.waitFor("doomed  ● running");
    await ui.press("D");
    await ui.waitFor("Delete doomed? Its credentials, tokens and sessions go with it. y/N");
    await ui.press("esc");
    await ui.waitFor("✖ cancelled");
    await ui.press("D", "y");
    await ui.waitFor((x) => x.includes("Deployments") && x.includes(" echo ") && !x.includes("doomed"));
    expect((await srv.api(`/api/deployments/${doomed.id}`)).status).toBe(404);
  });
});
