import type { Row } from "../deployment/deployment.ts";
import { credentialValues, listDeployments, updateCredentials } from "../deployment/deployment.ts";
import { type PoolFactory, RUNTIME_PREFIX, type RuntimeDriver } from "../deployment/manager.ts";
import { checkSecretNames, type FlyDeploymentRef, runnerCommand } from "../runtime/fly/machine-config.ts";
import { createFlyClient, FlyPlacer, type GcResult } from "../runtime/fly/placement.ts";
import { createFlyPool, type FlyPool } from "../runtime/fly/pool.ts";
import { newToken } from "../util/secret.ts";
import { VERSION } from "../version.ts";
import type { App } from "./app.ts";

/** The credential row that holds a deployment's bridge secret (encrypted, never shown). */
export const BRIDGE_CREDENTIAL = `${RUNTIME_PREFIX}fly-bridge-secret`;

/**
 * The Fly runtime of one server: the pool factory for `runtime: "fly"`, the driver that carries
 * desired-state changes to the Machines, and garbage collection of orphaned apps. The Fly client
 * is made on first use, so a server without `fly.apiToken` runs fine until someone asks for Fly
 * (and then gets `fly.not_configured` with the fix).
 */
export interface FlyRuntime {
  pools: PoolFactory;
  driver: RuntimeDriver;
  /** Catwalk apps on Fly that no deployment of this server claims; deleted only with `yes`. */
  gc(yes: boolean): Promise<GcResult>;
  /** The live pool of a deployment (for tests and diagnostics). */
  pool(deploymentId: string): FlyPool | undefined;
}

function ref(row: Pick<Row, "id" | "slug">): FlyDeploymentRef {
  return { id: row.id, slug: row.slug };
}

export function createFlyRuntime(app: App): FlyRuntime {
  const { config } = app;
  const log = app.log.child({ component: "fly" });
  const pools = new Map<string, FlyPool>();
  let placer: FlyPlacer | undefined;
  let lastReconcile = 0;

  const fly = (): FlyPlacer => {
    placer ??= new FlyPlacer({
      client: createFlyClient(config.fly),
      settings: config.fly,
      version: VERSION,
      log,
    });
    return placer;
  };

  /** The deployment's bridge secret, made on first placement and kept encrypted with its credentials. */
  const bridgeSecret = async (deploymentId: string): Promise<string> => {
    const existing = (await credentialValues(app.store.db, app.vault, deploymentId))[BRIDGE_CREDENTIAL];
    if (existing) return existing;
    const secret = newToken("brg");
    app.log.redactor.add(secret);
    await updateCredentials(app.store.db, app.vault, deploymentId, { [BRIDGE_CREDENTIAL]: secret }, []);
    return secret;
  };

  const factory: PoolFactory = ({ row, env, hooks }) => {
    const placed = fly();
    const pool = createFlyPool({
      placer: placed,
      deployment: ref(row),
      spec: row.upstream,
      env,
      bridgeSecret: () => bridgeSecret(row.id),
      hooks: {
        log: hooks.log,
        state: (s) => {
          if (s.state === "stopped" && pools.get(row.id) === pool) pools.delete(row.id);
          hooks.state(s);
        },
      },
      maxChildren: config.local.maxChildren,
      connectTimeoutMs: config.fly.connectTimeoutMs,
      logPollMs: config.fly.logPollMs,
      placementRetryMs: config.fly.placementRetryMs,
    });
    pools.set(row.id, pool);
    return pool;
  };

  /**
   * Drift: a running deployment whose Machine is gone or died is placed again (the pool creates or
   * starts it); a stopped deployment whose Machine runs (someone started it, or a stop failed) is
   * stopped. Deployments still being placed are left alone. Runs at most every fly.reconcileMs.
   */
  const reconcile = async (rows: readonly Row[]): Promise<void> => {
    // Without a token every Fly deployment already shows fly.not_configured; nothing to compare.
    if (rows.length === 0 || !config.fly.apiToken) return;
    // Placements that failed for want of capacity or a Fly outage get their next round when due.
    for (const r of rows) if (r.desiredState === "running") pools.get(r.id)?.retryFailed();
    if (Date.now() - lastReconcile < config.fly.reconcileMs) return;
    lastReconcile = Date.now();
    const placedRows = rows.filter(
      (r) => r.desiredState === "running" && pools.get(r.id)?.state().state === "running",
    );
    const stoppedRows = rows.filter((r) => r.desiredState === "stopped");
    if (placedRows.length === 0 && stoppedRows.length === 0) return;
    const drift = await fly().drift(rows.map(ref));
    for (const d of drift.deployments) {
      const row = rows.find((r) => r.id === d.deploymentId);
      if (!row) continue;
      if (placedRows.includes(row)) await repair(row, d.app, d.machineId, d.state);
      else if (stoppedRows.includes(row) && d.state === "started") {
        log.info("stopping a Machine of a stopped deployment", { deployment: row.id, machine: d.machineId });
        await fly().halt(ref(row));
      }
    }
    if (drift.orphaned.length) {
      log.warn("Fly apps no deployment claims (list them with `catwalk fly gc`)", { apps: drift.orphaned });
    }
  };

  const repair = async (
    row: Row,
    app: string,
    machineId: string | undefined,
    state: string,
  ): Promise<void> => {
    const pool = pools.get(row.id);
    if (!pool) return;
    if (state === "missing") {
      pool.replace(`the Fly Machine of ${app} is gone`);
      return;
    }
    if (state !== "stopped" && state !== "failed") return;
    const health = await fly().health(ref(row), { app, machineId });
    if (health.dead) pool.replace(health.reason ?? `the Fly Machine of ${app} is ${state}`);
  };

  const driver: RuntimeDriver = {
    check(spec, env) {
      fly();
      runnerCommand(spec);
      checkSecretNames(env);
    },
    start: async (row) => {
      await fly().wake(ref(row));
    },
    stop: async (row) => {
      await fly().halt(ref(row));
    },
    // A restart is what an operator reaches for when a server misbehaves: the Machine (and the
    // server inside it) starts afresh, not only the gateway's connection to it.
    restart: async (row) => {
      await fly().halt(ref(row));
      await fly().wake(ref(row));
    },
    destroy: async (row) => {
      await fly().destroy(ref(row));
    },
    reconcile,
  };

  return {
    pools: factory,
    driver,
    gc: async (yes) => {
      // Every deployment claims its app name, whatever its runtime: only strangers are orphans.
      return fly().gc((await listDeployments(app.store.db)).map(ref), { yes });
    },
    pool: (id) => pools.get(id),
  };
}
