import { Elysia } from "elysia";
import { z } from "zod";
import type { App } from "../../app/app.ts";
import { VERSION } from "../../version.ts";

export const HealthInfo = z.object({
  status: z.enum(["ok", "unavailable"]).describe("ok when the server can reach its database"),
  version: z.string(),
});

/**
 * Unauthenticated liveness for load balancers and Fly checks: status and version, nothing else.
 * It answers 503 when the database does not answer, so a supervisor restarts a wedged server.
 */
export function healthRoutes(app: App) {
  return new Elysia({ name: "routes.health" }).get(
    "/api/health",
    async ({ status }) => {
      try {
        await app.store.client.execute("select 1");
        return { status: "ok" as const, version: VERSION };
      } catch {
        return status(503, { status: "unavailable" as const, version: VERSION });
      }
    },
    {
      response: { 200: HealthInfo, 503: HealthInfo },
      detail: { operationId: "health.get", summary: "Liveness and version", tags: ["health"], security: [] },
    },
  );
}
