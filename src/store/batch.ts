export interface BatchOptions<T> {
  /** Writes one batch; a rejection drops the batch (counted) and is reported to `onFailure`. */
  write(batch: T[]): Promise<void>;
  onFailure(count: number, error: unknown): void;
  flushMs: number;
  /** Items kept while writes fail or lag; the oldest are dropped beyond it. */
  maxQueue: number;
}

/**
 * Queues items and writes them in batches on a timer, for data written on the hot path (events
 * per MCP request, deployment log lines). A failing write (disk full, database locked) drops that
 * batch with a count, and the caller never waits on the store.
 */
export class BatchWriter<T> {
  private queue: T[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private flushing: Promise<void> | undefined;
  dropped = 0;

  constructor(private readonly opts: BatchOptions<T>) {
    this.timer = setInterval(() => void this.flush(), opts.flushMs);
    this.timer.unref?.();
  }

  push(item: T): void {
    this.queue.push(item);
    if (this.queue.length > this.opts.maxQueue) {
      this.queue.shift();
      this.dropped++;
    }
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    const batch = this.queue.splice(0);
    this.flushing = this.opts
      .write(batch)
      .catch((e: unknown) => {
        this.dropped += batch.length;
        this.opts.onFailure(batch.length, e);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Inserts rows in chunks (SQLite limits the number of bound parameters per statement). */
export async function inChunks<T>(
  rows: T[],
  size: number,
  insert: (chunk: T[]) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < rows.length; i += size) await insert(rows.slice(i, i + size));
}
