/**
 * Gateway overhead, one run, side by side on this machine, all driven by the same SDK 1.x client:
 * - direct:          server-everything's own Streamable HTTP server (the baseline)
 * - supergateway:    supergateway --stateful bridging server-everything's stdio mode (the usual peer)
 * - gateway stdio:   catwalk bridging server-everything's stdio mode (isolated and shared sessions)
 * - gateway remote:  catwalk in front of the direct server
 * For each: p50/p99 of sequential `echo` calls on one session, and calls/s of 32 concurrent
 * sessions looping for a fixed time. Ratios are to direct. Also RSS per idle session of catwalk.
 * `bun bench/gateway.ts [--calls 2000] [--seconds 10] [--sessions 32]`
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { binary, waitForServer } from "../test/helpers/binary.ts";
import { EVERYTHING_BIN, freePort, startEverythingHttp } from "../test/helpers/everything.ts";
import { tempDir } from "../test/helpers/server.ts";
import { fmt, heading, ratio, rssMiB, summarize } from "./lib/stats.ts";

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}

interface Result {
  name: string;
  p50: number;
  p99: number;
  rate: number;
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

async function concurrent(t: Target, sessions: number, seconds: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: sessions }, () => connect(t)));
  try {
    for (const c of clients) await c.client.callTool({ name: "echo", arguments: { message: "warm" } });
    const end = performance.now() + seconds * 1000;
    const counts = await Promise.all(
      clients.map(async (c) => {
        let n = 0;
        while (performance.now() < end) {
          await c.client.callTool({ name: "echo", arguments: { message: `c${n}` } });
          n++;
        }
        return n;
      }),
    );
    return counts.reduce((a, b) => a + b, 0) / seconds;
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

interface Catwalk {
  url: string;
  pid: number;
  token: string;
  deploy(body: Record<string, unknown>): Promise<{ url: string; token: string }>;
  stop(): Promise<void>;
}

async function startCatwalk(): Promise<Catwalk> {
  const dataDir = tempDir("catwalk-bench-gw-");
  mkdirSync(dataDir, { recursive: true });
  const proc = Bun.spawn([binary(), "serve", "--port", "0", "--data-dir", dataDir], {
    env: {
      PATH: Bun.env.PATH ?? "/usr/bin:/bin",
      HOME: dataDir,
      CATWALK_LOCAL_ALLOW_COMMANDS: "true",
      CATWALK_LOCAL_MAX_CHILDREN: "64",
      CATWALK_LOG_LEVEL: "warn",
    },
    stdout: "ignore",
    stderr: "ignore",
  });
  const url = await waitForServer(dataDir);
  const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
  return {
    url,
    pid: proc.pid,
    token,
    deploy: async (body) => {
      const res = await fetch(`${url}/api/deployments`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const dep = (await res.json()) as { id: string; url: string; token: string };
      if (res.status !== 201) throw new Error(`deploy failed: ${JSON.stringify(dep)}`);
      for (let i = 0; i < 600; i++) {
        const info = (await (
          await fetch(`${url}/api/deployments/${dep.id}`, { headers: { authorization: `Bearer ${token}` } })
        ).json()) as { state: string; stateReason: string };
        if (info.state === "running") return dep;
        if (info.state === "failed") throw new Error(`deployment failed: ${info.stateReason}`);
        await Bun.sleep(100);
      }
      throw new Error("deployment did not start");
    },
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

async function measure(t: Target, calls: number, sessions: number, seconds: number): Promise<Result> {
  const seq = summarize(await sequential(t, calls));
  const rate = await concurrent(t, sessions, seconds);
  console.log(
    `${t.name.padEnd(26)} p50 ${fmt(seq.p50, 3)} ms  p99 ${fmt(seq.p99, 3)} ms  ${fmt(rate, 0)} calls/s`,
  );
  return { name: t.name, p50: seq.p50, p99: seq.p99, rate };
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
  const before = await rssMiB(cw.pid);
  const held = await holdSessions(t, count);
  await Bun.sleep(2000);
  const after = await rssMiB(cw.pid);
  await held.release();
  return { perSession: ((after - before) * 1024) / count, before, after };
}

export async function run(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: "string", default: "2000" },
      seconds: { type: "string", default: "10" },
      sessions: { type: "string", default: "32" },
    },
  });
  const calls = Number(values.calls);
  const seconds = Number(values.seconds);
  const sessions = Number(values.sessions);
  heading(`gateway overhead (${calls} sequential echo calls; ${sessions} sessions x ${seconds} s)`);
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
    for (const t of targets) results.push(await measure(t, calls, sessions, seconds));
    const base = results[0] as Result;
    heading("ratios to direct (p50: lower is better; calls/s: higher is better)");
    for (const r of results.slice(1)) {
      console.log(
        `${r.name.padEnd(26)} p50 ${ratio(r.p50, base.p50)}  p99 ${ratio(r.p99, base.p99)}  calls/s ${ratio(r.rate, base.rate)}  (p50 ${r.p50 - base.p50 >= 0 ? "+" : ""}${fmt(r.p50 - base.p50, 3)} ms)`,
      );
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
