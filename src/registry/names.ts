/**
 * Name and version rules for the package registries. Every package name, version and argument that
 * can reach a command line passes these validators, whoever proposed it (a file in a repository, the
 * model, a user). They are deliberately stricter than the registries: a name that npm still accepts
 * for old packages but that could be read as a flag or carry shell syntax is refused.
 */

/** npm: lowercase, URL-safe, optional scope, never starting with `.`, `_` or `-`, at most 214 chars. */
const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
const NPM_BLOCKED = new Set(["node_modules", "favicon.ico"]);

/** PEP 508 / core metadata `Name`: ASCII letters and digits, with `.`, `_`, `-` inside. */
const PEP508_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** Semantic Versioning 2.0.0, the exact form npm stores versions in. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** PEP 440 public version (canonical regex of the PEP, without local versions). */
const PEP440 =
  /^v?(?:(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?)$/i;

/** What an npm version spec (exact, range or dist-tag) may contain; it is resolved, never executed. */
const NPM_SPEC = /^[A-Za-z0-9.*^~<>=|+ -]{1,64}$/;

/** Constant command-line arguments: no whitespace, quotes, globs or shell operators. */
const SAFE_ARG = /^[A-Za-z0-9@%+=:,./_-]{1,256}$/;

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Problems with an npm package name; empty when the name is acceptable. */
export function npmNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (name.length === 0) return ["the name is empty"];
  if (name.length > 214) problems.push("npm names are at most 214 characters");
  if (name !== name.trim()) problems.push("the name has leading or trailing spaces");
  if (name !== name.toLowerCase()) problems.push("npm names are lowercase");
  if (NPM_BLOCKED.has(name)) problems.push(`${name} is a blocked name`);
  if (!NPM_NAME.test(name.toLowerCase())) {
    problems.push(
      "npm names use only a-z, 0-9, '.', '_' and '-', start with a letter or digit, and have at most one @scope/ prefix",
    );
  }
  return problems;
}

export function isNpmName(name: string): boolean {
  return npmNameProblems(name).length === 0;
}

export function pypiNameProblems(name: string): string[] {
  if (name.length === 0) return ["the name is empty"];
  if (name.length > 214) return ["PyPI names are at most 214 characters here"];
  if (!PEP508_NAME.test(name)) {
    return [
      "PyPI names (PEP 508) use only letters, digits, '.', '_' and '-', and start and end with a letter or digit",
    ];
  }
  return [];
}

export function isPypiName(name: string): boolean {
  return pypiNameProblems(name).length === 0;
}

/** PEP 503 normalized form: lowercase, runs of `-`, `_`, `.` collapsed to one `-`. */
export function normalizePypiName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

export function isExactSemver(version: string): boolean {
  return SEMVER.test(version);
}

export function isPep440(version: string): boolean {
  return version.length <= 64 && PEP440.test(version);
}

export function isNpmSpec(spec: string): boolean {
  return NPM_SPEC.test(spec);
}

export function isSafeArg(value: string): boolean {
  return SAFE_ARG.test(value);
}

export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}
