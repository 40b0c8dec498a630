import { createHash } from "node:crypto";
import { type Fake, json, startFake } from "./http.ts";

/**
 * A fake PyPI JSON API: `GET /pypi/<project>/json` (latest release in `info`, every release in
 * `releases`) and `GET /pypi/<project>/<version>/json` (that release's `info`, `urls`). A name that
 * is not in PEP 503 normal form is redirected (301) to the normal form, as pypi.org does; unknown
 * projects and versions are `404 {"message": "Not Found"}`.
 *
 *   const pypi = await startFakePypi([{ name: "notes-mcp", releases: [{ version: "0.3.1" }], projectUrls: {...} }]);
 */
export interface PypiReleaseSpec {
  version: string;
  yanked?: string;
  summary?: string;
}

export interface PypiProjectSpec {
  name: string;
  releases: PypiReleaseSpec[];
  projectUrls?: Record<string, string>;
  homePage?: string;
  requiresDist?: string[];
}

export interface FakePypi extends Fake {
  add(project: PypiProjectSpec): void;
}

const normal = (n: string) => n.toLowerCase().replace(/[-_.]+/g, "-");

function files(p: PypiProjectSpec, r: PypiReleaseSpec, base: string) {
  const stem = p.name.replace(/-/g, "_");
  return [`${stem}-${r.version}-py3-none-any.whl`, `${stem}-${r.version}.tar.gz`].map((filename) => ({
    filename,
    packagetype: filename.endsWith(".whl") ? "bdist_wheel" : "sdist",
    python_version: filename.endsWith(".whl") ? "py3" : "source",
    requires_python: ">=3.10",
    size: 18_204,
    upload_time_iso_8601: "2025-03-01T12:00:00.000000Z",
    url: `${base}/packages/${filename}`,
    digests: { sha256: createHash("sha256").update(filename).digest("hex") },
    yanked: r.yanked !== undefined,
    yanked_reason: r.yanked ?? null,
  }));
}

function info(p: PypiProjectSpec, r: PypiReleaseSpec) {
  return {
    name: p.name,
    version: r.version,
    summary: r.summary ?? "",
    home_page: p.homePage ?? null,
    project_urls: p.projectUrls ?? null,
    requires_dist: p.requiresDist ?? null,
    requires_python: ">=3.10",
    license: "MIT",
    yanked: r.yanked !== undefined,
    yanked_reason: r.yanked ?? null,
    package_url: `https://pypi.org/project/${p.name}/`,
  };
}

export async function startFakePypi(initial: PypiProjectSpec[] = []): Promise<FakePypi> {
  const projects = new Map<string, PypiProjectSpec>(initial.map((p) => [normal(p.name), p]));
  let base = "";
  const fake = await startFake("pypi", (req, url) => {
    const m = /^\/pypi\/([^/]+)\/(?:([^/]+)\/)?json\/?$/.exec(url.pathname);
    if (req.method !== "GET" || !m) return json({ message: "Not Found" }, 404);
    const requested = decodeURIComponent(m[1] ?? "");
    const version = m[2] ? decodeURIComponent(m[2]) : undefined;
    if (normal(requested) !== requested) {
      const to = `/pypi/${normal(requested)}/${version ? `${version}/` : ""}json`;
      return new Response(null, { status: 301, headers: { location: to } });
    }
    const p = projects.get(requested);
    if (!p) return json({ message: "Not Found" }, 404);
    const live = p.releases.filter((r) => r.yanked === undefined && !/[a-z]/i.test(r.version));
    const release = version
      ? p.releases.find((r) => r.version === version)
      : (live.at(-1) ?? p.releases.at(-1));
    if (!release) return json({ message: "Not Found" }, 404);
    const releases = version
      ? undefined
      : Object.fromEntries(p.releases.map((r) => [r.version, files(p, r, base)]));
    return json({
      info: info(p, release),
      last_serial: 26_000_000 + p.releases.length,
      ...(releases ? { releases } : {}),
      urls: files(p, release, base),
      vulnerabilities: [],
    });
  });
  base = fake.url;
  return { ...fake, add: (p) => projects.set(normal(p.name), p) };
}
