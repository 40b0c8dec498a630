import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { handshake } from "../../mcp/handshake.ts";
import { isCatwalkError, messageOf } from "../../util/error.ts";
import { CapacityError, UpstreamUnavailableError } from "../errors.ts";
import type {
  Channel,
  CloseReason,
  InitializeResult,
  PoolOptions,
  PoolState,
  PoolStateName,
  Upstream,
  UpstreamPool,
} from "../types.ts";
import { type ChildOptions, LocalChild } from "./child.ts";
import type { Launch, PackageCache } from "./packages.ts";
import { type Sandbox, sandboxed } from "./sandbox.ts";

/** Crash policy of the supervisor. */
export interface SupervisorTiming {
  /** First restart delay; doubles per consecutive crash. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A child up this long resets the crash count and the backoff. */
  sustainedUptimeMs: number;
  /** Consecutive crashes (failed starts or early exits) after which the pool is `failed`. */
  maxFailures: number;
}

export const DEFAULT_TIMING: SupervisorTiming = {
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
  sustainedUptimeMs: 60_000,
  maxFailures: 5,
};

/** What every local pool of one runtime shares. */
export interface LocalPoolContext {
  cache: PackageCache;
  /** Parent of the per-deployment HOME directories. */
  homesDir: string;
  startTimeoutMs: number;
  lang: string;
  timing: SupervisorTiming;
  child?: Pick<ChildOptions, "maxLineBytes" | "stdinGraceMs" | "termGraceMs"> | undefined;
  /** `local.sandbox`: children run in it; an error (bubblewrap missing) fails every start. */
  sandbox?: Sandbox | Error | undefined;
}

/** An initialized child not yet handed to anyone. */
interface Ready {
  child: LocalChild;
  channel: Channel;
  init: InitializeResult;
}

const BASE_PATH = ["/usr/local/bin", "/usr/bin", "/bin"];
const REASON_LINES = 20;

function safeDirName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+/, "_") || "_";
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}

export function createLocalPool(opts: PoolOptions, ctx: LocalPoolContext): UpstreamPool {
  return new LocalPool(opts, ctx);
}

/**
 * The supervisor of one deployment's children. Pool-owned children (the warm one, the shared one)
 * are restarted after crashes with exponential backoff; dedicated children belong to a session
 * and end with it. State is derived from facts on every event, so a dead child is never reported
 * as running. A generation number fences off work started before a stop/restart.
 */
class LocalPool implements UpstreamPool {
  private gen = 0;
  private started = false;
  private stopped = false;
  private installing = false;
  private failedReason: string | undefined;
  private launch: Launch | undefined;

  private readonly live = new Set<LocalChild>();
  private readonly ready = new WeakSet<LocalChild>();
  private readonly expected = new WeakSet<LocalChild>();
  private warm: Ready | undefined;
  private sharedReady: { ready: Ready; upstream: Upstream } | undefined;
  private sharedWanted = false;
  private background: "warm" | "shared" | undefined;
  private warmClaimed = false;

  private everReady = false;
  private failures = 0;
  private failureSeq = 0;
  private lastReason: string | undefined;
  private gateUntil = 0;
  private gateTimer: Timer | undefined;
  private restarts = 0;
  private waiters: (() => void)[] = [];
  private lastState = "";

  constructor(
    private readonly opts: PoolOptions,
    private readonly ctx: LocalPoolContext,
  ) {}

  // ── public contract ────────────────────────────────────────────────────────────────────────

  start(): void {
    if (this.started && !this.stopped && this.failedReason === undefined) return;
    const gen = ++this.gen;
    this.started = true;
    this.stopped = false;
    this.failedReason = undefined;
    this.installing = true;
    this.failures = 0;
    this.everReady = false;
    this.lastReason = undefined;
    this.clearGate();
    this.refresh();
    if (this.ctx.sandbox instanceof Error) {
      this.installing = false;
      this.fail(describeError(this.ctx.sandbox));
      return;
    }
    this.ctx.cache
      .prepare(this.opts.spec, (line) => this.lifecycle(line))
      .then(
        (launch) => {
          if (gen !== this.gen) return;
          this.launch = launch;
          this.installing = false;
          this.ensure();
          this.refresh();
        },
        (e: unknown) => {
          if (gen !== this.gen) return;
          this.installing = false;
          this.fail(describeError(e));
        },
      );
  }

