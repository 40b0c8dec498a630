/**
 * Cost of verifying an OAuth access token on an MCP request: ES256 signature check, claim checks
 * and the in-memory revocation lookup (no database read; the revoked-grant cache re-syncs at most
 * every 2 s). Baseline: hashing a static bearer token with SHA-256, the part of a static-token
 * check that does not touch the store. Run with `bun bench/oauth.ts` or `bun run bench oauth`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openApp } from "../src/app/app.ts";
import { loadConfig } from "../src/config/config.ts";
import { createLogger } from "../src/log/log.ts";
import { oauthFor } from "../src/oauth/instance.ts";
import { hashToken, newToken } from "../src/util/secret.ts";
import { fmt, summarize } from "./lib/stats.ts";

export interface OAuthBenchResult {
  iterations: number;
  verifyOpsPerSec: number;
  verifyP50Us: number;
  verifyP99Us: number;
  sha256OpsPerSec: number;
  issueOpsPerSec: number;
}

function timeEach(iterations: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  return (async () => {
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const start = Bun.nanoseconds();
      await fn();
      samples.push((Bun.nanoseconds() - start) / 1000);
    }
    return samples;
  })();
}

export async function run(iterations = 20_000): Promise<OAuthBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "catwalk-bench-oauth-"));
  const app = await openApp(loadConfig({ env: {}, flags: { dataDir, port: 7400 } }), {
    log: createLogger({ level: "error", write: () => undefined }),
  });
  try {
    const oauth = oauthFor(app);
    await oauth.ready();
    const resource = oauth.resourceUrl("bench");
    const input = {
      grantId: "grt_bench",
      clientId: "cli_bench",
      deploymentId: "dep_bench",
      resource,
      scope: "mcp",
    };
    const { token } = oauth.tokens.issue(input);
    for (let i = 0; i < 2000; i++) await oauth.verifyAccessToken(token, { resource });
    const check = await oauth.verifyAccessToken(token, { resource });
    if (!check.ok) throw new Error(`bench token does not verify: ${check.reason}`);

    const samples = await timeEach(iterations, () => oauth.verifyAccessToken(token, { resource }));
    const s = summarize(samples);
    const total = samples.reduce((a, b) => a + b, 0) / 1e6;
    const bearer = newToken("dep");
    const shaSamples = await timeEach(iterations, () => hashToken(bearer));
    const issueSamples = await timeEach(Math.min(iterations, 5000), () => oauth.tokens.issue(input));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / 1e6;
    return {
      iterations,
      verifyOpsPerSec: Math.round(iterations / total),
      verifyP50Us: s.p50,
      verifyP99Us: s.p99,
      sha256OpsPerSec: Math.round(iterations / sum(shaSamples)),
      issueOpsPerSec: Math.round(issueSamples.length / sum(issueSamples)),
    };
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function print(r: OAuthBenchResult): void {
  console.log(
    `verify ${r.verifyOpsPerSec.toLocaleString("en-US")} ops/s (p50 ${fmt(r.verifyP50Us, 1)} µs, p99 ${fmt(r.verifyP99Us, 1)} µs)  ` +
      `issue ${r.issueOpsPerSec.toLocaleString("en-US")} ops/s  sha256 baseline ${r.sha256OpsPerSec.toLocaleString("en-US")} ops/s`,
  );
}

if (import.meta.main) print(await run());
