/**
 * Counts failures per key in a sliding window. Used for wrong credentials on the consent page
 * and for registrations: per client address, plus one global bucket so that many addresses (or
 * one reverse proxy) cannot brute-force a connect code either.
 */
export class FailureLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly perKey: number,
    private readonly global: number,
    private readonly windowMs: number,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.hits.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.hits.delete(key);
    else this.hits.set(key, list);
    return list;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string, now = Date.now()): number {
    const own = this.recent(key, now);
    const all = this.recent("*", now);
    const wait = (list: number[], max: number) =>
      list.length >= max ? this.windowMs - (now - (list[list.length - max] as number)) : 0;
    return Math.max(wait(own, this.perKey), wait(all, this.global));
  }

  record(key: string, now = Date.now()): void {
    for (const k of [key, "*"]) this.hits.set(k, [...this.recent(k, now), now]);
    if (this.hits.size > 10_000) this.hits.clear();
  }
}
