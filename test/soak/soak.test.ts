/**
 * Opt-in soak (loopback only): `CATWALK_TEST_SOAK_MINUTES=30 bun test test/soak`, or the bounded
 * CI form `bun run soak` (1 minute). Optional: `CATWALK_TEST_SOAK_CLIENTS` (default 16),
 * `CATWALK_TEST_SOAK_REPORT=<file>` to keep the JSON report. See docs/BENCHMARKS.md.
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { runSoak } from "./soak.ts";

const minutes = Number(Bun.env.CATWALK_TEST_SOAK_MINUTES ?? 0);
const clients = Number(Bun.env.CATWALK_TEST_SOAK_CLIENTS ?? 16);

/** Growth allowed between the resting server after warm-up and after the soak. */
const MAX_RSS_GROWTH_MIB = 64;
const MAX_FD_GROWTH = 16;

test.skipIf(!(minutes > 0))(
  "soak: mixed traffic across 20 deployments leaves no leaked process, descriptor or session, and every answer is right",
  async () => {
    const report = await runSoak({
      minutes,
      deployments: 20,
      clients,
      sessionTtlMs: 15_000,
      log: (line) => console.log(`soak: ${line}`),
    });
    const { samples: _samples, ...summary } = report;
    console.log(JSON.stringify(summary, null, 2));
    if (Bun.env.CATWALK_TEST_SOAK_REPORT) {
      writeFileSync(Bun.env.CATWALK_TEST_SOAK_REPORT, `${JSON.stringify(report, null, 2)}\n`);
    }
    expect(report.failures).toEqual([]);
    expect(report.sessions.opened).toBeGreaterThan(clients);
    expect(report.sessions.dropped).toBeGreaterThan(0);
    expect(report.sessions.reconnected).toBeGreaterThan(0);
    // At rest: every dropped session reaped, one child per deployment, nothing else held open.
    expect(report.final.sessions).toBe(0);
    expect(report.final.children).toBe(20);
    expect(report.final.fds).toBeLessThanOrEqual(report.baseline.fds + MAX_FD_GROWTH);
    expect(report.final.rssMiB).toBeLessThanOrEqual(report.baseline.rssMiB + MAX_RSS_GROWTH_MIB);
    expect(report.metrics).toEqual({ droppedEvents: 0, droppedLogLines: 0 });
    expect(report.exitCode).toBe(0);
    expect(report.childrenLeftAfterStop).toEqual([]);
  },
  (minutes * 60 + 300) * 1000,
);
