import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { TestServer } from "./server.ts";

export interface Deployed {
  id: string;
  slug: string;
  url: string;
  token: string;
  state: string;
}

/** Creates a deployment through the API and waits until it runs (or fails the test). */
export async function deploy(
  srv: Pick<TestServer, "api">,
  body: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<Deployed> {
  const res = await srv.api("/api/deployments", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const created = (await res.json()) as Deployed & { error?: unknown };
  if (res.status !== 201) throw new Error(`deploy failed: ${res.status} ${JSON.stringify(created)}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = (await (await srv.api(`/api/deployments/${created.id}`)).json()) as {
      state: string;
      stateReason: string | null;
    };
    if (info.state === "running") return { ...created, state: info.state };
    if (info.state === "failed" || Date.now() > deadline) {
      throw new Error(`deployment ${created.slug} is ${info.state}: ${info.stateReason}`);
    }
    await Bun.sleep(100);
  }
}

export interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
  close(): Promise<void>;
}

/** The official TypeScript SDK 1.x client (2025 era) against a deployment. */
export async function connectLegacy(
  dep: Pick<Deployed, "url" | "token">,
  capabilities: Record<string, unknown> = {},
  name = "catwalk-test",
): Promise<Connected> {
  const transport = new StreamableHTTPClientTransport(new URL(dep.url), {
    requestInit: { headers: { authorization: `Bearer ${dep.token}` } },
  });
  const client = new Client({ name, version: "1.0.0" }, { capabilities });
  await client.connect(transport);
  return {
    client,
    transport,
    close: async () => {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

/** A raw JSON-RPC POST (for status-code and bad-input checks the SDK would not send). */
export function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body,
  });
}

export function initializeBody(id: number | string = 1, version = "2025-11-25"): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: { protocolVersion: version, capabilities: {}, clientInfo: { name: "raw", version: "1" } },
  });
}

/** Reads a JSON or single-event SSE response body as the JSON-RPC message it carries. */
export async function readMessage(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  if ((res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    const data = text
      .split("\n")
      .filter((l) => l.startsWith("data: ") && l.length > 6)
      .map((l) => l.slice(6));
    return JSON.parse(data[data.length - 1] ?? "{}") as Record<string, unknown>;
  }
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * An SDK 2.x client pinned to protocol 2026-07-28, with the capabilities given; register its
 * request handlers, then `connect()`.
 */
export function modernClient(
  dep: Pick<Deployed, "url" | "token">,
  name: string,
  capabilities: Record<string, unknown> = {},
): { client: ModernClient; connect(): Promise<void> } {
  const transport = new ModernTransport(new URL(dep.url), {
    requestInit: { headers: { authorization: `Bearer ${dep.token}` } },
  });
  const client = new ModernClient(
    { name, version: "2" },
    { versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities },
  );
  return { client, connect: () => client.connect(transport) };
}
