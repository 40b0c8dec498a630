import { createHash } from "node:crypto";
import { basename } from "node:path";
import {
  type CredentialSchema,
  CredentialsInvalidError,
  credentialSchema,
  validateCredentials,
} from "../analysis/credentials.ts";
import type { Manifest } from "../analysis/manifest.ts";
import { manifestToUpstreamSpec } from "../analysis/upstream.ts";
import type { App } from "../app/app.ts";
import type { Bus } from "../events/bus.ts";
import type { Logger } from "../log/log.ts";
import type { LogStore } from "../logs/logs.ts";
import type { GatewayTarget } from "../proxy/gateway.ts";
import { UpstreamUnavailableError } from "../runtime/errors.ts";
import type { PoolHooks, PoolState, UpstreamPool, UpstreamSpec } from "../runtime/types.ts";
import type { Stats } from "../stats/stats.ts";
import { CatwalkError, InvalidInputError, messageOf } from "../util/error.ts";
import { newId } from "../util/ids.ts";
import type { ObservedState, RuntimeKind } from "./deployment.sql.ts";
import {
  allCredentials,
  allocateSlug,
  assertCommandAllowed,
  type CreateInput,
  createToken,
  credentialNames,
  credentialValues,
  type DeploymentInfo,
  DeploymentNotFoundError,
  deleteDeployment,
  type EnvInput,
  findDeployment,
  findToken,
  insertDeployment,
  listDeployments,
  listTokens,
  type Row,
  revokeToken,
  SLUG,
  setObservedState,
  type TokenRow,
  type UpdateInput,
  updateCredentials,
  updateRow,
  upstreamInfo,
} from "./deployment.ts";
import { defaultName, parseSource, type Source } from "./source.ts";

/** Builds the pool of one deployment; one factory per runtime kind. */
export type PoolFactory = (input: {
  row: Row;
  env: Record<string, string>;
  headers: Record<string, string>;
  hooks: PoolHooks;
}) => UpstreamPool;

/** Turns a package source into an exact spec (registry lookups happen here, before anything is stored). */
export type Resolver = (
  source: Source,
  args: string[],
) => Promise<{ spec: UpstreamSpec; warning?: string | undefined }>;

/**
 * What a runtime does beyond its pools, for resources that outlive them (Fly Machines): a pool is
 * stopped on server shutdown as well as on an operator stop, so the desired-state changes that must
 * reach those resources come here. Every method is optional; failures are reported on the
 * deployment and retried by the reconciler where that makes sense.
 */
export interface RuntimeDriver {
  /** Refuses what this runtime cannot run, before anything is stored (throws a CatwalkError). */
  check?(spec: UpstreamSpec, env: Record<string, string>): void;
  /** An operator started the deployment; called before its pool starts. */
  start?(row: Row): Promise<void>;
  /** An operator stopped the deployment; called after its pool stopped. */
  stop?(row: Row): Promise<void>;
  /** An operator restarted the deployment; called after its pool stopped, before it runs again. */
  restart?(row: Row): Promise<void>;
  /** The deployment is being removed: delete everything it has in the runtime. */
  destroy?(row: Row): Promise<void>;
  /** Compares the runtime with the store (this runtime's deployments) and repairs drift. */
  reconcile?(rows: readonly Row[]): Promise<void>;
}

export interface ManagerDeps {
  pools: Partial<Record<RuntimeKind, PoolFactory>>;
  /** Runtime drivers, per kind (absent: the pool is all there is). */
  drivers?: Partial<Record<RuntimeKind, RuntimeDriver>>;
  resolve?: Resolver;
  bus: Bus;
  logs: LogStore;
  stats: Stats;
  /** Live session count per deployment, from the gateway. */
  sessions?(deploymentId: string): number;
  /** Ends a deployment's sessions (all, or those opened with one token). */
  endSessions?(deploymentId: string, reason: string, tokenId?: string): void;
  /** Drops cached token verdicts (a revoked token, a removed deployment). */
  forgetTokens?(match: { deploymentId?: string; tokenId?: string }): void;
  /** Finished analyses and analysing on demand (GitHub sources); absent when analysis is off. */
  analyses?: AnalysisPort;
  /** Called after a deployment is deleted (revoke its OAuth grants). */
  onRemoved?(deploymentId: string): Promise<void>;
  /** How often the reconciler runs, in ms (0 disables the timer; boot always reconciles). */
  reconcileMs?: number;
}

