import type { CredentialIssue, CredentialSchema } from "../analysis/credentials.ts";
import type { Evidence, Manifest } from "../analysis/manifest.ts";
import type { StepEvent } from "../analysis/pipeline.ts";
import { ApiError, type Client } from "../client/client.ts";
import { deleteFlyOrphans, type FlyOrphans, listFlyOrphans } from "../client/fly.ts";
import {
  type ConnectCode,
  type ConnectedClient,
  createConnectCode,
  listOAuthClients,
  revokeOAuthClient,
} from "../client/oauth.ts";
import { readSse, type SseEvent } from "../client/sse.ts";
import type { ConnectInfo } from "../deployment/connect.ts";
import type { DeploymentInfo } from "../deployment/deployment.ts";
import type { CatwalkEvent } from "../events/bus.ts";
import type { LogLine } from "../logs/logs.ts";
import type { ErrorBody } from "../util/error.ts";

/**
 * Every call the TUI makes, over the HTTP API only (types come from the domain modules, code never
 * does). One instance per TUI, shared through context.
 */
export type Deployment = DeploymentInfo;
export type Created = DeploymentInfo & { token: string };
export type {
  CatwalkEvent,
  ConnectCode,
  ConnectedClient,
  ConnectInfo,
  CredentialIssue,
  CredentialSchema,
  Evidence,
  LogLine,
  Manifest,
  StepEvent,
};

export interface TokenInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export type NewToken = TokenInfo & { token: string };

export interface Analysis {
  id: string;
  source: string;
  status: "pending" | "running" | "succeeded" | "failed";
  cached: boolean;
  manifest: Manifest | null;
  warnings: string[];
  steps: StepEvent[];
  error: { code: string; message: string; hint?: string } | null;
}

export interface Stats {
  sessions: number;
  calls: number;
  errors: number;
  callsPerMinute: number;
  /** Requests refused with 429 by the rate limit (absent from older servers). */
  rateLimited?: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface CreateBody {
  source?: string;
  analysis?: string;
  name?: string;
  env?: Record<string, string>;
  args?: string[];
  sessionMode?: "isolated" | "shared";
  /** Headers a remote deployment sends upstream (write-only). */
  headers?: Record<string, string>;
}

export type Action = "start" | "stop" | "restart";

const enc = encodeURIComponent;
const dep = (id: string) => `/api/deployments/${enc(id)}`;

export class TuiApi {
  constructor(readonly client: Client) {}

  get url(): string {
    return this.client.target.url;
  }

  async health(signal?: AbortSignal): Promise<void> {
    const res = await this.client.raw("GET", "/api/health", signal ? { signal } : {});
    await res.body?.cancel();
  }

  async deployments(): Promise<Deployment[]> {
    return (await this.client.get<{ deployments: Deployment[] }>("/api/deployments")).deployments;
  }

  deployment(id: string): Promise<Deployment> {
    return this.client.get<Deployment>(dep(id));
  }

  act(id: string, action: Action): Promise<Deployment> {
    return this.client.post<Deployment>(`${dep(id)}/${action}`);
  }

  remove(id: string): Promise<Deployment> {
    return this.client.delete<Deployment>(dep(id));
  }

  create(body: CreateBody): Promise<Created> {
    return this.client.post<Created>("/api/deployments", body);
  }

  /** New package version (npm/PyPI), arguments or session mode; the server restarts a running deployment. */
  update(
    id: string,
    change: { version?: string; args?: string[]; sessionMode?: "isolated" | "shared" },
  ): Promise<Deployment> {
    return this.client.patch<Deployment>(dep(id), change);
  }

  /** Sets and unsets credentials or (remote deployments) headers, write-only; the server restarts a running deployment. */
  setEnv(
    id: string,
    change: {
      set?: Record<string, string>;
      unset?: string[];
      headers?: Record<string, string>;
      unsetHeaders?: string[];
    },
  ): Promise<Deployment> {
    return this.client.post<Deployment>(`${dep(id)}/env`, {
      set: change.set ?? {},
      unset: change.unset ?? [],
      headers: change.headers ?? {},
      unsetHeaders: change.unsetHeaders ?? [],
    });
  }