  async acquire(): Promise<Upstream> {
    const seq = this.failureSeq;
    for (;;) {
      this.assertServing(seq);
      const warm = this.takeWarm();
      if (warm) return this.dedicated(warm);
      if (this.mustWait()) {
        await this.changed();
        continue;
      }
      if (this.background === "warm" && !this.warmClaimed) {
        this.warmClaimed = true;
        await this.changed();
        continue;
      }
      return this.dedicated(await this.spawnDedicated());
    }
  }

  async shared(): Promise<Upstream> {
    this.sharedWanted = true;
    const seq = this.failureSeq;
    for (;;) {
      this.assertServing(seq);
      if (this.sharedReady?.ready.child.alive) return this.sharedReady.upstream;
      this.ensure();
      if (this.sharedReady?.ready.child.alive) return this.sharedReady.upstream;
      if (!this.background && !this.mustWait() && this.live.size >= this.opts.maxChildren) {
        throw this.capacityError();
      }
      await this.changed();
    }
  }

  state(): PoolState {
    return {
      state: this.stateName(),
      reason: this.stateReason(),
      children: this.live.size,
      restarts: this.restarts,
    };
  }

  async stop(): Promise<void> {
    this.gen++;
    this.stopped = true;
    this.started = true;
    this.installing = false;
    this.clearGate();
    this.warm = undefined;
    this.sharedReady = undefined;
    this.background = undefined;
    const all = [...this.live];
    for (const child of all) this.expected.add(child);
    this.refresh();
    await Promise.all(all.map((child) => child.close()));
    this.refresh();
  }

  // ── supervision ────────────────────────────────────────────────────────────────────────────

  /** Keeps the pool-owned children the pool wants: the shared one when asked for, a warm one. */
  private ensure(): void {
    if (!this.serving() || this.installing || !this.launch || this.background) return;
    if (Date.now() < this.gateUntil) return;
    if (this.sharedWanted && !this.sharedReady?.ready.child.alive) {
      const warm = this.takeWarm();
      if (warm) {
        this.sharedReady = {
          ready: warm,
          upstream: { channel: warm.channel, init: warm.init, release: async () => {} },
        };
        this.lifecycle(`shared upstream is ${warm.child.description}`);
      } else {
        this.spawnBackground("shared");
        return;
      }
    }
    const wantWarm = this.opts.warm || (!this.everReady && !this.sharedWanted);
    if (wantWarm && !this.warm && this.live.size < this.opts.maxChildren) this.spawnBackground("warm");
  }

  private spawnBackground(role: "warm" | "shared"): void {
    const gen = this.gen;
    this.background = role;
    if (this.failures > 0) this.restarts++;
    this.spawnReady().then(
      (ready) => {
        if (gen !== this.gen) return;
        this.background = undefined;
        this.warmClaimed = false;
        if (!this.serving()) {
          this.expected.add(ready.child);
          void ready.child.close();
          return;
        }
        if (role === "warm") this.warm = ready;
        else {
          this.sharedReady = {
            ready,
            upstream: { channel: ready.channel, init: ready.init, release: async () => {} },
          };
        }
        this.ensure();
        this.refresh();
      },
      (e: unknown) => {
        if (gen !== this.gen) return;
        this.background = undefined;
        this.warmClaimed = false;
        this.crash(describeError(e));
        this.ensure();
        this.refresh();
      },
    );
  }

  private capacityError(): CapacityError {
    const { deploymentId, maxChildren } = this.opts;
    return new CapacityError(
      `Deployment ${deploymentId} already runs ${this.live.size} of ${maxChildren} allowed upstream processes.`,
      { hint: "Wait for sessions to end, or raise local.maxChildren (CATWALK_LOCAL_MAX_CHILDREN)." },
    );
  }

  private async spawnDedicated(): Promise<Ready> {
    if (this.live.size >= this.opts.maxChildren) throw this.capacityError();
    const gen = this.gen;
    try {
      return await this.spawnReady();
    } catch (e) {
      if (gen !== this.gen) throw this.unavailable();
      this.crash(describeError(e));
      this.ensure();
      this.refresh();
      throw this.unavailable(e);
    }
  }