export interface AnalysisPort {
  /** The manifest of a finished analysis; fails when it is missing, running or failed. */
  manifest(id: string): Promise<{ id: string; manifest: Manifest }>;
  /** Analyses a source now and waits for the result. */
  analyze(source: string): Promise<{ id: string; manifest: Manifest }>;
  /** The manifest of an official MCP registry entry (its server.json), without analysis. */
  fromRegistry(name: string): Promise<{ id: undefined; manifest: Manifest }>;
}

interface Plan {
  spec: UpstreamSpec;
  runtime: RuntimeKind;
  /** Default name when the operator gives none. */
  name: string;
  env: Record<string, string>;
  warning?: string | undefined;
  schema?: CredentialSchema;
  analysisId?: string;
  secretNames?: Set<string>;
}

interface Live {
  row: Row;
  pool: UpstreamPool;
  /** What the pool was built from (see `revision`). */
  revision: string;
}

const HEADER_PREFIX = "header:";
/**
 * Credentials a runtime keeps for itself (the Fly bridge secret): encrypted like the others, never
 * shown, never in the environment. `:` cannot occur in variable names, so no user value collides.
 */
export const RUNTIME_PREFIX = "runtime:";

function splitCredentials(all: Record<string, string>): {
  env: Record<string, string>;
  headers: Record<string, string>;
} {
  const env: Record<string, string> = {};
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith(HEADER_PREFIX)) headers[k.slice(HEADER_PREFIX.length)] = v;
    else if (!k.startsWith(RUNTIME_PREFIX)) env[k] = v;
  }
  return { env, headers };
}

/**
 * A digest of everything a pool is built from: runtime, session mode, upstream and credential
 * values (decrypted, so a master key rotation elsewhere is no change). With a store shared by
 * several hosts, a deployment whose revision in the store differs from its pool's was changed on
 * another host, and its pool here restarts.
 */
function revision(row: Row, credentials: Record<string, string>): string {
  const values = Object.entries(credentials)
    .filter(([k]) => !k.startsWith(RUNTIME_PREFIX))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash("sha256")
    .update(JSON.stringify([row.runtime, row.sessionMode, row.upstream, values]))
    .digest("base64url");
}

function describeSource(spec: UpstreamSpec): string {
  if (spec.kind === "npm") return `npm:${spec.package}@${spec.version}`;
  if (spec.kind === "pypi") return `pypi:${spec.package}==${spec.version}`;
  if (spec.kind === "remote") return spec.url;
  return `command:${[spec.command, ...spec.args].join(" ")}`;
}

function withArgs(spec: UpstreamSpec, args: string[]): UpstreamSpec {
  if (spec.kind === "remote") throw new InvalidInputError("A remote deployment takes no arguments.");
  return { ...spec, args };
}

/** A pool that refuses every upstream: what the gateway sees of a stopped deployment. */
function stoppedPool(slug: string): UpstreamPool {
  const refuse = () =>
    Promise.reject(
      new UpstreamUnavailableError("stopped", undefined, `Deployment ${slug} is stopped.`, {
        hint: `Start it with \`catwalk start ${slug}\`.`,
      }),
    );
  return {
    acquire: refuse,
    shared: refuse,
    state: () => ({ state: "stopped", children: 0, restarts: 0 }),
    start: () => {},
    stop: async () => {},
  };
}

/**
 * Runs deployments. Each has a desired state (running or stopped, set by operators) and an
 * observed one (reported by its pool); the manager keeps one pool per deployment that should
 * run, records every transition as an event, and a reconciler brings each deployment back to its
 * desired state at boot and periodically. Gateway lookups by slug are answered from memory.
 */
export class CredentialNotSetError extends CatwalkError {
  readonly code = "deployment.credential_not_set";
  readonly status = 422;
}

export class DeploymentManager {
  private readonly live = new Map<string, Live>();
  private readonly rows = new Map<string, Row>();
  private readonly slugs = new Map<string, string>();
  private readonly log: Logger;
  private reconciler: ReturnType<typeof setInterval> | undefined;
  private reconciling: Promise<void> | undefined;
  private readonly removing = new Set<string>();
  baseUrl = "";

