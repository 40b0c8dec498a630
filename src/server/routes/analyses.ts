import { Elysia } from "elysia";
import { z } from "zod";
import { CredentialIssueSchema, CredentialSchemaSchema } from "../../analysis/api-schemas.ts";
import { credentialSchema, validateCredentials } from "../../analysis/credentials.ts";
import { analysisServiceOf } from "../../analysis/instance.ts";
import { Manifest, toServerJson } from "../../analysis/manifest.ts";
import type { AnalysisEvent, AnalysisService } from "../../analysis/service.ts";
import type { AnalysisRecord } from "../../analysis/store.ts";
import type { App } from "../../app/app.ts";
import { ServerJson } from "../../registry/server-json.ts";
import { ConflictError } from "../../util/error.ts";
import { followSse } from "../sse.ts";

/**
 * Analyses API. `POST /api/analyses` answers 200 with a cached analysis of the same commit, or
 * 202 with a pending one; progress is `GET /api/analyses/:id/events` (SSE: `step` events, then
 * one `done`; a finished analysis replays its steps and ends at once).
 */

const StepEventSchema = z.object({
  step: z.enum(["fetching", "reading", "asking_claude", "validating", "verifying"]),
  status: z.enum(["started", "done", "skipped", "failed"]),
  message: z.string(),
  at: z.string(),
});

export const AnalysisView = z.object({
  id: z.string().describe("ana_… id"),
  source: z.string().describe("The source as understood (normalized)"),
  repository: z.string().describe("Cache key: GitHub URL, or npm:/pypi:<name> for package sources"),
  subdir: z.string(),
  commit: z.string().describe("Commit sha, or the exact package version for package sources"),
  status: z.enum(["pending", "running", "succeeded", "failed"]),
  cached: z.boolean().describe("True when an earlier analysis of the same commit was answered"),
  manifest: Manifest.nullable(),
  warnings: z.array(z.string()),
  steps: z.array(StepEventSchema),
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const StartBody = z.object({
  source: z
    .string()
    .min(1)
    .max(500)
    .describe(
      "https://github.com/<owner>/<repo>[/tree/<ref>/<subdir>], npm:<pkg>[@ver] or pypi:<pkg>[==ver]",
    ),
  force: z.boolean().optional().describe("Analyse again even if this commit was analysed"),
  verify: z.boolean().optional().describe("Start the package in a sandbox and record what it serves"),
  credentials: z
    .record(z.string(), z.string())
    .optional()
    .describe("Environment for the verification run only; never stored"),
});

const IdParams = z.object({ id: z.string().min(1).max(40) });

function view(r: AnalysisRecord, cached = false): z.infer<typeof AnalysisView> {
  return { ...r, cached };
}

/** Progress as SSE: the steps so far, then live `step` events, then `done` (and the stream ends). */
function sse(request: Request, service: AnalysisService, rec: AnalysisRecord): Response {
  return followSse(
    request,
    rec.steps.map((s) => ({ event: "step", data: s })),
    (send, end) => {
      const finish = (status: string) => {
        send({ event: "done", data: { id: rec.id, status } });
        end();
      };
      const unsubscribe = service.subscribe(rec.id, (e: AnalysisEvent) =>
        e.type === "step" ? send({ event: "step", data: e.step }) : finish(e.status),
      );
      if (unsubscribe) return unsubscribe;
      service.get(rec.id).then(
        (r) => finish(r.status),
        () => finish("failed"),
      );
      return () => {};
    },
  );
}

export function analysisRoutes(app: App) {
  const service = analysisServiceOf(app);
  return new Elysia({ name: "routes.analyses", prefix: "/api/analyses" })
    .post(
      "",
      async ({ body, status }) => {
        const { record, cached } = await service.start(body);
        return status(cached && record.status !== "running" ? 200 : 202, view(record, cached));
      },
      {
        body: StartBody,
        response: { 200: AnalysisView, 202: AnalysisView },
        detail: {
          operationId: "analyses.create",
          summary: "Analyse a GitHub repository, npm or PyPI package",
          tags: ["analyses"],
        },
      },
    )
    .get(
      "",
      async ({ query }) => ({ analyses: (await service.list(query.limit ?? 50)).map((r) => view(r)) }),
      {
        query: z.object({ limit: z.coerce.number().int().min(1).max(200).optional() }),
        response: { 200: z.object({ analyses: z.array(AnalysisView) }) },
        detail: {
          operationId: "analyses.list",
          summary: "Recent analyses, newest first",
          tags: ["analyses"],
        },
      },
    )
    .get("/:id", async ({ params }) => view(await service.get(params.id)), {
      params: IdParams,
      response: { 200: AnalysisView },
      detail: { operationId: "analyses.get", summary: "One analysis with its manifest", tags: ["analyses"] },
    })
    .get("/:id/events", async ({ params, request }) => sse(request, service, await service.get(params.id)), {
      params: IdParams,
      detail: {
        operationId: "analyses.events",
        summary:
          "Progress as Server-Sent Events: `step` events (fetching, reading, asking_claude, validating, verifying), then `done`",
        tags: ["analyses"],
      },
    })
    .get("/:id/server-json", async ({ params }) => toServerJson(await manifestOf(service, params.id)), {
      params: IdParams,
      response: { 200: ServerJson },
      detail: {
        operationId: "analyses.serverJson",
        summary: "The manifest exported as an official server.json",
        tags: ["analyses"],
      },
    })
    .get(
      "/:id/credential-schema",
      async ({ params }) => credentialSchema(await manifestOf(service, params.id)),
      {
        params: IdParams,
        response: { 200: CredentialSchemaSchema },
        detail: {
          operationId: "analyses.credentialSchema",
          summary: "JSON Schema of the credentials a deployment needs",
          tags: ["analyses"],
        },
      },
    )
    .post(
      "/:id/credentials/validate",
      async ({ params, body }) => {
        const check = validateCredentials(
          credentialSchema(await manifestOf(service, params.id)),
          body.values,
        );
        return { ok: check.ok, errors: check.errors };
      },
      {
        params: IdParams,
        body: z.object({ values: z.record(z.string(), z.unknown()) }),
        response: { 200: z.object({ ok: z.boolean(), errors: z.array(CredentialIssueSchema) }) },
        detail: {
          operationId: "analyses.validateCredentials",
          summary: "Check credentials against the schema, naming each problem",
          tags: ["analyses"],
        },
      },
    );
}

async function manifestOf(service: AnalysisService, id: string): Promise<Manifest> {
  const rec = await service.get(id);
  if (!rec.manifest || rec.status === "running" || rec.status === "pending") {
    throw new ConflictError(`Analysis ${id} has no manifest yet (status ${rec.status}).`, {
      hint: `Wait for it: GET /api/analyses/${id}/events.`,
    });
  }
  return rec.manifest;
}
