import { githubRepoOf } from "../registry/provenance.ts";
import type { ServerJson } from "../registry/server-json.ts";
import { packagesFromServerJson, remotesFromServerJson } from "./assemble.ts";
import type { Evidence, Manifest } from "./manifest.ts";

/**
 * A manifest straight from a `server.json` (an MCP registry entry): every field carries the
 * registry as evidence with full confidence. Packages other than npm/PyPI are left out with a
 * warning, since no Catwalk runtime can run them.
 */
export function manifestFromServerJson(sj: ServerJson, from: "registry" | "server.json"): Manifest {
  const ev: Evidence =
    from === "registry"
      ? { kind: "registry", registry: "mcp-registry" }
      : { kind: "file", file: "server.json", line: 1 };
  const f = <T>(value: T) => ({ value, evidence: [ev], confidence: 1 });
  const warnings: string[] = [];
  const packages = packagesFromServerJson(sj, ev, warnings);
  const repo = githubRepoOf(sj.repository?.url);
  return {
    schemaVersion: 1,
    name: f(sj.name),
    ...(sj.title ? { title: f(sj.title) } : {}),
    description: f(sj.description),
    version: f(sj.version),
    ...(repo && sj.repository
      ? {
          repository: {
            url: `https://github.com/${repo.owner}/${repo.repo}`,
            source: "github" as const,
            ...(sj.repository.id ? { id: sj.repository.id } : {}),
            ...(sj.repository.subfolder ? { subfolder: sj.repository.subfolder } : {}),
          },
        }
      : {}),
    isMcpServer: f(true),
    packages,
    remotes: remotesFromServerJson(sj, ev),
    tools: [],
    resources: [],
    prompts: [],
    analysis: { mode: from === "registry" ? "registry" : "server.json", filesRead: [] },
  };
}
