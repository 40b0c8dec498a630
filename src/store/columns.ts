import { integer } from "drizzle-orm/sqlite-core";

/**
 * Creation and update times as integer milliseconds since the epoch (exact, sortable, and cheap
 * to compare in SQL); drizzle hands them to code as `Date`.
 */
export const timestamps = {
  createdAt: integer("created_at", { mode: "timestamp_ms" })
    .notNull()
    .$defaultFn(() => new Date()),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" })
    .notNull()
    .$defaultFn(() => new Date())
    .$onUpdateFn(() => new Date()),
};
