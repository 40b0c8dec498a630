import { basename } from "node:path";
import type { App } from "../app/app.ts";
import type { Logger } from "../log/log.ts";
import type { GatewayTarget } from "../proxy/gateway.ts";
import type { PoolHooks, PoolState, UpstreamPool, UpstreamSpec } from "../runtime/types.ts";
import { InvalidInputError } from "../util/error.ts";
import { newId } from "../util/ids.ts";
import type { ObservedState, RuntimeKind } from "./deployment.sql.ts";
import {
  allocateSlug,
  assertCommandAllowed,
  type CreateInput,
  credentialNames,
  credentialValues,
  type DeploymentInfo,
  deleteDeployment,
  findDeployment,
  insertDeployment,
  listDeployments,
  type Row,
  setObservedState,
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
export type Resolver = (source: Source, args: string[]) => Promise<UpstreamSpec>;

export interface ManagerDeps {
  pools: Partial<Record<RuntimeKind, PoolFactory>>;
  resolve?: Resolver;
  /** Live session count per deployment, from the gateway. */
  sessions?(deploymentId: string): number;
  /** Called when a deployment goes away, so the gateway can end its sessions. */
  onRemoved?(deploymentId: string): void;
}

interface Live {
  row: Row;
  pool: UpstreamPool;
}

const HEADER_PREFIX = "header:";

function splitCredentials(all: Record<string, string>): {
  env: Record<string, string>;
  headers: Record<string, string>;
} {
  const env: Record<string, string> = {};
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith(HEADER_PREFIX)) headers[k.slice(HEADER_PREFIX.length)] = v;
    else env[k] = v;
  }
  return { env, headers };
}

function describeSource(spec: UpstreamSpec): string {
  if (spec.kind === "npm") return `npm:${spec.package}@${spec.version}`;
  if (spec.kind === "pypi") return `pypi:${spec.package}==${spec.version}`;
  if (spec.kind === "remote") return spec.url;
  return `command:${[spec.command, ...spec.args].join(" ")}`;
}

/**
 * Runs deployments: keeps one upstream pool per deployment whose desired state is running,
 * records what the pool reports as the observed state, and answers the gateway's lookups by slug
 * from memory (no database read per MCP request).
 */
export class DeploymentManager {
  private readonly live = new Map<string, Live>();
  private readonly slugs = new Map<string, string>();
  private readonly log: Logger;
  baseUrl = "";

  constructor(
    private readonly app: App,
    private readonly deps: ManagerDeps,
  ) {
    this.log = app.log.child({ component: "deployments" });
  }

  async boot(): Promise<void> {
    for (const row of await listDeployments(this.app.store.db)) {
      if (row.desiredState === "running") await this.run(row);
      else this.slugs.set(row.slug, row.id);
    }
  }

  target(slug: string): GatewayTarget | undefined {
    const id = this.slugs.get(slug);
    const live = id ? this.live.get(id) : undefined;
    if (!live) return undefined;
    return { id: live.row.id, slug: live.row.slug, sessionMode: live.row.sessionMode, pool: live.pool };
  }

  endpoint(slug: string): string {
    return `${this.app.config.publicUrl?.replace(/\/+$/, "") ?? this.baseUrl}/mcp/${slug}`;
  }

  async info(row: Row): Promise<DeploymentInfo> {
    return {
      id: row.id,
      slug: row.slug,
      name: row.name,
      source: row.source,
      runtime: row.runtime,
      sessionMode: row.sessionMode,
      state: row.state,
      desiredState: row.desiredState,
      stateReason: row.stateReason,
      url: this.endpoint(row.slug),
      upstream: upstreamInfo(row),
      env: (await credentialNames(this.app.store.db, row.id)).filter(
        (c) => !c.name.startsWith(HEADER_PREFIX),
      ),
      sessions: this.deps.sessions?.(row.id) ?? 0,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  }

  async list(): Promise<DeploymentInfo[]> {
    const rows = await listDeployments(this.app.store.db);
    return Promise.all(rows.map((r) => this.info(this.live.get(r.id)?.row ?? r)));
  }

  async get(ref: string): Promise<DeploymentInfo> {
    return this.info(await findDeployment(this.app.store.db, ref));
  }

  /** Resolves the source, stores the deployment with its credentials and first token, and starts it. */
  async create(input: CreateInput): Promise<{ info: DeploymentInfo; token: string }> {
    const { spec, runtime, source } = await this.resolve(input);
    const slug = await allocateSlug(
      this.app.store.db,
      input.name ?? defaultName(source),
      input.name !== undefined,
    );
    const credentials: Record<string, string> = { ...input.env };
    for (const [k, v] of Object.entries(input.headers)) credentials[`${HEADER_PREFIX}${k}`] = v;
    const { row, token } = await insertDeployment(this.app.store.db, this.app.vault, {
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
      },
      credentials,
    });
    this.app.log.redactor.add(token, ...Object.values(credentials));
    this.log.info("deployment created", { deployment: row.id, slug, source: row.source, runtime });
    await this.run(row);
    return { info: await this.info(row), token };
  }

