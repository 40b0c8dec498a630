import { Elysia } from "elysia";
import { z } from "zod";
import type { Services } from "../../app/services.ts";
import { queryEvents } from "../../events/recorder.ts";
import { followSse } from "../sse.ts";

const Event = z.object({
  id: z.string(),
  time: z.string(),
  type: z.string(),
  deploymentId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});

const Query = z.object({
  deployment: z.string().optional().describe("deployment id"),
  // Elysia hands `a,b` over as an array; a single value stays a string.
  types: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe("comma-separated event types, e.g. deployment.state,token.revoked"),
  after: z.string().optional().describe("only events after this event id"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  follow: z.enum(["true", "false", "1", "0"]).optional().describe("stream live events as SSE"),
});

/** Event history and the live event stream (SSE) that the TUI follows. */
export function eventRoutes(services: Services) {
  return new Elysia({ name: "routes.events" }).get(
    "/api/events",
    async ({ query, request }) => {
      const types = [query.types ?? []]
        .flat()
        .flatMap((t) => t.split(","))
        .map((t) => t.trim())
        .filter(Boolean);
      const follow =
        query.follow === "true" ||
        query.follow === "1" ||
        (request.headers.get("accept") ?? "").includes("text/event-stream");
      await services.recorder.flush();
      const history = await queryEvents(services.app.store.db, {
        deploymentId: query.deployment,
        types,
        after: query.after,
        limit: query.limit,
      });
      if (!follow) return { events: history };
      return followSse(
        request,
        history.map((e) => ({ id: e.id, data: e })),
        (send) =>
          services.bus.subscribe((e) => {
            if (query.deployment && e.deploymentId !== query.deployment) return;
            if (types?.length && !types.includes(e.type)) return;
            send({ id: e.id, data: e });
          }),
      );
    },
    {
      query: Query,
      detail: {
        operationId: "events.list",
        summary: "Events, newest last; follow=true streams them as SSE",
        tags: ["events"],
        responses: {
          200: {
            description: "`{events}` as JSON, or with follow an SSE stream of event objects",
            content: {
              "application/json": { schema: z.toJSONSchema(z.object({ events: z.array(Event) })) as object },
            },
          },
        },
      },
    },
  );
}
