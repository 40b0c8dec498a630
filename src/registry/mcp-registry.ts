import { z } from "zod";
import { CatwalkError } from "../util/error.ts";
import { httpGet, joinUrl, parseJson, redactUrl, ServiceResponseError, unexpectedStatus } from "./http.ts";
import { parseServerJson, type ServerJson } from "./server-json.ts";

/**
 * Client of the official MCP registry's read API: `GET /v0/servers?search=&limit=&cursor=&version=latest`
 * answers `{servers: [{server, _meta}], metadata: {nextCursor, count}}`; a server's detail is
 * `GET /v0/servers/{name}/versions/{version}` with the name URL-encoded.
 */
const OFFICIAL = "io.modelcontextprotocol.registry/official";

const ListResponse = z.object({
  servers: z.array(z.object({ server: z.unknown(), _meta: z.record(z.string(), z.unknown()).optional() })),
  metadata: z.object({ nextCursor: z.string().nullish(), count: z.number().optional() }).optional(),
});

export interface RegistryEntry {
  server: ServerJson;
  status: string | undefined;
  publishedAt: string | undefined;
  updatedAt: string | undefined;
  isLatest: boolean | undefined;
}

export interface SearchResult {
  servers: RegistryEntry[];
  nextCursor: string | undefined;
  /** Entries the registry returned that do not parse as server.json; reported, never fatal. */
  skipped: number;
}

export class RegistryServerNotFoundError extends CatwalkError {
  readonly code = "mcp_registry.not_found";
  readonly status = 404;
}

export interface McpRegistryOptions {
  baseUrl: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

function entryOf(raw: {
  server: unknown;
  _meta?: Record<string, unknown> | undefined;
}): RegistryEntry | undefined {
  const parsed = parseServerJson(raw.server);
  if (!parsed.ok) return undefined;
  const official = (raw._meta?.[OFFICIAL] ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  return {
    server: parsed.value,
    status: str(official.status),
    publishedAt: str(official.publishedAt),
    updatedAt: str(official.updatedAt),
    isLatest: typeof official.isLatest === "boolean" ? official.isLatest : undefined,
  };
}

export class McpRegistry {
  constructor(private readonly opts: McpRegistryOptions) {}

  private async getJson(path: string): Promise<{ status: number; body: unknown; url: string }> {
    const url = joinUrl(this.opts.baseUrl, path);
    const res = await httpGet(url, {
      service: "mcp_registry",
      timeoutMs: this.opts.timeoutMs,
      maxBytes: 8 * 1024 * 1024,
      signal: this.opts.signal,
    });
    if (res.status === 404) return { status: 404, body: undefined, url };
    if (res.status !== 200) throw unexpectedStatus("mcp_registry", url, res.status);
    return { status: 200, body: parseJson(res.text, "mcp_registry", url), url };
  }

  async search(
    query: string,
    opts: { limit?: number; cursor?: string | undefined } = {},
  ): Promise<SearchResult> {
    const params = new URLSearchParams({ search: query, version: "latest", limit: String(opts.limit ?? 20) });
    if (opts.cursor) params.set("cursor", opts.cursor);
    const { body, url } = await this.getJson(`/v0/servers?${params}`);
    const parsed = ListResponse.safeParse(body);
    if (!parsed.success) {
      throw new ServiceResponseError(
        "mcp_registry",
        "bad_response",
        `The MCP registry answered ${redactUrl(url)} with an unexpected shape.`,
      );
    }
    const entries = parsed.data.servers.map(entryOf);
    return {
      servers: entries.filter((e): e is RegistryEntry => e !== undefined),
      nextCursor: parsed.data.metadata?.nextCursor || undefined,
      skipped: entries.filter((e) => e === undefined).length,
    };
  }

  async get(name: string, version = "latest"): Promise<RegistryEntry> {
    const path = `/v0/servers/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
    const { status, body } = await this.getJson(path);
    if (status === 404) {
      throw new RegistryServerNotFoundError(`The MCP registry has no server ${name} (version ${version}).`, {
        hint: "Find the exact name with `catwalk search <words>`.",
      });
    }
    const wrapped = z
      .object({ server: z.unknown(), _meta: z.record(z.string(), z.unknown()).optional() })
      .safeParse(body);
    const entry = wrapped.success ? entryOf(wrapped.data) : undefined;
    if (!entry) {
      throw new ServiceResponseError(
        "mcp_registry",
        "bad_response",
        `The MCP registry's entry for ${name} is not a valid server.json.`,
      );
    }
    return entry;
  }
}