  constructor(
    private readonly app: App,
    private readonly deps: ManagerDeps,
  ) {
    this.log = app.log.child({ component: "deployments" });
  }

  private get db() {
    return this.app.store.db;
  }

  async boot(): Promise<void> {
    await this.reconcile();
    const every = this.deps.reconcileMs ?? 15_000;
    if (every > 0) {
      this.reconciler = setInterval(() => void this.reconcile(), every);
      this.reconciler.unref?.();
    }
  }

  /**
   * Brings every deployment to its desired state: starts what should run, stops what should not.
   * With a store shared by several hosts it also picks up what other hosts did: new and removed
   * deployments, desired-state changes, and changed upstreams, session modes or credentials.
   */
  reconcile(): Promise<void> {
    this.reconciling ??= (async () => {
      try {
        const rows = await listDeployments(this.db);
        const ids = new Set(rows.map((r) => r.id));
        const changed = this.app.store.embedded ? new Set<string>() : await this.changedElsewhere(rows);
        for (const row of rows) {
          if (this.removing.has(row.id)) continue;
          this.remember(row);
          const live = this.live.get(row.id);
          if (row.desiredState === "running" && live && changed.has(row.id)) {
            await this.halt(row.id, "restarting: changed on another host");
            await this.run(row);
          }
          if (row.desiredState === "running" && !live) await this.run(row);
          if (row.desiredState === "stopped" && live) await this.halt(row.id, "stopped by the reconciler");
          if (row.desiredState === "stopped" && !live && row.state !== "stopped")
            await this.observed(row.id, "stopped", null);
        }
        for (const id of [...this.rows.keys()]) if (!ids.has(id)) await this.forget(id);
        await this.reconcileDrivers(rows);
      } catch (e) {
        this.log.error("reconcile failed", { error: e });
      } finally {
        this.reconciling = undefined;
      }
    })();
    return this.reconciling;
  }

  target(slug: string): GatewayTarget | undefined {
    const id = this.slugs.get(slug);
    const row = id ? this.rows.get(id) : undefined;
    if (!row) return undefined;
    const pool = this.live.get(row.id)?.pool ?? stoppedPool(row.slug);
    return { id: row.id, slug: row.slug, sessionMode: row.sessionMode, pool };
  }

  /**
   * The gateway's lookup. From memory; with a store shared by several hosts, a slug unknown here
   * may be a deployment another host just created: it is read from the store and started now
   * (the first request waits for the pool), instead of answering 404 until the next reconcile.
   */
  async lookup(slug: string): Promise<GatewayTarget | undefined> {
    const known = this.target(slug);
    if (known || this.app.store.embedded || !SLUG.test(slug)) return known;
    const row = await findDeployment(this.db, slug).catch((e: unknown) => {
      if (e instanceof DeploymentNotFoundError) return undefined;
      throw e;
    });
    if (!row || this.removing.has(row.id)) return undefined;
    this.remember(row);
    if (row.desiredState === "running") await this.run(row);
    return this.target(slug);
  }

  /** A deployment by id or slug, from memory (the OAuth directory asks on every authorization). */
  ref(key: string): { id: string; slug: string; name: string } | undefined {
    const row = this.rows.get(key) ?? this.rows.get(this.slugs.get(key) ?? "");
    return row ? { id: row.id, slug: row.slug, name: row.name } : undefined;
  }

  endpoint(slug: string): string {
    return `${this.app.config.publicUrl?.replace(/\/+$/, "") ?? this.baseUrl}/mcp/${slug}`;
  }

  async info(row: Row): Promise<DeploymentInfo> {
    const current = this.rows.get(row.id) ?? row;
    const sessions = this.deps.sessions?.(row.id) ?? 0;
    const stats = this.deps.stats.get(row.id, sessions);
    const names = await credentialNames(this.db, current.id);
    return {
      id: current.id,
      slug: current.slug,
      name: current.name,
      source: current.source,
      runtime: current.runtime,
      sessionMode: current.sessionMode,
      state: current.state,
      desiredState: current.desiredState,
      stateReason: current.stateReason,
      restarts: this.live.get(current.id)?.pool.state().restarts ?? 0,
      url: this.endpoint(current.slug),
      upstream: upstreamInfo(current),
      env: names.filter((c) => !c.name.startsWith(HEADER_PREFIX) && !c.name.startsWith(RUNTIME_PREFIX)),
      headers: names
        .filter((c) => c.name.startsWith(HEADER_PREFIX))
        .map((c) => c.name.slice(HEADER_PREFIX.length)),
      sessions,
      activity: {
        calls: stats.calls,
        errors: stats.errors,
        callsPerMinute: stats.callsPerMinute,
        lastActivity: stats.lastActivity,
      },
      createdAt: current.createdAt.toISOString(),
      updatedAt: current.updatedAt.toISOString(),
    };
  }

