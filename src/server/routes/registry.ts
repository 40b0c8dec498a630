import { Elysia } from "elysia";
import { z } from "zod";
import { CredentialSchemaSchema } from "../../analysis/api-schemas.ts";
import { credentialSchema } from "../../analysis/credentials.ts";
import { manifestFromServerJson } from "../../analysis/from-server-json.ts";
import { Manifest } from "../../analysis/manifest.ts";
import type { App } from "../../app/app.ts";
import { registryClient } from "../../app/services.ts";
import type { RegistryEntry } from "../../registry/mcp-registry.ts";
import { ServerJson } from "../../registry/server-json.ts";

/**
 * Browsing the official MCP registry: search by name, and one server's `server.json` turned into
 * a manifest with its credential schema, so it can be deployed without analysing its repository.
 */
const Summary = z.object({
  name: z.string(),
  title: z.string().optional(),
  description: z.string(),
  version: z.string(),
  status: z.string().optional(),
  repository: z.string().optional(),
  packages: z.array(
    z.object({ registryType: z.string(), identifier: z.string(), version: z.string().optional() }),
  ),
  remotes: z.array(z.object({ type: z.string(), url: z.string() })),
  updatedAt: z.string().optional(),
});

function summary(e: RegistryEntry): z.infer<typeof Summary> {
  const s = e.server;
  return {
    name: s.name,
    ...(s.title ? { title: s.title } : {}),
    description: s.description,
    version: s.version,
    ...(e.status ? { status: e.status } : {}),
    ...(s.repository?.url ? { repository: s.repository.url } : {}),
    packages: (s.packages ?? []).map((p) => ({
      registryType: p.registryType,
      identifier: p.identifier,
      ...(p.version ? { version: p.version } : {}),
    })),
    remotes: (s.remotes ?? []).map((r) => ({ type: r.type, url: r.url })),
    ...(e.updatedAt ? { updatedAt: e.updatedAt } : {}),
  };
}

export function registryRoutes(app: App) {
  const client = () => registryClient(app);
  return new Elysia({ name: "routes.registry", prefix: "/api/registry" })
    .get(
      "/servers",
      async ({ query }) => {
        const res = await client().search(query.search ?? "", {
          limit: query.limit ?? 20,
          cursor: query.cursor,
        });
        return {
          servers: res.servers.map(summary),
          nextCursor: res.nextCursor ?? null,
          skipped: res.skipped,
        };
      },
      {
        query: z.object({
          search: z.string().max(200).optional(),
          limit: z.coerce.number().int().min(1).max(100).optional(),
          cursor: z.string().max(500).optional(),
        }),
        response: {
          200: z.object({
            servers: z.array(Summary),
            nextCursor: z.string().nullable(),
            skipped: z.number(),
          }),
        },
        detail: {
          operationId: "registry.search",
          summary: "Search the official MCP registry by name",
          tags: ["registry"],
        },
      },
    )
    .get(
      "/servers/:name",
      async ({ params, query }) => {
        const entry = await client().get(decodeURIComponent(params.name), query.version ?? "latest");
        const manifest = manifestFromServerJson(entry.server, "registry");
        return {
          server: entry.server,
          status: entry.status ?? null,
          manifest,
          credentialSchema: credentialSchema(manifest),
        };
      },
      {
        params: z.object({ name: z.string().min(3).max(300) }),
        query: z.object({ version: z.string().max(100).optional() }),
        response: {
          200: z.object({
            server: ServerJson,
            status: z.string().nullable(),
            manifest: Manifest,
            credentialSchema: CredentialSchemaSchema,
          }),
        },
        detail: {
          operationId: "registry.get",
          summary:
            "One registry server (name URL-encoded, e.g. io.github.x%2Fy) as server.json, manifest and credential schema",
          tags: ["registry"],
        },
      },
    );
}
