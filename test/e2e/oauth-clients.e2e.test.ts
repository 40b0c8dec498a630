/**
 * Real MCP clients from npm completing OAuth against Catwalk's authorization server and then
 * calling a deployment through the real gateway: the MCP SDK's Streamable HTTP transport with an
 * auth provider, and `mcp-remote` (run by Node, consent scripted over HTTP, the browser's return to
 * its callback played by the test).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { freePort } from "../helpers/everything.ts";
import { type Deployed, deploy, initializeBody, rawPost } from "../helpers/mcp.ts";
import { completeConsent, MemoryOAuthProvider } from "../helpers/oauth.ts";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

const ROOT = join(import.meta.dir, "..", "..");

let srv: TestServer;
let alpha: Deployed;
let beta: Deployed;
let endpoint: string;

beforeAll(async () => {
  srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
  const argv = fixtureArgv("echo-server.ts");
  alpha = await deploy(srv, { command: argv, name: "alpha" });
  beta = await deploy(srv, { command: argv, name: "beta" });
  endpoint = alpha.url;
}, 60_000);
afterAll(() => srv.close());

describe("the gateway as an OAuth protected resource", () => {
  test("a request without a token gets 401 with resource_metadata, served in both well-known forms", async () => {
    const res = await rawPost(alpha.url, initializeBody());
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate") ?? "";
    const url = /resource_metadata="([^"]+)"/.exec(challenge)?.[1] as string;
    expect(url).toBe(`${srv.url}/.well-known/oauth-protected-resource/mcp/alpha`);
    const inserted = (await (await fetch(url)).json()) as {
      resource: string;
      authorization_servers: string[];
    };
    expect(inserted.resource).toBe(alpha.url);
    expect(inserted.authorization_servers).toEqual([srv.url]);
    const appended = (await (await fetch(`${alpha.url}/.well-known/oauth-protected-resource`)).json()) as {
      resource: string;
    };
    expect(appended.resource).toBe(alpha.url);
  });

  test("static access tokens keep working beside OAuth", async () => {
    const res = await rawPost(alpha.url, initializeBody(), { authorization: `Bearer ${alpha.token}` });
    expect(res.status).toBe(200);
  });
});

describe("real MCP clients connect through OAuth", () => {
  test("the MCP SDK transport: 401, discovery, registration, consent, token, then tools", async () => {
    const provider = new MemoryOAuthProvider("MCP SDK transport");
    const first = new Client({ name: "sdk-e2e", version: "1.0.0" });
    await expect(
      first.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider })),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    const authorizationUrl = provider.authorizationUrl as URL;
    expect(authorizationUrl.origin).toBe(srv.url);
    const callback = await completeConsent(authorizationUrl, { credential: srv.token });
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
    await transport.finishAuth(callback.searchParams.get("code") as string);

    const client = new Client({ name: "sdk-e2e", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain("echo");
    const result = await client.callTool({ name: "echo", arguments: { text: "signed in" } });
    expect((result.content as { text: string }[])[0]?.text).toBe("signed in");
    await client.close();

    // The same token is bound to alpha: beta refuses it with the spec's challenge.
    const onBeta = await rawPost(beta.url, initializeBody(), {
      authorization: `Bearer ${provider.saved?.access_token}`,
    });
    expect(onBeta.status).toBe(401);
    expect(onBeta.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(onBeta.headers.get("www-authenticate")).toContain(
      "/.well-known/oauth-protected-resource/mcp/beta",
    );

    // An access token refused by the resource makes the SDK refresh and carry on.
    const saved = provider.saved as OAuthTokens;
    provider.saved = { ...saved, access_token: `${saved.access_token.slice(0, -4)}AAAA` };
    const again = new Client({ name: "sdk-e2e", version: "1.0.0" });
    await again.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
    expect((await again.listTools()).tools.length).toBeGreaterThan(3);
    expect(provider.saved?.refresh_token).not.toBe(saved.refresh_token);
    await again.close();

    // Registration, consent, grant and refresh are audit events on the deployment.
    const { events } = (await (
      await srv.api(
        `/api/events?deployment=${alpha.id}&types=oauth.consent,oauth.grant,oauth.refresh&limit=100`,
      )
    ).json()) as {
      events: { type: string; data: Record<string, unknown> }[];
    };
    const types = new Set(events.map((e) => e.type));
    for (const t of ["oauth.consent", "oauth.grant", "oauth.refresh"]) expect(types).toContain(t);
    expect(JSON.stringify(events)).not.toContain(saved.access_token);
    expect(JSON.stringify(events)).not.toContain(saved.refresh_token as string);
  });

  test("mcp-remote: authorization URL on stderr, consent, callback, then tools over stdio", async () => {
    const home = tempDir("catwalk-mcp-remote-");
    const bin = join(home, "bin");
    mkdirSync(bin);
    symlinkSync(Bun.which("node") as string, join(bin, "node"));
    const callbackPort = freePort();
    const child = Bun.spawn(
      [
        join(bin, "node"),
        join(ROOT, "node_modules", "mcp-remote", "dist", "proxy.js"),
        endpoint,
        String(callbackPort),
        "--allow-http",
        "--transport",
        "http-only",
      ],
      {
        cwd: home,
        // No browser helper on PATH: mcp-remote prints the URL and waits for the callback.
        env: { PATH: bin, HOME: home, MCP_REMOTE_CONFIG_DIR: join(home, "auth") },
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const stderr = lines(child.stderr);
    const stdout = lines(child.stdout);
    try {
      const authorizationUrl = await stderr.find((l) => l.startsWith(`${srv.url}/authorize?`), 30_000);
      const callback = await completeConsent(authorizationUrl, { credential: srv.token });
      expect(callback.host).toMatch(new RegExp(`:${callbackPort}$`));
      const back = await fetch(callback);
      expect(back.status).toBe(200);

      const send = (message: unknown) => {
        child.stdin.write(`${JSON.stringify(message)}\n`);
        child.stdin.flush();
      };
      send({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "e2e", version: "1" },
        },
      });
      const init = JSON.parse(await stdout.find((l) => l.includes('"id":1'), 30_000)) as { result?: unknown };
      expect(init.result).toBeDefined();
      send({ jsonrpc: "2.0", method: "notifications/initialized" });
      send({
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "echo", arguments: { text: "via mcp-remote" } },
      });
      const call = JSON.parse(await stdout.find((l) => l.includes('"id":2'), 30_000)) as {
        result: { content: { text: string }[] };
      };
      expect(call.result.content[0]?.text).toBe("via mcp-remote");
      const { clients } = (await (await srv.api("/api/deployments/alpha/oauth-clients")).json()) as {
        clients: { clientId: string; clientName: string | null }[];
      };
      expect(clients.some((c) => c.clientId.startsWith("cli_"))).toBe(true);
    } finally {
      child.kill("SIGTERM");
      await Promise.race([child.exited, Bun.sleep(5000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 60_000);
});

/** Lines of a stream, searchable with a timeout. */
function lines(stream: ReadableStream<Uint8Array>) {
  const seenLines: string[] = [];
  const waiters: (() => void)[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      seenLines.push(...parts.map((p) => p.trim()));
      for (const w of waiters.splice(0)) w();
    }
  })();
  return {
    all: seenLines,
    async find(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = seenLines.find(match);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`no matching line within ${timeoutMs} ms; got:\n${seenLines.join("\n")}`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), Bun.sleep(Math.min(left, 200))]);
      }
    },
  };
}
