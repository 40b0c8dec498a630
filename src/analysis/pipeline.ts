import { type GitHubRepo, githubRepoOf, githubUrl } from "../registry/provenance.ts";
import { checkNpm, checkPypi, type PackageCheck, type RegistryEndpoints } from "../registry/validate.ts";
import { CatwalkError } from "../util/error.ts";
import { type Assembled, assemble } from "./assemble.ts";
import { askClaude } from "./claude.ts";
import { emptyFacts, type Facts } from "./facts.ts";
import { GitHub, GitHubRefNotFoundError, type RepoFile, type RepoInfo } from "./github.ts";
import { Manifest } from "./manifest.ts";
import { mergeClaude } from "./merge.ts";
import { validatePackages } from "./packages.ts";
import { readSnapshot } from "./reader.ts";
import { describeSource, parseSource, type Source } from "./source.ts";
import { applyVerification, type PoolFactory, verifyManifest } from "./verify.ts";

/**
 * The analysis pipeline, in the steps the API reports: fetching (resolve the source to a
 * repository commit and/or an exact package version), reading (tree + files → facts → draft),
 * asking_claude (fill what the draft left open), validating (registries, provenance, schema),
 * verifying (optional: run it and list what it serves). Nothing from the repository is executed
 * before the explicit verifying step, and that one runs the published package, not repo code.
 */
export type Step = "fetching" | "reading" | "asking_claude" | "validating" | "verifying";

export interface StepEvent {
  step: Step;
  status: "started" | "done" | "skipped" | "failed";
  message: string;
  at: string;
}

export interface AnalysisSettings {
  githubApiUrl: string;
  githubToken?: string | undefined;
  anthropic: {
    apiKey?: string | undefined;
    baseUrl: string;
    model: string;
    timeoutMs: number;
    maxRetries: number;
  };
  npmUrl: string;
  npmToken?: string | undefined;
  pypiUrl: string;
  httpTimeoutMs: number;
}

export interface CacheKey {
  repository: string;
  subdir: string;
  commit: string;
}

export interface Resolved {
  source: Source;
  sourceText: string;
  repo: RepoInfo | undefined;
  commit: string | undefined;
  /** The branch, tag or sha the commit was resolved from. */
  ref: string | undefined;
  subdir: string;
  sourcePackage: PackageCheck | undefined;
  key: CacheKey;
  warnings: string[];
}

export class NotAnMcpServerError extends CatwalkError {
  readonly code = "analysis.not_mcp_server";
  readonly status = 422;
}

export function endpoints(s: AnalysisSettings, signal?: AbortSignal): RegistryEndpoints {
  return { npmUrl: s.npmUrl, npmToken: s.npmToken, pypiUrl: s.pypiUrl, timeoutMs: s.httpTimeoutMs, signal };
}

export function github(s: AnalysisSettings, signal?: AbortSignal): GitHub {
  return new GitHub({ apiUrl: s.githubApiUrl, token: s.githubToken, timeoutMs: s.httpTimeoutMs, signal });
}

function cleanDir(dir: string | undefined): string {
  if (!dir) return "";
  const parts = dir.split("/").filter((p) => p !== "" && p !== ".");
  return parts.some((p) => p === ".." || p.includes("\\")) ? "" : parts.join("/");
}

async function repoAtHead(gh: GitHub, r: GitHubRepo): Promise<{ repo: RepoInfo; commit: string }> {
  const repo = await gh.repo(r.owner, r.repo);
  const commit = await gh.commit(repo.owner, repo.repo, repo.defaultBranch);
  if (!commit) throw noDefaultBranch(repo);
  return { repo, commit };
}

function noDefaultBranch(repo: RepoInfo): GitHubRefNotFoundError {
  return new GitHubRefNotFoundError(
    `GitHub does not resolve the default branch ${repo.defaultBranch} of ${repo.owner}/${repo.repo}.`,
    {
      hint: "Name a branch, tag or commit explicitly: …/tree/<ref>.",
    },
  );
}

/**
 * Cache-key marker for a package analysed from its registry entry alone because GitHub could not
 * be reached. It is not a path a repository can hold, so it never collides with a real subdir.
 */
const DEGRADED_SUBDIR = "#registry-only";

