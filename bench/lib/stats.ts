/** Small helpers shared by the benchmarks; they print, they never assert. */
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { rssKiB } from "../../test/helpers/proc.ts";

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

export function summarize(samples: readonly number[]): {
  p50: number;
  p99: number;
  min: number;
  mean: number;
} {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(sorted.length, 1);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), min: sorted[0] ?? Number.NaN, mean };
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

export function ratio(value: number, baseline: number): string {
  return Number.isFinite(value) && baseline > 0 ? `${(value / baseline).toFixed(2)}x` : "n/a";
}

/** Resident set size of a process in MiB, from /proc (Linux). */
export function rssMiB(pid: number): number {
  return rssKiB(pid) / 1024;
}

export function heading(title: string): void {
  console.log(`\n== ${title}`);
}

export function machine(): string {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown cpu";
  return `${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, bun ${Bun.version}`;
}
