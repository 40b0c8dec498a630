import { Elysia } from "elysia";
import { z } from "zod";
import type { Services } from "../../app/services.ts";

const Orphans = z.object({
  orphaned: z
    .array(z.string())
    .describe("Fly apps with fly.appPrefix that no deployment of this server claims"),
  deleted: z.array(z.string()).describe("apps deleted by this call (with everything in them)"),
});

const tags = ["fly"];

/** Truth on Fly: orphaned apps (`catwalk fly gc`). Listing never deletes; DELETE does. */
export function flyRoutes(services: Services) {
  return new Elysia({ name: "routes.fly", prefix: "/api/fly" })
    .get("/orphans", () => services.fly.gc(false), {
      response: { 200: Orphans },
      detail: {
        operationId: "fly.orphans.list",
        summary: "List Catwalk apps on Fly that no deployment claims",
        tags,
      },
    })
    .delete("/orphans", () => services.fly.gc(true), {
      response: { 200: Orphans },
      detail: {
        operationId: "fly.orphans.delete",
        summary: "Delete the orphaned Catwalk apps on Fly (their Machines, secrets and IPs)",
        tags,
      },
    });
}