  async list(): Promise<DeploymentInfo[]> {
    return Promise.all((await listDeployments(this.db)).map((r) => this.info(r)));
  }

  async get(ref: string): Promise<DeploymentInfo> {
    return this.info(await findDeployment(this.db, ref));
  }

  row(ref: string): Promise<Row> {
    return findDeployment(this.db, ref);
  }

  /** Resolves the source, stores the deployment with its credentials and first token, and starts it. */
  async create(input: CreateInput): Promise<{ info: DeploymentInfo; token: string }> {
    const plan = await this.plan(input);
    const { spec, runtime, warning } = plan;
    this.deps.drivers?.[runtime]?.check?.(spec, plan.env);
    const slug = await allocateSlug(this.db, input.name ?? plan.name, input.name !== undefined);
    const credentials: Record<string, string> = { ...plan.env };
    for (const [k, v] of Object.entries(input.headers)) credentials[`${HEADER_PREFIX}${k}`] = v;
    this.app.log.redactor.add(...Object.values(credentials));
    const { row, token } = await insertDeployment(this.db, this.app.vault, {
      row: {
        id: newId("dep"),
        slug,
        name: input.name ?? slug,
        source: describeSource(spec),
        runtime,
        upstream: spec,
        sessionMode: input.sessionMode,
        desiredState: "running",
        state: "pending",
        analysisId: plan.analysisId ?? null,
        credentialSchema: plan.schema ?? null,
      },
      credentials,
      ...(plan.secretNames ? { secretNames: plan.secretNames } : {}),
    });
    this.app.log.redactor.add(token);
    this.remember(row);
    this.deps.bus.publish("deployment.created", row.id, {
      slug,
      source: row.source,
      runtime,
      sessionMode: row.sessionMode,
    });
    this.deps.bus.publish("token.created", row.id, { name: "default" });
    if (warning) this.deps.logs.append(row.id, "lifecycle", `warning: ${warning}`);
    await this.run(row);
    return { info: await this.info(row), token };
  }

  async start(ref: string): Promise<DeploymentInfo> {
    const row = await this.desire(ref, "running");
    if (!this.live.has(row.id)) {
      await this.drive(row, "start");
      await this.run(row);
    }
    return this.info(row);
  }

  async stop(ref: string): Promise<DeploymentInfo> {
    const row = await this.desire(ref, "stopped");
    await this.halt(row.id, "stopped by an operator");
    await this.drive(row, "stop");
    return this.info(row);
  }

  /** An operator's restart: the pool, and the runtime's own resources (a Fly Machine) too. */
  async restart(ref: string): Promise<DeploymentInfo> {
    return this.relaunch(ref, true);
  }

  /** Restarts the pool with the stored row (after an update or new credentials). */
  private async relaunch(ref: string, runtimeToo = false): Promise<DeploymentInfo> {
    const row = await this.desire(ref, "running");
    await this.halt(row.id, "restarting");
    if (runtimeToo) await this.drive(row, "restart");
    await this.run(row);
    return this.info(row);
  }

  /** New version, arguments or session mode; a running deployment restarts with them. */
  async update(ref: string, input: UpdateInput): Promise<DeploymentInfo> {
    let row = await findDeployment(this.db, ref);
    let spec: UpstreamSpec = row.upstream;
    if (input.version !== undefined) {
      if (spec.kind !== "npm" && spec.kind !== "pypi") {
        throw new InvalidInputError(
          `Deployment ${row.slug} runs no package, so it has no version to change.`,
        );
      }
      if (!this.deps.resolve)
        throw new InvalidInputError("No runtime on this server resolves package versions.");
      const source: Source =
        spec.kind === "npm"
          ? { kind: "npm", name: spec.package, range: input.version }
          : { kind: "pypi", name: spec.package, version: input.version };
      const resolved = await this.deps.resolve(source, spec.args);
      if (resolved.warning) this.deps.logs.append(row.id, "lifecycle", `warning: ${resolved.warning}`);
      spec = withArgs(resolved.spec, spec.args);
    }
    // For a command deployment the arguments are the command's whole argument list.
    if (input.args !== undefined) spec = withArgs(spec, input.args);
    row = await updateRow(this.db, row.id, {
      upstream: spec,
      source: describeSource(spec),
      ...(input.sessionMode ? { sessionMode: input.sessionMode } : {}),
    });
    this.remember(row);
    this.deps.bus.publish("deployment.updated", row.id, {
      fields: Object.keys(input).filter((k) => input[k as keyof UpdateInput] !== undefined),
      source: row.source,
    });
    if (row.desiredState === "running") return this.relaunch(row.id);
    return this.info(row);
  }

