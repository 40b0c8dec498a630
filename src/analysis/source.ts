import {
  isNpmName,
  isNpmSpec,
  isPep440,
  isPypiName,
  npmNameProblems,
  pypiNameProblems,
} from "../registry/names.ts";
import { CatwalkError } from "../util/error.ts";

/**
 * What `catwalk analyze` accepts:
 *   https://github.com/<owner>/<repo>[.git][/tree/<ref>[/<subdir>]]   (also github.com/… without scheme)
 *   npm:<package>[@<version|range|tag>]
 *   pypi:<project>[==<version>]
 * For `/tree/<ref>/<subdir>` the split between a ref with slashes and the subdir is decided later
 * against GitHub (`refPath` keeps the raw remainder).
 */
export type Source =
  | { kind: "github"; owner: string; repo: string; refPath: string[] | undefined }
  | { kind: "npm"; name: string; spec: string | undefined }
  | { kind: "pypi"; name: string; version: string | undefined };

export const ACCEPTED_SOURCES =
  "https://github.com/<owner>/<repo>[/tree/<ref>/<subdir>], npm:<package>[@<version>] or pypi:<project>[==<version>]";

export class InvalidSourceError extends CatwalkError {
  readonly code = "analysis.invalid_source";
  readonly status = 422;
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,100}$/;

function invalid(input: string, why: string): InvalidSourceError {
  const shown = input.length > 120 ? `${input.slice(0, 120)}…` : input;
  return new InvalidSourceError(`Cannot analyse ${JSON.stringify(shown)}: ${why}.`, {
    hint: `Accepted sources: ${ACCEPTED_SOURCES}.`,
  });
}

function parseGithub(input: string): Source {
  const withScheme = /^https?:\/\//i.test(input) ? input : `https://${input}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalid(input, "it is not a valid URL");
  }
  if (url.hostname !== "github.com" && url.hostname !== "www.github.com") {
    throw invalid(input, `only github.com repositories are supported, not ${url.hostname}`);
  }
  if (url.search || url.username || url.password) throw invalid(input, "the URL has a query or credentials");
  const parts = url.pathname
    .split("/")
    .filter((p) => p !== "")
    .map(decodeURIComponent);
  const [owner, rawRepo, kind, ...rest] = parts;
  const repo = rawRepo?.replace(/\.git$/i, "");
  if (!owner || !repo) throw invalid(input, "the URL does not name an owner and a repository");
  if (!SEGMENT.test(owner) || !SEGMENT.test(repo))
    throw invalid(input, "the owner or repository name is invalid");
  if (kind === undefined) return { kind: "github", owner, repo, refPath: undefined };
  if (kind !== "tree" || rest.length === 0) {
    throw invalid(input, "after the repository only /tree/<ref>[/<subdir>] is understood");
  }
  if (rest.some((p) => p === ".." || p === "." || p.includes("\\")))
    throw invalid(input, "the path is not a clean relative path");
  return { kind: "github", owner, repo, refPath: rest };
}

function parseNpm(input: string, body: string): Source {
  const at = body.lastIndexOf("@");
  const split = at > 0 ? at : -1;
  const name = split > 0 ? body.slice(0, split) : body;
  const spec = split > 0 ? body.slice(split + 1) : undefined;
  if (!isNpmName(name))
    throw invalid(input, `${JSON.stringify(name)} is not a valid npm name (${npmNameProblems(name)[0]})`);
  if (spec !== undefined && !isNpmSpec(spec))
    throw invalid(input, `${JSON.stringify(spec)} is not a version, range or tag`);
  return { kind: "npm", name, spec: spec === "" ? undefined : spec };
}

function parsePypi(input: string, body: string): Source {
  const [name = "", version, extra] = body.split("==");
  if (extra !== undefined) throw invalid(input, "only one ==<version> is allowed");
  if (!isPypiName(name))
    throw invalid(input, `${JSON.stringify(name)} is not a valid PyPI name (${pypiNameProblems(name)[0]})`);
  if (version !== undefined && !isPep440(version))
    throw invalid(input, `${JSON.stringify(version)} is not a PEP 440 version`);
  if (/[<>~!]/.test(body)) throw invalid(input, "only an exact ==<version> pin is accepted");
  return { kind: "pypi", name, version };
}

export function parseSource(raw: string): Source {
  const input = raw.trim();
  if (input === "") throw invalid(raw, "the source is empty");
  if (input.length > 500) throw invalid(input, "the source is longer than 500 characters");
  if (/^npm:/i.test(input)) return parseNpm(input, input.slice(4));
  if (/^pypi:/i.test(input)) return parsePypi(input, input.slice(5));
  if (/^(https?:\/\/)?(www\.)?github\.com\//i.test(input)) return parseGithub(input);
  if (/^[a-z+]+:\/\//i.test(input)) return parseGithub(input);
  throw invalid(input, "it is neither a GitHub URL nor npm:/pypi: package");
}

export function describeSource(s: Source): string {
  if (s.kind === "npm") return `npm:${s.name}${s.spec ? `@${s.spec}` : ""}`;
  if (s.kind === "pypi") return `pypi:${s.name}${s.version ? `==${s.version}` : ""}`;
  return `https://github.com/${s.owner}/${s.repo}${s.refPath ? `/tree/${s.refPath.join("/")}` : ""}`;
}
