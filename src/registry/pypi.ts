import { httpGet, joinUrl, parseJson, ServiceResponseError, unexpectedStatus } from "./http.ts";
import { isPep440, normalizePypiName, pypiNameProblems } from "./names.ts";
import { InvalidPackageNameError, PackageNotFoundError, VersionNotFoundError } from "./npm.ts";

/** The parts of PyPI's JSON API (`/pypi/<name>/json`, `/pypi/<name>/<version>/json`) Catwalk reads. */
interface PypiFile {
  filename?: string;
  yanked?: boolean;
  yanked_reason?: string | null;
}

interface PypiDoc {
  info?: {
    name?: string;
    version?: string;
    summary?: string | null;
    home_page?: string | null;
    project_urls?: Record<string, string> | null;
    requires_dist?: string[] | null;
    yanked?: boolean;
    yanked_reason?: string | null;
  };
  releases?: Record<string, PypiFile[]>;
  urls?: PypiFile[];
}

export interface PypiResolved {
  name: string;
  version: string;
  how: "exact" | "latest";
  summary: string | undefined;
  yanked: string | undefined;
  /** Every URL the project declares (project_urls values and home_page), for provenance. */
  urls: { label: string; url: string }[];
  requiresDist: string[];
}

export interface PypiOptions {
  baseUrl: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

function urlsOf(info: PypiDoc["info"]): { label: string; url: string }[] {
  const out = Object.entries(info?.project_urls ?? {}).map(([label, url]) => ({ label, url: String(url) }));
  if (info?.home_page) out.push({ label: "Homepage", url: info.home_page });
  return out;
}

function yankedOf(doc: PypiDoc, version: string): string | undefined {
  if (doc.info?.yanked) return doc.info.yanked_reason || "yanked";
  const files = doc.releases?.[version] ?? doc.urls ?? [];
  if (files.length > 0 && files.every((f) => f.yanked)) return files[0]?.yanked_reason || "yanked";
  return undefined;
}

export class Pypi {
  constructor(private readonly opts: PypiOptions) {}

  private async get(path: string, what: string): Promise<PypiDoc | undefined> {
    const url = joinUrl(this.opts.baseUrl, path);
    const res = await httpGet(url, {
      service: "pypi",
      timeoutMs: this.opts.timeoutMs,
      maxBytes: 32 * 1024 * 1024,
      signal: this.opts.signal,
    });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw unexpectedStatus("pypi", url, res.status);
    const doc = parseJson(res.text, "pypi", url) as PypiDoc;
    if (typeof doc !== "object" || doc === null || typeof doc.info !== "object") {
      throw new ServiceResponseError("pypi", "bad_response", `PyPI answered ${what} without project info.`);
    }
    return doc;
  }

  /** Resolves a project and an optional exact version (`==1.2.3`); without one, PyPI's latest. */
  async resolve(name: string, version?: string): Promise<PypiResolved> {
    const problems = pypiNameProblems(name);
    if (problems.length) {
      throw new InvalidPackageNameError(
        `${JSON.stringify(name)} is not a valid PyPI project name: ${problems[0]}.`,
        {
          hint: "Use the project name from pypi.org, e.g. pypi:mcp-server-fetch.",
        },
      );
    }
    if (version !== undefined && !isPep440(version)) {
      throw new InvalidPackageNameError(`${JSON.stringify(version)} is not a PEP 440 version.`, {
        hint: "Pin an exact version like pypi:mcp-server-fetch==0.6.2.",
      });
    }
    const norm = normalizePypiName(name);
    const project = await this.get(`/pypi/${norm}/json`, name);
    if (!project) {
      throw new PackageNotFoundError(`The PyPI project ${name} does not exist.`, {
        hint: "Check the spelling on pypi.org.",
      });
    }
    const latest = project.info?.version;
    const wanted = version ?? latest;
    if (!wanted) throw new VersionNotFoundError(`PyPI project ${name} has no released version.`);
    const doc = version
      ? await this.get(`/pypi/${norm}/${encodeURIComponent(version)}/json`, `${name}==${version}`)
      : project;
    if (!doc || (version && project.releases && !(version in project.releases))) {
      const known = Object.keys(project.releases ?? {})
        .slice(-5)
        .join(", ");
      throw new VersionNotFoundError(`PyPI project ${name} has no release ${version}.`, {
        hint: known ? `Recent releases: ${known}.` : undefined,
      });
    }
    return {
      name: doc.info?.name ?? name,
      version: doc.info?.version ?? wanted,
      how: version ? "exact" : "latest",
      summary: doc.info?.summary ?? undefined,
      yanked: yankedOf({ ...doc, releases: project.releases }, doc.info?.version ?? wanted),
      urls: urlsOf(doc.info),
      requiresDist: doc.info?.requires_dist ?? [],
    };
  }
}