  /** Sets and unsets credentials (write-only); a running deployment restarts to pick them up. */
  async setEnv(ref: string, input: EnvInput): Promise<DeploymentInfo> {
    const row = await findDeployment(this.db, ref);
    await this.assertSet(
      row,
      input.unset.filter((n) => !(n in input.set)),
    );
    const headers = await this.headerChange(row, input);
    this.app.log.redactor.add(...Object.values(input.set), ...Object.values(input.headers));
    this.deps.drivers?.[row.runtime]?.check?.(row.upstream, input.set);
    const schema = row.credentialSchema;
    let secretNames: Set<string> | undefined;
    if (schema) {
      // The resulting set of values must still satisfy the schema (a required one cannot be unset).
      const current = splitCredentials(await credentialValues(this.db, this.app.vault, row.id)).env;
      for (const name of input.unset) delete current[name];
      const check = validateCredentials(schema, { ...current, ...input.set });
      if (!check.ok) throw new CredentialsInvalidError(check.errors);
      secretNames = new Set(
        Object.entries(schema.properties)
          .filter(([, p]) => p["x-catwalk-secret"])
          .map(([n]) => n),
      );
    }
    // Header values are secrets whatever the schema says about variables.
    for (const name of Object.keys(headers.set)) secretNames?.add(name);
    const names = await updateCredentials(
      this.db,
      this.app.vault,
      row.id,
      { ...input.set, ...headers.set },
      [...input.unset, ...headers.unset],
      secretNames,
    );
    this.deps.bus.publish("credentials.updated", row.id, { names });
    if (row.desiredState === "running") return this.relaunch(row.id);
    return this.info(row);
  }

  /** Unsetting a name that is not set is a typo more often than not: say so, change nothing. */
  /**
   * Header credentials to write and delete. Header names are case-insensitive: setting one
   * replaces any stored spelling of it, and unsetting one that is not there is refused.
   */
  private async headerChange(
    row: Row,
    input: EnvInput,
  ): Promise<{ set: Record<string, string>; unset: string[] }> {
    const setNames = Object.keys(input.headers);
    if (setNames.length === 0 && input.unsetHeaders.length === 0) return { set: {}, unset: [] };
    if (row.upstream.kind !== "remote") {
      throw new InvalidInputError(
        `${row.slug} is not a remote deployment: headers are for remote MCP servers. Give a local or Fly server its credentials as variables.`,
      );
    }
    const stored = (await credentialNames(this.db, row.id))
      .map((c) => c.name)
      .filter((n) => n.startsWith(HEADER_PREFIX));
    const spellings = (h: string) =>
      stored.filter((n) => n.slice(HEADER_PREFIX.length).toLowerCase() === h.toLowerCase());
    const absent = input.unsetHeaders.filter(
      (h) => spellings(h).length === 0 && !setNames.some((s) => s.toLowerCase() === h.toLowerCase()),
    );
    if (absent.length) {
      const have = stored.map((n) => n.slice(HEADER_PREFIX.length));
      throw new CredentialNotSetError(
        `Header ${absent.join(", ")} ${absent.length === 1 ? "is" : "are"} not set on ${row.slug}; nothing was changed.`,
        {
          hint: have.length ? `Headers of ${row.slug}: ${have.join(", ")}.` : `${row.slug} sends no headers.`,
        },
      );
    }
    const set = Object.fromEntries(
      Object.entries(input.headers).map(([h, v]) => [`${HEADER_PREFIX}${h}`, v]),
    );
    const unset = [...input.unsetHeaders, ...setNames].flatMap(spellings).filter((n) => !(n in set));
    return { set, unset: [...new Set(unset)] };
  }

