import type { Logger } from "../../log/log.ts";
import type { Clock } from "../../util/buckets.ts";
import { realClock } from "../../util/buckets.ts";
import type { UpstreamSpec } from "../types.ts";
import {
  FlyAppNameTakenError,
  FlyCapacityError,
  FlyClient,
  FlyMachineFailedError,
  FlyNotConfiguredError,
  FlyStateError,
  FlyTimeoutError,
  isFailedPrecondition,
  isForbidden,
  isInsufficientCapacity,
  isNameTaken,
  isNotFound,
  isWaitTimeout,
} from "./client.ts";
import {
  appNameFor,
  BRIDGE_SECRET_NAME,
  checkSecretNames,
  defaultRunnerImage,
  type FlyDeploymentRef,
  type FlyRoute,
  type FlySettings,
  META,
  machineConfig,
  route,
  runnerCommand,
  secretsMac,
} from "./machine-config.ts";
import { type Drift, isLive, type Observation, observedMachine, reconcile } from "./reconcile.ts";
import type { FlyLogEntry, LogsPage, Machine, MachineConfig, MachineState, WaitState } from "./types.ts";

/**
 * Placement and lifecycle of deployments on Fly.io: one app per deployment (on its own network),
 * credentials and the bridge secret as app secrets, shared IPv4 + IPv6, one Machine running the
 * runner image with the package pinned. Every step looks before it acts, so `place` is idempotent
 * and resumable: after a crash at any step, running it again converges on the same app and Machine.
 */

export interface PlaceInput {
  deployment: FlyDeploymentRef;
  spec: UpstreamSpec;
  /** Decrypted credentials: set as app secrets, never put in the Machine config. */
  env: Record<string, string>;
  /** The bearer secret the runner checks (a `cwbrg_` token). */
  bridgeSecret: string;
  /** Overrides the configured primary region for this deployment. */
  region?: string;
  /** Told what placement is doing, for the deployment's state and log. */
  onProgress?: (phase: "preparing" | "booting", note: string) => void;
  /**
   * Ends the placement before its next step (the deployment stopped or was removed meanwhile): a
   * placement that went on after its app was deleted would create it again.
   */
  signal?: AbortSignal;
}

/** What the reconciler needs to know about one deployment's Machine. */
export interface MachineHealth {
  app: string;
  machineId: string | undefined;
  state: MachineState | "missing";
  /** True when the Machine exited on its own (restarts exhausted) or failed: it will not serve. */
  dead: boolean;
  /** Why it is dead or missing, for the deployment's state reason. */
  reason: string | undefined;
}

export interface Placement extends FlyRoute {
  app: string;
  machineId: string;
  region: string;
  instanceId: string;
  state: MachineState;
}

export interface MachineRef {
  app: string;
  machineId: string;
}

export interface FlyPlacerOptions {
  client: FlyClient;
  settings: FlySettings;
  /** Catwalk's version, for the default runner image tag. */
  version: string;
  log?: Logger;
  /** Longest single `wait` call in seconds (Fly allows 60); between waits the Machine is inspected. */
  waitSliceSec?: number;
  clock?: Clock;
}

export interface GcResult {
  orphaned: string[];
  deleted: string[];
}

/** Builds the client from `config.fly`; without a token the Fly runtime cannot work. */
export function createFlyClient(c: { apiUrl: string; apiToken?: string | undefined; logsApiUrl: string }) {
  if (!c.apiToken) {
    throw new FlyNotConfiguredError("The Fly runtime needs an API token.", {
      hint: "Create one with `fly tokens create org -o <org>` and set CATWALK_FLY_API_TOKEN.",
    });
  }
  return new FlyClient({ apiUrl: c.apiUrl, logsApiUrl: c.logsApiUrl, token: c.apiToken });
}

const SETTLED_AFTER_START: ReadonlySet<MachineState> = new Set([
  "stopped",
  "suspended",
  "failed",
  "destroyed",
]);

export class FlyPlacer {
  private readonly client: FlyClient;
  private readonly s: FlySettings;
  private readonly image: string;
  private readonly clock: Clock;

