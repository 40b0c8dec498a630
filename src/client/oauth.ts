import type { ConnectedClient } from "../oauth/oauth.ts";
import type { Client } from "./client.ts";

export type { ConnectedClient };

export interface ConnectCode {
  code: string;
  expiresAt: string;
  deployment: { id: string; slug: string; name: string };
  /** The MCP endpoint URL to add to the client. */
  resource: string;
}

const dep = (idOrSlug: string) => `/api/deployments/${encodeURIComponent(idOrSlug)}`;

/** Typed calls of the OAuth client admin API, shared by the CLI and the TUI. */
export async function listOAuthClients(client: Client, deployment: string): Promise<ConnectedClient[]> {
  return (await client.get<{ clients: ConnectedClient[] }>(`${dep(deployment)}/oauth-clients`)).clients;
}

export async function revokeOAuthClient(
  client: Client,
  deployment: string,
  clientId: string,
): Promise<number> {
  const res = await client.delete<{ revoked: number }>(
    `${dep(deployment)}/oauth-clients/${encodeURIComponent(clientId)}`,
  );
  return res.revoked;
}

export function createConnectCode(client: Client, deployment: string): Promise<ConnectCode> {
  return client.post<ConnectCode>(`${dep(deployment)}/connect-code`);
}
