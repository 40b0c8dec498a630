import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { Db } from "../store/db.ts";
import { newId } from "../util/ids.ts";
import { AnalysesTable, type AnalysisError, type AnalysisStatus } from "./analysis.sql.ts";
import type { Manifest } from "./manifest.ts";
import type { CacheKey, StepEvent } from "./pipeline.ts";

/** Rows of the `analyses` table as the rest of the code sees them. */
export interface AnalysisRecord {
  id: string;
  source: string;
  repository: string;
  subdir: string;
  commit: string;
  status: AnalysisStatus;
  manifest: Manifest | null;
  warnings: string[];
  steps: StepEvent[];
  error: AnalysisError | null;
  createdAt: string;
  updatedAt: string;
}

type Row = typeof AnalysesTable.$inferSelect;

function toRecord(r: Row): AnalysisRecord {
  return {
    id: r.id,
    source: r.source,
    repository: r.repository,
    subdir: r.subdir,
    commit: r.commitSha,
    status: r.status,
    manifest: r.manifest ?? null,
    warnings: r.warnings,
    steps: r.steps,
    error: r.error ?? null,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export class AnalysisStore {
  constructor(private readonly db: Db) {}

  async get(id: string): Promise<AnalysisRecord | undefined> {
    const row = await this.db.select().from(AnalysesTable).where(eq(AnalysesTable.id, id)).get();
    return row ? toRecord(row) : undefined;
  }

  async byKey(key: CacheKey): Promise<AnalysisRecord | undefined> {
    const row = await this.db
      .select()
      .from(AnalysesTable)
      .where(
        and(
          eq(AnalysesTable.repository, key.repository),
          eq(AnalysesTable.subdir, key.subdir),
          eq(AnalysesTable.commitSha, key.commit),
        ),
      )
      .get();
    return row ? toRecord(row) : undefined;
  }

  async list(limit: number): Promise<AnalysisRecord[]> {
    const rows = await this.db
      .select()
      .from(AnalysesTable)
      .orderBy(desc(AnalysesTable.createdAt))
      .limit(limit)
      .all();
    return rows.map(toRecord);
  }

  /** Inserts a pending analysis for the key; when a concurrent request won the race, returns theirs. */
  async create(source: string, key: CacheKey): Promise<{ record: AnalysisRecord; created: boolean }> {
    const id = newId("ana");
    await this.db
      .insert(AnalysesTable)
      .values({
        id,
        source,
        repository: key.repository,
        subdir: key.subdir,
        commitSha: key.commit,
        status: "pending",
        warnings: [],
        steps: [],
      })
      .onConflictDoNothing()
      .run();
    const record = (await this.byKey(key)) as AnalysisRecord;
    return { record, created: record.id === id };
  }

  /**
   * Analyses a previous process left running can never finish; marks them failed. With a store
   * shared by several hosts, another host may be running some: only those not updated since
   * `staleBefore` count as interrupted.
   */
  async failInterrupted(staleBefore?: Date): Promise<void> {
    const running = inArray(AnalysesTable.status, ["pending", "running"]);
    await this.db
      .update(AnalysesTable)
      .set({
        status: "failed",
        error: {
          code: "analysis.interrupted",
          message: "The server stopped while this analysis ran.",
          hint: "Start it again.",
        },
        updatedAt: new Date(),
      })
      .where(staleBefore ? and(running, lt(AnalysesTable.updatedAt, staleBefore)) : running)
      .run();
  }

  async update(
    id: string,
    patch: Partial<{
      source: string;
      status: AnalysisStatus;
      manifest: Manifest | null;
      warnings: string[];
      steps: StepEvent[];
      error: AnalysisError | null;
    }>,
  ): Promise<void> {
    await this.db
      .update(AnalysesTable)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(AnalysesTable.id, id))
      .run();
  }
}
