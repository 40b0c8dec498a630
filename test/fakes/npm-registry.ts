import { createHash } from "node:crypto";
import { type Fake, json, startFake } from "./http.ts";

/**
 * A fake npm registry speaking the packument API: `GET /<name>` (scoped names as `/@scope%2fname`,
 * also accepted unencoded) answers the full JSON document (`name`, `dist-tags`, `versions`, `time`,
 * `repository`, …) and `GET /<name>/<version|tag>` one version document; unknown packages are
 * `404 {"error":"Not found"}` as on registry.npmjs.org. Tarballs are not served.
 *
 *   const npm = await startFakeNpm([{ name: "@acme/weather-mcp", versions: [{ version: "1.4.2", gitHead }] }]);
 *   npm.add({ name: "other", versions: [...] });  npm.url  npm.requests  npm.fail({...})
 */
export interface NpmVersionSpec {
  version: string;
  description?: string;
  repository?: string | { type?: string; url: string; directory?: string };
  gitHead?: string;
  bin?: string | Record<string, string>;
  deprecated?: string;
  dependencies?: Record<string, string>;
  mcpName?: string;
}

export interface NpmPackageSpec {
  name: string;
  versions: NpmVersionSpec[];
  /** Default: `latest` is the last version listed. */
  distTags?: Record<string, string>;
}

export interface FakeNpm extends Fake {
  add(pkg: NpmPackageSpec): void;
}

export function packument(pkg: NpmPackageSpec, base: string): Record<string, unknown> {
  const last = pkg.versions.at(-1)?.version;
  const versions: Record<string, unknown> = {};
  const time: Record<string, string> = { created: "2025-01-01T00:00:00.000Z" };
  pkg.versions.forEach((v, i) => {
    const shasum = createHash("sha1").update(`${pkg.name}@${v.version}`).digest("hex");
    const integrity = `sha512-${createHash("sha512").update(`${pkg.name}@${v.version}`).digest("base64")}`;
    const file = pkg.name.replace(/^@[^/]+\//, "");
    versions[v.version] = {
      name: pkg.name,
      version: v.version,
      description: v.description,
      license: "MIT",
      type: "module",
      bin: v.bin,
      repository:
        typeof v.repository === "string" ? v.repository : v.repository && { type: "git", ...v.repository },
      gitHead: v.gitHead,
      deprecated: v.deprecated,
      mcpName: v.mcpName,
      dependencies: v.dependencies ?? {},
      _id: `${pkg.name}@${v.version}`,
      _npmUser: { name: "publisher", email: "publisher@example.com" },
      dist: {
        shasum,
        integrity,
        tarball: `${base}/${pkg.name}/-/${file}-${v.version}.tgz`,
        fileCount: 12,
        unpackedSize: 48_213,
      },
    };
    time[v.version] = new Date(Date.UTC(2025, 1, 1 + i)).toISOString();
  });
  time.modified = time[last ?? ""] ?? "2025-01-01T00:00:00.000Z";
  const latest = last ? pkg.versions.at(-1) : undefined;
  return {
    _id: pkg.name,
    _rev: `${pkg.versions.length}-${createHash("md5").update(pkg.name).digest("hex")}`,
    name: pkg.name,
    "dist-tags": pkg.distTags ?? (last ? { latest: last } : {}),
    versions,
    time,
    maintainers: [{ name: "publisher", email: "publisher@example.com" }],
    description: latest?.description,
    repository: latest?.repository,
    license: "MIT",
    readme: "",
  };
}

export async function startFakeNpm(initial: NpmPackageSpec[] = []): Promise<FakeNpm> {
  const packages = new Map<string, NpmPackageSpec>(initial.map((p) => [p.name, p]));
  let base = "";
  const fake = await startFake("npm", (req, url) => {
    if (req.method !== "GET") return json({ error: "Method not allowed" }, 405);
    const path = decodeURIComponent(url.pathname.slice(1));
    const parts = path.startsWith("@") ? path.split("/") : path.split("/");
    const name = path.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? "");
    const rest = path.startsWith("@") ? parts.slice(2) : parts.slice(1);
    const pkg = packages.get(name);
    if (!pkg) return json({ error: "Not found" }, 404);
    const doc = packument(pkg, base);
    if (rest.length === 0) return json(doc);
    const wanted = (doc["dist-tags"] as Record<string, string>)[rest[0] ?? ""] ?? rest[0] ?? "";
    const version = (doc.versions as Record<string, unknown>)[wanted];
    return version ? json(version) : json(`version not found: ${rest[0]}`, 404);
  });
  base = fake.url;
  return { ...fake, add: (pkg) => packages.set(pkg.name, pkg) };
}
