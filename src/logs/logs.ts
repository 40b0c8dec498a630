import { and, asc, count, desc, eq, gt, gte, lt } from "drizzle-orm";
import type { Logger } from "../log/log.ts";
import { Redactor } from "../log/redact.ts";
import { WriteBackoff } from "../store/backoff.ts";
import type { Db } from "../store/db.ts";
import { rootMessage, storeFailure } from "../store/errors.ts";
import { LogLineTable } from "./logs.sql.ts";

export interface LogLine {
  id: number;
  time: string;
  stream: "stderr" | "lifecycle";
  line: string;
}

export type LogListener = (deploymentId: string, line: LogLine) => void;

const MAX_LINE = 4096;
const MAX_QUEUED = 20_000;

export interface LogStoreOptions {
  /** Lines kept per deployment; older ones are pruned. */
  maxLines?: number;
  flushMs?: number;
}

/**
 * Each deployment's log, persisted in the store. Lines are redacted (the deployment's own secret
 * values plus every globally known secret) before anything sees them, truncated, written in
 * batches, and pruned to a bound per deployment. If the disk is full or the database is locked,
 * lines stay queued (the oldest beyond 20,000 are dropped and counted) and writes back off up to
 * 30 s, with one warning per outage; other write errors drop the batch with a warning. Serving
 * carries on.
 */
export class LogStore {
  private queue: { deploymentId: string; time: Date; stream: "stderr" | "lifecycle"; line: string }[] = [];
  private readonly secrets = new Map<string, Redactor>();
  private readonly listeners = new Set<LogListener>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly pruner: ReturnType<typeof setInterval>;
  private flushing: Promise<void> | undefined;
  private seq = 0;
  private readonly backoff = new WriteBackoff();
  dropped = 0;

  constructor(
    private readonly db: Db,
    private readonly global: Redactor,
    private readonly log: Logger,
    private readonly opts: LogStoreOptions = {},
  ) {
    this.timer = setInterval(() => {
      if (this.backoff.due()) void this.flush();
    }, opts.flushMs ?? 200);
    this.pruner = setInterval(() => void this.prune(), 60_000);
    this.timer.unref?.();
    this.pruner.unref?.();
  }

  /** The values to redact from one deployment's lines (its credentials). */
  setSecrets(deploymentId: string, values: readonly string[]): void {
    const r = new Redactor();
    r.add(...values);
    this.secrets.set(deploymentId, r);
  }

  forget(deploymentId: string): void {
    this.secrets.delete(deploymentId);
  }

  append(deploymentId: string, stream: "stderr" | "lifecycle", raw: string): void {
    const own = this.secrets.get(deploymentId);
    let line = this.global.text(own ? own.text(raw) : raw);
    if (line.length > MAX_LINE)
      line = `${line.slice(0, MAX_LINE)}… [${line.length - MAX_LINE} more characters]`;
    const time = new Date();
    this.queue.push({ deploymentId, time, stream, line });
    this.trim();
    const entry: LogLine = { id: ++this.seq, time: time.toISOString(), stream, line };
    for (const fn of this.listeners) fn(deploymentId, entry);
  }

  subscribe(fn: LogListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0);
    this.flushing = (async () => {
      let written = 0;
      try {
        for (; written < batch.length; written += 500)
          await this.db.insert(LogLineTable).values(batch.slice(written, written + 500));
        const outage = this.backoff.succeeded();
        if (outage !== undefined)
          this.log.info("deployment log lines stored again", { afterMs: outage, dropped: this.dropped });
      } catch (e) {
        const rest = batch.slice(written);
        if (!storeFailure(e)) {
          // Not the database being locked or full: retrying would fail the same way forever.
          this.dropped += rest.length;
          this.log.warn("deployment log lines not stored", { count: rest.length, error: rootMessage(e) });
          return;
        }
        // The failed chunk was not written: it and the rest go back to the front of the queue.
        this.queue = [...rest, ...this.queue];
        this.trim();
        if (this.backoff.failed()) {
          this.log.warn("deployment log lines not stored; retrying with backoff", {
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
    const keep = this.opts.maxLines ?? 10_000;
    try {
      const ids = await this.db.selectDistinct({ id: LogLineTable.deploymentId }).from(LogLineTable).all();
      for (const { id } of ids) {
        const total = await this.db
          .select({ n: count() })
          .from(LogLineTable)
          .where(eq(LogLineTable.deploymentId, id))
          .get();
        if (!total || total.n <= keep) continue;
        const edge = await this.db
          .select({ id: LogLineTable.id })
          .from(LogLineTable)
          .where(eq(LogLineTable.deploymentId, id))
          .orderBy(desc(LogLineTable.id))
          .limit(1)
          .offset(keep)
          .get();
        if (edge)
          await this.db
            .delete(LogLineTable)
            .where(and(eq(LogLineTable.deploymentId, id), lt(LogLineTable.id, edge.id + 1)));
      }
    } catch (e) {
      this.log.warn("log pruning failed", { error: rootMessage(e) });
    }
  }

  async remove(deploymentId: string): Promise<void> {
    this.forget(deploymentId);
    await this.flush();
    await this.db.delete(LogLineTable).where(eq(LogLineTable.deploymentId, deploymentId));
  }

  /** The last `tail` lines, optionally only those at or after `since`. */
  async read(deploymentId: string, tail: number, since?: Date): Promise<LogLine[]> {
    await this.flush();
    const where = since
      ? and(eq(LogLineTable.deploymentId, deploymentId), gte(LogLineTable.time, since))
      : eq(LogLineTable.deploymentId, deploymentId);
    const rows = await this.db
      .select()
      .from(LogLineTable)
      .where(where)
      .orderBy(desc(LogLineTable.id))
      .limit(tail)
      .all();
    return rows
      .reverse()
      .map((r) => ({ id: r.id, time: r.time.toISOString(), stream: r.stream, line: r.line }));
  }

  /** Lines after a given id, oldest first (for paging). */
  async after(deploymentId: string, id: number, limit: number): Promise<LogLine[]> {
    const rows = await this.db
      .select()
      .from(LogLineTable)
      .where(and(eq(LogLineTable.deploymentId, deploymentId), gt(LogLineTable.id, id)))
      .orderBy(asc(LogLineTable.id))
      .limit(limit)
      .all();
    return rows.map((r) => ({ id: r.id, time: r.time.toISOString(), stream: r.stream, line: r.line }));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.pruner);
    await this.flush();
  }
}