  private async assertSet(row: Row, names: string[]): Promise<void> {
    if (names.length === 0) return;
    const set = (await credentialNames(this.db, row.id))
      .map((c) => c.name)
      .filter((n) => !n.startsWith("runtime:"));
    const absent = names.filter((n) => !set.includes(n));
    if (absent.length === 0) return;
    throw new CredentialNotSetError(
      `${absent.join(", ")} ${absent.length === 1 ? "is" : "are"} not set on ${row.slug}; nothing was changed.`,
      {
        hint: set.length
          ? `Set on ${row.slug}: ${set.join(", ")}. Names are case-sensitive.`
          : `${row.slug} has no credentials.`,
      },
    );
  }

  async remove(ref: string): Promise<DeploymentInfo> {
    const row = await findDeployment(this.db, ref);
    const info = await this.info(row);
    // A reconcile pass that listed the row before it went must not start it again meanwhile
    // (on Fly, that would create the app again after it was deleted).
    this.removing.add(row.id);
    try {
      await this.reconciling;
      this.deps.endSessions?.(row.id, "the deployment was removed");
      await this.stopPool(row.id);
      await this.drive(row, "destroy");
      await deleteDeployment(this.db, row.id);
      await this.forget(row.id);
    } finally {
      this.removing.delete(row.id);
    }
    await this.deps.onRemoved?.(row.id);
    this.deps.bus.publish("deployment.removed", row.id, { slug: row.slug });
    this.log.info("deployment removed", { deployment: row.id, slug: row.slug });
    return { ...info, state: "stopped" };
  }

  async tokens(ref: string): Promise<TokenRow[]> {
    return listTokens(this.db, (await findDeployment(this.db, ref)).id);
  }

  async createToken(ref: string, name: string): Promise<{ row: TokenRow; token: string }> {
    const dep = await findDeployment(this.db, ref);
    const created = await createToken(this.db, dep.id, name);
    this.app.log.redactor.add(created.token);
    this.deps.bus.publish("token.created", dep.id, { tokenId: created.row.id, name });
    return created;
  }

  /** Revokes a token; sessions opened with it end, and its next request is refused. */
  async revokeToken(ref: string, tokenRef: string): Promise<TokenRow> {
    const dep = await findDeployment(this.db, ref);
    const token = await findToken(this.db, dep.id, tokenRef);
    await revokeToken(this.db, token.id);
    this.deps.forgetTokens?.({ tokenId: token.id });
    this.deps.endSessions?.(dep.id, "its access token was revoked", token.id);
    this.deps.bus.publish("token.revoked", dep.id, { tokenId: token.id, name: token.name });
    return { ...token, revokedAt: token.revokedAt ?? new Date() };
  }

  /** A new token with the same name; the old one is revoked at once. */
  async rotateToken(ref: string, tokenRef: string): Promise<{ row: TokenRow; token: string }> {
    const dep = await findDeployment(this.db, ref);
    const old = await findToken(this.db, dep.id, tokenRef);
    const created = await createToken(this.db, dep.id, old.name);
    this.app.log.redactor.add(created.token);
    await revokeToken(this.db, old.id);
    this.deps.forgetTokens?.({ tokenId: old.id });
    this.deps.endSessions?.(dep.id, "its access token was rotated", old.id);
    this.deps.bus.publish("token.rotated", dep.id, {
      oldTokenId: old.id,
      tokenId: created.row.id,
      name: old.name,
    });
    return created;
  }

  async close(): Promise<void> {
    clearInterval(this.reconciler);
    await this.reconciling;
    await Promise.all([...this.live.keys()].map((id) => this.stopPool(id)));
  }

  private remember(row: Row): void {
    const previous = this.rows.get(row.id);
    if (previous && previous.slug !== row.slug) this.slugs.delete(previous.slug);
    this.rows.set(
      row.id,
      previous ? { ...row, state: previous.state, stateReason: previous.stateReason } : row,
    );
    this.slugs.set(row.slug, row.id);
  }

  private async forget(id: string): Promise<void> {
    const row = this.rows.get(id);
    await this.stopPool(id);
    if (row) this.slugs.delete(row.slug);
    this.rows.delete(id);
    this.deps.stats.forget(id);
    this.deps.forgetTokens?.({ deploymentId: id });
    await this.deps.logs.remove(id).catch(() => {});
  }

