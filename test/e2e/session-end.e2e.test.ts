/**
 * A request in flight when its session ends (the deployment restarts, stops or loses its token,
 * here or on another host sharing the database) is answered at once with the reason, instead of
 * leaving the client to its own timeout.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connectLegacy, deploy } from "../helpers/mcp.ts";
import { startTestServer } from "../helpers/server.ts";
import { FIXTURES } from "../helpers/upstream.ts";

const ECHO = [process.execPath, join(FIXTURES, "echo-server.ts")];

describe("sessions ended under a request", () => {
  for (const mode of ["json", "sse"] as const) {
    test(`a ${mode === "json" ? "plain" : "streaming (progress)"} tool call in flight during a restart fails with the reason`, async () => {
      const srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
      try {
        const dep = await deploy(srv, { command: ECHO, name: "restarted" });
        const c = await connectLegacy(dep);
        const options = { timeout: 20_000, ...(mode === "sse" ? { onprogress: () => {} } : {}) };
        const call = c.client.callTool({ name: "sleep", arguments: { ms: 10_000 } }, undefined, options).then(
          () => "answered",
          (e: unknown) => String(e),
        );
        // Long enough for the call to reach the server (and, with progress, to switch to SSE).
        await Bun.sleep(mode === "sse" ? 600 : 300);
        expect((await srv.api(`/api/deployments/${dep.id}/restart`, { method: "POST" })).status).toBe(200);
        expect(await call).toContain("The session ended before the MCP server answered: restarting.");
        await c.client.close();
      } finally {
        await srv.close();
      }
    }, 30_000);
  }
});
