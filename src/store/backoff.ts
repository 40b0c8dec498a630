/**
 * The outage state of a background writer (events, deployment logs): while the database refuses
 * writes (locked by another process, disk full) attempts back off exponentially, the first failure
 * of an outage is the one to warn about, and the first success after it ends the outage.
 */
export class WriteBackoff {
  private failures = 0;
  private next = 0;
  private since: number | undefined;

  constructor(
    private readonly baseMs = 1000,
    private readonly maxMs = 30_000,
  ) {}

  /** Whether a timer-driven attempt should run now. */
  due(now = Date.now()): boolean {
    return now >= this.next;
  }

  /** Records a failed attempt; true for the first failure of an outage (warn once, not per attempt). */
  failed(now = Date.now()): boolean {
    this.failures++;
    this.next = now + Math.min(this.maxMs, this.baseMs * 2 ** (this.failures - 1));
    if (this.since !== undefined) return false;
    this.since = now;
    return true;
  }

  /** Records a successful write; the outage's length in ms when this success ended one. */
  succeeded(now = Date.now()): number | undefined {
    const since = this.since;
    this.failures = 0;
    this.next = 0;
    this.since = undefined;
    return since === undefined ? undefined : now - since;
  }
}
