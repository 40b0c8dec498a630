import type { AnalysisPort } from "../deployment/manager.ts";
import { ConflictError } from "../util/error.ts";
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

/** What deployments need from analysis: finished manifests, and analysing a source on demand. */
export function analysisPort(service: AnalysisService): AnalysisPort {
  return {
    manifest: async (id) => finished(await service.get(id)),
    analyze: async (source) => finished(await service.analyze({ source })),
  };
}
