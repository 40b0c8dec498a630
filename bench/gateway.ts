/**
 * Gateway overhead, one run, side by side on this machine, all driven by the same SDK 1.x client:
 * - direct:          server-everything's own Streamable HTTP server (the baseline)
 * - supergateway:    supergateway --stateful bridging server-everything's stdio mode (the usual peer)
 * - gateway stdio:   catwalk bridging server-everything's stdio mode (isolated and shared sessions)
 * - gateway remote:  catwalk in front of the direct server
 * For each: p50/p99 of sequential `echo` calls on one session, then calls/s and per-call p50/p99
 * of 1, 8 and 32 concurrent sessions looping for a fixed time. Ratios are to direct. Also RSS per
 * idle session of catwalk with 1,000 sessions held open on one shared deployment.
 * `bun bench/gateway.ts [--calls 2000] [--seconds 10] [--concurrency 1,8,32]`
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { EVERYTHING_BIN, freePort, startEverythingHttp } from "../test/helpers/everything.ts";
import { type Catwalk, startCatwalk } from "./lib/catwalk.ts";
import { fmt, heading, ratio, rssMiB, summarize } from "./lib/stats.ts";

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}

interface Level {
  concurrency: number;
  rate: number;
  p50: number;
  p99: number;
}

interface Result {
  name: string;
  p50: number;
  p99: number;
  levels: Level[];
}

async function connect(t: Target): Promise<{ client: Client; close(): Promise<void> }> {
  const transport = new StreamableHTTPClientTransport(new URL(t.url), {
    requestInit: { headers: t.headers },
  });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  return {
    client,
    close: async () => {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

async function sequential(t: Target, calls: number): Promise<number[]> {
  const { client, close } = await connect(t);
  try {
    for (let i = 0; i < 100; i++) await client.callTool({ name: "echo", arguments: { message: "warm" } });
    const samples: number[] = [];
    for (let i = 0; i < calls; i++) {
      const start = performance.now();
      await client.callTool({ name: "echo", arguments: { message: `m${i}` } });
      samples.push(performance.now() - start);
    }
    return samples;
  } finally {
    await close();
  }
}

/** `sessions` clients, each calling in a loop for `seconds`: total calls/s and per-call latency. */
async function concurrent(t: Target, sessions: number, seconds: number): Promise<Level> {
  const clients = await Promise.all(Array.from({ length: sessions }, () => connect(t)));
  try {
    for (const c of clients) await c.client.callTool({ name: "echo", arguments: { message: "warm" } });
    const end = performance.now() + seconds * 1000;
    const latencies: number[] = [];
    await Promise.all(
      clients.map(async (c) => {
        let n = 0;
        while (performance.now() < end) {
          const start = performance.now();
          await c.client.callTool({ name: "echo", arguments: { message: `c${n++}` } });
          latencies.push(performance.now() - start);
        }
      }),
    );
    const { p50, p99 } = summarize(latencies);
    return { concurrency: sessions, rate: latencies.length / seconds, p50, p99 };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function startSupergateway(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = freePort();
  const bin = join(import.meta.dir, "..", "node_modules", "supergateway", "dist", "index.js");
  const proc = Bun.spawn(
    [
      "node",
      bin,
      "--stdio",
      `node ${EVERYTHING_BIN} stdio`,
      "--outputTransport",
      "streamableHttp",
      "--stateful",
      "--port",
      String(port),
      "--logLevel",
      "none",
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/mcp`, { method: "GET" }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    await Bun.sleep(100);
  }
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

async function measure(t: Target, calls: number, levels: number[], seconds: number): Promise<Result> {
  const seq = summarize(await sequential(t, calls));
  console.log(`${t.name.padEnd(26)} sequential   p50 ${fmt(seq.p50, 3)} ms  p99 ${fmt(seq.p99, 3)} ms`);
  const measured: Level[] = [];
  for (const c of levels) {
    const level = await concurrent(t, c, seconds);
    measured.push(level);
    console.log(
      `${"".padEnd(26)} ${`c=${c}`.padEnd(12)} ${fmt(level.rate, 0).padStart(6)} calls/s  p50 ${fmt(level.p50, 3)} ms  p99 ${fmt(level.p99, 3)} ms`,
    );
  }
  return { name: t.name, p50: seq.p50, p99: seq.p99, levels: measured };
}

/** Holds `count` idle sessions (each with its GET stream open) from a separate client process. */
async function holdSessions(t: Target, count: number): Promise<{ release(): Promise<void> }> {
  const token = (t.headers.authorization ?? "").replace(/^Bearer /, "");
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "lib", "hold-sessions.ts"), t.url, token, String(count)],
    {
      env: { ...Bun.env, BUN_CONFIG_MAX_HTTP_REQUESTS: String(count * 2 + 64) },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("ready")) {
    const { done, value } = await reader.read();
    if (done) throw new Error("session holder exited early");
    out += new TextDecoder().decode(value);
  }
  return {
    release: async () => {
      proc.stdin.end();
      await proc.exited;
    },
  };
}

/**
 * RSS growth of the catwalk process per open idle session (GET stream held): a warm-up round
 * first (JIT, allocator arenas), then `count` sessions; the difference is divided by the count.
 */
async function idleSessionRss(
  cw: Catwalk,
  t: Target,
  count: number,
): Promise<{ perSession: number; before: number; after: number }> {
  const warm = await holdSessions(t, 100);
  await warm.release();
  await Bun.sleep(1500);
  const before = rssMiB(cw.pid);
  const held = await holdSessions(t, count);
  await Bun.sleep(2000);
  const after = rssMiB(cw.pid);
  await held.release();
  return { perSession: ((after - before) * 1024) / count, before, after };
}

export async function run(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: "string", default: "2000" },
      seconds: { type: "string", default: "10" },
      concurrency: { type: "string", default: "1,8,32" },
    },
  });
  const calls = Number(values.calls);
  const seconds = Number(values.seconds);
  const levels = values.concurrency.split(",").map(Number);
  heading(
    `gateway overhead (${calls} sequential echo calls; ${levels.join("/")} concurrent sessions x ${seconds} s each)`,
  );
  const direct = await startEverythingHttp();
  const sg = await startSupergateway();
  const cw = await startCatwalk();
  try {
    const iso = await cw.deploy({ command: ["node", EVERYTHING_BIN, "stdio"], name: "stdio-iso" });
    const shared = await cw.deploy({
      command: ["node", EVERYTHING_BIN, "stdio"],
      name: "stdio-shared",
      sessionMode: "shared",
    });
    const remote = await cw.deploy({ source: direct.url, name: "remote", sessionMode: "shared" });
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    const targets: Target[] = [
      { name: "direct (native HTTP)", url: direct.url, headers: {} },
      { name: "supergateway (stdio)", url: sg.url, headers: {} },
      { name: "catwalk stdio, isolated", url: iso.url, headers: auth(iso.token) },
      { name: "catwalk stdio, shared", url: shared.url, headers: auth(shared.token) },
      { name: "catwalk remote (shared)", url: remote.url, headers: auth(remote.token) },
    ];
    const results: Result[] = [];
    for (const t of targets) results.push(await measure(t, calls, levels, seconds));
    const base = results[0] as Result;
    heading("ratios to direct (p50: lower is better; calls/s: higher is better)");
    for (const r of results.slice(1)) {
      const delta = r.p50 - base.p50;
      console.log(
        `${r.name.padEnd(26)} sequential   p50 ${ratio(r.p50, base.p50)}  p99 ${ratio(r.p99, base.p99)}  (p50 ${delta >= 0 ? "+" : ""}${fmt(delta, 3)} ms)`,
      );
      for (const [i, l] of r.levels.entries()) {
        const b = base.levels[i] as Level;
        console.log(
          `${"".padEnd(26)} ${`c=${l.concurrency}`.padEnd(12)} calls/s ${ratio(l.rate, b.rate)}  p50 ${ratio(l.p50, b.p50)}  p99 ${ratio(l.p99, b.p99)}`,
        );
      }
    }
    heading("catwalk memory per idle session (1,000 sessions on one shared stdio deployment)");
    const mem = await idleSessionRss(cw, targets[3] as Target, 1000);
    console.log(
      `RSS ${fmt(mem.before, 1)} MiB -> ${fmt(mem.after, 1)} MiB: ${fmt(mem.perSession, 1)} KiB per idle session`,
    );
  } finally {
    await cw.stop();
    await sg.stop();
    await direct.stop();
  }
}

if (import.meta.main) await run(process.argv.slice(2));
