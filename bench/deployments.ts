/**
 * Server start and idle memory with 0, 10 and 100 deployments (npm package from the cache, shared
 * sessions, so one child each). A data dir is prepared per count; then the compiled server is
 * started on it `RUNS` times, measuring: time to a healthy API, time until every deployment runs
 * (its child started and answered initialize), and, 3 s later, the server's RSS (children apart).
 * Baseline, in the same run: a compiled Bun.serve hello-world's start time and RSS.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFakeNpm } from "../test/fakes/npm-registry.ts";
import { childrenOf, rssKiB } from "../test/helpers/proc.ts";
import { tempDir } from "../test/helpers/server.ts";
import { startCatwalk } from "./lib/catwalk.ts";
import { fmt, heading, ratio, summarize } from "./lib/stats.ts";

const PACKAGE = { name: "bench-mcp", version: "1.0.0" };
const COUNTS = [0, 10, 100];
const RUNS = 3;

interface Sample {
  healthyMs: number;
  runningMs: number;
  rssMiB: number;
  childrenMiB: number;
}

async function prepare(count: number, registryUrl: string): Promise<string> {
  const dataDir = tempDir(`catwalk-bench-deps-${count}-`);
  const cw = await startCatwalk({ dataDir, env: { CATWALK_LOCAL_NPM_REGISTRY_URL: registryUrl } });
  try {
    for (let i = 0; i < count; i++) {
      await cw.deploy(
        { source: `npm:${PACKAGE.name}@${PACKAGE.version}`, name: `d${i}`, sessionMode: "shared" },
        false,
      );
    }
    const deadline = Date.now() + 300_000;
    while ((await cw.notRunning()).length > 0 && Date.now() < deadline) await Bun.sleep(200);
  } finally {
    await cw.stop();
  }
  return dataDir;
}

async function measureStart(dataDir: string, count: number): Promise<Sample> {
  const start = performance.now();
  const cw = await startCatwalk({ dataDir });
  const healthyMs = performance.now() - start;
  try {
    while ((await cw.notRunning()).length > 0) await Bun.sleep(20);
    const runningMs = performance.now() - start;
    await Bun.sleep(3000);
    const children = childrenOf(cw.pid);
    if (children.length !== count) throw new Error(`expected ${count} children, found ${children.length}`);
    const childrenMiB = children.reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024;
    return { healthyMs, runningMs, rssMiB: rssKiB(cw.pid) / 1024, childrenMiB };
  } finally {
    await cw.stop();
  }
}

/** A compiled Bun.serve hello-world: time until it answers, and its RSS after 3 s. */
async function baseline(): Promise<{ startMs: number; rssMiB: number }> {
  const dir = tempDir("catwalk-bench-hello-");
  writeFileSync(
    join(dir, "server.ts"),
    'const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });\nconsole.log(s.port);\n',
  );
  const built = Bun.spawnSync([
    process.execPath,
    "build",
    "--compile",
    join(dir, "server.ts"),
    "--outfile",
    join(dir, "server"),
  ]);
  if (built.exitCode !== 0) throw new Error(`building the baseline failed: ${built.stderr}`);
  const start = performance.now();
  const proc = Bun.spawn([join(dir, "server")], { stdout: "pipe", stderr: "ignore" });
  const reader = proc.stdout.getReader();
  const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
  await (await fetch(`http://127.0.0.1:${port}/`)).text();
  const startMs = performance.now() - start;
  await Bun.sleep(3000);
  const rssMiB = rssKiB(proc.pid) / 1024;
  proc.kill("SIGTERM");
  await proc.exited;
  return { startMs, rssMiB };
}

export async function run(): Promise<void> {
  heading(`server start and idle RSS by number of deployments (npm, shared; median of ${RUNS} starts)`);
  const registry = await startFakeNpm([{ name: PACKAGE.name, versions: [{ version: PACKAGE.version }] }]);
  try {
    const base = await baseline();
    console.log(
      `Bun.serve hello-world (baseline)   ready ${fmt(base.startMs, 0)} ms                      RSS ${fmt(base.rssMiB, 1)} MiB`,
    );
    let zero: Sample | undefined;
    for (const count of COUNTS) {
      const dataDir = await prepare(count, registry.url);
      const samples: Sample[] = [];
      for (let i = 0; i < RUNS; i++) samples.push(await measureStart(dataDir, count));
      const med = (f: (s: Sample) => number) => summarize(samples.map(f)).p50;
      const s: Sample = {
        healthyMs: med((x) => x.healthyMs),
        runningMs: med((x) => x.runningMs),
        rssMiB: med((x) => x.rssMiB),
        childrenMiB: med((x) => x.childrenMiB),
      };
      zero ??= s;
      const perDep =
        count > 0 ? `  +${fmt(((s.rssMiB - zero.rssMiB) * 1024) / count, 0)} KiB per deployment` : "";
      console.log(
        `catwalk, ${String(count).padStart(3)} deployments       healthy ${fmt(s.healthyMs, 0).padStart(4)} ms  all running ${fmt(s.runningMs, 0).padStart(5)} ms  RSS ${fmt(s.rssMiB, 1)} MiB (${ratio(s.rssMiB, base.rssMiB)} of baseline)${perDep}  children ${fmt(s.childrenMiB, 0)} MiB`,
      );
    }
  } finally {
    await registry.stop();
  }
}

if (import.meta.main) await run();
