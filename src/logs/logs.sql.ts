import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Lines of each deployment's log (child stderr and lifecycle notes), bounded per deployment. */
export const LogLineTable = sqliteTable(
  "log_lines",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    deploymentId: text("deployment_id").notNull(),
    time: integer("time", { mode: "timestamp_ms" }).notNull(),
    stream: text("stream").$type<"stderr" | "lifecycle">().notNull(),
    line: text("line").notNull(),
  },
  (t) => [index("log_lines_deployment_id").on(t.deploymentId, t.id)],
);
