/**
 * Embedded store vs a remote libsql server (sqld on 127.0.0.1, no TLS), same machine, same run:
 * p50/p99 of `GET /api/deployments` (store reads per request) and of one `tools/call` through the
 * gateway (no store access on the hot path once the token is cached). Ratios are sqld/embedded.
 * `bun bench/store.ts [--requests 300]`
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connectLegacy, deploy } from "../test/helpers/mcp.ts";
import { startServerProcess } from "../test/helpers/process-server.ts";
import { SQLD_MISSING, startSqld } from "../test/helpers/sqld.ts";
import { FIXTURES } from "../test/helpers/upstream.ts";
import { fmt, heading, ratio, summarize } from "./lib/stats.ts";

interface Figures {
  list: number[];
  call: number[];
}

async function measure(env: Record<string, string>, requests: number): Promise<Figures> {
  const srv = await startServerProcess({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true", ...env } });
  try {
    // A few deployments, so the list does the per-deployment reads it does in real use.
    const echo = [process.execPath, join(FIXTURES, "echo-server.ts")];
    const dep = await deploy(srv, { command: echo, name: "bench", env: { A: "1", B: "2" } });
    for (const name of ["two", "three"]) await deploy(srv, { command: echo, name });
    const list: number[] = [];
    for (let i = 0; i < requests + 20; i++) {
      const start = performance.now();
      const res = await srv.api("/api/deployments");
      await res.arrayBuffer();
      if (i >= 20) list.push(performance.now() - start);
    }
    const c = await connectLegacy(dep);
    const call: number[] = [];
    try {
      for (let i = 0; i < requests + 20; i++) {
        const start = performance.now();
        await c.client.callTool({ name: "echo", arguments: { text: `m${i}` } });
        if (i >= 20) call.push(performance.now() - start);
      }
    } finally {
      await c.close();
    }
    return { list, call };
  } finally {
    await srv.kill("SIGTERM");
  }
}

export async function run(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { requests: { type: "string", default: "300" } } });
  const requests = Number(values.requests);
  heading(`store: embedded file vs sqld over HTTP (${requests} sequential requests each)`);
  if (SQLD_MISSING) {
    console.log(`skipped: ${SQLD_MISSING}`);
    return;
  }
  const embedded = await measure({}, requests);
  const sqld = await startSqld();
  let remote: Figures;
  try {
    remote = await measure({ CATWALK_DATABASE_URL: sqld.url }, requests);
  } finally {
    await sqld.stop();
  }
  const row = (what: string, a: number[], b: number[]) => {
    const e = summarize(a);
    const r = summarize(b);
    console.log(
      `${what.padEnd(22)} embedded p50 ${fmt(e.p50)} ms p99 ${fmt(e.p99)} ms | sqld p50 ${fmt(r.p50)} ms p99 ${fmt(r.p99)} ms | p50 ${ratio(r.p50, e.p50)}`,
    );
  };
  row("GET /api/deployments", embedded.list, remote.list);
  row("tools/call (gateway)", embedded.call, remote.call);
}

if (import.meta.main) await run(process.argv.slice(2));