  private async desire(ref: string, desired: "running" | "stopped"): Promise<Row> {
    const row = await findDeployment(this.db, ref);
    if (row.desiredState === desired) return row;
    const updated = await updateRow(this.db, row.id, { desiredState: desired });
    this.remember(updated);
    this.deps.bus.publish("deployment.desired", row.id, { desired });
    return updated;
  }

  /**
   * What to store and run for a create request: the exact upstream, its runtime, and for analysed
   * sources the credential schema the values were checked against (before anything is stored).
   */
  private async plan(input: CreateInput): Promise<Plan> {
    if (input.command) {
      assertCommandAllowed(this.app.config.local.allowCommands);
      const [command, ...args] = input.command as [string, ...string[]];
      const spec: UpstreamSpec = { kind: "command", command, args: [...args, ...input.args] };
      return { spec, runtime: "local", name: basename(command), env: input.env };
    }
    const source = input.source === undefined ? undefined : parseSource(input.source);
    if (input.analysis !== undefined || source?.kind === "github" || source?.kind === "registry") {
      return this.planAnalysed(input, source);
    }
    if (source === undefined || source.kind === "command")
      throw new InvalidInputError("Give a source to deploy.");
    if (source.kind === "remote") {
      return {
        spec: { kind: "remote", url: source.url, headers: {} },
        runtime: "remote",
        name: defaultName(source),
        env: input.env,
      };
    }
    if (!this.deps.resolve) {
      throw new InvalidInputError(`No runtime on this server can run ${source.kind} packages.`, {
        hint: "Use a remote MCP URL, or a server built with the local runtime.",
      });
    }
    const resolved = await this.deps.resolve(source, input.args);
    const runtime = input.runtime ?? this.app.config.runtime;
    return {
      spec: resolved.spec,
      runtime,
      name: defaultName(source),
      env: input.env,
      warning: resolved.warning,
    };
  }

  private async planAnalysed(input: CreateInput, source: Source | undefined): Promise<Plan> {
    const analyses = this.deps.analyses;
    if (!analyses) {
      throw new InvalidInputError("Analysis is not available on this server.", {
        hint: "Deploy npm:<package> or pypi:<package> directly.",
      });
    }
    const analysis = input.analysis
      ? await analyses.manifest(input.analysis)
      : source?.kind === "registry"
        ? await analyses.fromRegistry(source.name)
        : await analyses.analyze(input.source ?? "");
    const schema = credentialSchema(analysis.manifest);
    const check = validateCredentials(schema, input.env);
    if (!check.ok) throw new CredentialsInvalidError(check.errors);
    const planned = manifestToUpstreamSpec(analysis.manifest, check.values);
    const spec = planned.kind === "remote" ? planned : withArgs(planned, [...planned.args, ...input.args]);
    const secret = new Set(
      Object.entries(schema.properties)
        .filter(([, p]) => p["x-catwalk-secret"])
        .map(([n]) => n),
    );
    return {
      spec,
      runtime: spec.kind === "remote" ? "remote" : (input.runtime ?? this.app.config.runtime),
      name: source ? defaultName(source) : analysis.manifest.name.value,
      env: check.values,
      schema,
      ...(analysis.id ? { analysisId: analysis.id } : {}),
      secretNames: secret,
    };
  }

  private async run(row: Row): Promise<void> {
    if (this.removing.has(row.id)) return;
    this.remember(row);
    if (this.live.has(row.id)) return;
    const factory = this.deps.pools[row.runtime];
    if (!factory) {
      await this.observed(row.id, "failed", `No ${row.runtime} runtime is configured on this server.`);
      return;
    }
    const credentials = await credentialValues(this.db, this.app.vault, row.id);
    // Another caller (reconcile, a gateway lookup) may have started it while this one read.
    if (this.live.has(row.id) || this.removing.has(row.id)) return;
    const { env, headers } = splitCredentials(credentials);
    const secrets = [...Object.values(env), ...Object.values(headers)];
    this.app.log.redactor.add(...secrets);
    this.deps.logs.setSecrets(row.id, secrets);
    const hooks: PoolHooks = {
      log: (stream, line) => this.deps.logs.append(row.id, stream, line),
      state: (s) => void this.reported(row.id, s),
    };
    let pool: UpstreamPool;
    try {
      pool = factory({ row, env, headers, hooks });
    } catch (e) {
      await this.observed(row.id, "failed", (e as Error).message);
      return;
    }
    this.live.set(row.id, { row, pool, revision: revision(row, credentials) });
    this.deps.logs.append(
      row.id,
      "lifecycle",
      `starting ${row.source} (${row.runtime}, ${row.sessionMode} sessions)`,
    );
    pool.start();
  }

