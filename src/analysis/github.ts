import {
  type GetResult,
  httpGet,
  joinUrl,
  parseJson,
  redactUrl,
  ServiceNotFoundError,
  ServiceRateLimitedError,
  ServiceResponseError,
  unexpectedStatus,
} from "../registry/http.ts";
import { CatwalkError } from "../util/error.ts";

/**
 * A small GitHub REST client for analysis: repository metadata (`GET /repos/{o}/{r}`), ref →
 * commit (`GET /repos/{o}/{r}/commits/{ref}`), the recursive tree at that commit
 * (`GET /repos/{o}/{r}/git/trees/{sha}?recursive=1`) and single files through the contents API
 * (`GET /repos/{o}/{r}/contents/{path}?ref={sha}`, base64). Every failure is a named error that
 * says what to do: 404 may mean private, 403/429 with `x-ratelimit-remaining: 0` or `retry-after`
 * is a rate limit with its reset time.
 */
export interface GitHubOptions {
  apiUrl: string;
  token?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface RepoInfo {
  owner: string;
  repo: string;
  id: number;
  private: boolean;
  defaultBranch: string;
  description: string | undefined;
  htmlUrl: string;
  archived: boolean;
  license: string | undefined;
}

export interface TreeEntry {
  path: string;
  type: "blob" | "tree" | "commit";
  size: number | undefined;
  sha: string;
}

export interface RepoFile {
  path: string;
  text: string;
  size: number;
}

/** The largest file read through the contents API; larger files are skipped with a warning. */
export const MAX_FILE_BYTES = 512 * 1024;

export class GitHubBadCredentialsError extends CatwalkError {
  readonly code = "github.bad_credentials";
  readonly status = 502;
}

export class GitHubForbiddenError extends CatwalkError {
  readonly code = "github.forbidden";
  readonly status = 502;
}

export class GitHubRefNotFoundError extends CatwalkError {
  readonly code = "github.ref_not_found";
  readonly status = 404;
}

export class GitHubEmptyRepositoryError extends CatwalkError {
  readonly code = "github.empty_repository";
  readonly status = 422;
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

function header(res: GetResult, name: string): string | undefined {
  return res.headers.get(name) ?? undefined;
}

export class GitHub {
  constructor(private readonly opts: GitHubOptions) {}

  get authenticated(): boolean {
    return this.opts.token !== undefined;
  }

  private rateLimited(res: GetResult, url: string): ServiceRateLimitedError | undefined {
    const remaining = header(res, "x-ratelimit-remaining");
    const retryAfter = header(res, "retry-after");
    const message = String((parseSafe(res.text) as { message?: unknown })?.message ?? "");
    const limited = remaining === "0" || retryAfter !== undefined || /rate limit/i.test(message);
    if (!limited || (res.status !== 403 && res.status !== 429)) return undefined;
    const reset = header(res, "x-ratelimit-reset");
    const resetAt = retryAfter
      ? new Date(Date.now() + Number(retryAfter) * 1000)
      : reset
        ? new Date(Number(reset) * 1000)
        : undefined;
    const when = resetAt && !Number.isNaN(resetAt.getTime()) ? ` until ${resetAt.toISOString()}` : "";
    const secondary = /secondary/i.test(message) ? "secondary " : "";
    return new ServiceRateLimitedError(
      "github",
      `GitHub's ${secondary}rate limit is exhausted${when} (while reading ${redactUrl(url)}).`,
      resetAt,
      {
        hint: this.authenticated
          ? `Wait${when}, then analyse again.`
          : `Wait${when}, or set CATWALK_GITHUB_TOKEN (github.token): unauthenticated clients get 60 requests per hour, tokens 5,000.`,
      },
    );
  }

  private async get(
    path: string,
    what: string,
    maxBytes = 16 * 1024 * 1024,
  ): Promise<{ res: GetResult; body: unknown }> {
    const url = joinUrl(this.opts.apiUrl, path);
    const headers: Record<string, string> = {
      accept: "application/vnd.github+json",
      "x-github-api-version": "2022-11-28",
    };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    const res = await httpGet(url, {
      service: "github",
      timeoutMs: this.opts.timeoutMs,
      maxBytes,
      headers,
      signal: this.opts.signal,
    });
    const limited = this.rateLimited(res, url);
    if (limited) throw limited;
    if (res.status === 401) {
      throw new GitHubBadCredentialsError("GitHub refused the configured token (401 Bad credentials).", {
        hint: "Replace CATWALK_GITHUB_TOKEN (github.token) with a valid token, or unset it for public repositories.",
      });
    }
    if (res.status === 403) {
      throw new GitHubForbiddenError(`GitHub refused access to ${what} (403).`, {
        hint: "The token lacks access (SSO authorization, fine-grained scope) or the repository is blocked.",
      });
    }
    if (res.status === 404 || res.status === 409 || res.status === 422)
      return { res, body: parseSafe(res.text) };
    if (res.status !== 200) throw unexpectedStatus("github", url, res.status);
    return { res, body: parseJson(res.text, "github", url) };
  }

