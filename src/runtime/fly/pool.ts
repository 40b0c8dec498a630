import { handshake } from "../../mcp/handshake.ts";
import { CatwalkError } from "../../util/error.ts";
import { CapacityError, UpstreamUnavailableError } from "../errors.ts";
import { RemoteChannel } from "../remote/remote.ts";
import type { PoolHooks, PoolState, PoolStateName, Upstream, UpstreamPool, UpstreamSpec } from "../types.ts";
import {
  FlyApiError,
  FlyCapacityError,
  FlyRunnerFailedError,
  FlyStateError,
  FlyTimeoutError,
  FlyUnreachableError,
} from "./errors.ts";
import { type FlyDeploymentRef, HEALTH_PATH } from "./machine-config.ts";
import type { FlyPlacer, Placement } from "./placement.ts";

/**
 * Upstreams of one deployment on Fly.io. `start()` converges the placement (app, secrets, IPs,
 * Machine) and then follows the app's logs; `acquire()`/`shared()` open MCP sessions on the Machine
 * through Fly Proxy (`RemoteChannel` to the route, with `fly-force-instance-id` and the bridge
 * secret). A suspended or stopped Machine is woken by Fly Proxy on the first request, so opening a
 * session may include a boot: its limit is `connectTimeoutMs`.
 *
 * `stop()` only drops this process's sessions and log polling: it runs on server shutdown and
 * restart as well as on operator stops, and a server restart must leave the Machines alone. What
 * happens to the Machine on an operator stop or delete is the runtime driver's business.
 */

export interface FlyPoolOptions {
  placer: FlyPlacer;
  deployment: FlyDeploymentRef;
  spec: UpstreamSpec;
  /** Decrypted credentials: they become app secrets. */
  env: Record<string, string>;
  /** The deployment's bridge secret (read from, or created in, the store). */
  bridgeSecret: () => Promise<string>;
  hooks: PoolHooks;
  /** Dedicated sessions at once (each is a child process in the Machine). */
  maxChildren: number;
  /** Limit for opening one MCP session, a wake-up from suspend or a cold boot included. */
  connectTimeoutMs: number;
  /** Interval of polling Fly's log API; 0 turns log following off. */
  logPollMs: number;
  /** Placement attempts after transient failures (Fly unreachable, 5xx, 429 after the client's retries). */
  retries?: number;
  retryBaseMs?: number;
  /**
   * First wait before a failed placement is tried again (`retryFailed`), when the failure may pass
   * by itself (no capacity, Fly unreachable or failing); doubles per failed round up to an hour.
   * 0: a failed placement stays failed until an operator acts.
   */
  placementRetryMs?: number;
}

/** Longest wait between two placement rounds of a deployment that keeps failing. */
const MAX_PLACEMENT_RETRY_MS = 3_600_000;

/** Superseded work (the pool was stopped or placement restarted meanwhile). */
class Superseded extends Error {}