  /** Spawns a child and performs the MCP handshake; the child is closed when that fails. */
  private async spawnReady(): Promise<Ready> {
    const launch = this.launch as Launch;
    const child = new LocalChild(this.command(launch), {
      ...this.ctx.child,
      stderr: (line) => this.opts.hooks.log("stderr", line),
      notice: (line) => this.lifecycle(line),
    });
    this.live.add(child);
    if (child.pid) this.lifecycle(`started ${child.description}`);
    void child.exited.then((reason) => this.onExit(child, reason));
    this.refresh();
    let done: Awaited<ReturnType<typeof handshake>>;
    try {
      done = await handshake(child, { timeoutMs: this.ctx.startTimeoutMs });
    } catch (e) {
      await child.close();
      throw withTail(e, child);
    }
    this.ready.add(child);
    this.everReady = true;
    const { name, version } = done.init.serverInfo;
    this.lifecycle(`ready ${child.description} (${name} ${version}, protocol ${done.init.protocolVersion})`);
    this.watchUptime(child);
    return { child, channel: done.channel, init: done.init };
  }

  private onExit(child: LocalChild, reason: CloseReason): void {
    this.live.delete(child);
    const expected = this.expected.has(child);
    const how = reason.message;
    this.lifecycle(
      `${expected || reason.kind === "closed" ? "stopped" : "exited"} ${child.description}: ${how}`,
    );
    if (this.warm?.child === child) this.warm = undefined;
    if (this.sharedReady?.ready.child === child) this.sharedReady = undefined;
    // A child that never finished its handshake is counted by spawnReady's caller instead.
    if (!expected && !this.ready.has(child)) {
      this.refresh();
      return;
    }
    if (!expected && this.serving()) {
      const tail = child.stderrTail().slice(-REASON_LINES);
      this.crash([`${child.description} ${how}`, ...tail].join("\n"));
    }
    this.ensure();
    this.refresh();
  }

  private watchUptime(child: LocalChild): void {
    const timer = setTimeout(() => {
      if (!child.alive || this.failures === 0) return;
      this.failures = 0;
      this.clearGate();
      this.lifecycle(
        `${child.description} up for ${seconds(this.ctx.timing.sustainedUptimeMs)}; crash count reset`,
      );
      this.refresh();
    }, this.ctx.timing.sustainedUptimeMs);
    timer.unref();
    void child.exited.then(() => clearTimeout(timer));
  }

  /** Counts a crash; backs off, or gives up after too many in a row. */
  private crash(reason: string): void {
    this.failures++;
    this.failureSeq++;
    this.lastReason = reason;
    const { maxFailures, backoffBaseMs, backoffMaxMs } = this.ctx.timing;
    if (this.failures >= maxFailures) {
      this.fail(reason, `${this.failures} consecutive crashes`);
      return;
    }
    const delay = Math.min(backoffBaseMs * 2 ** (this.failures - 1), backoffMaxMs);
    this.gateUntil = Date.now() + delay;
    this.lifecycle(`restarting in ${seconds(delay)} (crash ${this.failures} of ${maxFailures})`);
    this.clearGate(false);
    this.gateTimer = setTimeout(() => {
      this.gateTimer = undefined;
      this.ensure();
      this.refresh();
    }, delay);
    this.gateTimer.unref();
  }

  /** Terminal until `start()`: pool-owned children are stopped so nothing keeps burning CPU. */
  private fail(reason: string, after?: string): void {
    this.failedReason = reason;
    this.clearGate();
    this.lifecycle(`failed${after ? ` after ${after}` : ""}: ${reason}`);
    for (const ready of [this.warm, this.sharedReady?.ready]) {
      if (!ready) continue;
      this.expected.add(ready.child);
      void ready.child.close();
    }
    this.warm = undefined;
    this.sharedReady = undefined;
    this.refresh();
  }

