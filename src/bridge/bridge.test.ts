import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type FakeNpm, startFakeNpm } from "../../test/fakes/npm-registry.ts";
import { expectRunnerServesPackage, RUNNER_SECRET } from "../../test/helpers/bridge.ts";
import { initializeBody, rawPost } from "../../test/helpers/mcp.ts";
import { tempDir } from "../../test/helpers/server.ts";
import { FIXTURES } from "../../test/helpers/upstream.ts";
import { loadConfig } from "../config/config.ts";
import { hostEnv } from "../config/env.ts";
import { createLogger } from "../log/log.ts";
import { type Bridge, bridgeSecret, bridgeSpec, childEnv, startBridge } from "./bridge.ts";

const SECRET = RUNNER_SECRET;
const ECHO = join(FIXTURES, "echo-server.ts");
const INDEX = join(import.meta.dir, "..", "index.ts");

function bridge(command: string[], env: Record<string, string> = {}): Bridge {
  const dataDir = tempDir("catwalk-bridge-");
  const { config } = loadConfig({ env: {}, flags: { dataDir, port: 0 } });
  return startBridge({
    config,
    secret: SECRET,
    spec: bridgeSpec(undefined, undefined, command),
    env,
    hostPath: hostEnv().path,
    log: createLogger({ write: null }),
  });
}

async function healthy(b: Bridge, timeoutMs = 15_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${b.url}/healthz`);
    if (res.status === 200 || Date.now() > deadline) return res;
    await Bun.sleep(50);
  }
}

async function connect(url: string, secret = SECRET) {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${secret}` } },
  });
  const client = new Client({ name: "bridge-test", version: "1.0.0" });
  await client.connect(transport);
  return {
    client,
    call: async (name: string, args: Record<string, unknown> = {}) => {
      const r = (await client.callTool({ name, arguments: args })) as { content: { text: string }[] };
      return r.content[0]?.text ?? "";
    },
    close: async () => {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

describe("catwalk bridge", () => {
  let b: Bridge;
  beforeAll(async () => {
    b = bridge([process.execPath, ECHO], { NOTES_TOKEN: "sk-notes", FLY_REGION: "ams" });
    expect((await healthy(b)).status).toBe(200);
  });
  afterAll(() => b.stop());

  test("serves the stdio server at /mcp to a client that has the secret, one child per session", async () => {
    const a = await connect(b.url);
    const c = await connect(b.url);
    expect(await a.call("echo", { text: "over http" })).toBe("over http");
    const pids = [await a.call("pid"), await c.call("pid")];
    expect(pids[0]).not.toBe(pids[1]);
    expect(await a.call("env", { name: "NOTES_TOKEN" })).toBe("sk-notes");
    expect(await a.call("env", { name: "FLY_REGION" })).toBe("ams");
    await a.close();
    await c.close();
  });

  test("refuses /mcp without the secret, with a wrong one, and from a browser Origin", async () => {
    const missing = await rawPost(`${b.url}/mcp`, initializeBody());
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toContain("Bearer");
    expect(((await missing.json()) as { error: { message: string } }).error.message).toContain(
      "Unauthorized",
    );
    const wrong = await rawPost(`${b.url}/mcp`, initializeBody(), { authorization: `Bearer ${SECRET}x` });
    expect(wrong.status).toBe(401);
    const browser = await rawPost(`${b.url}/mcp`, initializeBody(), {
      authorization: `Bearer ${SECRET}`,
      origin: "https://evil.example",
    });
    expect(browser.status).toBe(403);
    expect((await fetch(`${b.url}/elsewhere`)).status).toBe(404);
  });

  test("the health endpoint needs no secret and reports a server that cannot start as 503", async () => {
    const res = await fetch(`${b.url}/healthz`);
    expect(await res.json()).toEqual({ status: "ok", state: "running" });
    const broken = bridge(["/nonexistent/mcp-server"]);
    try {
      const deadline = Date.now() + 10_000;
      let body: { status?: string; state?: string } = {};
      let status = 0;
      while (body.state !== "failed" && Date.now() < deadline) {
        const r = await fetch(`${broken.url}/healthz`);
        status = r.status;
        body = (await r.json()) as { state: string };
        await Bun.sleep(50);
      }
      expect(status).toBe(503);
      expect(body).toEqual({ status: "unavailable", state: "failed" });
    } finally {
      await broken.stop();
    }
  });
});

describe("bridge inputs", () => {
  test("a package must pin an exact version; a command is the whole argument list", () => {
    expect(bridgeSpec("npm:@acme/notes@1.4.2", undefined, ["--readonly"])).toEqual({
      kind: "npm",
      package: "@acme/notes",
      version: "1.4.2",
      bin: undefined,
      args: ["--readonly"],
    });
    expect(bridgeSpec("pypi:mcp-time==2.1", "mcp-time-server", [])).toEqual({
      kind: "pypi",
      package: "mcp-time",
      version: "2.1",
      entry: "mcp-time-server",
      args: [],
    });
    expect(bridgeSpec(undefined, undefined, ["node", "server.js"])).toEqual({
      kind: "command",
      command: "node",
      args: ["server.js"],
    });
    for (const unpinned of [
      "npm:@acme/notes",
      "npm:@acme/notes@^1",
      "npm:@acme/notes@latest",
      "pypi:mcp-time",
    ]) {
      expect(() => bridgeSpec(unpinned, undefined, [])).toThrow("does not pin an exact version");
    }
    expect(() => bridgeSpec("gem:rails@7.0.0", undefined, [])).toThrow("neither npm: nor pypi:");
    expect(() => bridgeSpec(undefined, undefined, [])).toThrow("Nothing to run");
  });

  test("the server gets the runner's environment without CATWALK_* and the variables the pool sets", () => {
    expect(
      childEnv({
        CATWALK_BRIDGE_SECRET: SECRET,
        CATWALK_PORT: "8080",
        PATH: "/usr/bin",
        HOME: "/home/node",
        TMPDIR: "/tmp",
        LANG: "C",
        NOTES_TOKEN: "sk-notes",
        FLY_MACHINE_ID: "148e",
        UNSET: undefined,
      }),
    ).toEqual({ NOTES_TOKEN: "sk-notes", FLY_MACHINE_ID: "148e" });
  });

  test("refuses to run without a secret or with a short one", () => {
    expect(() => bridgeSecret({})).toThrow("CATWALK_BRIDGE_SECRET is not set");
    expect(() => bridgeSecret({ CATWALK_BRIDGE_SECRET: "short" })).toThrow("too short");
    expect(bridgeSecret({ CATWALK_BRIDGE_SECRET: SECRET })).toBe(SECRET);
  });
});

describe("catwalk bridge as a process", () => {
  let registry: FakeNpm;
  beforeAll(async () => {
    registry = await startFakeNpm([{ name: "@acme/notes-mcp", versions: [{ version: "1.2.3" }] }]);
  });
  afterAll(() => registry.stop());

  test("installs the pinned npm package at boot, serves it, and leaves no process behind on SIGTERM", async () => {
    await expectRunnerServesPackage([process.execPath, INDEX], registry);
  }, 60_000);
});
