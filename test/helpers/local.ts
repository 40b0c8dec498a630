import { loadConfig } from "../../src/config/config.ts";
import { hostEnv } from "../../src/config/env.ts";
import { createLocalRuntime, type LocalRuntime } from "../../src/runtime/local/local.ts";
import type { SupervisorTiming } from "../../src/runtime/local/pool.ts";
import type { PoolOptions, UpstreamPool, UpstreamSpec } from "../../src/runtime/types.ts";
import { tempDir } from "./server.ts";
import { recordingHooks } from "./upstream.ts";

/** Fast crash policy for tests: short backoff, few attempts. */
export const FAST_TIMING: SupervisorTiming = {
  backoffBaseMs: 50,
  backoffMaxMs: 400,
  sustainedUptimeMs: 60_000,
  maxFailures: 4,
};

export interface TestRuntime {
  runtime: LocalRuntime;
  dataDir: string;
  /** A pool with recording hooks; stopped by `close()`. */
  pool(spec: UpstreamSpec, opts?: Partial<Omit<PoolOptions, "spec" | "hooks">>): TestPool;
  close(): Promise<void>;
}

export type TestPool = UpstreamPool & ReturnType<typeof recordingHooks>;

/** A local runtime over a temp data dir, configured like the server would (config flags by key path). */
export function testRuntime(
  flags: Record<string, unknown> = {},
  timing: Partial<SupervisorTiming> = {},
): TestRuntime {
  const dataDir = tempDir("catwalk-local-");
  const { config } = loadConfig({ env: {}, flags: { dataDir, ...flags } });
  const runtime = createLocalRuntime({
    config,
    dataDir,
    hostPath: hostEnv().path,
    timing: { ...FAST_TIMING, ...timing },
    child: { stdinGraceMs: 300, termGraceMs: 1500 },
  });
  let n = 0;
  return {
    runtime,
    dataDir,
    pool(spec, opts = {}) {
      const rec = recordingHooks();
      const pool = runtime.pool({
        deploymentId: `dep_test${++n}`,
        spec,
        env: {},
        maxChildren: 4,
        warm: true,
        ...opts,
        hooks: rec.hooks,
      });
      return {
        ...rec,
        acquire: () => pool.acquire(),
        shared: () => pool.shared(),
        state: () => pool.state(),
        start: () => pool.start(),
        stop: () => pool.stop(),
      };
    },
    close: () => runtime.close(),
  };
}
