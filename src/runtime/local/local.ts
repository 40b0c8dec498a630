import { join } from "node:path";
import type { Logger } from "../../log/log.ts";
import { InvalidInputError } from "../../util/error.ts";
import type { PoolOptions, UpstreamPool, UpstreamSpec } from "../types.ts";
import type { ChildOptions } from "./child.ts";
import { findExecutable } from "./exec.ts";
import { parseNpmSpecifier, resolveNpm } from "./npm.ts";
import { PackageCache } from "./packages.ts";
import { createLocalPool, DEFAULT_TIMING, type SupervisorTiming } from "./pool.ts";
import { groupRunning, leftoverGroups, signalGroup } from "./proc.ts";
import { parsePypiSpecifier, resolvePypi } from "./pypi.ts";
import { findSandbox, type Sandbox } from "./sandbox.ts";

/** The configuration keys the local runtime reads; the app's `Config` satisfies it. */
export interface LocalRuntimeConfig {
  local: {
    packageCacheDir?: string | undefined;
    npmRegistryUrl: string;
    npmToken?: string | undefined;
    nodePath?: string | undefined;
    uvxPath?: string | undefined;
    installTimeoutMs: number;
    startTimeoutMs: number;
    sandbox: "off" | "bwrap";
    bwrapPath?: string | undefined;
  };
  pypi: { url: string };
}

export interface LocalRuntimeOptions {
  config: LocalRuntimeConfig;
  dataDir: string;
  /** The host's PATH (`hostEnv().path`): where node, uvx and bare commands are looked up. */
  hostPath?: string | undefined;
  /** LANG given to children; default C.UTF-8. */
  lang?: string | undefined;
  log?: Logger | undefined;
  /** Overrides of the crash policy (tests use short delays). */
  timing?: Partial<SupervisorTiming> | undefined;
  child?: Pick<ChildOptions, "maxLineBytes" | "stdinGraceMs" | "termGraceMs"> | undefined;
}

/** A resolved source: an exact spec, plus a warning for deprecated or yanked versions. */
export interface ResolvedSource {
  spec: UpstreamSpec;
  warning?: string | undefined;
}

export interface LocalRuntime {
  readonly cache: PackageCache;
  /** A pool of children for one deployment; `start()` it to install and warm up. */
  pool(opts: PoolOptions): UpstreamPool;
  /** `npm:<pkg>[@version|range|tag]` or `pypi:<pkg>[==version]` → an exact spec (registry lookup). */
  resolve(source: string, extra?: { args?: string[]; bin?: string }): Promise<ResolvedSource>;
  /** Stops every pool this runtime made and aborts in-flight installs. */
  close(): Promise<void>;
}

const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

export function createLocalRuntime(opts: LocalRuntimeOptions): LocalRuntime {
  const { config, dataDir } = opts;
  const searchPath = opts.hostPath ?? DEFAULT_PATH;
  const cacheDir = config.local.packageCacheDir ?? join(dataDir, "packages");
  const cache = new PackageCache({
    dir: cacheDir,
    npmRegistryUrl: config.local.npmRegistryUrl,
    npmToken: config.local.npmToken,
    pypiUrl: config.pypi.url,
    installTimeoutMs: config.local.installTimeoutMs,
    nodePath: config.local.nodePath,
    uvxPath: config.local.uvxPath,
    searchPath,
  });
  const node = config.local.nodePath ?? findExecutable("node", searchPath);
  opts.log?.debug("local runtime", { npmRunner: node ?? `bun (${process.execPath})` });
  const pools = new Set<UpstreamPool>();
  stopLeftovers(join(dataDir, "homes"), opts.log);
  // Missing bubblewrap fails every start with the fix: nothing runs unsandboxed by surprise.
  let sandbox: Sandbox | Error | undefined;
  try {
    sandbox = findSandbox({
      mode: config.local.sandbox,
      bwrapPath: config.local.bwrapPath,
      searchPath,
      dataDir,
      cacheDir,
    });
  } catch (e) {
    sandbox = e as Error;
    opts.log?.warn("local.sandbox is bwrap, but bubblewrap is missing: local deployments will not start", {
      error: e,
    });
  }
  const ctx = {
    cache,
    homesDir: join(dataDir, "homes"),
    startTimeoutMs: config.local.startTimeoutMs,
    lang: opts.lang ?? "C.UTF-8",
    timing: { ...DEFAULT_TIMING, ...opts.timing },
    child: opts.child,
    sandbox,
  };
  return {
    cache,
    pool: (poolOpts) => {
      const pool = createLocalPool(poolOpts, ctx);
      pools.add(pool);
      return pool;
    },
    resolve: (source, extra = {}) => resolveSource(source, extra, config),
    close: async () => {
      cache.close();
      await Promise.all([...pools].map((p) => p.stop()));
    },
  };
}

/**
 * Stops what a previous server on this data dir left running (it was killed with SIGKILL and its
 * children ignored stdin EOF): SIGTERM to each process group, SIGKILL 3 s later to what remains.
 */
function stopLeftovers(homesDir: string, log: Logger | undefined): void {
  const groups = leftoverGroups(homesDir);
  if (groups.length === 0) return;
  log?.warn("stopping processes a previous server left running", { processGroups: groups });
  for (const g of groups) signalGroup(g, "SIGTERM");
  const timer = setTimeout(() => {
    for (const g of groups) if (groupRunning(g)) signalGroup(g, "SIGKILL");
  }, 3000);
  timer.unref();
}

async function resolveSource(
  source: string,
  extra: { args?: string[]; bin?: string },
  config: LocalRuntimeConfig,
): Promise<ResolvedSource> {
  const args = extra.args ?? [];
  if (source.startsWith("npm:")) {
    const { name, wanted } = parseNpmSpecifier(source.slice(4).trim());
    const r = await resolveNpm(name, wanted, {
      registryUrl: config.local.npmRegistryUrl,
      token: config.local.npmToken,
    });
    const warning = r.deprecated ? `npm:${name}@${r.version} is deprecated: ${r.deprecated}` : undefined;
    return { spec: { kind: "npm", package: name, version: r.version, bin: extra.bin, args }, warning };
  }
  if (source.startsWith("pypi:")) {
    const { name, wanted } = parsePypiSpecifier(source.slice(5).trim());
    const r = await resolvePypi(name, wanted, { pypiUrl: config.pypi.url });
    const warning = r.yanked ? `pypi:${r.name}==${r.version} was yanked: ${r.yanked}` : undefined;
    return { spec: { kind: "pypi", package: r.name, version: r.version, entry: extra.bin, args }, warning };
  }
  throw new InvalidInputError(`${JSON.stringify(source.slice(0, 100))} is not a package source.`, {
    hint: "Write npm:<package>[@<version>] or pypi:<package>[==<version>].",
  });
}
