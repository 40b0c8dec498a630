import { CatwalkError } from "../util/error.ts";
import { httpGet, joinUrl, parseJson, ServiceResponseError, unexpectedStatus } from "./http.ts";
import { isExactSemver, isNpmSpec, npmNameProblems } from "./names.ts";

/** The parts of an npm packument (GET /<name>, full JSON document) that Catwalk reads. */
export interface NpmVersionDoc {
  name?: string;
  version?: string;
  description?: string;
  deprecated?: string | boolean;
  bin?: string | Record<string, string>;
  repository?: string | { type?: string; url?: string; directory?: string };
  gitHead?: string;
  mcpName?: string;
  dependencies?: Record<string, string>;
}

export interface Packument {
  name: string;
  "dist-tags"?: Record<string, string>;
  versions?: Record<string, NpmVersionDoc>;
  repository?: NpmVersionDoc["repository"];
  description?: string;
}

export class InvalidPackageNameError extends CatwalkError {
  readonly code = "registry.invalid_name";
  readonly status = 422;
}

export class PackageNotFoundError extends CatwalkError {
  readonly code = "registry.package_not_found";
  readonly status = 404;
}

export class VersionNotFoundError extends CatwalkError {
  readonly code = "registry.version_not_found";
  readonly status = 404;
}

export interface NpmResolved {
  name: string;
  /** The exact version the spec resolved to. */
  version: string;
  /** How: the spec was this exact version, a dist-tag, a range, or absent (dist-tag latest). */
  how: "exact" | "tag" | "range" | "latest";
  latest: string | undefined;
  description: string | undefined;
  deprecated: string | undefined;
  repositoryUrl: string | undefined;
  directory: string | undefined;
  gitHead: string | undefined;
  bin: Record<string, string>;
  mcpName: string | undefined;
  dependencies: Record<string, string>;
}

export interface NpmOptions {
  baseUrl: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** A private registry's token (`local.npmToken`). */
  token?: string | undefined;
}

/** npm puts the scope separator in the path as %2f: `/@scope%2fname`. */
export function packumentPath(name: string): string {
  return `/${name.replace("/", "%2f")}`;
}

function binOf(name: string, bin: NpmVersionDoc["bin"]): Record<string, string> {
  if (typeof bin === "string") return { [name.replace(/^@[^/]+\//, "")]: bin };
  if (bin && typeof bin === "object") return { ...bin };
  return {};
}

function repoOf(doc: NpmVersionDoc["repository"]): { url?: string; directory?: string } {
  if (typeof doc === "string") return { url: doc };
  if (doc && typeof doc === "object") return { url: doc.url, directory: doc.directory };
  return {};
}

function pickVersion(
  p: Packument,
  spec: string | undefined,
): { version: string; how: NpmResolved["how"] } | undefined {
  const versions = Object.keys(p.versions ?? {});
  const tags = p["dist-tags"] ?? {};
  if (spec === undefined || spec === "" || spec === "latest") {
    const v = tags.latest;
    return v && p.versions?.[v] ? { version: v, how: spec ? "tag" : "latest" } : undefined;
  }
  if (isExactSemver(spec)) return p.versions?.[spec] ? { version: spec, how: "exact" } : undefined;
  const tagged = tags[spec];
  if (tagged && p.versions?.[tagged]) return { version: tagged, how: "tag" };
  const matching = versions.filter((v) => {
    try {
      return Bun.semver.satisfies(v, spec);
    } catch {
      return false;
    }
  });
  matching.sort((a, b) => Bun.semver.order(b, a));
  const best = matching[0];
  return best ? { version: best, how: "range" } : undefined;
}

export class NpmRegistry {
  constructor(private readonly opts: NpmOptions) {}

  async packument(name: string): Promise<Packument> {
    const problems = npmNameProblems(name);
    if (problems.length) {
      throw new InvalidPackageNameError(
        `${JSON.stringify(name)} is not a valid npm package name: ${problems[0]}.`,
        {
          hint: "Use the exact name from npmjs.com, e.g. npm:@modelcontextprotocol/server-everything.",
        },
      );
    }
    const url = joinUrl(this.opts.baseUrl, packumentPath(name));
    const res = await httpGet(url, {
      service: "npm",
      timeoutMs: this.opts.timeoutMs,
      maxBytes: 64 * 1024 * 1024,
      signal: this.opts.signal,
      ...(this.opts.token ? { headers: { authorization: `Bearer ${this.opts.token}` } } : {}),
    });
    if (res.status === 404) {
      throw new PackageNotFoundError(`The npm package ${name} does not exist.`, {
        hint: "Check the spelling and the scope; for a private package set local.npmRegistryUrl and local.npmToken.",
      });
    }
    if (res.status === 401 || res.status === 403) {
      throw new ServiceResponseError(
        "npm",
        "unauthorized",
        `The npm registry refused access to ${name} (${res.status}).`,
        {
          hint: this.opts.token
            ? "local.npmToken (CATWALK_LOCAL_NPM_TOKEN) was refused: check that it can read this package."
            : "A private package needs local.npmToken (CATWALK_LOCAL_NPM_TOKEN).",
        },
      );
    }
    if (res.status !== 200) throw unexpectedStatus("npm", url, res.status);
    const doc = parseJson(res.text, "npm", url) as Packument;
    if (typeof doc !== "object" || doc === null || typeof doc.versions !== "object") {
      throw new ServiceResponseError(
        "npm",
        "bad_response",
        `The npm registry answered ${name} without versions.`,
      );
    }
    return doc;
  }

  /** Resolves `name@spec` (exact version, range, dist-tag, or nothing for latest) to one version. */
  async resolve(name: string, spec?: string): Promise<NpmResolved> {
    if (spec !== undefined && !isNpmSpec(spec)) {
      throw new InvalidPackageNameError(`${JSON.stringify(spec)} is not a valid npm version, range or tag.`, {
        hint: "Use an exact version like 1.2.3, a range like ^1.2, or a tag like latest.",
      });
    }
    const p = await this.packument(name);
    const picked = pickVersion(p, spec);
    if (!picked) {
      const known = Object.keys(p.versions ?? {})
        .slice(-5)
        .join(", ");
      throw new VersionNotFoundError(
        `npm package ${name} has no version matching ${JSON.stringify(spec ?? "latest")}.`,
        {
          hint: known ? `Recent versions: ${known}.` : "The package has no published versions.",
        },
      );
    }
    const doc = p.versions?.[picked.version] ?? {};
    const repo = repoOf(doc.repository ?? p.repository);
    const deprecated =
      typeof doc.deprecated === "string" && doc.deprecated !== "" ? doc.deprecated : undefined;
    return {
      name: p.name ?? name,
      version: picked.version,
      how: picked.how,
      latest: p["dist-tags"]?.latest,
      description: doc.description ?? p.description,
      deprecated: deprecated ?? (doc.deprecated === true ? "deprecated" : undefined),
      repositoryUrl: repo.url,
      directory: repo.directory,
      gitHead:
        typeof doc.gitHead === "string" && /^[0-9a-f]{40}$/.test(doc.gitHead) ? doc.gitHead : undefined,
      bin: binOf(name, doc.bin),
      mcpName: typeof doc.mcpName === "string" ? doc.mcpName : undefined,
      dependencies: doc.dependencies ?? {},
    };
  }
}
