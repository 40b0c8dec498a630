/**
 * `bun run bench`: every benchmark in sequence, printing figures and ratios to baselines measured
 * in the same run. Pass names to run a subset: `bun run bench startup fernet`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, heading, machine } from "./lib/stats.ts";

// Everything the suites write under the temp dir (data dirs, binary copies) goes into one
// directory of this run, removed at the end; package caches kept between runs stay beside it.
const shared = tmpdir();
const runDir = mkdtempSync(join(shared, "catwalk-bench-run-"));
process.env.CATWALK_TEST_SHARED_TMP ??= shared;
process.env.TMPDIR = runDir;
process.on("exit", () => rmSync(runDir, { recursive: true, force: true }));

const suites: Record<string, () => Promise<void>> = {
  startup: async () => (await import("./startup.ts")).run(),
  gateway: async () => (await import("./gateway.ts")).run([]),
  local: async () => (await import("./local.ts")).run(),
  deploy: async () => (await import("./deploy.ts")).run(),
  deployments: async () => (await import("./deployments.ts")).run(),
  store: async () => (await import("./store.ts")).run([]),
  fernet: async () => {
    const { run } = await import("./fernet.ts");
    heading("fernet (110-byte secret, node:crypto)");
    const r = run();
    console.log(
      `encrypt+decrypt ${r.roundTripOpsPerSec} ops/s  encrypt ${r.encryptOpsPerSec} ops/s  decrypt ${r.decryptOpsPerSec} ops/s`,
    );
  },
  oauth: async () => {
    const { run, print } = await import("./oauth.ts");
    heading("oauth access-token verification (ES256, in-memory revocation check)");
    print(await run());
  },
};

const wanted = process.argv.slice(2);
const names = wanted.length ? wanted : Object.keys(suites);
console.log(`catwalk benchmarks on ${machine()} (${new Date().toISOString()})`);
for (const name of names) {
  const suite = suites[name];
  if (!suite) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(suites).join(", ")}`);
    process.exit(2);
  }
  const start = performance.now();
  await suite();
  console.log(`(${name}: ${fmt((performance.now() - start) / 1000, 1)} s)`);
}
