import { z } from "zod";

const RING = 1024;

export const DeploymentStats = z.object({
  sessions: z.number().int(),
  calls: z.number().int().describe("requests answered since the server started"),
  errors: z.number().int(),
  callsPerMinute: z.number().int().describe("requests answered in the last 60 seconds"),
  p50Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
  rateLimited: z.number().int().describe("requests refused with 429 by gateway.rateLimitPerMinute"),
  lastActivity: z.string().nullable(),
  since: z.string().describe("when counting started (server start)"),
  methods: z.record(z.string(), z.object({ calls: z.number().int(), errors: z.number().int() })),
});
export type DeploymentStats = z.infer<typeof DeploymentStats>;

interface Counters {
  calls: number;
  errors: number;
  limited: number;
  durations: Float64Array;
  filled: number;
  next: number;
  /** Answer times (ms since epoch) of the last minute, oldest first. */
  recent: number[];
  last: number | undefined;
  methods: Map<string, { calls: number; errors: number }>;
}

/**
 * Counters per deployment, kept in memory since the server started: totals, per-method totals,
 * a ring of the last 1,024 durations for p50/p99 and a one-minute window for calls per minute.
 * Cheap enough to update on every request.
 */
export class Stats {
  private readonly by = new Map<string, Counters>();
  private readonly started = new Date().toISOString();

  private counters(id: string): Counters {
    let c = this.by.get(id);
    if (!c) {
      c = {
        calls: 0,
        errors: 0,
        limited: 0,
        durations: new Float64Array(RING),
        filled: 0,
        next: 0,
        recent: [],
        last: undefined,
        methods: new Map(),
      };
      this.by.set(id, c);
    }
    return c;
  }

  record(id: string, method: string, durationMs: number, ok: boolean): void {
    const c = this.counters(id);
    const now = Date.now();
    c.calls++;
    if (!ok) c.errors++;
    c.durations[c.next] = durationMs;
    c.next = (c.next + 1) % RING;
    c.filled = Math.min(RING, c.filled + 1);
    c.recent.push(now);
    if (c.recent.length > 4096 || (c.recent[0] ?? now) < now - 60_000) this.trim(c, now);
    c.last = now;
    const m = c.methods.get(method) ?? { calls: 0, errors: 0 };
    m.calls++;
    if (!ok) m.errors++;
    c.methods.set(method, m);
  }

  /** A request refused by the rate limit (not a call: it never reached the server). */
  limited(id: string): void {
    this.counters(id).limited++;
  }

  touch(id: string): void {
    this.counters(id).last = Date.now();
  }

  private trim(c: Counters, now: number): void {
    const cutoff = now - 60_000;
    let i = 0;
    while (i < c.recent.length && (c.recent[i] as number) < cutoff) i++;
    if (i > 0) c.recent.splice(0, i);
  }

  get(id: string, sessions: number): DeploymentStats {
    const c = this.counters(id);
    this.trim(c, Date.now());
    const sorted = Array.from(c.durations.subarray(0, c.filled)).sort((a, b) => a - b);
    const pick = (p: number) =>
      sorted.length
        ? (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number)
        : null;
    return {
      sessions,
      calls: c.calls,
      errors: c.errors,
      callsPerMinute: c.recent.length,
      rateLimited: c.limited,
      p50Ms: pick(0.5),
      p99Ms: pick(0.99),
      lastActivity: c.last ? new Date(c.last).toISOString() : null,
      since: this.started,
      methods: Object.fromEntries(c.methods),
    };
  }

  /** Rate-limited requests per deployment, for Prometheus. */
  limitedTotals(): { deploymentId: string; limited: number }[] {
    return [...this.by].map(([deploymentId, c]) => ({ deploymentId, limited: c.limited }));
  }

  /** Totals for Prometheus: per deployment and method. */
  totals(): { deploymentId: string; method: string; calls: number; errors: number }[] {
    return [...this.by].flatMap(([deploymentId, c]) =>
      [...c.methods].map(([method, m]) => ({ deploymentId, method, ...m })),
    );
  }

  forget(id: string): void {
    this.by.delete(id);
  }
}
