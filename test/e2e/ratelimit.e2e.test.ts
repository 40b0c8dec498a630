/**
 * `gateway.rateLimitPerMinute`: each token is paced on each deployment; over the limit the client
 * gets a 429 with Retry-After and a JSON-RPC error, other tokens and deployments are unaffected,
 * a session can always be ended, and the refusals are counted in stats and metrics.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { connectLegacy, type Deployed, deploy, initializeBody, rawPost } from "../helpers/mcp.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

let srv: TestServer;
let dep: Deployed;
let other: Deployed;

function echoCommand(): string[] {
  return fixtureArgv("echo-server.ts");
}

beforeAll(async () => {
  // 6 per minute: after the burst, the next token is 10 s away, far beyond the test's own pace.
  srv = await startTestServer({
    env: {
      CATWALK_LOCAL_ALLOW_COMMANDS: "true",
      CATWALK_GATEWAY_RATE_LIMIT_PER_MINUTE: "6",
      CATWALK_GATEWAY_RATE_LIMIT_BURST: "4",
    },
  });
  dep = await deploy(srv, { command: echoCommand(), name: "paced", sessionMode: "shared" });
  other = await deploy(srv, { command: echoCommand(), name: "elsewhere", sessionMode: "shared" });
}, 60_000);
afterAll(() => srv.close());

const ping = (id: number) => JSON.stringify({ jsonrpc: "2.0", id, method: "ping" });

async function newToken(name: string): Promise<string> {
  const res = await srv.api(`/api/deployments/${dep.id}/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  return ((await res.json()) as { token: string }).token;
}

describe("per-token rate limit", () => {
  test("a token gets its burst, then 429 with Retry-After and a JSON-RPC error naming the limit and the fix; other tokens and deployments are not affected; DELETE still ends the session", async () => {
    const auth = { authorization: `Bearer ${dep.token}` };
    const init = await rawPost(dep.url, initializeBody(), auth);
    expect(init.status).toBe(200);
    const session = init.headers.get("mcp-session-id") as string;
    await init.text();
    const withSession = { ...auth, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" };
    const statuses: number[] = [];
    for (let i = 2; i <= 4; i++) {
      const res = await rawPost(dep.url, ping(i), withSession);
      statuses.push(res.status);
      await res.text();
    }
    expect(statuses).toEqual([200, 200, 200]);

    const refused = await rawPost(dep.url, ping(5), withSession);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    const body = (await refused.json()) as { jsonrpc: string; error: { code: number; message: string } };
    expect(body.jsonrpc).toBe("2.0");
    expect(body.error.message).toContain("6 requests per minute to paced (bursts of 4)");
    expect(body.error.message).toContain("gateway.rateLimitPerMinute");
    expect(body.error.message).not.toContain(dep.token);

    // Another token on the same deployment, and the same operator on another deployment, go on.
    const fresh = await rawPost(dep.url, initializeBody(), {
      authorization: `Bearer ${await newToken("second")}`,
    });
    expect(fresh.status).toBe(200);
    await fresh.text();
    const elsewhere = await rawPost(other.url, initializeBody(), { authorization: `Bearer ${other.token}` });
    expect(elsewhere.status).toBe(200);
    await elsewhere.text();

    const ended = await fetch(dep.url, { method: "DELETE", headers: withSession });
    expect(ended.status).toBe(200);
    await ended.text();

    const stats = (await (await srv.api(`/api/deployments/${dep.id}/stats`)).json()) as {
      rateLimited: number;
    };
    expect(stats.rateLimited).toBe(1);
    const metrics = await (await srv.api("/metrics")).text();
    expect(metrics).toContain('catwalk_mcp_rate_limited_total{deployment="paced"} 1');
    expect(metrics).toContain('catwalk_mcp_rate_limited_total{deployment="elsewhere"} 0');
  });

  test("the SDK client sees the refusal as an HTTP 429 error at once, not a hang", async () => {
    const token = await newToken("sdk");
    const c = await connectLegacy({ url: dep.url, token });
    // initialize, notifications/initialized and the GET stream used three of the four.
    let error: unknown;
    for (let i = 0; i < 4 && !error; i++) {
      error = await c.client.callTool({ name: "echo", arguments: { text: `n${i}` } }).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(429);
    await c.close();
  });
});