  async repo(owner: string, repo: string): Promise<RepoInfo> {
    const { res, body } = await this.get(
      `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`,
      `${owner}/${repo}`,
    );
    if (res.status !== 200) {
      throw new ServiceNotFoundError(
        "github",
        "not_found",
        `github.com/${owner}/${repo} does not exist or is private.`,
        {
          hint: this.authenticated
            ? "Check the URL, and that the configured token can read this repository."
            : "Check the URL; for a private repository set CATWALK_GITHUB_TOKEN (github.token) to a token that can read it.",
        },
      );
    }
    const b = body as Record<string, unknown>;
    const full = typeof b.full_name === "string" ? b.full_name.split("/") : [owner, repo];
    const license = (b.license as { spdx_id?: unknown } | null)?.spdx_id;
    return {
      owner: full[0] ?? owner,
      repo: full[1] ?? repo,
      id: Number(b.id ?? 0),
      private: b.private === true,
      defaultBranch: typeof b.default_branch === "string" ? b.default_branch : "main",
      description: typeof b.description === "string" ? b.description : undefined,
      htmlUrl: typeof b.html_url === "string" ? b.html_url : `https://github.com/${owner}/${repo}`,
      archived: b.archived === true,
      license: typeof license === "string" && license !== "NOASSERTION" ? license : undefined,
    };
  }

  /** The commit a ref (branch, tag or sha) points at; undefined when GitHub does not know the ref. */
  async commit(owner: string, repo: string, ref: string): Promise<string | undefined> {
    const path = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/commits/${encodeURIComponent(ref)}`;
    const { res, body } = await this.get(path, `${owner}/${repo}@${ref}`, 4 * 1024 * 1024);
    if (res.status === 409) {
      throw new GitHubEmptyRepositoryError(`github.com/${owner}/${repo} is empty.`, {
        hint: "There is nothing to analyse until something is pushed.",
      });
    }
    if (res.status !== 200) return undefined;
    const sha = (body as { sha?: unknown }).sha;
    if (typeof sha !== "string" || !/^[0-9a-f]{40}$/.test(sha)) {
      throw new ServiceResponseError(
        "github",
        "bad_response",
        `GitHub answered the commit of ${ref} without a sha.`,
      );
    }
    return sha;
  }

  /**
   * Splits `/tree/<ref>/<subdir>` where the ref itself may contain slashes: the longest prefix
   * (up to 5 segments) GitHub knows as a ref wins, as github.com does.
   */
  async resolveRef(
    owner: string,
    repo: string,
    refPath: string[],
  ): Promise<{ ref: string; commit: string; subdir: string }> {
    const max = Math.min(refPath.length, 5);
    const tried: string[] = [];
    for (let n = max; n >= 1; n--) {
      const ref = refPath.slice(0, n).join("/");
      tried.push(ref);
      const commit = await this.commit(owner, repo, ref);
      if (commit) return { ref, commit, subdir: refPath.slice(n).join("/") };
    }
    throw new GitHubRefNotFoundError(
      `github.com/${owner}/${repo} has no branch, tag or commit ${JSON.stringify(tried.at(-1))}.`,
      {
        hint: "Copy the URL from the repository page on github.com (…/tree/<branch>/<folder>).",
      },
    );
  }

  async tree(
    owner: string,
    repo: string,
    sha: string,
  ): Promise<{ entries: TreeEntry[]; truncated: boolean }> {
    const path = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/git/trees/${sha}?recursive=1`;
    const { res, body } = await this.get(path, `the tree of ${owner}/${repo}@${sha.slice(0, 7)}`);
    if (res.status !== 200) {
      throw new ServiceNotFoundError(
        "github",
        "not_found",
        `GitHub has no tree for ${owner}/${repo}@${sha.slice(0, 7)}.`,
      );
    }
    const b = body as { tree?: unknown; truncated?: unknown };
    if (!Array.isArray(b.tree))
      throw new ServiceResponseError("github", "bad_response", "GitHub answered a tree without entries.");
    const entries: TreeEntry[] = [];
    for (const raw of b.tree as Record<string, unknown>[]) {
      if (typeof raw.path !== "string" || typeof raw.sha !== "string") continue;
      const type = raw.type === "tree" || raw.type === "commit" ? raw.type : "blob";
      entries.push({
        path: raw.path,
        type,
        size: typeof raw.size === "number" ? raw.size : undefined,
        sha: raw.sha,
      });
    }
    return { entries, truncated: b.truncated === true };
  }

  async file(owner: string, repo: string, path: string, ref: string): Promise<RepoFile | undefined> {
    const url = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/contents/${encodePath(path)}?ref=${encodeURIComponent(ref)}`;
    const { res, body } = await this.get(url, path, MAX_FILE_BYTES * 2);
    if (res.status !== 200) return undefined;
    const b = body as { type?: unknown; encoding?: unknown; content?: unknown; size?: unknown };
    if (b.type !== "file" || b.encoding !== "base64" || typeof b.content !== "string") return undefined;
    const bytes = Buffer.from(b.content.replace(/\s+/g, ""), "base64");
    if (bytes.byteLength > MAX_FILE_BYTES || bytes.includes(0)) return undefined;
    return { path, text: bytes.toString("utf8"), size: bytes.byteLength };
  }
}

function parseSafe(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