/** The fetching step: source → repository commit and/or exact package version, and the cache key. */
export async function resolveSource(
  source: Source,
  s: AnalysisSettings,
  signal?: AbortSignal,
): Promise<Resolved> {
  const gh = github(s, signal);
  const sourceText = describeSource(source);
  const warnings: string[] = [];
  if (source.kind === "github") {
    const repo = await gh.repo(source.owner, source.repo);
    const at = source.refPath
      ? await gh.resolveRef(repo.owner, repo.repo, source.refPath)
      : {
          ref: repo.defaultBranch,
          commit: await gh.commit(repo.owner, repo.repo, repo.defaultBranch),
          subdir: "",
        };
    if (!at.commit) throw noDefaultBranch(repo);
    if (repo.archived)
      warnings.push(`github.com/${repo.owner}/${repo.repo} is archived; it may be unmaintained.`);
    const subdir = cleanDir(at.subdir);
    return {
      source,
      sourceText,
      repo,
      commit: at.commit,
      ref: at.ref,
      subdir,
      sourcePackage: undefined,
      key: { repository: githubUrl(repo).toLowerCase(), subdir, commit: at.commit },
      warnings,
    };
  }
  const check =
    source.kind === "npm"
      ? await checkNpm(source.name, source.spec, undefined, endpoints(s, signal))
      : await checkPypi(source.name, source.version, undefined, endpoints(s, signal));
  warnings.push(...check.warnings);
  const key = {
    repository: `${source.kind}:${check.identifier.toLowerCase()}`,
    subdir: "",
    commit: check.version,
  };
  const registryOnly = (why: string, keySubdir = ""): Resolved => {
    warnings.push(`${why}; the analysis uses registry metadata only.`);
    return {
      source,
      sourceText,
      repo: undefined,
      commit: undefined,
      ref: undefined,
      subdir: "",
      sourcePackage: check,
      key: { ...key, subdir: keySubdir },
      warnings,
    };
  };
  const declared = githubRepoOf(check.declaredRepository);
  if (!declared) return registryOnly("The package declares no GitHub repository");
  // For a package, the repository is supporting evidence. A deleted, renamed or private
  // repository is a fact about the package, so the registry-only result is cached under the
  // package's own key. Any other failure (offline, rate-limited, 5xx) is transient: the result
  // still comes from the registry, but under a separate key, so a later analysis with GitHub
  // reachable is not answered from this degraded one.
  let repo: RepoInfo;
  try {
    repo = await gh.repo(declared.owner, declared.repo);
  } catch (e) {
    if (!(e instanceof CatwalkError)) throw e;
    if (e.code === "github.not_found") {
      return registryOnly(
        `The package declares github.com/${declared.owner}/${declared.repo}, which GitHub does not show (deleted, renamed or private)`,
      );
    }
    return registryOnly(
      `GitHub could not be read for ${declared.owner}/${declared.repo} (${e.message})`,
      DEGRADED_SUBDIR,
    );
  }
  let commit = check.gitHead ? await gh.commit(repo.owner, repo.repo, check.gitHead) : undefined;
  let ref = check.gitHead;
  if (!commit) {
    ref = repo.defaultBranch;
    const head = await repoAtHead(gh, { owner: repo.owner, repo: repo.repo });
    commit = head.commit;
    warnings.push(
      check.gitHead
        ? `The commit ${check.gitHead.slice(0, 7)} the package was published from is not on GitHub; analysed ${repo.defaultBranch} at ${commit.slice(0, 7)} instead.`
        : `${source.kind === "npm" ? "npm" : "PyPI"} does not record the commit of ${check.identifier}@${check.version}; analysed ${repo.defaultBranch} at ${commit.slice(0, 7)}.`,
    );
  }
  return {
    source,
    sourceText,
    repo,
    commit,
    ref,
    subdir: cleanDir(check.directory),
    sourcePackage: check,
    key,
    warnings,
  };
}

function registryFacts(p: PackageCheck): Partial<Facts> {
  const loc = { file: p.registryType };
  const facts: Partial<Facts> = {
    packages: [
      {
        registryType: p.registryType,
        identifier: p.identifier,
        version: p.version,
        bin: Object.keys(p.bin)[0],
        source: "registry",
        loc,
      },
    ],
    meta: [],
    signals: [],
  };
  if (p.description)
    facts.meta?.push({ field: "description", value: p.description, source: "registry", loc });
  if (p.mcpSdk)
    facts.signals?.push({ strength: "strong", note: `the published package depends on ${p.mcpSdk}`, loc });
  if (p.mcpName) {
    facts.meta?.push({ field: "name", value: p.mcpName, source: "registry", loc });
    facts.signals?.push({ strength: "strong", note: `${p.registryType} package declares mcpName`, loc });
  }
  return facts;
}

