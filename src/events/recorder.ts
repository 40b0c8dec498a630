import { and, desc, eq, gt, inArray, lt, type SQL } from "drizzle-orm";
import type { Logger } from "../log/log.ts";
import { WriteBackoff } from "../store/backoff.ts";
import type { Db } from "../store/db.ts";
import { rootMessage, storeFailure } from "../store/errors.ts";
import type { Bus, CatwalkEvent } from "./bus.ts";
import { EventTable } from "./events.sql.ts";

export interface RecorderOptions {
  flushMs?: number;
  /** Traffic events kept; lifecycle and audit events are kept for `retainDays`. */
  maxTrafficRows?: number;
  retainDays?: number;
}

const MAX_QUEUED = 50_000;

/**
 * Persists events from the bus in batches: the gateway publishes a `mcp.call` per request, and a
 * write per request would make SQLite the bottleneck. While writes fail (disk full, database
 * locked) events stay queued (the oldest beyond 50,000 are dropped and counted) and attempts back
 * off up to 30 s; one warning per outage, one line when it ends. Any other write error drops the
 * batch with a warning (retrying could not help). Serving never waits on it.
 */
export class EventRecorder {
  private queue: CatwalkEvent[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly pruner: ReturnType<typeof setInterval>;
  private readonly unsubscribe: () => void;
  private dropped = 0;
  private flushing: Promise<void> | undefined;
  private readonly backoff = new WriteBackoff();

  constructor(
    private readonly db: Db,
    bus: Bus,
    private readonly log: Logger,
    private readonly opts: RecorderOptions = {},
  ) {
    this.unsubscribe = bus.subscribe((e) => {
      this.queue.push(e);
      this.trim();
    });
    this.timer = setInterval(() => {
      if (this.backoff.due()) void this.flush();
    }, opts.flushMs ?? 250);
    this.pruner = setInterval(() => void this.prune(), 60_000);
    this.timer.unref?.();
    this.pruner.unref?.();
  }

  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0);
    this.flushing = (async () => {
      let written = 0;
      try {
        for (; written < batch.length; written += 500) {
          const rows = batch.slice(written, written + 500).map((e) => ({ ...e, time: new Date(e.time) }));
          await this.db.insert(EventTable).values(rows);
        }
        const outage = this.backoff.succeeded();
        if (outage !== undefined)
          this.log.info("events recorded again", { afterMs: outage, dropped: this.dropped });
      } catch (e) {
        const rest = batch.slice(written);
        if (!storeFailure(e)) {
          // Not the database being locked or full: retrying would fail the same way forever.
          this.dropped += rest.length;
          this.log.warn("events not recorded", { count: rest.length, error: rootMessage(e) });
          return;
        }
        // The failed chunk was not written: it and the rest go back to the front of the queue.
        this.queue = [...rest, ...this.queue];
        this.trim();
        if (this.backoff.failed()) {
          this.log.warn("events not recorded; retrying with backoff", {
            error: rootMessage(e),
            queued: this.queue.length,
          });
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private trim(): void {
    const over = this.queue.length - MAX_QUEUED;
    if (over <= 0) return;
    this.queue.splice(0, over);
    this.dropped += over;
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
    return this.dropped;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    clearInterval(this.timer);
    clearInterval(this.pruner);
    await this.flush();
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
