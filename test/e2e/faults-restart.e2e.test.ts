/**
 * The compiled server killed with SIGKILL while clients call tools, then started again on the same
 * data dir and port: nothing an operator configured is lost, and clients recover the way the MCP
 * spec tells them to (404 for the old session, then a new initialize).
 */
import { describe, expect, test } from "bun:test";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { freePort } from "../helpers/everything.ts";
import { connectLegacy, type Deployed, deploy, rawPost, readMessage } from "../helpers/mcp.ts";
import { alive, childrenOf, until } from "../helpers/proc.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process-server.ts";
import { tempDir } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

// The log lines these tests count are info-level JSON.
const ENV = { CATWALK_LOCAL_ALLOW_COMMANDS: "true", CATWALK_LOG_LEVEL: "info", CATWALK_LOG_FORMAT: "json" };

interface Info {
  id: string;
  slug: string;
  state: string;
  desiredState: string;
  sessionMode: string;
  source: string;
  env: { name: string; secret: boolean }[];
}

async function list(srv: ServerProcess): Promise<Info[]> {
  const res = await srv.api("/api/deployments");
  return ((await res.json()) as { deployments: Info[] }).deployments;
}

const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text;

describe("server killed with SIGKILL under load", () => {
  test("restarts with every deployment, token and credential; old sessions get 404 and clients re-initialize", async () => {
    const dataDir = tempDir("catwalk-kill9-");
    const port = freePort();
    const command = fixtureArgv("echo-server.ts");
    let srv = await startServerProcess({ dataDir, port, env: ENV });
    try {
      const deps: (Deployed & { secret: string })[] = [];
      for (const mode of ["isolated", "shared"] as const) {
        const secret = `secret-${mode}-${crypto.randomUUID()}`;
        const dep = await deploy(srv, { command, name: mode, sessionMode: mode, env: { API_KEY: secret } });
        deps.push({ ...dep, secret });
      }
      // A server that ignores stdin EOF (and has a grandchild): it would outlive the killed server.
      const stubborn = fixtureArgv("grandchild-server.ts");
      const sticky = await deploy(srv, {
        command: stubborn,
        name: "stubborn",
        sessionMode: "shared",
      });
      const stickyClient = await connectLegacy(sticky);
      const grandchild = Number(
        text(await stickyClient.client.callTool({ name: "grandchild", arguments: {} })),
      );
      expect(alive(grandchild)).toBe(true);
      const parked = await deploy(srv, { command, name: "parked" });
      expect((await srv.api(`/api/deployments/${parked.id}/stop`, { method: "POST" })).status).toBe(200);
      const extra = (await (
        await srv.api(`/api/deployments/${deps[0]?.id}/tokens`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "second" }),
        })
      ).json()) as { token: string };
      const before = await list(srv);

      // Load: every client calls in a loop until the server dies under it.
      const clients = await Promise.all(deps.flatMap((d) => [connectLegacy(d), connectLegacy(d)]));
      let calls = 0;
      const loops = clients.map(async (c, i) => {
        for (;;) {
          try {
            const got = text(
              await c.client.callTool({ name: "echo", arguments: { text: `c${i}-${calls}` } }),
            );
            if (!got?.startsWith(`c${i}-`)) throw new Error(`wrong answer ${got}`);
            calls++;
          } catch (e) {
            return e as Error;
          }
        }
      });
      await until(() => calls >= 40, 30_000, "40 calls under load");
      const orphans = [...childrenOf(srv.pid), grandchild];
      expect(orphans.length).toBeGreaterThanOrEqual(5);
      await srv.kill("SIGKILL");
      // Every in-flight loop ends with a transport error, none with a wrong answer.
      for (const e of await Promise.all(loops)) expect(e.message).not.toContain("wrong answer");

      await stickyClient.client.close();
      srv = await startServerProcess({ dataDir, port, env: ENV });
      // The killed server's children see stdin close and exit (the MCP stdio shutdown); the new
      // server stops the ones that ignore it, grandchildren included.
      await until(() => orphans.every((p) => !alive(p)), 15_000, "the killed server's children to exit");
      expect(srv.stderr()).toContain("stopping processes a previous server left running");

      await until(
        async () =>
          (await list(srv)).every((d) => d.state === (d.desiredState === "running" ? "running" : "stopped")),
        30_000,
        "every deployment back in its desired state",
      );
      const after = await list(srv);
      const shape = (ds: Info[]) =>
        ds.map(({ id, slug, desiredState, sessionMode, source, env }) => ({
          id,
          slug,
          desiredState,
          sessionMode,
          source,
          env,
        }));
      expect(shape(after)).toEqual(shape(before));
      expect(after.find((d) => d.slug === "parked")?.state).toBe("stopped");

      for (const [i, c] of clients.entries()) {
        const dep = deps[Math.floor(i / 2)] as Deployed & { secret: string };
        // The old session is unknown to the new process: 404 with the JSON-RPC session error.
        const old = await rawPost(dep.url, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), {
          authorization: `Bearer ${dep.token}`,
          "mcp-session-id": c.transport.sessionId as string,
          "mcp-protocol-version": "2025-11-25",
        });
        expect(old.status).toBe(404);
        expect(((await readMessage(old)).error as { code: number }).code).toBe(-32001);
        const err = await c.client.callTool({ name: "echo", arguments: { text: "x" } }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(StreamableHTTPError);
        expect((err as StreamableHTTPError).code).toBe(404);
        await c.client.close();
        // Re-initializing works with the same token, and the credential still decrypts.
        const fresh = await connectLegacy(dep);
        expect(text(await fresh.client.callTool({ name: "env", arguments: { name: "API_KEY" } }))).toBe(
          dep.secret,
        );
        await fresh.close();
      }
      const second = await connectLegacy({ url: deps[0]?.url as string, token: extra.token });
      expect(text(await second.client.callTool({ name: "echo", arguments: { text: "second token" } }))).toBe(
        "second token",
      );
      await second.close();
    } finally {
      const children = childrenOf(srv.pid);
      expect(await srv.kill("SIGTERM")).toBe(0);
      await until(() => children.every((p) => !alive(p)), 15_000, "children to stop with the server");
    }
  }, 120_000);
});