  private clearGate(resetDeadline = true): void {
    if (this.gateTimer) clearTimeout(this.gateTimer);
    this.gateTimer = undefined;
    if (resetDeadline) this.gateUntil = 0;
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────────

  private command(launch: Launch) {
    const home = join(this.ctx.homesDir, safeDirName(this.opts.deploymentId));
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const path = [...new Set([...launch.pathDirs, ...BASE_PATH])].join(":");
    const env = {
      PATH: path,
      HOME: home,
      LANG: this.ctx.lang,
      TMPDIR: tmpdir(),
      ...launch.env,
      ...this.opts.env,
    };
    const cmd = { command: launch.command, args: launch.args, env, cwd: home };
    const box = this.ctx.sandbox;
    return box && !(box instanceof Error) ? sandboxed(cmd, box) : cmd;
  }

  private takeWarm(): Ready | undefined {
    const warm = this.warm;
    if (!warm?.child.alive) return undefined;
    this.warm = undefined;
    queueMicrotask(() => {
      this.ensure();
      this.refresh();
    });
    return warm;
  }

  private dedicated(ready: Ready): Upstream {
    const { child } = ready;
    return {
      channel: ready.channel,
      init: ready.init,
      release: async () => {
        this.expected.add(child);
        await child.close();
      },
    };
  }

  /** Whether acquire must wait rather than spawn: installing, first start underway, backing off. */
  private mustWait(): boolean {
    if (this.installing || !this.launch) return true;
    if (!this.everReady && this.background) return true;
    return Date.now() < this.gateUntil;
  }

  private serving(): boolean {
    return this.started && !this.stopped && this.failedReason === undefined;
  }

  /** Throws when the pool cannot serve; also when a start failed while the caller waited. */
  private assertServing(seq: number): void {
    if (!this.serving()) throw this.unavailable();
    const crashedMeanwhile = this.failureSeq !== seq && !this.warm && !this.sharedReady;
    const neverWorked = !this.everReady && Date.now() < this.gateUntil;
    if (crashedMeanwhile || neverWorked) throw this.unavailable();
  }

  private unavailable(cause?: unknown): UpstreamUnavailableError {
    const { state, reason } = this.state();
    const id = this.opts.deploymentId;
    // The first line says what failed; the last is the newest stderr line (or the error's hint).
    const lines = reason?.trim().split("\n") ?? [];
    const ends = [lines[0], lines.length > 1 ? lines.at(-1) : undefined].filter(Boolean);
    const detail = ends.length ? `: ${ends.join(" … ")}` : "";
    const text: Record<PoolStateName, [string, string]> = {
      stopped: [`Deployment ${id} is not running.`, "Start the deployment."],
      failed: [
        `Deployment ${id} failed${detail}`,
        "Fix the cause (see the deployment log), then start the deployment again.",
      ],
      crashed: [
        `Deployment ${id} crashed and is restarting${detail}`,
        "Retry shortly; see the deployment log.",
      ],
      installing: [`Deployment ${id} is installing.`, "Retry shortly."],
      starting: [`Deployment ${id} could not start${detail}`, "See the deployment log."],
      running: [`Deployment ${id} could not start a server${detail}`, "See the deployment log."],
    };
    const [message, hint] = text[state];
    return new UpstreamUnavailableError(state, reason, message, { hint, cause });
  }

  private stateName(): PoolStateName {
    if (!this.started || this.stopped) return "stopped";
    if (this.failedReason !== undefined) return "failed";
    if (this.installing) return "installing";
    if (this.warm?.child.alive || this.sharedReady?.ready.child.alive) return "running";
    if (Date.now() < this.gateUntil) return "crashed";
    if (!this.everReady) return "starting";
    if (this.failures > 0 && this.background) return "starting";
    return "running";
  }

  private stateReason(): string | undefined {
    const name = this.stateName();
    if (name === "failed") return this.failedReason;
    if (name === "crashed" || name === "starting") return this.lastReason;
    return undefined;
  }

  /** Emits the state when it changed and wakes everyone waiting for a change. */
  private refresh(): void {
    const state = this.state();
    const key = JSON.stringify(state);
    if (key !== this.lastState) {
      this.lastState = key;
      this.opts.hooks.state(state);
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves on the next event, or after a second at the latest (waiters re-check their condition). */
  private changed(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private lifecycle(line: string): void {
    this.opts.hooks.log("lifecycle", line);
  }
}

/** An error as one reason text, with the child's last stderr lines when the error lacks them. */
function withTail(e: unknown, child: LocalChild): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  const tail = child.stderrTail().slice(-REASON_LINES);
  if (err.message.includes("\n") || tail.length === 0) return err;
  err.message = `${err.message}\n${tail.join("\n")}`;
  return err;
}

function describeError(e: unknown): string {
  if (isCatwalkError(e) && e.hint) return `${e.message}\n${e.hint}`;
  return messageOf(e);
}
