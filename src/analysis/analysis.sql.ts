import { sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { timestamps } from "../store/columns.ts";
import type { Manifest } from "./manifest.ts";
import type { StepEvent } from "./pipeline.ts";

export type AnalysisStatus = "pending" | "running" | "succeeded" | "failed";

export interface AnalysisError {
  code: string;
  message: string;
  hint?: string;
}

/**
 * One analysis per (repository, subdir, commit): the cache. `repository` is the lowercase GitHub
 * URL for repository sources and `npm:<name>` / `pypi:<name>` for package sources, in which case
 * `commit_sha` holds the exact package version. Re-analysis updates the row in place.
 */
export const AnalysesTable = sqliteTable(
  "analyses",
  {
    id: text("id").primaryKey(),
    source: text("source").notNull(),
    repository: text("repository").notNull(),
    subdir: text("subdir").notNull().default(""),
    commitSha: text("commit_sha").notNull(),
    status: text("status").$type<AnalysisStatus>().notNull(),
    manifest: text("manifest", { mode: "json" }).$type<Manifest>(),
    warnings: text("warnings", { mode: "json" }).$type<string[]>().notNull(),
    steps: text("steps", { mode: "json" }).$type<StepEvent[]>().notNull(),
    error: text("error", { mode: "json" }).$type<AnalysisError>(),
    ...timestamps,
  },
  (t) => [uniqueIndex("analyses_cache_key").on(t.repository, t.subdir, t.commitSha)],
);
