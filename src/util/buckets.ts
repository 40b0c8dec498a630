/**
 * Token buckets keyed by string. Two uses: a client staying under someone else's limits (the Fly
 * client reserves the next token and waits, so concurrent callers queue in order: `take`), and a
 * server enforcing its own (the gateway refuses a request when the bucket is empty and tells the
 * client how long to wait: `tryTake`, which takes nothing when it refuses).
 */
export interface Rate {
  perSecond: number;
  burst: number;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep: (ms) => Bun.sleep(ms) };

interface Bucket {
  tokens: number;
  at: number;
  rate: Rate;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: Clock = realClock,
    private readonly maxBuckets = 1000,
  ) {}

  private refilled(key: string, rate: Rate, now: number): Bucket {
    const b = this.buckets.get(key) ?? { tokens: rate.burst, at: now, rate };
    b.tokens = Math.min(rate.burst, b.tokens + ((now - b.at) / 1000) * rate.perSecond);
    b.at = now;
    b.rate = rate;
    return b;
  }

  private keep(key: string, b: Bucket, now: number): void {
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxBuckets) this.prune(now);
  }

  /** Milliseconds the caller must wait before its request; the token is already taken. */
  reserve(key: string, rate: Rate): number {
    const now = this.clock.now();
    const b = this.refilled(key, rate, now);
    b.tokens -= 1;
    this.keep(key, b, now);
    if (b.tokens >= 0) return 0;
    return Math.ceil((-b.tokens / rate.perSecond) * 1000);
  }

  /** 0 when a token was taken; otherwise the milliseconds until one is there (nothing is taken). */
  tryTake(key: string, rate: Rate): number {
    const now = this.clock.now();
    const b = this.refilled(key, rate, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.keep(key, b, now);
      return 0;
    }
    this.keep(key, b, now);
    return Math.ceil(((1 - b.tokens) / rate.perSecond) * 1000);
  }

  async take(key: string, rate: Rate): Promise<void> {
    const wait = this.reserve(key, rate);
    if (wait > 0) await this.clock.sleep(wait);
  }

  /** Drops buckets that have refilled: they behave exactly like absent ones. */
  private prune(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * b.rate.perSecond >= b.rate.burst) this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