function minutes(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 6_000) / 10} min` : `${Math.max(1, Math.round(ms / 1000))} s`;
}

export function describeError(e: unknown): string {
  if (e instanceof CatwalkError) return e.hint ? `${e.message} ${e.hint}` : e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Failures worth another placement attempt: Fly was unreachable, busy, or the Machine in transition. */
export function isTransient(e: unknown): boolean {
  if (e instanceof FlyUnreachableError || e instanceof FlyStateError) return true;
  if (!(e instanceof FlyApiError)) return false;
  if (e.flyCode === "insufficient_capacity") return false;
  return e.httpStatus === 408 || e.httpStatus === 409 || e.httpStatus === 429 || e.httpStatus >= 500;
}

/** Failures that may pass without anyone changing anything: worth another round later. */
export function passes(e: unknown): boolean {
  return isTransient(e) || e instanceof FlyCapacityError || e instanceof FlyTimeoutError;
}

export class FlyPool implements UpstreamPool {
  private st: PoolState = { state: "stopped", children: 0, restarts: 0 };
  /** A failed placement that may be tried again: when, and how many rounds failed in a row. */
  private nextRound: number | undefined;
  private failedRounds = 0;
  private stopped = true;
  private gen = 0;
  private placing: Promise<Placement> | undefined;
  private aborter: AbortController | undefined;
  private placement: Placement | undefined;
  private sharedUp: Promise<Upstream> | undefined;
  private readonly open = new Set<RemoteChannel>();
  private live = 0;
  private logs: AbortController | undefined;
  private healing = false;
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly opts: FlyPoolOptions) {}

  /** Where the deployment runs, once placed. */
  get placed(): Placement | undefined {
    return this.placement;
  }

  state(): PoolState {
    return { ...this.st, children: this.live };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.place().catch(() => {});
  }

  async acquire(): Promise<Upstream> {
    const placed = await this.ready();
    return this.connect(placed, true);
  }

  async shared(): Promise<Upstream> {
    const current = this.sharedUp ? await this.sharedUp.catch(() => undefined) : undefined;
    if (current && !current.channel.closed) return current;
    const placed = await this.ready();
    const next = this.connect(placed, false);
    this.sharedUp = next;
    next.catch(() => {
      if (this.sharedUp === next) this.sharedUp = undefined;
    });
    return next;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.gen++;
    this.aborter?.abort();
    const placing = this.placing;
    this.logs?.abort();
    this.logs = undefined;
    clearTimeout(this.wakeTimer);
    this.wakeUp?.();
    this.placing = undefined;
    this.placement = undefined;
    this.sharedUp = undefined;
    await Promise.all([...this.open].map((c) => c.close()));
    // A Fly call already sent finishes first, so a removal that follows cannot be overtaken by it.
    if (placing) await Promise.race([placing.catch(() => {}), Bun.sleep(10_000)]);
    this.live = 0;
    this.set({ state: "stopped", reason: undefined });
  }

  /**
   * Looks at the Machine after a failure to reach it (or when the reconciler found drift): a
   * Machine that is gone or dead is placed again, which creates or starts it.
   */
  heal(reason: string): void {
    if (this.stopped || this.healing || this.st.state !== "running") return;
    this.healing = true;
    void this.opts.placer
      .health(this.opts.deployment)
      .then((h) => {
        if (!h.dead || this.stopped) return;
        this.note(`${h.reason ?? reason}; placing it again`);
        this.set({ state: "crashed", reason: h.reason ?? reason, restarts: this.st.restarts + 1 });
        void this.place().catch(() => {});
      })
      .catch((e: unknown) => this.note(`cannot look at the Fly Machine: ${describeError(e)}`))
      .finally(() => {
        this.healing = false;
      });
  }

  /**
   * The reconciler's turn: a placement that failed for a reason that may pass (no capacity, Fly
   * unreachable or failing) is tried again once its wait is over. True when a round started.
   */
  retryFailed(now = Date.now()): boolean {
    if (this.stopped || this.placing || this.st.state !== "failed") return false;
    if (this.nextRound === undefined || now < this.nextRound) return false;
    this.nextRound = undefined;
    this.note(`placing it again after: ${this.st.reason ?? "a failure"}`);
    this.set({ state: "installing", reason: undefined, restarts: this.st.restarts + 1 });
    void this.place().catch(() => {});
    return true;
  }

  /** After a failed round: when the next one may start (undefined: only an operator can help). */
  private scheduleRound(e: unknown): number | undefined {
    const base = this.opts.placementRetryMs ?? 0;
    if (base <= 0 || !passes(e)) {
      this.nextRound = undefined;
      return undefined;
    }
    const wait = Math.min(base * 2 ** this.failedRounds, MAX_PLACEMENT_RETRY_MS);
    this.failedRounds++;
    this.nextRound = Date.now() + wait;
    return wait;
  }

  /** The reconciler found the Machine gone or dead: place it again now. */
  replace(reason: string): void {
    if (this.stopped || this.placing) return;
    this.note(`${reason}; placing it again`);
    this.set({ state: "crashed", reason, restarts: this.st.restarts + 1 });
    void this.place().catch(() => {});
  }

  // ---- placement ----

  private place(): Promise<Placement> {
    const gen = ++this.gen;
    this.aborter?.abort();
    this.aborter = new AbortController();
    const job = this.attempts(gen).finally(() => {
      if (this.placing === job) this.placing = undefined;
    });
    this.placing = job;
    return job;
  }

  private async attempts(gen: number): Promise<Placement> {
    const since = new Date(Date.now() - 1000);
    const retries = this.opts.retries ?? 3;
    this.set({ state: "installing" });
    for (let attempt = 0; ; attempt++) {
      try {
        const placed = await this.placeOnce(gen, since);
        if (gen !== this.gen) throw new Superseded("superseded");
        // A Machine that runs must also run the MCP server; an asleep one is not woken for this.
        if (placed.state === "started") await this.probe(placed, gen);
        this.placement = placed;
        this.follow(placed.app, since);
        this.note(`running on Fly Machine ${placed.machineId} in ${placed.region} (${placed.state})`);
        this.failedRounds = 0;
        this.nextRound = undefined;
        this.set({ state: "running", reason: undefined });
        return placed;
      } catch (e) {
        if (e instanceof Superseded || gen !== this.gen) throw new Superseded("superseded");
        const reason = describeError(e);
        if (!isTransient(e) || attempt >= retries) {
          const wait = this.scheduleRound(e);
          const later = wait === undefined ? "" : ` Catwalk tries again in ${minutes(wait)}.`;
          this.note(`failed: ${reason}${later}`);
          this.set({ state: "failed", reason: `${reason}${later}` });
          throw e;
        }
        const delay = (this.opts.retryBaseMs ?? 1000) * 2 ** attempt;
        this.note(`placement failed: ${reason}; retrying in ${Math.round(delay / 100) / 10}s`);
        this.set({ state: "crashed", reason, restarts: this.st.restarts + 1 });
        await this.sleep(delay);
        if (gen !== this.gen) throw new Superseded("superseded");
        this.set({ state: "installing" });
      }
    }
  }

  private async placeOnce(gen: number, since: Date): Promise<Placement> {
    const bridgeSecret = await this.opts.bridgeSecret();
    return this.opts.placer.place({
      deployment: this.opts.deployment,
      spec: this.opts.spec,
      env: this.opts.env,
      bridgeSecret,
      signal: this.aborter?.signal,
      onProgress: (phase, note) => {
        if (gen !== this.gen) return;
        this.note(note);
        this.set({ state: phase === "preparing" ? "installing" : "starting" });
        // From boot on the Machine's output explains what happens, a failure included.
        if (phase === "booting") this.follow(this.opts.placer.appName(this.opts.deployment), since);
      },
    });
  }

  /**
   * Waits until the runner's unauthenticated health endpoint says its MCP server runs: `started`
   * only means Fly launched the runner, which may still be installing the package, or may have
   * given up on a server that keeps crashing (bad credentials). Then `running` means what it
   * means for local deployments.
   */
  private async probe(placed: Placement, gen: number): Promise<void> {
    const url = new URL(HEALTH_PATH, placed.url).toString();
    const headers = { "fly-force-instance-id": placed.machineId };
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    let said = false;
    for (;;) {
      if (gen !== this.gen) throw new Superseded("superseded");
      const seen = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
        .then(async (r) => ({
          status: r.status,
          state: ((await r.json().catch(() => ({}))) as { state?: unknown }).state,
        }))
        .catch(() => ({ status: 0, state: undefined }));
      if (seen.status === 200) return;
      if (seen.state === "failed") {
        throw new FlyRunnerFailedError(
          `The MCP server in Fly Machine ${placed.machineId} of ${placed.app} could not start (its runner gave up after repeated crashes).`,
          {
            hint: "Its output is in the deployment's logs; fix the credentials or arguments, and the update restarts it.",
          },
        );
      }
      if (Date.now() > deadline) {
        throw new FlyRunnerFailedError(
          `The MCP server in Fly Machine ${placed.machineId} of ${placed.app} did not come up within ${Math.round(this.opts.connectTimeoutMs / 1000)} s (last health answer: ${seen.status || "none"}${typeof seen.state === "string" ? `, ${seen.state}` : ""}).`,
          {
            hint: "See the deployment's logs; a slow package install may need a larger fly.connectTimeoutMs.",
          },
        );
      }
      if (!said) {
        said = true;
        this.note(`waiting for the MCP server in Fly Machine ${placed.machineId} to start`);
      }
      await this.sleep(500);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      this.wakeTimer = setTimeout(resolve, ms);
    });
  }

  /** The placement to connect to, waiting for one in progress; unavailable when it failed or stopped. */
  private async ready(): Promise<Placement> {
    if (this.stopped) throw this.unavailable();
    if (this.placing) {
      try {
        return await this.placing;
      } catch {
        throw this.unavailable();
      }
    }
    if (this.placement) return this.placement;
    throw this.unavailable();
  }

  // ---- sessions ----

  private async connect(placed: Placement, dedicated: boolean): Promise<Upstream> {
    if (dedicated && this.live >= this.opts.maxChildren) {
      throw new CapacityError(
        `All ${this.opts.maxChildren} upstream sessions of this deployment are in use.`,
        {
          hint: "Raise local.maxChildren or use session mode shared.",
        },
      );
    }
    if (dedicated) this.live++;
    const channel = new RemoteChannel(placed.url, placed.headers, (message) =>
      this.note(`Fly Machine ${placed.machineId}: ${message}`),
    );
    this.open.add(channel);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      this.open.delete(channel);
      if (dedicated) this.live--;
      await channel.close();
    };
    try {
      await channel.start();
      const { channel: ready, init } = await handshake(channel, { timeoutMs: this.opts.connectTimeoutMs });
      return { channel: ready, init, release };
    } catch (e) {
      await release();
      const reason = describeError(e);
      this.note(`cannot open a session on Fly Machine ${placed.machineId}: ${reason}`);
      this.heal(reason);
      throw new UpstreamUnavailableError(
        this.st.state,
        reason,
        `The Fly Machine ${placed.machineId} of ${placed.app} did not answer: ${reason}`,
        { hint: "Catwalk checks the Machine and places it again if it is gone; see the deployment's logs." },
      );
    }
  }

  // ---- logs ----

  private follow(app: string, since: Date): void {
    if (this.logs || this.opts.logPollMs <= 0) return;
    const abort = new AbortController();
    this.logs = abort;
    let failing = false;
    void this.opts.placer.followLogs({
      app,
      intervalMs: this.opts.logPollMs,
      since,
      signal: abort.signal,
      onEntry: (entry) => {
        failing = false;
        this.opts.hooks.log("stderr", entry.message);
      },
      onError: (e) => {
        // One note per outage, not one per poll.
        if (failing || abort.signal.aborted) return;
        failing = true;
        this.note(`cannot read the Fly logs of ${app}: ${describeError(e)}`);
      },
    });
  }

  // ---- state ----

  private unavailable(): UpstreamUnavailableError {
    const { state, reason } = this.st;
    const name: PoolStateName = this.stopped ? "stopped" : state;
    return new UpstreamUnavailableError(
      name,
      reason,
      `The deployment's Fly Machine is ${name}${reason ? `: ${reason}` : ""}.`,
      { hint: "See the deployment's state and logs; `catwalk restart` places it again." },
    );
  }

  private note(line: string): void {
    this.opts.hooks.log("lifecycle", line);
  }

  private set(next: Partial<PoolState>): void {
    this.st = { ...this.st, ...next, children: this.live };
    this.opts.hooks.state(this.state());
  }
}

export function createFlyPool(opts: FlyPoolOptions): FlyPool {
  return new FlyPool(opts);
}
