import { describe, expect, test } from "bun:test";
import { EVERYTHING_BIN } from "../helpers/everything.ts";
import { connectLegacy, deploy, rawPost } from "../helpers/mcp.ts";
import { alive, childrenOf } from "../helpers/proc.ts";
import { startTestServer } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";
import { gatewaySuite } from "./gateway-suite.ts";

const ALLOW = { CATWALK_LOCAL_ALLOW_COMMANDS: "true" };

gatewaySuite({
  name: "a local stdio child",
  env: ALLOW,
  body: async (mode) => ({ command: ["node", EVERYTHING_BIN, "stdio"], sessionMode: mode }),
});

async function pidOf(dep: { url: string; token: string }): Promise<number> {
  const c = await connectLegacy(dep);
  const r = await c.client.callTool({ name: "pid", arguments: {} });
  await c.close();
  return Number((r.content as { text: string }[])[0]?.text);
}

describe("gateway over local children", () => {
  test("a child killed mid-session: the call gets a clean error, the session ends, the next session works", async () => {
    const srv = await startTestServer({ env: ALLOW });
    try {
      const argv = fixtureArgv("echo-server.ts");
      const dep = await deploy(srv, { command: argv, name: "victim" });
      const c = await connectLegacy(dep);
      const pidText = (await c.client.callTool({ name: "pid", arguments: {} })).content as { text: string }[];
      const pid = Number(pidText[0]?.text);
      const slow = c.client.callTool({ name: "sleep", arguments: { ms: 5000 } });
      await Bun.sleep(200);
      process.kill(pid, "SIGKILL");
      const error = await slow.then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).toContain("MCP server stopped while handling this request");
      // The isolated session was bound to that child: it is gone, and says so with 404.
      const res = await rawPost(dep.url, JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }), {
        authorization: `Bearer ${dep.token}`,
        "mcp-session-id": c.transport.sessionId as string,
        "mcp-protocol-version": "2025-11-25",
      });
      expect(res.status).toBe(404);
      await c.client.close();
      const next = await connectLegacy(dep);
      const echoed = (await next.client.callTool({ name: "echo", arguments: { text: "after the crash" } }))
        .content as { text: string }[];
      expect(echoed[0]?.text).toBe("after the crash");
      await next.close();
    } finally {
      await srv.close();
    }
  }, 60_000);

  test("no child process outlives the server", async () => {
    const srv = await startTestServer({ env: ALLOW });
    const argv = fixtureArgv("grandchild-server.ts");
    const iso = await deploy(srv, { command: argv, name: "iso" });
    const shared = await deploy(srv, {
      command: argv,
      name: "shared",
      sessionMode: "shared",
    });
    const sessions = await Promise.all([connectLegacy(iso), connectLegacy(iso), connectLegacy(shared)]);
    const pids: number[] = [];
    for (const s of sessions) {
      pids.push(
        Number(
          ((await s.client.callTool({ name: "pid", arguments: {} })).content as { text: string }[])[0]?.text,
        ),
      );
      const g = (await s.client.callTool({ name: "grandchild", arguments: {} })).content as {
        text: string;
      }[];
      pids.push(Number(g[0]?.text));
    }
    expect(pids.every((p) => Number.isInteger(p) && p > 1 && alive(p))).toBe(true);
    await srv.close();
    const deadline = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < deadline) await Bun.sleep(100);
    expect(pids.filter(alive)).toEqual([]);
  }, 60_000);

  test("a new session is served by the pre-spawned warm child, not a cold start", async () => {
    const srv = await startTestServer({ env: ALLOW });
    try {
      const argv = fixtureArgv("echo-server.ts");
      const dep = await deploy(srv, { command: argv, name: "warm" });
      await pidOf(dep); // takes the first warm child; the pool pre-spawns a replacement
      await Bun.sleep(500); // let the replacement finish its handshake
      const before = childrenOf(process.pid);
      const pid = await pidOf(dep);
      expect(before).toContain(pid);
    } finally {
      await srv.close();
    }
  }, 60_000);
});
