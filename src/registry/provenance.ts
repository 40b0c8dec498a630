/**
 * Repository identity for provenance checks: whatever form a package declares its repository in
 * (`git+https://github.com/o/r.git`, `git@github.com:o/r.git`, `github:o/r`, npm's `o/r`
 * shorthand, a browse URL with `/tree/main/x`), it reduces to a lowercase `owner/repo` on GitHub.
 */
export interface GitHubRepo {
  owner: string;
  repo: string;
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,100}$/;

function clean(owner: string | undefined, repo: string | undefined): GitHubRepo | undefined {
  if (!owner || !repo) return undefined;
  const r = repo.replace(/\.git$/i, "");
  if (!SEGMENT.test(owner) || !SEGMENT.test(r) || r === "." || r === "..") return undefined;
  return { owner, repo: r };
}

export function githubRepoOf(url: string | undefined | null): GitHubRepo | undefined {
  if (!url) return undefined;
  const s = url.trim();
  const short = /^(?:github:)?([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(s);
  if (short && !s.includes(":")) return clean(short[1], short[2]);
  if (short && s.startsWith("github:")) return clean(short[1], short[2]);
  const scp = /^(?:[a-z+]+:\/\/)?(?:[^@/]+@)?github\.com[:/]([^/]+)\/([^/#?]+)/i.exec(s);
  if (scp) return clean(scp[1], scp[2]);
  return undefined;
}

export function repoKey(r: GitHubRepo): string {
  return `${r.owner}/${r.repo}`.toLowerCase();
}

export function githubUrl(r: GitHubRepo): string {
  return `https://github.com/${r.owner}/${r.repo}`;
}

/** True when both name the same GitHub repository (case-insensitive, as GitHub treats them). */
export function sameRepo(a: GitHubRepo | undefined, b: GitHubRepo | undefined): boolean {
  return a !== undefined && b !== undefined && repoKey(a) === repoKey(b);
}
