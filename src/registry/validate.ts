import { NpmRegistry } from "./npm.ts";
import { type GitHubRepo, githubRepoOf, repoKey, sameRepo } from "./provenance.ts";
import { Pypi } from "./pypi.ts";

/**
 * Package validation: the package exists, the requested version resolves to one exact version,
 * the repository it declares is the one we analysed (provenance), and deprecated or yanked
 * versions are flagged. A provenance mismatch does not fail validation: it is a loud warning the
 * operator sees next to the package, because a look-alike package is how supply-chain attacks work.
 */
/** Dependencies that make a package an MCP server (SDKs and frameworks), per registry. */
export const MCP_SDKS = {
  npm: ["@modelcontextprotocol/sdk", "@modelcontextprotocol/server", "fastmcp", "mcp-framework"],
  pypi: ["mcp", "fastmcp"],
} as const;

export type Provenance = "match" | "mismatch" | "undeclared" | "not_checked";

export interface PackageCheck {
  registryType: "npm" | "pypi";
  identifier: string;
  requested: string | undefined;
  version: string;
  how: "exact" | "tag" | "range" | "latest";
  latest: string | undefined;
  description: string | undefined;
  deprecated: string | undefined;
  yanked: string | undefined;
  declaredRepository: string | undefined;
  /** Subdirectory of the repository the package says it lives in (npm `repository.directory`). */
  directory: string | undefined;
  /** Commit the npm package was published from (`gitHead`), when npm recorded it. */
  gitHead: string | undefined;
  bin: Record<string, string>;
  mcpName: string | undefined;
  /** The MCP SDK the published version depends on, if any. */
  mcpSdk: string | undefined;
  provenance: Provenance;
  warnings: string[];
}

export interface RegistryEndpoints {
  npmUrl: string;
  /** A private npm registry's token (`local.npmToken`). */
  npmToken?: string | undefined;
  pypiUrl: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

function provenanceOf(declared: GitHubRepo | undefined, expected: GitHubRepo | undefined): Provenance {
  if (!expected) return "not_checked";
  if (!declared) return "undeclared";
  return sameRepo(declared, expected) ? "match" : "mismatch";
}

function provenanceWarning(
  kind: string,
  name: string,
  p: Provenance,
  declared: string | undefined,
  expected: GitHubRepo | undefined,
): string[] {
  if (p === "mismatch" && expected) {
    return [
      `PROVENANCE MISMATCH: ${kind} package ${name} declares repository ${declared}, not github.com/${repoKey(expected)}. It may be a different or look-alike package; do not deploy it unless you trust it.`,
    ];
  }
  if (p === "undeclared" && expected) {
    return [
      `${kind} package ${name} declares no GitHub repository, so it cannot be tied to github.com/${repoKey(expected)}.`,
    ];
  }
  return [];
}

export async function checkNpm(
  name: string,
  spec: string | undefined,
  expected: GitHubRepo | undefined,
  ep: RegistryEndpoints,
): Promise<PackageCheck> {
  const r = await new NpmRegistry({
    baseUrl: ep.npmUrl,
    timeoutMs: ep.timeoutMs,
    signal: ep.signal,
    token: ep.npmToken,
  }).resolve(name, spec);
  const declared = githubRepoOf(r.repositoryUrl);
  const provenance = provenanceOf(declared, expected);
  const warnings = provenanceWarning("npm", name, provenance, r.repositoryUrl, expected);
  if (r.deprecated) warnings.push(`npm ${name}@${r.version} is deprecated: ${r.deprecated}`);
  return {
    registryType: "npm",
    identifier: r.name,
    requested: spec,
    version: r.version,
    how: r.how,
    latest: r.latest,
    description: r.description,
    deprecated: r.deprecated,
    yanked: undefined,
    declaredRepository: r.repositoryUrl,
    directory: r.directory,
    gitHead: r.gitHead,
    bin: r.bin,
    mcpName: r.mcpName,
    mcpSdk: MCP_SDKS.npm.find((d) => d in r.dependencies),
    provenance,
    warnings,
  };
}

export async function checkPypi(
  name: string,
  version: string | undefined,
  expected: GitHubRepo | undefined,
  ep: RegistryEndpoints,
): Promise<PackageCheck> {
  const r = await new Pypi({ baseUrl: ep.pypiUrl, timeoutMs: ep.timeoutMs, signal: ep.signal }).resolve(
    name,
    version,
  );
  const github = r.urls.map((u) => ({ url: u.url, repo: githubRepoOf(u.url) })).filter((u) => u.repo);
  const match = github.find((u) => sameRepo(u.repo, expected));
  const chosen = match ?? github[0];
  const provenance = provenanceOf(chosen?.repo, expected);
  const warnings = provenanceWarning("PyPI", name, provenance, chosen?.url, expected);
  if (r.yanked) warnings.push(`PyPI ${name}==${r.version} is yanked: ${r.yanked}`);
  return {
    registryType: "pypi",
    identifier: r.name,
    requested: version,
    version: r.version,
    how: r.how,
    latest: undefined,
    description: r.summary,
    deprecated: undefined,
    yanked: r.yanked,
    declaredRepository: chosen?.url,
    directory: undefined,
    gitHead: undefined,
    bin: {},
    mcpName: undefined,
    mcpSdk: MCP_SDKS.pypi.find((d) =>
      r.requiresDist.some((x) => (x.split(/[\s[<>=!~;(]/, 1)[0] ?? "").toLowerCase() === d),
    ),
    provenance,
    warnings,
  };
}
