/**
 * Binary start-up and idle memory. Baselines, measured in the same run: a compiled hello-world
 * Bun binary for start time, and a bare Bun.serve hello-world for idle RSS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binary, waitForServer } from "../test/helpers/binary.ts";
import { tempDir } from "../test/helpers/server.ts";
import { fmt, heading, ratio, rssMiB, summarize } from "./lib/stats.ts";

function timeRuns(cmd: string[], runs: number): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const start = Bun.nanoseconds();
    const res = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" });
    const ms = (Bun.nanoseconds() - start) / 1e6;
    if (res.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${res.exitCode}`);
    if (i >= 2) samples.push(ms);
  }
  return samples;
}

function helloBinary(): { bin: string; server: string } {
  const dir = tempDir("catwalk-bench-hello-");
  writeFileSync(join(dir, "hello.ts"), 'console.log("hello");\n');
  writeFileSync(
    join(dir, "server.ts"),
    'const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });\nconsole.log(s.port);\n',
  );
  for (const name of ["hello", "server"]) {
    const res = Bun.spawnSync([
      process.execPath,
      "build",
      "--compile",
      "--bytecode",
      "--minify",
      join(dir, `${name}.ts`),
      "--outfile",
      join(dir, name),
    ]);
    if (res.exitCode !== 0) throw new Error(`building ${name} baseline failed: ${res.stderr}`);
  }
  return { bin: join(dir, "hello"), server: join(dir, "server") };
}

async function idleRss(cmd: string[], ready: () => Promise<void>): Promise<number> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "ignore" });
  try {
    await ready();
    await Bun.sleep(1500);
    return rssMiB(proc.pid);
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

export async function run(): Promise<void> {
  const bin = binary();
  const hello = helloBinary();
  heading("start-up (catwalk --version vs a compiled hello-world, 20 runs)");
  const base = summarize(timeRuns([hello.bin], 20));
  const ours = summarize(timeRuns([bin, "--version"], 20));
  console.log(`hello-world binary   p50 ${fmt(base.p50)} ms  min ${fmt(base.min)} ms`);
  console.log(
    `catwalk --version    p50 ${fmt(ours.p50)} ms  min ${fmt(ours.min)} ms  (${ratio(ours.p50, base.p50)} of baseline)`,
  );

  heading("idle RSS of serve (1.5 s after ready, 0 deployments)");
  const baseRss = await idleRss([hello.server], async () => Bun.sleep(300));
  const dataDir = tempDir("catwalk-bench-rss-");
  mkdirSync(dataDir, { recursive: true });
  const oursRss = await idleRss([bin, "serve", "--port", "0", "--data-dir", dataDir], async () => {
    await waitForServer(dataDir);
  });
  console.log(`bare Bun.serve       ${fmt(baseRss, 1)} MiB`);
  console.log(`catwalk serve        ${fmt(oursRss, 1)} MiB  (${ratio(oursRss, baseRss)} of baseline)`);
}

if (import.meta.main) await run();
