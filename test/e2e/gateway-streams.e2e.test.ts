/**
 * Stream semantics of the gateway that the acceptance suite does not reach through the SDK:
 * cancellation passing through, resuming a dropped SSE stream with Last-Event-ID, closing a
 * 2026-07-28 stream as cancellation, and the progress-aware request timeout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readSse, type SseEvent } from "../../src/client/sse.ts";
import { connectLegacy, type Deployed, deploy, initializeBody, rawPost } from "../helpers/mcp.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

let srv: TestServer;
let dep: Deployed;

beforeAll(async () => {
  srv = await startTestServer({
    env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true", CATWALK_GATEWAY_REQUEST_TIMEOUT_MS: "700" },
  });
  const argv = fixtureArgv("echo-server.ts");
  dep = await deploy(srv, { command: argv, name: "streams" });
}, 60_000);
afterAll(() => srv.close());

async function logLines(): Promise<string[]> {
  const { lines } = (await (await srv.api(`/api/deployments/${dep.id}/logs?tail=500`)).json()) as {
    lines: { line: string }[];
  };
  return lines.map((l) => l.line);
}

async function waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await logLines()).find((l) => pattern.test(l));
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern}`);
    await Bun.sleep(100);
  }
}

/** A raw 2025 session (initialize + initialized) for requests the SDK would not send as-is. */
async function session(): Promise<Record<string, string>> {
  const auth = { authorization: `Bearer ${dep.token}` };
  const init = await rawPost(dep.url, initializeBody(1, "2025-11-25"), auth);
  const id = init.headers.get("mcp-session-id") as string;
  await init.text();
  const headers = { ...auth, "mcp-session-id": id, "mcp-protocol-version": "2025-11-25" };
  await (
    await rawPost(dep.url, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), headers)
  ).text();
  return headers;
}

describe("gateway streams", () => {
  test("a client's cancellation reaches the server and stops the call", async () => {
    const c = await connectLegacy(dep);
    const abort = new AbortController();
    // Progress keeps the call alive past the gateway's 700 ms timeout, so only the client cancels it.
    const call = c.client.callTool({ name: "sleep", arguments: { ms: 5000 } }, undefined, {
      signal: abort.signal,
      timeout: 60_000,
      onprogress: () => {},
    });
    await Bun.sleep(900);
    abort.abort("the user gave up");
    await expect(call).rejects.toThrow();
    const line = await waitForLog(/sleep 5000 cancelled after/);
    const after = Number(/cancelled after (\d+) ms/.exec(line)?.[1]);
    expect(after).toBeGreaterThanOrEqual(800);
    expect(after).toBeLessThan(4000);
    await c.close();
  });

  test("a dropped SSE response is resumed with Last-Event-ID and delivers the rest, final answer included", async () => {
    const headers = await session();
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 42,
      method: "tools/call",
      params: { name: "sleep", arguments: { ms: 1500 }, _meta: { progressToken: "p1" } },
    });
    const abort = new AbortController();
    const first = await fetch(dep.url, {
      method: "POST",
      headers: {
        ...headers,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body,
      signal: abort.signal,
    });
    expect(first.headers.get("content-type")).toStartWith("text/event-stream");
    const seen: SseEvent[] = [];
    await readSse(
      first.body as ReadableStream<Uint8Array>,
      (e) => {
        seen.push(e);
        if (seen.filter((x) => x.data.includes("notifications/progress")).length >= 2) abort.abort();
      },
      abort.signal,
    );
    const last = [...seen].reverse().find((e) => e.id && e.data.trim() !== "");
    expect(last?.id).toBeDefined();
    const resumed = await fetch(dep.url, {
      headers: { ...headers, accept: "text/event-stream", "last-event-id": last?.id as string },
    });
    const rest: SseEvent[] = [];
    await readSse(resumed.body as ReadableStream<Uint8Array>, (e) => rest.push(e));
    const answer = rest
      .map((e) => JSON.parse(e.data || "{}") as { id?: number; result?: { content: { text: string }[] } })
      .find((m) => m.id === 42);
    expect(answer?.result?.content[0]?.text).toBe("slept 1500");
    // Nothing before the resumption point is sent twice.
    expect(rest.some((e) => e.id === last?.id)).toBe(false);
  });

  test("a request that makes progress outlives the request timeout; a silent one times out with a clean error", async () => {
    const c = await connectLegacy(dep);
    const progress: number[] = [];
    const slow = await c.client.callTool({ name: "sleep", arguments: { ms: 1500 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
      timeout: 60_000,
    });
    expect((slow.content as { text: string }[])[0]?.text).toBe("slept 1500");
    expect(progress.length).toBeGreaterThan(5);
    const silent = await c.client
      .callTool({ name: "sleep", arguments: { ms: 1500 } }, undefined, { timeout: 60_000 })
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(silent?.message).toContain("Request timed out: no response or progress for 700 ms");
    await waitForLog(/sleep 1500 cancelled after/);
    await c.close();
  });

  test("closing a 2026-07-28 response stream cancels the upstream call", async () => {
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": {},
    };
    const abort = new AbortController();
    const res = await fetch(dep.url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${dep.token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "sleep",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: { name: "sleep", arguments: { ms: 4000 }, _meta: { ...meta, progressToken: "m1" } },
      }),
      signal: abort.signal,
    });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    await readSse(res.body as ReadableStream<Uint8Array>, () => abort.abort(), abort.signal);
    expect(await waitForLog(/sleep 4000 cancelled after/)).toBeDefined();
  });
});
