import { and, desc, eq, gt, inArray, lt, type SQL } from "drizzle-orm";
import type { Logger } from "../log/log.ts";
import { BatchWriter } from "../store/batch.ts";
import type { Db } from "../store/db.ts";
import { rootMessage } from "../store/errors.ts";
import type { Bus, CatwalkEvent } from "./bus.ts";
import { EventTable } from "./events.sql.ts";

export interface RecorderOptions {
  flushMs?: number;
  /** Traffic events kept; lifecycle and audit events are kept for `retainDays`. */
  maxTrafficRows?: number;
  retainDays?: number;
}

/**
 * Persists events from the bus in batches: the gateway publishes a `mcp.call` per request, and a
 * write per request would make SQLite the bottleneck. While the database refuses writes (locked,
 * disk full) events stay queued, up to 50,000 (see `BatchWriter`); serving never waits on it.
 */
export class EventRecorder {
  private readonly writer: BatchWriter<CatwalkEvent>;
  private readonly pruner: ReturnType<typeof setInterval>;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly db: Db,
    bus: Bus,
    private readonly log: Logger,
    private readonly opts: RecorderOptions = {},
  ) {
    this.writer = new BatchWriter({
      insert: (rows) => db.insert(EventTable).values(rows.map((e) => ({ ...e, time: new Date(e.time) }))),
      chunkSize: 500,
      flushMs: opts.flushMs ?? 250,
      maxQueue: 50_000,
      log,
      messages: { failed: "events not recorded", recovered: "events recorded again" },
    });
    this.unsubscribe = bus.subscribe((e) => this.writer.push(e));
    this.pruner = setInterval(() => void this.prune(), 60_000);
    this.pruner.unref?.();
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  async prune(): Promise<void> {
    try {
      const cutoff = new Date(Date.now() - (this.opts.retainDays ?? 30) * 86_400_000);
      await this.db.delete(EventTable).where(lt(EventTable.time, cutoff));
      const keep = this.opts.maxTrafficRows ?? 200_000;
      const edge = await this.db
        .select({ time: EventTable.time })
        .from(EventTable)
        .where(eq(EventTable.type, "mcp.call"))
        .orderBy(desc(EventTable.time))
        .limit(1)
        .offset(keep)
        .get();
      if (edge)
        await this.db
          .delete(EventTable)
          .where(and(eq(EventTable.type, "mcp.call"), lt(EventTable.time, edge.time)));
    } catch (e) {
      this.log.warn("event pruning failed", { error: rootMessage(e) });
    }
  }

  get droppedCount(): number {
    return this.writer.dropped;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    clearInterval(this.pruner);
    await this.writer.close();
  }
}

export interface EventQuery {
  deploymentId?: string | undefined;
  types?: string[] | undefined;
  /** Only events after this id (ULIDs sort by time). */
  after?: string | undefined;
  limit: number;
}

export async function queryEvents(db: Db, q: EventQuery): Promise<CatwalkEvent[]> {
  const where: SQL[] = [];
  if (q.deploymentId) where.push(eq(EventTable.deploymentId, q.deploymentId));
  if (q.types?.length) where.push(inArray(EventTable.type, q.types));
  if (q.after) where.push(gt(EventTable.id, q.after));
  const rows = await db
    .select()
    .from(EventTable)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(EventTable.id))
    .limit(q.limit)
    .all();
  return rows
    .reverse()
    .map((r) => ({ ...r, time: r.time.toISOString(), type: r.type as CatwalkEvent["type"] }));
}
