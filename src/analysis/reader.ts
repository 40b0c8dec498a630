import { fromCode } from "./extract/code.ts";
import {
  fromDockerfile,
  fromPackageJson,
  fromPyproject,
  fromServerJson,
  fromSmithery,
} from "./extract/manifests.ts";
import { fromReadme } from "./extract/readme.ts";
import { emptyFacts, type Facts, mergeFacts } from "./facts.ts";
import type { GitHub, RepoFile, TreeEntry } from "./github.ts";

/**
 * Chooses which files of a snapshot to read, reads them through the contents API within fixed
 * limits, and runs the extractors. Nothing read here is ever executed or imported.
 */
export const LIMITS = {
  /** Files read per analysis, all kinds together. */
  maxFiles: 40,
  /** Source files scanned for environment reads and tool registrations. */
  maxCodeFiles: 20,
  /** Bytes per source file (larger ones are skipped; the contents API stops at 1 MB anyway). */
  maxCodeBytes: 256 * 1024,
  /** Bytes read per analysis. */
  maxTotalBytes: 3 * 1024 * 1024,
} as const;

export interface Snapshot {
  owner: string;
  repo: string;
  commit: string;
  subdir: string;
}

export interface ReadResult {
  files: RepoFile[];
  facts: Facts;
  /** Folders below the analysed one that hold their own package.json / pyproject.toml (monorepos). */
  candidates: string[];
  warnings: string[];
}

const README = /^readme(\.(md|markdown|mdx|rst|txt))?$/i;
const CODE = /\.(ts|mts|cts|tsx|js|mjs|cjs|py)$/;
const SKIP =
  /(^|\/)(node_modules|dist|build|out|coverage|vendor|\.venv|venv|__pycache__|examples?|docs?|tests?|__tests__|spec|fixtures|scripts|\.github)\//;
const TEST_FILE = /\.(test|spec)\.[a-z]+$|_test\.py$|(^|\/)test_[^/]+\.py$|\.d\.ts$/;

function codeRank(path: string): number {
  const base = path.split("/").at(-1) ?? "";
  const depth = path.split("/").length;
  const entry = /^(index|main|server|cli|app|__main__|mcp|config|env)\.[a-z]+$/.test(base) ? 0 : 10;
  const src = /(^|\/)src\//.test(path) ? 0 : 3;
  return entry + src + depth;
}

export function selectFiles(
  entries: TreeEntry[],
  subdir: string,
): { manifests: TreeEntry[]; readmes: TreeEntry[]; code: TreeEntry[] } {
  const prefix = subdir ? `${subdir}/` : "";
  const blobs = entries.filter((e) => e.type === "blob");
  const at = (name: string) => blobs.find((e) => e.path === `${prefix}${name}`);
  const manifests = [
    "server.json",
    "package.json",
    "pyproject.toml",
    "smithery.yaml",
    "smithery.yml",
    "Dockerfile",
  ]
    .map(at)
    .filter((e): e is TreeEntry => e !== undefined);
  const local = blobs.filter((e) => e.path.startsWith(prefix) && README.test(e.path.slice(prefix.length)));
  const rootReadme = blobs.filter((e) => !e.path.includes("/") && README.test(e.path));
  const readmes = (local.length ? local : subdir ? rootReadme : []).slice(0, 1);
  const code = blobs
    .filter((e) => e.path.startsWith(prefix) && CODE.test(e.path))
    .filter((e) => !SKIP.test(`/${e.path.slice(prefix.length)}`) && !TEST_FILE.test(e.path))
    .filter((e) => (e.size ?? 0) <= LIMITS.maxCodeBytes)
    .sort(
      (a, b) =>
        codeRank(a.path.slice(prefix.length)) - codeRank(b.path.slice(prefix.length)) ||
        a.path.localeCompare(b.path),
    )
    .slice(0, LIMITS.maxCodeFiles);
  return { manifests, readmes, code };
}

export function monorepoCandidates(entries: TreeEntry[], subdir: string): string[] {
  const prefix = subdir ? `${subdir}/` : "";
  const dirs = entries
    .filter(
      (e) =>
        e.type === "blob" &&
        e.path.startsWith(prefix) &&
        /(^|\/)(package\.json|pyproject\.toml)$/.test(e.path),
    )
    .map((e) => e.path.split("/").slice(0, -1).join("/"))
    .filter(
      (d) =>
        d !== subdir &&
        d !== "" &&
        !/(^|\/)(node_modules|examples?|tests?|fixtures)(\/|$)/.test(d) &&
        d.split("/").length <= 4,
    );
  return [...new Set(dirs)].sort().slice(0, 20);
}

function extract(file: RepoFile): Partial<Facts> {
  const base = file.path.split("/").at(-1) ?? "";
  if (base === "server.json") return fromServerJson(file);
  if (base === "package.json") return fromPackageJson(file);
  if (base === "pyproject.toml") return fromPyproject(file);
  if (/^smithery\.ya?ml$/.test(base)) return fromSmithery(file);
  if (base === "Dockerfile") return fromDockerfile(file);
  if (README.test(base)) return fromReadme(file);
  return fromCode(file);
}

async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

export async function readSnapshot(gh: GitHub, snap: Snapshot): Promise<ReadResult> {
  const warnings: string[] = [];
  const tree = await gh.tree(snap.owner, snap.repo, snap.commit);
  if (tree.truncated)
    warnings.push("GitHub truncated the file tree (very large repository); some files may have been missed.");
  if (snap.subdir && !tree.entries.some((e) => e.path === snap.subdir && e.type === "tree")) {
    warnings.push(`The folder ${snap.subdir} does not exist at this commit.`);
  }
  const chosen = selectFiles(tree.entries, snap.subdir);
  const all = [...chosen.manifests, ...chosen.readmes, ...chosen.code].slice(0, LIMITS.maxFiles);
  let budget: number = LIMITS.maxTotalBytes;
  const files = (
    await inBatches(all, 4, async (e) => {
      if ((e.size ?? 0) > budget) {
        warnings.push(
          `${e.path} was not read: the analysis read limit (${LIMITS.maxTotalBytes} bytes) is reached.`,
        );
        return undefined;
      }
      budget -= e.size ?? 0;
      const f = await gh.file(snap.owner, snap.repo, e.path, snap.commit);
      if (!f)
        warnings.push(`${e.path} could not be read as a text file (binary or too large); it was skipped.`);
      return f;
    })
  ).filter((f): f is RepoFile => f !== undefined);
  const facts = emptyFacts();
  for (const f of files) mergeFacts(facts, extract(f));
  return { files, facts, candidates: monorepoCandidates(tree.entries, snap.subdir), warnings };
}