export interface RunOptions {
  onStep: (e: StepEvent) => void | Promise<void>;
  signal?: AbortSignal | undefined;
  verify?:
    | { createPool: PoolFactory; credentials: Record<string, string>; timeoutMs: number; id: string }
    | undefined;
}

export interface RunResult {
  status: "succeeded" | "failed";
  manifest: Manifest;
  warnings: string[];
  error?: { code: string; message: string; hint?: string } | undefined;
}

const now = () => new Date().toISOString();

async function step(
  opts: RunOptions,
  name: Step,
  status: StepEvent["status"],
  message: string,
): Promise<void> {
  await opts.onStep({ step: name, status, message, at: now() });
}

async function read(
  r: Resolved,
  s: AnalysisSettings,
  opts: RunOptions,
): Promise<{ assembled: Assembled; files: RepoFile[]; candidates: string[] }> {
  await step(
    opts,
    "reading",
    "started",
    r.repo
      ? `Reading ${r.repo.owner}/${r.repo.repo}${r.subdir ? `/${r.subdir}` : ""} at ${r.commit?.slice(0, 7)}`
      : "Reading registry metadata",
  );
  let facts: Facts = emptyFacts();
  let files: RepoFile[] = [];
  let candidates: string[] = [];
  const warnings: string[] = [];
  if (r.repo && r.commit) {
    const res = await readSnapshot(github(s, opts.signal), {
      owner: r.repo.owner,
      repo: r.repo.repo,
      commit: r.commit,
      subdir: r.subdir,
    });
    facts = res.facts;
    files = res.files;
    candidates = res.candidates;
    warnings.push(...res.warnings);
  }
  if (r.sourcePackage) {
    const rf = registryFacts(r.sourcePackage);
    facts.packages.push(...(rf.packages ?? []));
    facts.meta.push(...(rf.meta ?? []));
    facts.signals.push(...(rf.signals ?? []));
  }
  const ctx = {
    owner: r.repo?.owner ?? r.source.kind,
    repo: r.repo?.repo ?? r.sourcePackage?.identifier.replace(/^@/, "").replace("/", "-") ?? "server",
    repoId: r.repo?.id,
    description: r.repo?.description,
    subdir: r.subdir,
    commit: r.commit ?? "0000000",
  };
  const assembled = assemble(
    facts,
    ctx,
    files.map((f) => f.path),
  );
  if (!r.repo) delete assembled.manifest.repository;
  assembled.warnings.unshift(...warnings);
  await step(
    opts,
    "reading",
    "done",
    `Read ${files.length} files; ${facts.env.length} environment facts, ${facts.items.length} declared capabilities`,
  );
  return { assembled, files, candidates };
}

export class MonorepoError extends CatwalkError {
  readonly code = "analysis.monorepo";
  readonly status = 422;
}

function where(r: Resolved): string {
  return r.repo ? `github.com/${r.repo.owner}/${r.repo.repo}${r.subdir ? `/${r.subdir}` : ""}` : r.sourceText;
}

function folderHint(r: Resolved, candidates: string[]): string {
  const base = r.repo
    ? `https://github.com/${r.repo.owner}/${r.repo.repo}/tree/${r.ref ?? r.repo.defaultBranch}`
    : "…/tree/<ref>";
  return `Analyse the folder of one server, e.g. ${candidates
    .slice(0, 5)
    .map((c) => `${base}/${c}`)
    .join(" or ")}.`;
}

function notMcp(r: Resolved, candidates: string[]): NotAnMcpServerError {
  return new NotAnMcpServerError(
    `${where(r)} does not look like an MCP server: no server.json, smithery.yaml, MCP SDK dependency or SDK import was found.`,
    {
      hint: candidates.length
        ? folderHint(r, candidates)
        : "Check the URL. Only MCP servers published to npm or PyPI (or described by a server.json) can be deployed.",
    },
  );
}

function failed(manifest: Manifest, warnings: string[], e: CatwalkError): RunResult {
  return {
    status: "failed",
    manifest,
    warnings,
    error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
  };
}