  async tokens(id: string): Promise<TokenInfo[]> {
    return (await this.client.get<{ tokens: TokenInfo[] }>(`${dep(id)}/tokens`)).tokens;
  }

  createToken(id: string, name: string): Promise<NewToken> {
    return this.client.post<NewToken>(`${dep(id)}/tokens`, { name });
  }

  revokeToken(id: string, token: string): Promise<TokenInfo> {
    return this.client.delete<TokenInfo>(`${dep(id)}/tokens/${enc(token)}`);
  }

  rotateToken(id: string, token: string): Promise<NewToken> {
    return this.client.post<NewToken>(`${dep(id)}/tokens/${enc(token)}/rotate`);
  }

  connect(id: string): Promise<ConnectInfo> {
    return this.client.get<ConnectInfo>(`${dep(id)}/connect`);
  }

  stats(id: string): Promise<Stats> {
    return this.client.get<Stats>(`${dep(id)}/stats`);
  }

  async logs(id: string, tail: number): Promise<LogLine[]> {
    return (await this.client.get<{ lines: LogLine[] }>(`${dep(id)}/logs`, { query: { tail } })).lines;
  }

  async events(query: { deployment?: string; types?: string; limit?: number }): Promise<CatwalkEvent[]> {
    return (await this.client.get<{ events: CatwalkEvent[] }>("/api/events", { query })).events;
  }

  /** Catwalk's apps on Fly no deployment claims; deletes nothing. */
  flyOrphans(): Promise<FlyOrphans> {
    return listFlyOrphans(this.client);
  }

  /** Deletes the orphaned Fly apps. */
  deleteFlyOrphans(): Promise<FlyOrphans> {
    return deleteFlyOrphans(this.client);
  }

  oauthClients(id: string): Promise<ConnectedClient[]> {
    return listOAuthClients(this.client, id);
  }

  revokeOAuthClient(id: string, clientId: string): Promise<number> {
    return revokeOAuthClient(this.client, id, clientId);
  }

  connectCode(id: string): Promise<ConnectCode> {
    return createConnectCode(this.client, id);
  }

  startAnalysis(source: string): Promise<Analysis> {
    return this.client.post<Analysis>("/api/analyses", { source });
  }

  analysis(id: string): Promise<Analysis> {
    return this.client.get<Analysis>(`/api/analyses/${enc(id)}`);
  }

  credentialSchema(id: string): Promise<CredentialSchema> {
    return this.client.get<CredentialSchema>(`/api/analyses/${enc(id)}/credential-schema`);
  }

  validateCredentials(
    id: string,
    values: Record<string, string>,
  ): Promise<{ ok: boolean; errors: CredentialIssue[] }> {
    return this.client.post(`/api/analyses/${enc(id)}/credentials/validate`, { values });
  }

  /**
   * Reads a Server-Sent Events stream until the server ends it or `signal` aborts. A refused
   * request is an `ApiError`, an unreachable server a `ServerUnreachableError`.
   */
  async stream(
    path: string,
    query: Record<string, string | number | undefined>,
    onEvent: (e: SseEvent) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    const res = await this.client.raw("GET", path, {
      query: { ...query, follow: "true" },
      signal,
      headers: { accept: "text/event-stream" },
    });
    if (!res.ok || !res.body) throw await errorOf(res);
    onOpen?.();
    await readSse(res.body, onEvent, signal);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => undefined)) as Partial<ErrorBody> | undefined;
  if (body?.error && typeof body.error.message === "string") return new ApiError(res.status, body.error);
  return new ApiError(res.status, {
    code: `http_${res.status}`,
    message: `The server answered ${res.status}.`,
  });
}
