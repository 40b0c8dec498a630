/**
 * Fault tests for the gateway and its upstreams: each one breaks something on purpose and asserts
 * the exact recovery (statuses, messages, states, which session survives), not just "no crash".
 */
import { describe, expect, test } from "bun:test";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startFakeRemote } from "../helpers/fake-remote.ts";
import {
  type Connected,
  connectLegacy,
  type Deployed,
  deploy,
  initializeBody,
  rawPost,
} from "../helpers/mcp.ts";
import { alive, until } from "../helpers/proc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { fixtureSpec } from "../helpers/upstream.ts";

const ALLOW = { CATWALK_LOCAL_ALLOW_COMMANDS: "true" };
const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text ?? "";

function echoCommand(...extra: string[]): string[] {
  const spec = fixtureSpec("echo-server.ts", ...extra);
  if (spec.kind !== "command") throw new Error("fixture spec");
  return [spec.command, ...spec.args];
}

async function sessionsOf(srv: TestServer, id: string): Promise<number> {
  return ((await (await srv.api(`/api/deployments/${id}`)).json()) as { sessions: number }).sessions;
}

async function openSession(url: string, token: string): Promise<string> {
  const res = await rawPost(url, initializeBody(), { authorization: `Bearer ${token}` });
  const id = res.headers.get("mcp-session-id");
  await res.text();
  if (res.status !== 200 || !id) throw new Error(`initialize answered ${res.status}`);
  return id;
}

async function endSession(url: string, token: string, session: string): Promise<number> {
  const res = await fetch(url, {
    method: "DELETE",
    headers: { authorization: `Bearer ${token}`, "mcp-session-id": session },
  });
  await res.text();
  return res.status;
}

describe("session accounting", () => {
  test("the open-session count stays exact when a session ends while another one is initializing", async () => {
    const remote = startFakeRemote();
    const srv = await startTestServer();
    try {
      const dep = await deploy(srv, { source: remote.url, name: "gated" });
      // The pool holds one warm remote session; every later remote initialize waits at the gate.
      const gate = remote.gate(remote.initializes());
      const first = await openSession(dep.url, dep.token);
      const second = openSession(dep.url, dep.token);
      // The second client's initialize is waiting for its upstream (the gated replacement).
      await until(() => remote.initializes() >= 3, 10_000, "the second initialize to reach the upstream");
      expect(await endSession(dep.url, dep.token, first)).toBe(200);
      gate.open();
      const id = await second;
      expect(await sessionsOf(srv, dep.id)).toBe(1);
      expect(await endSession(dep.url, dep.token, id)).toBe(200);
      expect(await sessionsOf(srv, dep.id)).toBe(0);
    } finally {
      await srv.close();
      await remote.stop();
    }
  });
});

interface Worker {
  dep: Deployed & { mode: "isolated" | "shared" };
  conn: Connected;
  sessions: string[];
  ok: number;
  errors: string[];
  /** Statuses the ended session's id got afterwards. */
  stale: number[];
}

async function attach(w: Pick<Worker, "dep">): Promise<{ conn: Connected; pid: number; session: string }> {
  const conn = await connectLegacy(w.dep);
  const pid = Number(text(await conn.client.callTool({ name: "pid", arguments: {} })));
  return { conn, pid, session: conn.transport.sessionId as string };
}

