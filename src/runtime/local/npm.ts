import { isNpmName } from "../../registry/names.ts";
import { CatwalkError, InvalidInputError } from "../../util/error.ts";

/**
 * npm package names and versions: validation (a name ends up in a path and in a package.json,
 * never in a shell) and resolution of a wanted version (none, a dist-tag, a range or an exact
 * version) to one exact version the registry has.
 */

export class PackageNotFoundError extends CatwalkError {
  readonly code = "package.not_found";
  readonly status = 404;
}

export class VersionNotFoundError extends CatwalkError {
  readonly code = "package.version_not_found";
  readonly status = 404;
}

export class RegistryUnavailableError extends CatwalkError {
  readonly code = "package.registry_unavailable";
  readonly status = 502;
}

/**
 * npm's rules for new package names, slightly stricter: lowercase, an optional `@scope/`, only
 * `a-z 0-9 - . _`, not starting with `.`, `_` or `-`, at most 214 characters. No spaces, no shell
 * metacharacters, no path separators besides the one after the scope.
 */
export const EXACT_SEMVER =
  /^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const TAG = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
const PARTIAL = String.raw`v?(?:0|[1-9]\d*|[xX*])(?:\.(?:0|[1-9]\d*|[xX*])){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?`;
const COMPARATOR = new RegExp(`^(?:[<>]=?|=|~>?|\\^)?${PARTIAL}$`);
const HYPHEN = new RegExp(`^${PARTIAL}\\s+-\\s+${PARTIAL}$`);

export function isValidNpmName(name: string): boolean {
  return isNpmName(name);
}

export function validateNpmName(name: string): string {
  if (isValidNpmName(name)) return name;
  throw new InvalidInputError(`${JSON.stringify(name.slice(0, 250))} is not a valid npm package name.`, {
    hint: "npm names are lowercase letters, digits, '-', '.', '_' with an optional @scope/ prefix, e.g. @modelcontextprotocol/server-everything.",
  });
}

/** A semver range as npm writes them (`^1.2`, `>=1 <2`, `1.x || 2`, `1.0.0 - 1.4`). Bun.semver accepts anything. */
export function isSemverRange(text: string): boolean {
  return text.split("||").every((part) => {
    const p = part.trim().replace(/([<>=~^]+)\s+/g, "$1");
    if (p === "" || HYPHEN.test(p)) return true;
    return p.split(/\s+/).every((token) => COMPARATOR.test(token));
  });
}

/** Splits `name[@version]` (`@scope/name@^1`, `name@latest`); the version part is not checked here. */
export function parseNpmSpecifier(text: string): { name: string; wanted: string | undefined } {
  const at = text.indexOf("@", 1);
  const name = at === -1 ? text : text.slice(0, at);
  const wanted = at === -1 ? undefined : text.slice(at + 1).trim();
  return { name: validateNpmName(name), wanted: wanted === "" ? undefined : wanted };
}

export interface NpmResolution {
  name: string;
  version: string;
  /** The registry's deprecation message for this version; a warning, not an error. */
  deprecated?: string | undefined;
}

export interface RegistryOptions {
  registryUrl: string;
  timeoutMs?: number;
  /** A private registry's token (`local.npmToken`). */
  token?: string | undefined;
}

interface Packument {
  "dist-tags"?: Record<string, string>;
  versions?: Record<string, { deprecated?: unknown }>;
}

export function packumentUrl(registryUrl: string, name: string): string {
  return `${registryUrl.replace(/\/+$/, "")}/${name.replace("/", "%2F")}`;
}

async function fetchPackument(name: string, opts: RegistryOptions): Promise<Packument> {
  const url = packumentUrl(opts.registryUrl, name);
  const hint = "Check the network and local.npmRegistryUrl (CATWALK_LOCAL_NPM_REGISTRY_URL).";
  let res: Response;
  try {
    res = await fetch(url, {
      headers: {
        accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
  } catch (e) {
    throw new RegistryUnavailableError(`npm registry ${opts.registryUrl} is unreachable: ${messageOf(e)}.`, {
      hint,
      cause: e,
    });
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new PackageNotFoundError(`npm package ${name} does not exist on ${opts.registryUrl}.`, {
      hint: "Check the spelling and the scope of the package name.",
    });
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new RegistryUnavailableError(
      `npm registry ${opts.registryUrl} refused access to ${name} (${res.status}).`,
      {
        hint: opts.token
          ? "local.npmToken (CATWALK_LOCAL_NPM_TOKEN) was refused: check that it can read this package."
          : "A private registry needs local.npmToken (CATWALK_LOCAL_NPM_TOKEN).",
      },
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new RegistryUnavailableError(
      `npm registry ${opts.registryUrl} answered ${res.status} for ${name}.`,
      {
        hint,
      },
    );
  }
  try {
    return (await res.json()) as Packument;
  } catch (e) {
    throw new RegistryUnavailableError(
      `npm registry ${opts.registryUrl} sent invalid metadata for ${name}.`,
      {
        hint,
        cause: e,
      },
    );
  }
}

function messageOf(e: unknown): string {
  if (e instanceof Error && e.name === "TimeoutError") return "timed out";
  return e instanceof Error ? e.message : String(e);
}

function newestFirst(versions: string[]): string[] {
  return versions.filter((v) => EXACT_SEMVER.test(v)).sort((a, b) => Bun.semver.order(b, a));
}

function notFound(name: string, wanted: string, doc: Packument): VersionNotFoundError {
  const some = newestFirst(Object.keys(doc.versions ?? {})).slice(0, 5);
  const tags = Object.keys(doc["dist-tags"] ?? {}).join(", ");
  return new VersionNotFoundError(`npm package ${name} has no version matching ${JSON.stringify(wanted)}.`, {
    hint: `Newest versions: ${some.join(", ") || "none"}${tags ? `; dist-tags: ${tags}` : ""}.`,
  });
}

/** The exact version `wanted` means for this packument (npm's rule: `latest` wins if it satisfies a range). */
function pick(name: string, wanted: string | undefined, doc: Packument): string {
  const versions = doc.versions ?? {};
  const tags = doc["dist-tags"] ?? {};
  const spec = wanted ?? "latest";
  if (EXACT_SEMVER.test(spec.replace(/^[v=]/, ""))) {
    const exact = spec.replace(/^[v=]/, "");
    if (versions[exact]) return exact;
    throw notFound(name, spec, doc);
  }
  const tagged = tags[spec];
  if (tagged && versions[tagged]) return tagged;
  if (isSemverRange(spec)) {
    const latest = tags.latest;
    if (latest && versions[latest] && Bun.semver.satisfies(latest, spec)) return latest;
    const best = newestFirst(Object.keys(versions)).find((v) => Bun.semver.satisfies(v, spec));
    if (best) return best;
    throw notFound(name, spec, doc);
  }
  if (TAG.test(spec)) throw notFound(name, spec, doc);
  throw new InvalidInputError(`${JSON.stringify(spec)} is not a version, range or dist-tag.`, {
    hint: "Use an exact version (1.2.3), a range (^1.2) or a dist-tag (latest).",
  });
}

/** Resolves `name` + wanted version against the registry to one exact version. */
export async function resolveNpm(
  name: string,
  wanted: string | undefined,
  opts: RegistryOptions,
): Promise<NpmResolution> {
  validateNpmName(name);
  const doc = await fetchPackument(name, opts);
  const version = pick(name, wanted, doc);
  const deprecated = doc.versions?.[version]?.deprecated;
  return { name, version, deprecated: typeof deprecated === "string" && deprecated ? deprecated : undefined };
}
