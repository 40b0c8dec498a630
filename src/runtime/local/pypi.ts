import { isPypiName, normalizePypiName } from "../../registry/names.ts";
import { InvalidInputError } from "../../util/error.ts";
import { PackageNotFoundError, RegistryUnavailableError, VersionNotFoundError } from "./npm.ts";

/** PyPI names (PEP 508) and resolution of `name[==version]` through the PyPI JSON API. */

/** Characters of a PEP 440 version; the registry decides whether it exists. */
const PYPI_VERSION = /^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}$/;

export function isValidPypiName(name: string): boolean {
  return isPypiName(name);
}

export function validatePypiName(name: string): string {
  if (isValidPypiName(name)) return name;
  throw new InvalidInputError(`${JSON.stringify(name.slice(0, 250))} is not a valid PyPI package name.`, {
    hint: "PyPI names are letters, digits, '-', '.', '_', starting and ending with a letter or digit (PEP 508).",
  });
}

/** PEP 503 normalized form: the name the index and the cache use. */
export { normalizePypiName };

/** Splits `name[==version]`; other specifiers (`>=`, `~=`) are refused: a deployment runs one version. */
export function parsePypiSpecifier(text: string): { name: string; wanted: string | undefined } {
  const [name = "", version, ...rest] = text.split("==");
  if (rest.length > 0 || /[<>=!~;[\] ]/.test(name)) {
    throw new InvalidInputError(`${JSON.stringify(text)} is not pypi:<package>[==<version>].`, {
      hint: "Give a package name and optionally one exact version, e.g. pypi:mcp-server-fetch==2025.1.17.",
    });
  }
  const wanted = version?.trim();
  if (wanted !== undefined && !PYPI_VERSION.test(wanted)) {
    throw new InvalidInputError(`${JSON.stringify(wanted)} is not a PyPI version.`, {
      hint: "Give an exact version as listed on pypi.org, e.g. ==1.4.2.",
    });
  }
  return { name: validatePypiName(name.trim()), wanted: wanted || undefined };
}

export interface PypiResolution {
  name: string;
  version: string;
  /** Set when every file of the version was yanked: the reason, or "yanked". A warning, not an error. */
  yanked?: string | undefined;
}

interface PypiFile {
  yanked?: boolean;
  yanked_reason?: string | null;
}

interface PypiDoc {
  info?: { name?: string; version?: string };
  releases?: Record<string, PypiFile[]>;
}

async function fetchDoc(name: string, pypiUrl: string, timeoutMs: number): Promise<PypiDoc> {
  const url = `${pypiUrl.replace(/\/+$/, "")}/pypi/${encodeURIComponent(normalizePypiName(name))}/json`;
  const hint = "Check the network and pypi.url (CATWALK_PYPI_URL).";
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const why = e instanceof Error && e.name === "TimeoutError" ? "timed out" : String(e);
    throw new RegistryUnavailableError(`PyPI at ${pypiUrl} is unreachable: ${why}.`, { hint, cause: e });
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new PackageNotFoundError(`PyPI package ${name} does not exist on ${pypiUrl}.`, {
      hint: "Check the spelling of the package name.",
    });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new RegistryUnavailableError(`PyPI at ${pypiUrl} answered ${res.status} for ${name}.`, { hint });
  }
  try {
    return (await res.json()) as PypiDoc;
  } catch (e) {
    throw new RegistryUnavailableError(`PyPI at ${pypiUrl} sent invalid metadata for ${name}.`, {
      hint,
      cause: e,
    });
  }
}

function yankedReason(files: PypiFile[] | undefined): string | undefined {
  if (!files || files.length === 0 || !files.every((f) => f.yanked)) return undefined;
  return files.find((f) => f.yanked_reason)?.yanked_reason ?? "yanked";
}

/** Resolves a PyPI package to an exact version: the given one (must exist) or the index's latest. */
export async function resolvePypi(
  name: string,
  wanted: string | undefined,
  opts: { pypiUrl: string; timeoutMs?: number },
): Promise<PypiResolution> {
  validatePypiName(name);
  const doc = await fetchDoc(name, opts.pypiUrl, opts.timeoutMs ?? 30_000);
  const releases = doc.releases ?? {};
  const version = wanted ?? doc.info?.version;
  if (!version || !(version in releases)) {
    const recent = Object.keys(releases).slice(-5).reverse();
    throw new VersionNotFoundError(`PyPI package ${name} has no version ${JSON.stringify(version ?? "")}.`, {
      hint: `Recent versions: ${recent.join(", ") || "none"}.`,
    });
  }
  return { name: doc.info?.name ?? name, version, yanked: yankedReason(releases[version]) };
}
