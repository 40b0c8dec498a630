/**
 * Fault tests for the gateway and its upstreams: each one breaks something on purpose and asserts
 * the exact recovery (statuses, messages, states, which session survives), not just "no crash".
 */
import { describe, expect, test } from "bun:test";
import { startFakeRemote } from "../helpers/fake-remote.ts";
import { deploy, initializeBody, rawPost } from "../helpers/mcp.ts";
import { until } from "../helpers/proc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

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
