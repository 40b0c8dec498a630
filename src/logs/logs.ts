import { and, count, desc, eq, gte, lt } from "drizzle-orm";
import type { Logger } from "../log/log.ts";
import { Redactor } from "../log/redact.ts";
import { BatchWriter } from "../store/batch.ts";
import type { Db } from "../store/db.ts";
import { rootMessage } from "../store/errors.ts";
import { LogLineTable } from "./logs.sql.ts";

export interface LogLine {
  id: number;
  time: string;
  stream: "stderr" | "lifecycle";
  line: string;
}

export type LogListener = (deploymentId: string, line: LogLine) => void;

const MAX_LINE = 4096;

export interface LogStoreOptions {
  /** Lines kept per deployment; older ones are pruned. */
  maxLines?: number;
  flushMs?: number;
}

/**
 * Each deployment's log, persisted in the store. Lines are redacted (the deployment's own secret
 * values plus every globally known secret) before anything sees them, truncated, written in
 * batches, and pruned to a bound per deployment. If the disk is full or the database is locked,
 * lines stay queued, up to 20,000 (see `BatchWriter`), and serving carries on.
 */
type Row = typeof LogLineTable.$inferInsert;

export class LogStore {
  private readonly writer: BatchWriter<Row>;
  private readonly secrets = new Map<string, Redactor>();
  private readonly listeners = new Set<LogListener>();
  private readonly pruner: ReturnType<typeof setInterval>;
  private seq = 0;

  constructor(
    private readonly db: Db,
    private readonly global: Redactor,
    private readonly log: Logger,
    private readonly opts: LogStoreOptions = {},
  ) {
    this.writer = new BatchWriter({
      insert: (rows) => db.insert(LogLineTable).values(rows),
      chunkSize: 500,
      flushMs: opts.flushMs ?? 200,
      maxQueue: 20_000,
      log,
      messages: { failed: "deployment log lines not stored", recovered: "deployment log lines stored again" },
    });
    this.pruner = setInterval(() => void this.prune(), 60_000);
    this.pruner.unref?.();
  }

  get dropped(): number {
    return this.writer.dropped;
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
    this.writer.push({ deploymentId, time, stream, line });
    const entry: LogLine = { id: ++this.seq, time: time.toISOString(), stream, line };
    for (const fn of this.listeners) fn(deploymentId, entry);
  }

  subscribe(fn: LogListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  flush(): Promise<void> {
    return this.writer.flush();
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

  async close(): Promise<void> {
    clearInterval(this.pruner);
    await this.writer.close();
  }
}