  constructor(private readonly opts: FlyPlacerOptions) {
    this.client = opts.client;
    this.s = opts.settings;
    this.image = opts.settings.image ?? defaultRunnerImage(opts.version);
    this.clock = opts.clock ?? realClock;
  }

  appName(dep: FlyDeploymentRef): string {
    return appNameFor(this.s.appPrefix, dep);
  }

  route(placed: MachineRef, bridgeSecret: string): FlyRoute {
    return route(placed, bridgeSecret, this.s);
  }

  /** Creates or converges the deployment's app, secrets, IPs and Machine; resolves once it runs. */
  async place(input: PlaceInput): Promise<Placement> {
    checkSecretNames(input.env);
    runnerCommand(input.spec); // refuses what cannot run on Fly before anything is created
    const secrets = { ...input.env, [BRIDGE_SECRET_NAME]: input.bridgeSecret };
    this.opts.log?.redactor.add(...Object.values(secrets));
    const app = this.appName(input.deployment);
    const log = this.opts.log?.child({ deployment: input.deployment.id, app });

    const progress = input.onProgress ?? (() => {});
    const signal = input.signal;
    const step = () => signal?.throwIfAborted();
    progress("preparing", `placing on Fly.io as ${app}`);
    step();
    await this.ensureApp(app);
    const mac = secretsMac(secrets, input.bridgeSecret);
    const config = machineConfig(this.s, {
      deployment: input.deployment,
      spec: input.spec,
      image: this.image,
      secretsMac: mac,
    });
    step();
    const current = await this.ourMachine(app, input.deployment.id);
    step();
    const version =
      current?.config.metadata?.[META.secrets] === mac ? undefined : await this.syncSecrets(app, secrets);
    step();
    await this.ensureIps(app);
    step();

    let machine: Machine;
    if (!current) {
      machine = await this.create(app, config, version, input.region);
      log?.info("fly machine created", { machine: machine.id, region: machine.region });
      progress("booting", `created Fly Machine ${machine.id} in ${machine.region}; waiting for it to start`);
      machine = await this.awaitState(app, machine, "started", signal);
    } else if (current.config.metadata?.[META.config] !== config.metadata?.[META.config]) {
      machine = await this.update(app, current, config, version);
      log?.info("fly machine updated", { machine: machine.id });
      progress(
        "booting",
        `updated Fly Machine ${machine.id}${version === undefined ? "" : ` (secrets version ${version})`}; waiting for it to start`,
      );
      machine = await this.awaitState(app, machine, "started", signal);
    } else {
      if (current.state !== "started" && current.state !== "suspended") {
        progress("booting", `Fly Machine ${current.id} is ${current.state}; bringing it up`);
      }
      machine = await this.settle(app, current, signal);
    }
    return this.placement(app, machine, input.bridgeSecret);
  }

  /**
   * New credentials or bridge secret: a new secrets version, and a Machine update with
   * `min_secrets_version` so the Machine picks them up (Fly injects secrets only at boot).
   */
  rotateSecrets(input: PlaceInput): Promise<Placement> {
    return this.place(input);
  }

  async start(ref: MachineRef): Promise<Machine> {
    await this.stateAction(ref, "start");
    return this.awaitState(ref.app, await this.client.getMachine(ref.app, ref.machineId), "started");
  }

  async stop(ref: MachineRef): Promise<Machine> {
    await this.stateAction(ref, "stop");
    return this.awaitState(ref.app, await this.client.getMachine(ref.app, ref.machineId), "stopped");
  }

  async suspend(ref: MachineRef): Promise<Machine> {
    await this.stateAction(ref, "suspend");
    return this.awaitState(ref.app, await this.client.getMachine(ref.app, ref.machineId), "suspended");
  }

