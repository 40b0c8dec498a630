import type { Logger } from "../log/log.ts";
import { WriteBackoff } from "./backoff.ts";
import { rootMessage, storeFailure } from "./errors.ts";

export interface BatchOptions<T> {
  /** Inserts one chunk of at most `chunkSize` items (SQLite limits bound parameters per statement). */
  insert(chunk: T[]): Promise<unknown>;
  chunkSize: number;
  flushMs: number;
  /** Items kept while writes fail or lag; the oldest are dropped (and counted) beyond it. */
  maxQueue: number;
  log: Logger;
  /** Log messages: `failed` when a batch is refused, `recovered` when writes work again. */
  messages: { failed: string; recovered: string };
}

/**
 * Queues items and writes them in chunks on a timer, for data written on the hot path (events per
 * MCP request, deployment log lines); the caller never waits on the store. While the database
 * refuses writes (locked by another process, disk full) the unwritten items stay queued and
 * attempts back off up to 30 s, with one warning per outage and one line when it ends. Any other
 * write error drops the batch with a warning: retrying would fail the same way forever.
 */
export class BatchWriter<T> {
  private queue: T[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly backoff = new WriteBackoff();
  private flushing: Promise<void> | undefined;
  dropped = 0;

  constructor(private readonly opts: BatchOptions<T>) {
    this.timer = setInterval(() => {
      if (this.backoff.due()) void this.flush();
    }, opts.flushMs);
    this.timer.unref?.();
  }

  push(item: T): void {
    this.queue.push(item);
    this.trim();
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    const batch = this.queue.splice(0);
    this.flushing = this.write(batch).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(batch: T[]): Promise<void> {
    const { chunkSize, log, messages } = this.opts;
    let written = 0;
    try {
      for (; written < batch.length; written += chunkSize)
        await this.opts.insert(batch.slice(written, written + chunkSize));
      const outage = this.backoff.succeeded();
      if (outage !== undefined) log.info(messages.recovered, { afterMs: outage, dropped: this.dropped });
    } catch (e) {
      const rest = batch.slice(written);
      if (!storeFailure(e)) {
        this.dropped += rest.length;
        log.warn(messages.failed, { count: rest.length, error: rootMessage(e) });
        return;
      }
      // The failed chunk was not written: it and the rest go back to the front of the queue.
      this.queue = [...rest, ...this.queue];
      this.trim();
      if (this.backoff.failed()) {
        log.warn(`${messages.failed}; retrying with backoff`, {
          error: rootMessage(e),
          queued: this.queue.length,
        });
      }
    }
  }

  private trim(): void {
    const over = this.queue.length - this.opts.maxQueue;
    if (over <= 0) return;
    this.queue.splice(0, over);
    this.dropped += over;
  }
}