export async function runAnalysis(r: Resolved, s: AnalysisSettings, opts: RunOptions): Promise<RunResult> {
  const { assembled, files, candidates } = await read(r, s, opts);
  let manifest = assembled.manifest;
  const warnings = [...r.warnings, ...assembled.warnings];
  const clearlyNot = !manifest.isMcpServer.value && manifest.isMcpServer.confidence >= 0.6;

  if (clearlyNot) {
    await step(opts, "asking_claude", "skipped", "No MCP server evidence; Claude was not asked");
    await step(opts, "validating", "failed", "Not an MCP server");
    return failed(Manifest.parse(manifest), warnings, notMcp(r, candidates));
  }
  if (!manifest.packages.length && !manifest.remotes.length && candidates.length && !r.subdir) {
    await step(opts, "asking_claude", "skipped", "The repository holds several packages");
    await step(opts, "validating", "failed", "No single server at the repository root");
    const e = new MonorepoError(
      `${where(r)} holds several packages and no server at its root (${candidates.length} folders: ${candidates.slice(0, 5).join(", ")}).`,
      {
        hint: folderHint(r, candidates),
      },
    );
    return failed(Manifest.parse(manifest), warnings, e);
  }
  if (!s.anthropic.apiKey) {
    warnings.push(
      "No Anthropic API key is configured (CATWALK_ANTHROPIC_API_KEY): the analysis is deterministic only.",
    );
    await step(opts, "asking_claude", "skipped", "No Anthropic API key: deterministic analysis only");
  } else {
    await step(
      opts,
      "asking_claude",
      "started",
      `Asking ${s.anthropic.model} about ${assembled.questions.join(", ")}`,
    );
    const outcome = await askClaude(
      {
        apiKey: s.anthropic.apiKey,
        baseUrl: s.anthropic.baseUrl,
        model: s.anthropic.model,
        timeoutMs: s.anthropic.timeoutMs,
        maxRetries: s.anthropic.maxRetries,
        signal: opts.signal,
      },
      { draft: manifest, questions: assembled.questions, openEnv: [...assembled.openEnv], files },
    );
    if (outcome.ok) {
      const merged = mergeClaude(manifest, outcome.result, {
        openEnv: assembled.openEnv,
        files,
        model: outcome.model,
      });
      manifest = merged.manifest;
      warnings.push(...merged.warnings);
      await step(
        opts,
        "asking_claude",
        "done",
        `Claude answered (${outcome.attempts === 1 ? "first try" : "after one correction"})`,
      );
    } else {
      warnings.push(`Claude analysis failed: ${outcome.warning}`);
      await step(opts, "asking_claude", "failed", outcome.warning);
    }
  }

  await step(opts, "validating", "started", "Checking packages against their registries");
  const expected = r.repo ? { owner: r.repo.owner, repo: r.repo.repo } : undefined;
  warnings.push(...(await validatePackages(manifest, expected, endpoints(s, opts.signal))));
  manifest = Manifest.parse(manifest);
  if (!manifest.isMcpServer.value) {
    await step(opts, "validating", "failed", "Not an MCP server");
    return failed(manifest, warnings, notMcp(r, candidates));
  }
  if (manifest.packages.length === 0 && manifest.remotes.length === 0) {
    warnings.push(
      "No npm or PyPI package and no remote endpoint was found: this server cannot be deployed as is.",
    );
  }
  await step(
    opts,
    "validating",
    "done",
    manifest.packages[0]
      ? `${manifest.packages[0].registryType} ${manifest.packages[0].identifier.value}@${manifest.packages[0].version.value}`
      : "No package",
  );

  if (opts.verify) {
    await step(opts, "verifying", "started", "Starting the server in a sandbox");
    const v = await verifyManifest(manifest, {
      createPool: opts.verify.createPool,
      credentials: opts.verify.credentials,
      timeoutMs: opts.verify.timeoutMs,
      deploymentId: `verify-${opts.verify.id}`,
    });
    const applied = applyVerification(manifest, v);
    manifest = applied.manifest;
    warnings.push(...applied.warnings);
    await step(
      opts,
      "verifying",
      v.status === "verified" ? "done" : "failed",
      v.status === "verified"
        ? `${v.tools.length} tools, ${v.resources.length} resources, ${v.prompts.length} prompts`
        : v.status,
    );
  }
  return { status: "succeeded", manifest, warnings: [...new Set(warnings)] };
}

/**
 * Parse, resolve and run in one call, without the store or the cache. The deploy path should use
 * `AnalysisService.analyze` (cached per commit, progress recorded); this is for callers without one.
 */
export async function analyze(
  source: string,
  settings: AnalysisSettings,
  opts: Partial<RunOptions> = {},
): Promise<RunResult & { resolved: Resolved }> {
  const resolved = await resolveSource(parseSource(source), settings, opts.signal);
  const out = await runAnalysis(resolved, settings, { onStep: () => {}, ...opts });
  return { ...out, resolved };
}