  /** The deployment's live Machine, found by metadata; undefined when the app or Machine is missing. */
  async find(dep: FlyDeploymentRef): Promise<(MachineRef & { machine: Machine }) | undefined> {
    const app = this.appName(dep);
    try {
      const machines = await this.client.listMachines(app, { metadata: { [META.deployment]: dep.id } });
      const live = machines
        .filter((m) => isLive(m.state) && m.config?.metadata?.[META.deployment] === dep.id)
        .sort((a, b) => (a.created_at ?? "").localeCompare(b.created_at ?? "") || a.id.localeCompare(b.id));
      const [m] = live;
      return m ? { app, machineId: m.id, machine: m } : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Starts the deployment's Machine if it is stopped or suspended, without waiting for it to run
   * (placement waits). False when there is no Machine yet (placement creates it).
   */
  async wake(dep: FlyDeploymentRef): Promise<boolean> {
    const found = await this.find(dep);
    if (!found) return false;
    if (["stopped", "suspended", "created", "failed"].includes(found.machine.state)) {
      await this.stateAction(found, "start");
    }
    return true;
  }

  /** Stops (or suspends) the deployment's Machine and waits until it is; nothing to do without one. */
  async halt(dep: FlyDeploymentRef, mode: "stop" | "suspend" = "stop"): Promise<Machine | undefined> {
    const found = await this.find(dep);
    if (!found) return undefined;
    if (found.machine.state === "stopped") return found.machine;
    if (mode === "suspend" && found.machine.state === "suspended") return found.machine;
    return mode === "stop" ? this.stop(found) : this.suspend(found);
  }

  /**
   * Whether the deployment's Machine can serve: missing (app or Machine gone), dead (exited on its
   * own with its restarts used up, or failed), or alive (started, suspended, stopped by request or
   * by Fly Proxy's autostop, or in a transition).
   */
  async health(
    dep: FlyDeploymentRef,
    observed?: { app: string; machineId?: string | undefined },
  ): Promise<MachineHealth> {
    const app = observed?.app ?? this.appName(dep);
    let machine: Machine | undefined;
    if (observed?.machineId) {
      machine = await this.client.getMachine(app, observed.machineId).catch((e: unknown) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
    } else machine = (await this.find(dep))?.machine;
    if (!machine || !isLive(machine.state)) {
      return {
        app,
        machineId: undefined,
        state: "missing",
        dead: true,
        reason: `the Fly Machine of ${app} is gone`,
      };
    }
    const dead = machine.state === "failed" || (machine.state === "stopped" && this.died(machine));
    return {
      app,
      machineId: machine.id,
      state: machine.state,
      dead,
      reason: dead
        ? `Fly Machine ${machine.id} of ${app} is ${machine.state}: ${this.why(machine)}`
        : undefined,
    };
  }

  /** Deletes the deployment's app and everything in it (Machines, secrets, IPs). Idempotent. */
  async destroy(dep: FlyDeploymentRef): Promise<void> {
    await this.deleteApp(this.appName(dep));
  }

  /** Catwalk's apps in the org (by prefix) and their Machines, for the reconciler and gc. */
  async observe(): Promise<Observation> {
    const apps = (await this.client.listApps(this.s.org)).filter((a) => a.name.startsWith(this.s.appPrefix));
    const out: Observation = { apps: [] };
    for (const a of apps) {
      try {
        const machines = await this.client.listMachines(a.name);
        out.apps.push({ app: a.name, machines: machines.map(observedMachine) });
      } catch (e) {
        if (!isNotFound(e)) throw e; // deleted between the two calls
      }
    }
    return out;
  }

  async drift(known: readonly FlyDeploymentRef[]): Promise<Drift> {
    return reconcile(known, await this.observe(), this.s.appPrefix);
  }

  /** Lists Catwalk apps that belong to no known deployment; deletes them only with `yes`. */
  async gc(known: readonly FlyDeploymentRef[], opts: { yes: boolean }): Promise<GcResult> {
    const { orphaned } = await this.drift(known);
    const deleted: string[] = [];
    if (!opts.yes) return { orphaned, deleted };
    for (const app of orphaned) {
      await this.deleteApp(app);
      this.opts.log?.info("fly orphaned app deleted", { app });
      deleted.push(app);
    }
    return { orphaned, deleted };
  }

  /** One page of the app's logs from Fly's log API; pass `nextToken` back to get newer lines. */
  fetchLogs(app: string, opts: { nextToken?: string; machineId?: string } = {}): Promise<LogsPage> {
    return this.client.appLogs(app, { nextToken: opts.nextToken, instance: opts.machineId });
  }

  /**
   * Polls the log API until `signal` aborts, handing each new line to `onEntry` (the deployment's
   * log pipeline). Fetch failures are reported to `onError` and retried on the next tick.
   */
  async followLogs(opts: {
    app: string;
    machineId?: string;
    intervalMs?: number;
    /** Only lines after this time (the cursor is a nanosecond timestamp); default: the latest page. */
    since?: Date;
    signal: AbortSignal;
    onEntry: (entry: FlyLogEntry) => void;
    onError?: (e: unknown) => void;
  }): Promise<void> {
    let nextToken: string | undefined = opts.since
      ? String(BigInt(opts.since.getTime()) * 1_000_000n)
      : undefined;
    while (!opts.signal.aborted) {
      try {
        const page = await this.fetchLogs(opts.app, { nextToken, machineId: opts.machineId });
        for (const entry of page.entries) opts.onEntry(entry);
        nextToken = page.nextToken || nextToken;
      } catch (e) {
        opts.onError?.(e);
      }
      await abortableSleep(opts.intervalMs ?? 2_000, opts.signal);
    }
  }

  // ---- steps of place ----

  private async ensureApp(app: string): Promise<void> {
    if (await this.appExists(app)) return;
    try {
      await this.client.createApp({ app_name: app, org_slug: this.s.org, network: app });
    } catch (e) {
      // A create whose response was lost answers name_taken the second time: look again.
      if (!isNameTaken(e)) throw e;
      if (!(await this.appExists(app))) throw this.nameTaken(app, e);
    }
  }

  /**
   * True when the app exists and the token may use it, false when it does not exist. Fly answers
   * 403 for an app of another organization: the name is someone else's.
   */
  private async appExists(app: string): Promise<boolean> {
    try {
      await this.client.getApp(app);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      if (isForbidden(e)) throw this.nameTaken(app, e);
      throw e;
    }
  }

  private nameTaken(app: string, cause: unknown): FlyAppNameTakenError {
    return new FlyAppNameTakenError(`The Fly app name ${app} belongs to another organization.`, {
      hint: "Fly app names are global; set another fly.appPrefix (CATWALK_FLY_APP_PREFIX).",
      cause,
    });
  }

  /** Sets the wanted secrets and unsets stale ones in one version; returns that version. */
  private async syncSecrets(app: string, secrets: Record<string, string>): Promise<number> {
    const values: Record<string, string | null> = { ...secrets };
    for (const s of await this.client.listSecrets(app)) if (!(s.name in secrets)) values[s.name] = null;
    const res = await this.client.setSecrets(app, values);
    return res.version;
  }

  /** Shared IPv4 and IPv6, which Fly does not allocate for apps made through the Machines API. */
  private async ensureIps(app: string): Promise<void> {
    const ips = await this.client.listIps(app);
    const v6 = ips.some((ip) => ip.ip.includes(":") && !ip.ip.startsWith("fdaa:"));
    const sharedV4 = ips.some((ip) => ip.shared && !ip.ip.includes(":"));
    if (!v6) await this.client.assignIp(app, { type: "v6" });
    if (!sharedV4) await this.client.assignIp(app, { type: "shared_v4" });
  }

  /** Our live Machine in the app; duplicates (from a create whose response was lost) are destroyed. */
  private async ourMachine(app: string, deploymentId: string): Promise<Machine | undefined> {
    const machines = (await this.client.listMachines(app, { metadata: { [META.deployment]: deploymentId } }))
      .filter((m) => isLive(m.state) && m.config?.metadata?.[META.deployment] === deploymentId)
      .sort((a, b) => (a.created_at ?? "").localeCompare(b.created_at ?? "") || a.id.localeCompare(b.id));
    const [keep, ...extra] = machines;
    for (const m of extra) {
      await this.client.deleteMachine(app, m.id, { force: true }).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
      this.opts.log?.warn("fly duplicate machine destroyed", { app, machine: m.id });
    }
    return keep;
  }

  private async create(
    app: string,
    config: MachineConfig,
    minSecretsVersion: number | undefined,
    region: string | undefined,
  ): Promise<Machine> {
    const regions = [...new Set([region ?? this.s.region, ...this.s.fallbackRegions])];
    for (const r of regions) {
      try {
        return await this.client.createMachine(app, {
          name: "runner",
          region: r,
          config,
          min_secrets_version: minSecretsVersion,
        });
      } catch (e) {
        if (!isInsufficientCapacity(e)) throw e;
        this.opts.log?.warn("fly region has no capacity", { app, region: r });
      }
    }
    throw new FlyCapacityError(`No Fly region has capacity for ${app} (tried ${regions.join(", ")}).`, {
      hint: "Add regions to fly.fallbackRegions (CATWALK_FLY_FALLBACK_REGIONS) or retry later.",
    });
  }

  private update(
    app: string,
    current: Machine,
    config: MachineConfig,
    minSecretsVersion: number | undefined,
  ): Promise<Machine> {
    return this.client.withLease(app, current.id, (nonce) =>
      this.client.updateMachine(app, current.id, { config, min_secrets_version: minSecretsVersion }, nonce),
    );
  }

  /**
   * An unchanged Machine: asleep is fine (Fly Proxy wakes it on the next request); one that died
   * (exited on its own, failed) or never launched is started and must come up.
   */
  private async settle(app: string, m: Machine, signal?: AbortSignal): Promise<Machine> {
    if (m.state === "started" || m.state === "suspended") return m;
    if (m.state === "stopped" && !this.died(m)) return m;
    if (m.state === "created" || m.state === "failed" || m.state === "stopped") {
      await this.stateAction({ app, machineId: m.id }, "start");
    }
    signal?.throwIfAborted();
    return this.awaitState(app, await this.client.getMachine(app, m.id), "started", signal);
  }

  private placement(app: string, m: Machine, bridgeSecret: string): Placement {
    return {
      app,
      machineId: m.id,
      region: m.region,
      instanceId: m.instance_id,
      state: m.state,
      ...this.route({ app, machineId: m.id }, bridgeSecret),
    };
  }

  // ---- state changes ----

  /**
   * start/stop/suspend under a lease. A 412 (wrong state) is looked into: already in the target
   * state is success; a transition in progress is waited out and the action tried once more.
   */
  private async stateAction(ref: MachineRef, action: "start" | "stop" | "suspend"): Promise<void> {
    const target: Record<typeof action, MachineState> = {
      start: "started",
      stop: "stopped",
      suspend: "suspended",
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.withLease(ref.app, ref.machineId, (nonce) => this.send(ref, action, nonce));
        return;
      } catch (e) {
        if (!isFailedPrecondition(e)) throw e;
        const m = await this.client.getMachine(ref.app, ref.machineId);
        if (m.state === target[action]) return;
        if (attempt >= 2) {
          throw new FlyStateError(`Cannot ${action} Fly Machine ${ref.machineId}: it is ${m.state}.`, {
            hint: "Wait for the Machine to settle (catwalk status) and retry.",
            cause: e,
          });
        }
        await this.settleTransition(ref, m);
      }
    }
  }

  private send(ref: MachineRef, action: "start" | "stop" | "suspend", nonce: string): Promise<unknown> {
    if (action === "start") return this.client.startMachine(ref.app, ref.machineId, nonce);
    if (action === "stop") return this.client.stopMachine(ref.app, ref.machineId, { nonce });
    return this.client.suspendMachine(ref.app, ref.machineId, nonce);
  }

  /** Waits (bounded) for a transient state to end before the action is tried again. */
  private async settleTransition(ref: MachineRef, m: Machine): Promise<void> {
    const next: Partial<Record<MachineState, WaitState[]>> = {
      starting: ["started"],
      stopping: ["stopped"],
      suspending: ["suspended"],
      replacing: ["started"],
      updating: ["started"],
      restarting: ["started"],
    };
    const states = next[m.state];
    if (!states) return;
    await this.client
      .waitMachine(ref.app, ref.machineId, { states, timeoutSec: this.waitSlice() })
      .catch((e: unknown) => {
        if (!isWaitTimeout(e)) throw e;
      });
  }

  /**
   * Waits until the Machine is in `target`, in slices of `wait` calls; after each 408 it looks at
   * the Machine, so a Machine that died (exited with restarts exhausted, failed, destroyed) ends
   * the wait at once with the reason instead of running into the timeout.
   */
  private async awaitState(
    app: string,
    m: Machine,
    target: WaitState,
    signal?: AbortSignal,
  ): Promise<Machine> {
    const deadline = this.clock.now() + this.s.startTimeoutMs;
    let current = m;
    for (;;) {
      signal?.throwIfAborted();
      if (current.state === target) return current;
      if (target === "started" && this.died(current)) throw this.failed(app, current);
      const remaining = deadline - this.clock.now();
      if (remaining <= 0) {
        throw new FlyTimeoutError(
          `Fly Machine ${current.id} of ${app} did not reach ${target} within ${Math.round(this.s.startTimeoutMs / 1000)} s (it is ${current.state}).`,
          {
            hint:
              "Image pulls can take minutes: retry, or raise fly.startTimeoutMs. Check `fly logs -a " +
              app +
              "`.",
          },
        );
      }
      // Stopped but not dead (someone asked for it, or Fly restarts it): waiting for "stopped" again
      // would return at once, so pause before looking again.
      if (target === "started" && current.state === "stopped")
        await this.clock.sleep(Math.min(1000, remaining));
      const timeoutSec = Math.max(1, Math.min(this.waitSlice(), Math.ceil(remaining / 1000)));
      try {
        // Waiting for "stopped" too ends the wait as soon as a Machine that should start exits,
        // instead of after a whole slice.
        await this.client.waitMachine(app, current.id, {
          states: target === "started" ? ["started", "stopped"] : [target],
          timeoutSec,
          instanceId: current.instance_id,
          signal,
        });
      } catch (e) {
        if (isNotFound(e)) throw this.failed(app, { ...current, state: "destroyed" });
        if (!isWaitTimeout(e)) throw e;
      }
      current = await this.client.getMachine(app, current.id).catch((e: unknown) => {
        if (isNotFound(e)) throw this.failed(app, { ...current, state: "destroyed" });
        throw e;
      });
    }
  }

  private waitSlice(): number {
    return this.opts.waitSliceSec ?? 60;
  }

  /** Stopped after exiting on its own, failed or gone, while we wait for it to run. */
  private died(m: Machine): boolean {
    if (!SETTLED_AFTER_START.has(m.state)) return false;
    if (m.state !== "stopped") return true;
    const exit = m.events?.find((e) => e.type === "exit")?.request?.exit_event;
    return exit !== undefined && exit.requested_stop !== true && exit.restarting !== true;
  }

  private failed(app: string, m: Machine): FlyMachineFailedError {
    return new FlyMachineFailedError(`Fly Machine ${m.id} of ${app} did not start: ${this.why(m)}.`, {
      hint: `See the deployment logs (or \`fly logs -a ${app}\`); fix the command or credentials and redeploy.`,
    });
  }

  private why(m: Machine): string {
    const exit = m.events?.find((e) => e.type === "exit")?.request;
    const code = exit?.exit_event?.exit_code;
    if (code === undefined) return `it is ${m.state}`;
    const oom = exit?.exit_event?.oom_killed ? " (out of memory)" : "";
    return `the runner exited with code ${code}${oom} after ${exit?.restart_count ?? 0} restarts`;
  }

  private async deleteApp(app: string): Promise<void> {
    try {
      await this.client.deleteApp(app, { force: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
