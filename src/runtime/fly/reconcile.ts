import { appNameFor, type FlyDeploymentRef, META } from "./machine-config.ts";
import type { MachineState } from "./types.ts";

/** What exists on Fly: Catwalk's apps (by prefix) and their Machines with our metadata. */
export interface Observation {
  apps: ObservedApp[];
}

export interface ObservedApp {
  app: string;
  machines: ObservedMachine[];
}

export interface ObservedMachine {
  id: string;
  state: MachineState;
  region: string;
  instanceId: string;
  /** `catwalk_deployment` metadata; undefined for Machines someone else created in the app. */
  deploymentId: string | undefined;
  slug: string | undefined;
}

export type DeploymentState = MachineState | "missing";

export interface DeploymentObservation {
  deploymentId: string;
  app: string;
  machineId: string | undefined;
  region: string | undefined;
  state: DeploymentState;
}

export interface Drift {
  /** One entry per known deployment, in the given order. */
  deployments: DeploymentObservation[];
  /** Known deployments without a live Machine: the reconciler places them again. */
  missing: string[];
  /** Catwalk apps that belong to no known deployment (`catwalk fly gc` deletes them). */
  orphaned: string[];
}

const GONE: ReadonlySet<MachineState> = new Set(["destroyed", "destroying", "replaced", "migrated"]);

export function isLive(state: MachineState): boolean {
  return !GONE.has(state);
}

/**
 * Compares the deployments the store knows with what Fly has. An app belongs to a deployment when
 * its name is the deployment's app name or one of its Machines carries the deployment's id in the
 * metadata; every other app with our prefix is an orphan.
 */
export function reconcile(known: readonly FlyDeploymentRef[], obs: Observation, prefix: string): Drift {
  const byName = new Map(obs.apps.map((a) => [a.app, a]));
  const claimed = new Set<string>();
  const deployments = known.map((dep): DeploymentObservation => {
    const name = appNameFor(prefix, dep);
    const app = byName.get(name) ?? obs.apps.find((a) => a.machines.some((m) => m.deploymentId === dep.id));
    if (app) claimed.add(app.app);
    const machine = app?.machines.find((m) => m.deploymentId === dep.id && isLive(m.state));
    return {
      deploymentId: dep.id,
      app: app?.app ?? name,
      machineId: machine?.id,
      region: machine?.region,
      state: machine?.state ?? "missing",
    };
  });
  return {
    deployments,
    missing: deployments.filter((d) => d.state === "missing").map((d) => d.deploymentId),
    orphaned: obs.apps.filter((a) => !claimed.has(a.app)).map((a) => a.app),
  };
}

export function observedMachine(m: {
  id: string;
  state: MachineState;
  region: string;
  instance_id: string;
  config?: { metadata?: Record<string, string> };
}): ObservedMachine {
  return {
    id: m.id,
    state: m.state,
    region: m.region,
    instanceId: m.instance_id,
    deploymentId: m.config?.metadata?.[META.deployment],
    slug: m.config?.metadata?.[META.slug],
  };
}
