/**
 * Real MCP clients from npm completing OAuth against Catwalk's authorization server and then
 * calling a protected MCP endpoint: the MCP SDK's Streamable HTTP transport with an auth provider,
 * and `mcp-remote` (run by Node, consent scripted over HTTP, the browser's return to its callback
 * played by the test).
 *
 * Until the gateway serves `/mcp/<slug>`, a stand-in plays the reverse proxy Catwalk runs behind:
 * it is the public URL (`CATWALK_PUBLIC_URL`), forwards every path to Catwalk, and answers
 * `/mcp/alpha` itself exactly as the gateway must: 401 with `oauthFor(app).challenge()`, else
 * `verifyAccessToken()` and a small MCP server. With the gateway, drop the stand-in and point the
 * clients at the deployment.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { OAuthClientInformationMixed, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { bearer } from "../../src/util/secret.ts";
import { completeConsent, type OAuthTestServer, startOAuthTestServer } from "../helpers/oauth.ts";
import { tempDir } from "../helpers/server.ts";

const ALPHA = { id: "dep_01ALPHA0000000000000000000", slug: "alpha", name: "Alpha" };
const ROOT = join(import.meta.dir, "..", "..");

let srv: OAuthTestServer;
let proxy: ReturnType<typeof Bun.serve>;
let publicUrl: string;
let endpoint: string;
const seen: { clientId: string; status: number }[] = [];

async function mcp(request: Request, clientId: string): Promise<Response> {
  const server = new McpServer({ name: "stand-in", version: "1.0.0" });
  server.tool("whoami", "The OAuth client calling", async () => ({
    content: [{ type: "text", text: clientId }],
  }));
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  await server.connect(transport);
  return transport.handleRequest(request);
}

/** What the gateway does on /mcp/<slug> with OAuth: challenge, verify, serve. */
async function gateway(request: Request): Promise<Response> {
  const token = bearer(request.headers.get("authorization"));
  if (!token)
    return new Response(null, { status: 401, headers: { "www-authenticate": srv.oauth.challenge("alpha") } });
  const result = await srv.oauth.verifyAccessToken(token, { resource: endpoint, deploymentId: ALPHA.id });
  if (!result.ok) {
    seen.push({ clientId: "-", status: 401 });
    const challenge = srv.oauth.challenge("alpha", {
      error: "invalid_token",
      description: `token ${result.reason}`,
    });
    return new Response(null, { status: 401, headers: { "www-authenticate": challenge } });
  }
  seen.push({ clientId: result.clientId, status: 200 });
  return mcp(request, result.clientId);
}

beforeAll(async () => {
  let upstream = "";
  proxy = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === "/mcp/alpha") return gateway(request);
      const headers = new Headers(request.headers);
      headers.delete("host");
      const res = await fetch(upstream + url.pathname + url.search, {
        method: request.method,
        headers,
        body: request.method === "GET" || request.method === "HEAD" ? null : await request.arrayBuffer(),
        redirect: "manual",
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    },
  });
  publicUrl = `http://127.0.0.1:${proxy.port}`;
  endpoint = `${publicUrl}/mcp/alpha`;
  srv = await startOAuthTestServer([ALPHA], { env: { CATWALK_PUBLIC_URL: publicUrl } });
  upstream = srv.url;
});
afterAll(async () => {
  await srv.close();
  proxy.stop(true);
});

class Provider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = "";
  authorizationUrl: URL | undefined;
  readonly redirectUrl = "http://127.0.0.1:9/callback";
  readonly clientMetadata = {
    redirect_uris: ["http://127.0.0.1:9/callback"],
    client_name: "MCP SDK transport",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
  clientInformation = () => this.info;
  saveClientInformation = (i: OAuthClientInformationMixed) => {
    this.info = i;
  };
  tokens = () => this.saved;
  saveTokens = (t: OAuthTokens) => {
    this.saved = t;
  };
  redirectToAuthorization = (u: URL) => {
    this.authorizationUrl = u;
  };
  saveCodeVerifier = (v: string) => {
    this.verifier = v;
  };
  codeVerifier = () => this.verifier;
}

describe("real MCP clients connect through OAuth", () => {
  test("the MCP SDK transport: 401, discovery, registration, consent, token, then tools", async () => {
    const provider = new Provider();
    const first = new Client({ name: "sdk-e2e", version: "1.0.0" });
    await expect(
      first.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider })),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    const authorizationUrl = provider.authorizationUrl as URL;
    expect(authorizationUrl.origin).toBe(publicUrl);
    const callback = await completeConsent(authorizationUrl, { credential: srv.token });
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
    await transport.finishAuth(callback.searchParams.get("code") as string);

    const client = new Client({ name: "sdk-e2e", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(["whoami"]);
    const result = await client.callTool({ name: "whoami", arguments: {} });
    expect((result.content as { text: string }[])[0]?.text).toBe(provider.info?.client_id);
    await client.close();

    // An access token refused by the resource makes the SDK refresh and carry on.
    const saved = provider.saved as OAuthTokens;
    provider.saved = { ...saved, access_token: `${saved.access_token.slice(0, -4)}AAAA` };
    const again = new Client({ name: "sdk-e2e", version: "1.0.0" });
    await again.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
    expect((await again.listTools()).tools).toHaveLength(1);
    expect(provider.saved?.refresh_token).not.toBe(saved.refresh_token);
    await again.close();
  });

  test("mcp-remote: authorization URL on stderr, consent, callback, then tools over stdio", async () => {
    const home = tempDir("catwalk-mcp-remote-");
    const bin = join(home, "bin");
    mkdirSync(bin);
    symlinkSync(Bun.which("node") as string, join(bin, "node"));
    const callbackPort = await freePort();
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
      const authorizationUrl = await stderr.find((l) => l.startsWith(`${publicUrl}/authorize?`), 30_000);
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
      send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "whoami", arguments: {} } });
      const call = JSON.parse(await stdout.find((l) => l.includes('"id":2'), 30_000)) as {
        result: { content: { text: string }[] };
      };
      const clientId = call.result.content[0]?.text as string;
      expect(clientId).toStartWith("cli_");
      const { clients } = (await (await srv.api("/api/deployments/alpha/oauth-clients")).json()) as {
        clients: { clientId: string }[];
      };
      expect(clients.map((c) => c.clientId)).toContain(clientId);
    } finally {
      child.kill("SIGTERM");
      await Promise.race([child.exited, Bun.sleep(5000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 60_000);
});

async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

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
