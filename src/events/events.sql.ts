import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Lifecycle events, audit records and MCP traffic metadata (method, tool, duration, outcome,
 * client; never arguments or results). Ids are ULIDs, so they sort by time.
 */
export const EventTable = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    time: integer("time", { mode: "timestamp_ms" }).notNull(),
    type: text("type").notNull(),
    deploymentId: text("deployment_id"),
    data: text("data", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    index("events_deployment_time").on(t.deploymentId, t.time),
    index("events_type_time").on(t.type, t.time),
  ],
);
