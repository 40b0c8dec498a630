import type { Logger } from "../log/log.ts";
import type { Db } from "../store/db.ts";
import { CatwalkError, messageOf } from "../util/error.ts";
import type { AnalysisError } from "./analysis.sql.ts";
import { type AnalysisSettings, resolveSource, runAnalysis, type StepEvent } from "./pipeline.ts";
import { parseSource } from "./source.ts";
import { type AnalysisRecord, AnalysisStore } from "./store.ts";
import { applyVerification, type PoolFactory, VerifierUnavailableError, verifyManifest } from "./verify.ts";

/**
 * Runs analyses in the background for the API and keeps their progress. `start` resolves the
 * source synchronously (so bad sources, missing repositories and rate limits are immediate
 * errors), answers a cached analysis of the same (repository, folder, commit) at once, and
 * otherwise starts the pipeline and returns the pending record. Progress is pushed to
 * subscribers (the SSE route) and stored with the record.
 */
export class AnalysisNotFoundError extends CatwalkError {
  readonly code = "analysis.not_found";
  readonly status = 404;
}

export interface StartInput {
  source: string;
  force?: boolean | undefined;
  verify?: boolean | undefined;
  /** Credentials for the verification run only; never stored. */
  credentials?: Record<string, string> | undefined;
}

export interface ServiceOptions {
  db: Db;
  settings: AnalysisSettings;
  log: Logger;
  verifyTimeoutMs: number;
  createPool?: PoolFactory | undefined;
}

export type AnalysisEvent =
  | { type: "step"; step: StepEvent }
  | { type: "done"; status: AnalysisRecord["status"] };

interface Job {
  controller: AbortController;
  listeners: Set<(e: AnalysisEvent) => void>;
  done: Promise<void>;
}

function errorOf(e: unknown): AnalysisError {
  if (e instanceof CatwalkError)
    return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  return {
    code: "internal",
    message: "The analysis failed unexpectedly.",
    hint: "The server log has the details.",
  };
}

export class AnalysisService {
  readonly store: AnalysisStore;
  private readonly jobs = new Map<string, Job>();
  private createPool: PoolFactory | undefined;
  private closed = false;

  constructor(private readonly opts: ServiceOptions) {
    this.store = new AnalysisStore(opts.db);
    this.createPool = opts.createPool;
  }

  /** Wires the runtime that verification starts servers with (the local runtime, in production). */
  setPoolFactory(factory: PoolFactory | undefined): void {
    this.createPool = factory;
  }

  get canVerify(): boolean {
    return this.createPool !== undefined;
  }

  async get(id: string): Promise<AnalysisRecord> {
    const rec = await this.store.get(id);
    if (!rec)
      throw new AnalysisNotFoundError(`No analysis ${id}.`, {
        hint: "GET /api/analyses lists recent analyses.",
      });
    return rec;
  }

  list(limit = 50): Promise<AnalysisRecord[]> {
    return this.store.list(limit);
  }

  private requireVerifier(): PoolFactory {
    if (this.createPool) return this.createPool;
    throw new VerifierUnavailableError(
      "Verification needs a local runtime, and none is wired into this server yet.",
      {
        hint: "Analyse without --verify for now; verification becomes available with the local runtime.",
      },
    );
  }