  /** Stops the pool and ends sessions; the observed state becomes stopped. */
  private async halt(id: string, reason: string): Promise<void> {
    this.deps.endSessions?.(id, reason);
    if (!this.live.has(id)) return;
    this.deps.logs.append(id, "lifecycle", reason);
    await this.stopPool(id);
    await this.observed(id, "stopped", null);
  }

  private reported(id: string, s: PoolState): Promise<void> {
    // A pool being stopped reports `stopped`; that is recorded by halt(), not here.
    if (s.state === "stopped" && !this.live.has(id)) return Promise.resolve();
    return this.observed(id, s.state, s.reason ?? null);
  }

  private async observed(id: string, state: ObservedState, reason: string | null): Promise<void> {
    const row = this.rows.get(id);
    if (!row || (row.state === state && row.stateReason === reason)) return;
    const from = row.state;
    this.rows.set(id, { ...row, state, stateReason: reason, updatedAt: new Date() });
    if (from !== state) {
      this.deps.bus.publish("deployment.state", id, { from, to: state, ...(reason ? { reason } : {}) });
      this.deps.logs.append(
        id,
        "lifecycle",
        `state ${from} -> ${state}${reason ? `: ${reason.split("\n")[0]}` : ""}`,
      );
    }
    try {
      await setObservedState(this.db, id, state, reason);
    } catch (e) {
      this.log.error("cannot record deployment state", { deployment: id, error: e });
    }
  }

  /**
   * Applies a desired-state change to the runtime's own resources. A failure does not undo the
   * change: it is noted on the deployment (a stop that did not reach the Machine is retried by the
   * reconciler; a resource left behind by a removal is listed by the runtime's garbage collection).
   */
  private async drive(row: Row, action: "start" | "stop" | "restart" | "destroy"): Promise<void> {
    const fn = this.deps.drivers?.[row.runtime]?.[action];
    if (!fn) return;
    try {
      await fn(row);
    } catch (e) {
      const why = e instanceof CatwalkError && e.hint ? `${e.message} ${e.hint}` : messageOf(e);
      const what = `could not ${action} the ${row.runtime} resources of ${row.slug}: ${why}`;
      this.log.warn(what, { deployment: row.id });
      this.deps.logs.append(row.id, "lifecycle", what);
      this.deps.bus.publish("deployment.runtime_error", row.id, {
        action,
        runtime: row.runtime,
        message: why,
      });
      if (action === "stop") await this.observed(row.id, "stopped", what);
    }
  }

  /** Running deployments whose pool here no longer matches the store (changed by another host). */
  private async changedElsewhere(rows: readonly Row[]): Promise<Set<string>> {
    const changed = new Set<string>();
    const credentials = await allCredentials(this.db);
    for (const row of rows) {
      const live = this.live.get(row.id);
      if (!live || row.desiredState !== "running") continue;
      try {
        const values = Object.fromEntries(
          (credentials.get(row.id) ?? []).map((c) => [c.name, this.app.vault.decrypt(c.value)]),
        );
        if (revision(row, values) !== live.revision) changed.add(row.id);
      } catch (e) {
        this.log.warn("cannot compare a deployment with the store", {
          deployment: row.id,
          error: messageOf(e),
        });
      }
    }
    return changed;
  }

  private async reconcileDrivers(rows: readonly Row[]): Promise<void> {
    for (const [kind, driver] of Object.entries(this.deps.drivers ?? {})) {
      if (!driver?.reconcile) continue;
      try {
        await driver.reconcile(rows.filter((r) => r.runtime === kind));
      } catch (e) {
        this.log.warn("runtime reconcile failed", { runtime: kind, error: messageOf(e) });
      }
    }
  }

  private async stopPool(id: string): Promise<void> {
    const live = this.live.get(id);
    if (!live) return;
    this.live.delete(id);
    await live.pool.stop();
  }
}
