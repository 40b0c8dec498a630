/**
 * Local runtime: what a new isolated session waits for. Cold = spawn a child and complete the MCP
 * handshake; warm = `acquire()` when the pool already holds a pre-initialized child. Both for
 * the Bun fixture server and for server-everything on node (if node is installed).
 */
import { join } from "node:path";
import { handshake } from "../src/mcp/handshake.ts";
import { LocalChild } from "../src/runtime/local/child.ts";
import type { UpstreamSpec } from "../src/runtime/types.ts";
import { testRuntime } from "../test/helpers/local.ts";
import { tempDir } from "../test/helpers/server.ts";
import { FIXTURES } from "../test/helpers/upstream.ts";
import { fmt, heading, summarize } from "./lib/stats.ts";

const RUNS = 15;

async function cold(spec: Extract<UpstreamSpec, { kind: "command" }>): Promise<number[]> {
  const cwd = tempDir("catwalk-bench-local-");
  const samples: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const start = Bun.nanoseconds();
    const child = new LocalChild(
      {
        command: spec.command,
        args: spec.args,
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: cwd },
        cwd,
      },
      { stderr: () => {}, notice: () => {} },
    );
    await handshake(child, { timeoutMs: 30_000 });
    const ms = (Bun.nanoseconds() - start) / 1e6;
    await child.close();
    if (i >= 2) samples.push(ms);
  }
  return samples;
}

async function warm(spec: UpstreamSpec): Promise<number[]> {
  const rt = testRuntime();
  const pool = rt.pool(spec, { warm: true });
  const readyCount = () => pool.lifecycle().filter((l) => l.startsWith("ready")).length;
  const samples: number[] = [];
  try {
    pool.start();
    for (let i = 0; i < RUNS + 2; i++) {
      await pool.until(() => readyCount() === i + 1, 30_000, "a warm child");
      const start = Bun.nanoseconds();
      const up = await pool.acquire();
      const ms = (Bun.nanoseconds() - start) / 1e6;
      await up.release();
      if (i >= 2) samples.push(ms);
    }
  } finally {
    await rt.close();
  }
  return samples;
}

async function compare(label: string, spec: Extract<UpstreamSpec, { kind: "command" }>): Promise<void> {
  const c = summarize(await cold(spec));
  const w = summarize(await warm(spec));
  console.log(`${label.padEnd(34)} cold spawn+handshake p50 ${fmt(c.p50)} ms  p99 ${fmt(c.p99)} ms`);
  console.log(
    `${"".padEnd(34)} warm acquire         p50 ${fmt(w.p50)} ms  p99 ${fmt(w.p99)} ms  (${fmt(c.p50 / w.p50, 0)}x faster)`,
  );
}

export async function run(): Promise<void> {
  heading(`local runtime: new-session wait, cold vs warm (${RUNS} runs each)`);
  await compare("echo fixture (bun)", {
    kind: "command",
    command: process.execPath,
    args: [join(FIXTURES, "echo-server.ts")],
  });
  const node = Bun.which("node");
  if (node) {
    const bin = join(
      import.meta.dir,
      "..",
      "node_modules/@modelcontextprotocol/server-everything/dist/index.js",
    );
    await compare("server-everything (node)", { kind: "command", command: node, args: [bin, "stdio"] });
  }
}

if (import.meta.main) await run();