  async remove(ref: string): Promise<DeploymentInfo> {
    const row = await findDeployment(this.app.store.db, ref);
    const info = await this.info(row);
    this.deps.onRemoved?.(row.id);
    await this.stopPool(row.id);
    this.slugs.delete(row.slug);
    await deleteDeployment(this.app.store.db, row.id);
    this.log.info("deployment removed", { deployment: row.id, slug: row.slug });
    return { ...info, state: "stopped" };
  }

  async close(): Promise<void> {
    await Promise.all([...this.live.keys()].map((id) => this.stopPool(id)));
  }

  private async resolve(
    input: CreateInput,
  ): Promise<{ spec: UpstreamSpec; runtime: RuntimeKind; source: Source }> {
    if (input.command) {
      assertCommandAllowed(this.app.config.local.allowCommands);
      const [command, ...args] = input.command as [string, ...string[]];
      const spec: UpstreamSpec = { kind: "command", command, args: [...args, ...input.args] };
      return { spec, runtime: "local", source: { kind: "command", name: basename(command) } };
    }
    const source = parseSource(input.source ?? "");
    if (source.kind === "remote") {
      return { spec: { kind: "remote", url: source.url, headers: {} }, runtime: "remote", source };
    }
    if (source.kind === "github") {
      throw new InvalidInputError(
        "GitHub sources are deployed through analysis, which is not available on this server yet.",
        {
          hint: "Deploy the package instead: npm:<package> or pypi:<package>.",
        },
      );
    }
    if (!this.deps.resolve) {
      throw new InvalidInputError(`No runtime on this server can run ${source.kind} packages.`, {
        hint: "Use a remote MCP URL, or a server built with the local runtime.",
      });
    }
    const runtime = input.runtime ?? this.app.config.runtime;
    return { spec: await this.deps.resolve(source, input.args), runtime, source };
  }

  private async run(row: Row): Promise<void> {
    this.slugs.set(row.slug, row.id);
    const factory = this.deps.pools[row.runtime];
    if (!factory) {
      await setObservedState(
        this.app.store.db,
        row.id,
        "failed",
        `No ${row.runtime} runtime is configured on this server.`,
      );
      return;
    }
    const { env, headers } = splitCredentials(
      await credentialValues(this.app.store.db, this.app.vault, row.id),
    );
    this.app.log.redactor.add(...Object.values(env), ...Object.values(headers));
    const log = this.log.child({ deployment: row.id, slug: row.slug });
    const live: Live = { row, pool: undefined as unknown as UpstreamPool };
    const hooks: PoolHooks = {
      log: (stream, line) => log.info(line, { stream }),
      state: (s) => this.observed(live, s),
    };
    live.pool = factory({ row, env, headers, hooks });
    this.live.set(row.id, live);
    live.pool.start();
  }

  private observed(live: Live, s: PoolState): void {
    const state: ObservedState = s.state;
    const reason = s.reason ?? null;
    if (live.row.state === state && live.row.stateReason === reason) return;
    live.row = { ...live.row, state, stateReason: reason, updatedAt: new Date() };
    setObservedState(this.app.store.db, live.row.id, state, reason).catch((e: unknown) =>
      this.log.error("cannot record deployment state", { deployment: live.row.id, error: e }),
    );
  }

  private async stopPool(id: string): Promise<void> {
    const live = this.live.get(id);
    if (!live) return;
    this.live.delete(id);
    await live.pool.stop();
  }
}
