import { describe, expect, test } from "bun:test";
import { TokenBuckets } from "./buckets.ts";

function at(start = 0) {
  const clock = { t: start, now: () => clock.t, sleep: async () => undefined };
  return clock;
}

describe("token buckets", () => {
  test("tryTake allows a burst, then refuses with the wait until the next token, taking nothing", () => {
    const clock = at();
    const buckets = new TokenBuckets(clock);
    const rate = { perSecond: 2, burst: 3 };
    expect([0, 1, 2].map(() => buckets.tryTake("k", rate))).toEqual([0, 0, 0]);
    expect(buckets.tryTake("k", rate)).toBe(500);
    // Refusals do not dig the bucket deeper: the wait stays the same.
    expect(buckets.tryTake("k", rate)).toBe(500);
    clock.t = 250;
    expect(buckets.tryTake("k", rate)).toBe(250);
    clock.t = 500;
    expect(buckets.tryTake("k", rate)).toBe(0);
    expect(buckets.tryTake("other", rate)).toBe(0);
  });

  test("reserve queues callers: each one waits for its own token", () => {
    const buckets = new TokenBuckets(at());
    const rate = { perSecond: 1, burst: 1 };
    expect([0, 1, 2].map(() => buckets.reserve("k", rate))).toEqual([0, 1000, 2000]);
  });

  test("buckets that have refilled are dropped once there are too many, the others are kept", () => {
    const clock = at();
    const buckets = new TokenBuckets(clock, 2);
    const rate = { perSecond: 1, burst: 2 };
    buckets.tryTake("refilled", rate);
    clock.t = 5000;
    buckets.tryTake("busy", rate);
    buckets.tryTake("busy", rate);
    buckets.tryTake("third", rate);
    expect(buckets.size).toBe(2);
    // "busy" kept its state: still empty.
    expect(buckets.tryTake("busy", rate)).toBe(1000);
  });
});