describe("children killed at random under load", () => {
  test("shared sessions carry on with the restarted child, isolated ones get 404 and re-initialize, nothing leaks", async () => {
    const srv = await startTestServer({ env: ALLOW });
    const pids = new Set<number>();
    try {
      const deps: Worker["dep"][] = [];
      for (const [i, mode] of (["isolated", "shared", "isolated", "shared"] as const).entries()) {
        deps.push({
          ...(await deploy(srv, { command: echoCommand(), name: `k${i}`, sessionMode: mode })),
          mode,
        });
      }
      const workers: Worker[] = [];
      for (const dep of [...deps, ...deps]) {
        const { conn, pid, session } = await attach({ dep });
        workers.push({ dep, conn, sessions: [session], ok: 0, errors: [], stale: [] });
        pids.add(pid);
      }
      let running = true;
      const unexpected: string[] = [];
      const loops = workers.map(async (w, i) => {
        while (running) {
          try {
            const want = `w${i}-${w.ok}`;
            const got = text(await w.conn.client.callTool({ name: "echo", arguments: { text: want } }));
            if (got !== want) throw new Error(`wrong answer ${got} for ${want}`);
            w.ok++;
          } catch (e) {
            w.errors.push(e instanceof StreamableHTTPError ? `HTTP ${e.code}` : (e as Error).message);
            if (w.dep.mode === "shared") continue;
            try {
              // An isolated session ends with its child: 404 for it, then a new initialize.
              const stale = await rawPost(
                w.dep.url,
                JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
                {
                  authorization: `Bearer ${w.dep.token}`,
                  "mcp-session-id": w.sessions.at(-1) as string,
                },
              );
              w.stale.push(stale.status);
              await w.conn.client.close();
              const next = await attach(w);
              w.conn = next.conn;
              w.sessions.push(next.session);
              pids.add(next.pid);
            } catch (e2) {
              unexpected.push(`re-initialize: ${(e2 as Error).message}`);
              return;
            }
          }
        }
      });
      // Two kills per deployment, each of the process serving a live session (an isolated one's
      // own child, or the shared child), with every worker making progress in between.
      const victims = [...deps, ...deps].map((dep) => workers.find((w) => w.dep === dep) as Worker);
      const killed: number[] = [];
      for (const victim of victims) {
        const marks = workers.map((w) => w.ok);
        await until(
          () => workers.every((w, j) => w.ok > (marks[j] as number)),
          30_000,
          "every worker to progress",
        );
        // Asked now: a shared child restarted by an earlier kill has a new pid.
        const pid = Number(text(await victim.conn.client.callTool({ name: "pid", arguments: {} })));
        pids.add(pid);
        killed.push(pid);
        process.kill(pid, "SIGKILL");
      }
      const marks = workers.map((w) => w.ok);
      await until(
        () => workers.every((w, j) => w.ok > (marks[j] as number) + 2),
        30_000,
        "recovery after the last kill",
      );
      running = false;
      await Promise.all(loops);
      expect(unexpected).toEqual([]);

      const inFlight =
        "MCP error -32603: The MCP server stopped while handling this request: killed by SIGKILL";
      for (const w of workers) {
        if (w.dep.mode === "shared") {
          const kills = victims.filter((v) => v.dep === w.dep).length;
          // One session throughout, now served by a new child; only calls in flight at a kill failed.
          expect(w.sessions.length).toBe(1);
          expect(w.errors.every((e) => e === inFlight)).toBe(true);
          expect(w.errors.length).toBeLessThanOrEqual(kills);
          const now = Number(text(await w.conn.client.callTool({ name: "pid", arguments: {} })));
          expect(killed).not.toContain(now);
        } else {
          const kills = victims.filter((v) => v === w).length;
          // Exactly one error per kill of its own child (the call in flight, or the 404 after it),
          // the stale session answered 404, and each time a new session took over.
          expect(w.errors.length).toBe(kills);
          expect(w.errors.every((e) => e === inFlight || e === "HTTP 404")).toBe(true);
          expect(w.stale).toEqual(w.errors.map(() => 404));
          expect(w.sessions.length).toBe(kills + 1);
        }
      }
      await until(
        async () => {
          const res = await srv.api("/api/deployments");
          const list = ((await res.json()) as { deployments: { state: string }[] }).deployments;
          return list.every((d) => d.state === "running");
        },
        30_000,
        "every deployment running again",
      );
      for (const w of workers) await w.conn.close();
    } finally {
      await srv.close();
    }
    await until(() => [...pids].every((p) => !alive(p)), 15_000, "no child left after the server closed");
  }, 120_000);
});
