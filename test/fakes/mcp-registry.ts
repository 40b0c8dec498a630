import { type Fake, json, startFake } from "./http.ts";

/**
 * A fake of the official MCP registry read API (`/v0/...` and `/v0.1/...`):
 * - `GET /v0/servers?search=&limit=&cursor=&version=latest` → `{servers: [{server, _meta}], metadata: {nextCursor?, count}}`,
 *   case-insensitive substring search on name and description, cursor = the last name of the page;
 * - `GET /v0/servers/{name}/versions/{version|latest}` → `{server, _meta}`; `404 {"error": "Server not found"}`.
 *
 *   const reg = await startFakeMcpRegistry([serverJson1, serverJson2]);
 */
export type ServerDoc = { name: string; version: string; description: string } & Record<string, unknown>;

/** An official-registry entry of an npm server with one required secret, shared by tests. */
export const ACME_SEARCH: ServerDoc = {
  name: "io.github.acme/search",
  description: "Web and news search through the Acme Search API",
  version: "2.1.0",
  repository: { url: "https://github.com/acme/search-mcp", source: "github" },
  packages: [
    {
      registryType: "npm",
      identifier: "@acme/search-mcp",
      version: "2.1.0",
      transport: { type: "stdio" },
      environmentVariables: [
        { name: "ACME_SEARCH_API_KEY", isRequired: true, isSecret: true, description: "API key" },
      ],
    },
  ],
};

export interface FakeMcpRegistry extends Fake {
  add(server: ServerDoc, status?: "active" | "deprecated" | "deleted"): void;
}

interface Stored {
  server: ServerDoc;
  status: string;
}

function wrap(s: Stored, latest: boolean) {
  return {
    server: s.server,
    _meta: {
      "io.modelcontextprotocol.registry/official": {
        status: s.status,
        publishedAt: "2025-10-01T10:00:00Z",
        updatedAt: "2025-10-02T10:00:00Z",
        isLatest: latest,
      },
    },
  };
}

export async function startFakeMcpRegistry(initial: ServerDoc[] = []): Promise<FakeMcpRegistry> {
  const all: Stored[] = initial.map((server) => ({ server, status: "active" }));
  const latestOf = (name: string) => all.filter((s) => s.server.name === name).at(-1);
  const fake = await startFake("mcp-registry", (req, url) => {
    if (req.method !== "GET") return json({ error: "Method not allowed" }, 405);
    const path = url.pathname.replace(/^\/v0(\.1)?/, "");
    if (path === "/servers") {
      const q = (url.searchParams.get("search") ?? "").toLowerCase();
      const limit = Math.min(Number(url.searchParams.get("limit") ?? "30") || 30, 100);
      const cursor = url.searchParams.get("cursor");
      const onlyLatest = url.searchParams.get("version") === "latest";
      let rows = all.filter((s) => s.status !== "deleted");
      if (onlyLatest) rows = rows.filter((s) => latestOf(s.server.name) === s);
      rows = rows
        .filter((s) => `${s.server.name} ${s.server.description}`.toLowerCase().includes(q))
        .sort((a, b) => a.server.name.localeCompare(b.server.name));
      if (cursor) rows = rows.filter((s) => s.server.name > cursor);
      const page = rows.slice(0, limit);
      const more = rows.length > limit;
      return json({
        servers: page.map((s) => wrap(s, latestOf(s.server.name) === s)),
        metadata: { count: page.length, ...(more ? { nextCursor: page.at(-1)?.server.name } : {}) },
      });
    }
    const m = /^\/servers\/([^/]+)\/versions\/([^/]+)$/.exec(path);
    if (m) {
      const name = decodeURIComponent(m[1] ?? "");
      const version = decodeURIComponent(m[2] ?? "");
      const hit =
        version === "latest"
          ? latestOf(name)
          : all.find((s) => s.server.name === name && s.server.version === version);
      if (!hit || hit.status === "deleted") return json({ error: "Server not found" }, 404);
      return json(wrap(hit, latestOf(name) === hit));
    }
    return json({ title: "Not Found", status: 404, detail: "no route" }, 404);
  });
  return { ...fake, add: (server, status = "active") => all.push({ server, status }) };
}