  async start(input: StartInput): Promise<{ record: AnalysisRecord; cached: boolean }> {
    const source = parseSource(input.source);
    const createPool = input.verify ? this.requireVerifier() : undefined;
    if (input.credentials) this.opts.log.redactor.add(...Object.values(input.credentials));
    const resolved = await resolveSource(source, this.opts.settings);
    const { record, created } = await this.store.create(resolved.sourceText, resolved.key);
    if (!created && this.jobs.has(record.id)) return { record, cached: false };
    const fresh =
      created ||
      input.force ||
      record.status === "failed" ||
      record.status === "pending" ||
      record.status === "running";
    const verify = createPool ? { createPool, credentials: input.credentials ?? {} } : undefined;
    if (!fresh) {
      if (!verify) return { record, cached: true };
      await this.store.update(record.id, { status: "running" });
      this.launch(record.id, (emit) => this.verifyOnly(record, verify, emit));
      return { record: await this.get(record.id), cached: true };
    }
    await this.store.update(record.id, {
      source: resolved.sourceText,
      status: "running",
      manifest: null,
      warnings: [],
      steps: [],
      error: null,
    });
    const steps: StepEvent[] = [];
    this.launch(record.id, async (emit, signal) => {
      const onStep = async (e: StepEvent) => {
        steps.push(e);
        emit(e);
        await this.store.update(record.id, { steps: [...steps] });
      };
      await onStep({
        step: "fetching",
        status: "done",
        message: resolved.repo
          ? `${resolved.repo.owner}/${resolved.repo.repo} at ${resolved.commit?.slice(0, 7)}`
          : resolved.sourceText,
        at: new Date().toISOString(),
      });
      const out = await runAnalysis(resolved, this.opts.settings, {
        onStep,
        signal,
        verify: verify ? { ...verify, timeoutMs: this.opts.verifyTimeoutMs, id: record.id } : undefined,
      });
      await this.store.update(record.id, {
        status: out.status,
        manifest: out.manifest,
        warnings: out.warnings,
        error: out.error ?? null,
      });
    });
    return { record: await this.get(record.id), cached: false };
  }

  private async verifyOnly(
    record: AnalysisRecord,
    verify: { createPool: PoolFactory; credentials: Record<string, string> },
    emit: (e: StepEvent) => void,
  ): Promise<void> {
    const manifest = record.manifest;
    if (!manifest) throw new AnalysisNotFoundError(`Analysis ${record.id} has no manifest to verify.`);
    const step = (status: StepEvent["status"], message: string) => {
      const e = { step: "verifying" as const, status, message, at: new Date().toISOString() };
      record.steps.push(e);
      emit(e);
    };
    step("started", "Starting the server in a sandbox");
    const v = await verifyManifest(manifest, {
      ...verify,
      timeoutMs: this.opts.verifyTimeoutMs,
      deploymentId: `verify-${record.id}`,
    });
    const applied = applyVerification(manifest, v);
    step(v.status === "verified" ? "done" : "failed", v.status);
    const warnings = [
      ...record.warnings.filter(
        (w) => !w.startsWith("Verification failed") && !w.startsWith("The server could not start"),
      ),
      ...applied.warnings,
    ];
    await this.store.update(record.id, {
      status: "succeeded",
      manifest: applied.manifest,
      warnings,
      steps: record.steps,
    });
  }

  private launch(
    id: string,
    work: (emit: (e: StepEvent) => void, signal: AbortSignal) => Promise<void>,
  ): void {
    const controller = new AbortController();
    const listeners = new Set<(e: AnalysisEvent) => void>();
    const emit = (e: StepEvent) => {
      for (const l of listeners) l({ type: "step", step: e });
    };
    const done = (async () => {
      try {
        await work(emit, controller.signal);
      } catch (e) {
        if (!(e instanceof CatwalkError))
          this.opts.log.error("analysis failed", {
            id,
            error: messageOf(e),
            stack: e instanceof Error ? e.stack : undefined,
          });
        await this.store.update(id, { status: "failed", error: errorOf(e) }).catch(() => {});
      } finally {
        this.jobs.delete(id);
        const rec = await this.store.get(id).catch(() => undefined);
        for (const l of listeners) l({ type: "done", status: rec?.status ?? "failed" });
      }
    })();
    this.jobs.set(id, { controller, listeners, done });
  }

  /** Live events of a running analysis; undefined when it is not running (read the record instead). */
  subscribe(id: string, listener: (e: AnalysisEvent) => void): (() => void) | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    job.listeners.add(listener);
    return () => job.listeners.delete(listener);
  }

  /** Resolves when the analysis is no longer running; returns its record. */
  async wait(id: string): Promise<AnalysisRecord> {
    await this.jobs.get(id)?.done;
    return this.get(id);
  }

  /** Start (or reuse) and wait: the call `catwalk deploy <github-url>` makes before deploying. */
  async analyze(input: StartInput): Promise<AnalysisRecord> {
    const { record } = await this.start(input);
    return this.wait(record.id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.jobs.values()) job.controller.abort();
    await Promise.allSettled([...this.jobs.values()].map((j) => j.done));
  }
}
