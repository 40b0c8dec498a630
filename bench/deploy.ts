/**
 * Time from `POST /api/deployments` to the first successful `tools/call` on the new endpoint, for
 * an npm package that is already in the package cache (every deploy of a version after its
 * first), through the SDK client. Baseline, measured in the same run: the same installed server
 * started with node and called over stdio by the SDK client (spawn + handshake + call). The first,
 * installing deploy is printed for reference. The package comes from a fake registry over HTTP
 * (real tarball, real `bun install`), so no network is involved.
 */
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startFakeNpm } from "../test/fakes/npm-registry.ts";
import { type Catwalk, startCatwalk } from "./lib/catwalk.ts";
import { fmt, heading, ratio, summarize } from "./lib/stats.ts";

const PACKAGE = { name: "bench-mcp", version: "1.0.0" };
const RUNS = 15;

async function firstCall(client: Client): Promise<void> {
  const r = await client.callTool({ name: "hello", arguments: {} });
  if ((r.content as { text: string }[])[0]?.text !== "hello") throw new Error("unexpected tool result");
}

/** Deploy, connect, call; returns the milliseconds from the POST to the tool's answer. */
async function deployToCall(cw: Catwalk, name: string, sessionMode: string): Promise<number> {
  const start = performance.now();
  const dep = await cw.deploy({ source: `npm:${PACKAGE.name}@${PACKAGE.version}`, name, sessionMode }, false);
  const transport = new StreamableHTTPClientTransport(new URL(dep.url), {
    requestInit: { headers: { authorization: `Bearer ${dep.token}` } },
  });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  await firstCall(client);
  const ms = performance.now() - start;
  await transport.terminateSession().catch(() => {});
  await client.close();
  await cw.api(`/api/deployments/${dep.id}`, { method: "DELETE" });
  return ms;
}

async function direct(bin: string): Promise<number> {
  const start = performance.now();
  const transport = new StdioClientTransport({ command: "node", args: [bin], stderr: "ignore" });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  await firstCall(client);
  const ms = performance.now() - start;
  await client.close();
  return ms;
}

export async function run(): Promise<void> {
  heading(`deploy to first tools/call (npm package already installed, ${RUNS} runs)`);
  const registry = await startFakeNpm([{ name: PACKAGE.name, versions: [{ version: PACKAGE.version }] }]);
  const cw = await startCatwalk({ env: { CATWALK_LOCAL_NPM_REGISTRY_URL: registry.url } });
  try {
    const cold = await deployToCall(cw, "cold", "isolated");
    const bin = join(
      cw.dataDir,
      "packages",
      "npm",
      `${PACKAGE.name}@${PACKAGE.version}`,
      "node_modules",
      PACKAGE.name,
      "server.js",
    );
    const base: number[] = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const ms = await direct(bin);
      if (i >= 2) base.push(ms);
    }
    const results: Record<string, number[]> = { isolated: [], shared: [] };
    for (let i = 0; i < RUNS + 2; i++) {
      for (const mode of ["isolated", "shared"]) {
        const ms = await deployToCall(cw, `run-${mode}-${i}`, mode);
        if (i >= 2) results[mode]?.push(ms);
      }
    }
    const b = summarize(base);
    console.log(`first deploy (installs the package)   ${fmt(cold, 1)} ms`);
    console.log(`direct: node + SDK stdio client        p50 ${fmt(b.p50, 1)} ms  min ${fmt(b.min, 1)} ms`);
    for (const [mode, samples] of Object.entries(results)) {
      const s = summarize(samples);
      console.log(
        `catwalk deploy -> first call (${mode.padEnd(8)}) p50 ${fmt(s.p50, 1)} ms  min ${fmt(s.min, 1)} ms  (${ratio(s.p50, b.p50)} of direct, +${fmt(s.p50 - b.p50, 1)} ms)`,
      );
    }
  } finally {
    await cw.stop();
    await registry.stop();
  }
}

if (import.meta.main) await run();
