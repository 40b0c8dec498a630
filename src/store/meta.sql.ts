import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamps } from "./columns.ts";

/** Instance-wide facts: admin token hash, vault key check value, instance id. */
export const MetaTable = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  ...timestamps,
});
