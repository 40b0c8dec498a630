/**
 * Client-side token buckets mirroring Fly's documented limits: each action on each Machine (or
 * app) may run 1/s with bursts of 3; getting a Machine 5/s with bursts of 10. Staying under them
 * avoids 429s instead of retrying after them. A caller that finds the bucket empty reserves the
 * next token (the bucket goes negative), so concurrent callers queue in order.
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

const MAX_BUCKETS = 1000;
/** Long enough for any bucket with a rate of at least burst/60 per second to be full again. */
const IDLE_MS = 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock = realClock) {}

  /** Milliseconds the caller must wait before its request; the token is already taken. */
  reserve(key: string, rate: Rate): number {
    const now = this.clock.now();
    const b = this.buckets.get(key) ?? { tokens: rate.burst, at: now };
    b.tokens = Math.min(rate.burst, b.tokens + ((now - b.at) / 1000) * rate.perSecond);
    b.at = now;
    b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > MAX_BUCKETS) this.prune(now);
    if (b.tokens >= 0) return 0;
    return Math.ceil((-b.tokens / rate.perSecond) * 1000);
  }

  /** Drops buckets idle long enough to have refilled: they behave exactly like absent ones. */
  private prune(now: number): void {
    for (const [key, b] of this.buckets) if (now - b.at > IDLE_MS) this.buckets.delete(key);
  }

  async take(key: string, rate: Rate): Promise<void> {
    const wait = this.reserve(key, rate);
    if (wait > 0) await this.clock.sleep(wait);
  }
}
