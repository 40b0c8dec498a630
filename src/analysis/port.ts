import type { AnalysisPort } from "../deployment/manager.ts";
import type { McpRegistry } from "../registry/mcp-registry.ts";
import { ConflictError } from "../util/error.ts";
import { manifestFromServerJson } from "./from-server-json.ts";
import type { AnalysisService } from "./service.ts";
import type { AnalysisRecord } from "./store.ts";

export class AnalysisNotReadyError extends ConflictError {
  override readonly code = "analysis.not_ready";
}

function finished(rec: AnalysisRecord) {
  if (rec.status === "succeeded" && rec.manifest) return { id: rec.id, manifest: rec.manifest };
  if (rec.status === "failed") {
    throw new AnalysisNotReadyError(
      `Analysis ${rec.id} of ${rec.source} failed: ${rec.error?.message ?? "unknown error"}.`,
      {
        hint: "Fix the source or analyse again with force.",
      },
    );
  }
  throw new AnalysisNotReadyError(`Analysis ${rec.id} is still ${rec.status}.`, {
    hint: `Wait for it (GET /api/analyses/${rec.id}/events), then deploy.`,
  });
}

/**
 * What deployments need from analysis: finished manifests, analysing a source on demand, and
 * official registry entries (their server.json is authoritative, so no analysis runs).
 */
export function analysisPort(service: AnalysisService, registry: () => McpRegistry): AnalysisPort {
  return {
    manifest: async (id) => finished(await service.get(id)),
    analyze: async (source) => finished(await service.analyze({ source })),
    fromRegistry: async (name) => ({
      id: undefined,
      manifest: manifestFromServerJson((await registry().get(name)).server, "registry"),
    }),
  };
}
