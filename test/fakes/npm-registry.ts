import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Fake, json, startFake } from "./http.ts";

/**
 * A fake npm registry over real HTTP, good for the registry client, analysis and a real `bun install`:
 * `GET /<name>` (scoped names as `/@scope%2fname`, also accepted unencoded) answers the full packument
 * (`name`, `dist-tags`, `versions`, `time`, `repository`, …), `GET /<name>/<version|tag>` one version
 * document and `GET /<name>/-/<file>-<version>.tgz` the version's real gzipped tarball, whose sha512
 * `integrity` the packument carries. Unknown packages are `404 {"error":"Not found"}` as on
 * registry.npmjs.org. Each tarball holds the version's package.json (the version document without
 * the registry's fields) and a dependency-free stdio MCP server as `server.js` and `other.js`.
 *
 *   const npm = await startFakeNpm([{ name: "@acme/weather-mcp", versions: [{ version: "1.4.2", gitHead }] }]);
 *   npm.add({ name: "other", versions: [...] });  npm.url  npm.requests  npm.fail({...})
 *   npm.tarballs()  npm.hangTarballs(true)
 */
export interface NpmVersionSpec {
  version: string;
  description?: string;
  repository?: string | { type?: string; url: string; directory?: string };
  gitHead?: string;
  /** Default `{ <unscoped name>: "server.js" }`. */
  bin?: string | Record<string, string>;
  deprecated?: string;
  /** Installing resolves these against this registry too: serve them or leave them out. */
  dependencies?: Record<string, string>;
  mcpName?: string;
  /** More files for the tarball (file name → contents), written last: may replace `server.js`. */
  files?: Record<string, string>;
}

export interface NpmPackageSpec {
  name: string;
  versions: NpmVersionSpec[];
  /** Default: `latest` is the last version listed. */
  distTags?: Record<string, string>;
}

export interface FakeNpm extends Fake {
  /** Adds a package, or replaces the one with that name. */
  add(pkg: NpmPackageSpec): void;
  /** Tarball downloads so far (hung ones included). */
  tarballs(): number;
  /** Makes tarball downloads hang (for timeout tests) until turned off. */
  hangTarballs(on: boolean): void;
  /** A private registry: every request needs `Authorization: Bearer <token>` (401 otherwise). */
  requireToken(token: string | undefined): void;
  /** The Authorization header of every request so far (empty string when absent). */
  authorizations(): string[];
}

/**
 * The stdio MCP server in every tarball (plain CommonJS): initialize, tools/list and tools/call of
 * its one tool `hello` (answers "hello").
 */
const SERVER_JS = `#!/usr/bin/env node
const rl = require("node:readline").createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify(m) + "\\n");
rl.on("line", (line) => {
  const m = JSON.parse(line);
  if (m.method === "initialize") {
    send({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: process.env.npm_fixture_name || "fake-npm-fixture", version: "1.0.0" } } });
  } else if (m.method === "tools/list") {
    send({ jsonrpc: "2.0", id: m.id, result: { tools: [{ name: "hello", inputSchema: { type: "object" } }] } });
  } else if (m.method === "tools/call" && m.params && m.params.name === "hello") {
    send({ jsonrpc: "2.0", id: m.id, result: { content: [{ type: "text", text: "hello" }] } });
  } else if (m.id !== undefined && m.method) {
    send({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "no such method" } });
  }
});
rl.on("close", () => process.exit(0));
`;

const unscoped = (name: string) => name.replace(/^@[^/]+\//, "");

/** The tarball's path on the registry: `/<name>/-/<unscoped name>-<version>.tgz`. */
export const tarballPath = (name: string, version: string) => `/${name}/-/${unscoped(name)}-${version}.tgz`;

function manifest(name: string, v: NpmVersionSpec): Record<string, unknown> {
  const repository =
    typeof v.repository === "string" ? v.repository : v.repository && { type: "git", ...v.repository };
  return {
    name,
    version: v.version,
    description: v.description,
    license: "MIT",
    type: "commonjs",
    bin: v.bin ?? { [unscoped(name)]: "server.js" },
    repository,
    gitHead: v.gitHead,
    deprecated: v.deprecated,
    mcpName: v.mcpName,
    dependencies: v.dependencies ?? {},
  };
}

function pack(files: Record<string, string>): Uint8Array<ArrayBuffer> {
  const dir = mkdtempSync(join(tmpdir(), "catwalk-fake-pkg-"));
  try {
    mkdirSync(join(dir, "package"));
    for (const [file, text] of Object.entries(files))
      writeFileSync(join(dir, "package", file), text, { mode: 0o755 });
    const res = Bun.spawnSync(["tar", "-czf", "-", "-C", dir, "package"]);
    if (res.exitCode !== 0) throw new Error(`tar failed: ${res.stderr}`);
    return new Uint8Array(res.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Published {
  doc: Record<string, unknown>;
  tarballs: Map<string, Uint8Array<ArrayBuffer>>;
}

function publish(pkg: NpmPackageSpec, base: string): Published {
  const last = pkg.versions.at(-1);
  const versions: Record<string, unknown> = {};
  const time: Record<string, string> = { created: "2025-01-01T00:00:00.000Z" };
  const tarballs = new Map<string, Uint8Array<ArrayBuffer>>();
  pkg.versions.forEach((v, i) => {
    const json = manifest(pkg.name, v);
    const files = {
      "package.json": JSON.stringify(json, null, 2),
      "server.js": SERVER_JS,
      "other.js": SERVER_JS,
      ...v.files,
    };
    const tgz = pack(files);
    const path = tarballPath(pkg.name, v.version);
    tarballs.set(path, tgz);
    versions[v.version] = {
      ...json,
      _id: `${pkg.name}@${v.version}`,
      _npmUser: { name: "publisher", email: "publisher@example.com" },
      dist: {
        shasum: createHash("sha1").update(tgz).digest("hex"),
        integrity: `sha512-${createHash("sha512").update(tgz).digest("base64")}`,
        tarball: `${base}${path}`,
        fileCount: Object.keys(files).length,
        unpackedSize: Object.values(files).reduce((n, text) => n + text.length, 0),
      },
    };
    time[v.version] = new Date(Date.UTC(2025, 1, 1 + i)).toISOString();
  });
  time.modified = (last && time[last.version]) ?? "2025-01-01T00:00:00.000Z";
  const doc = {
    _id: pkg.name,
    _rev: `${pkg.versions.length}-${createHash("md5").update(pkg.name).digest("hex")}`,
    name: pkg.name,
    "dist-tags": pkg.distTags ?? (last ? { latest: last.version } : {}),
    versions,
    time,
    maintainers: [{ name: "publisher", email: "publisher@example.com" }],
    description: last?.description,
    repository: last?.repository,
    license: "MIT",
    readme: "",
  };
  return { doc, tarballs };
}

export async function startFakeNpm(initial: NpmPackageSpec[] = []): Promise<FakeNpm> {
  const packages = new Map<string, Published>();
  let hang = false;
  let token: string | undefined;
  const auths: string[] = [];
  const fake = await startFake("npm", async (req, url) => {
    if (req.method !== "GET") return json({ error: "Method not allowed" }, 405);
    const authorization = req.headers.get("authorization") ?? "";
    auths.push(authorization);
    if (token !== undefined && authorization !== `Bearer ${token}`) {
      return json({ error: "authentication required" }, 401);
    }
    const path = decodeURIComponent(url.pathname.slice(1));
    const parts = path.split("/");
    const scoped = path.startsWith("@") ? 2 : 1;
    const pkg = packages.get(parts.slice(0, scoped).join("/"));
    if (!pkg) return json({ error: "Not found" }, 404);
    const rest = parts.slice(scoped);
    if (rest.length === 0) return json(pkg.doc);
    const tgz = pkg.tarballs.get(`/${path}`);
    if (tgz) {
      if (hang) await Bun.sleep(60_000);
      return new Response(tgz, { headers: { "content-type": "application/octet-stream" } });
    }
    const wanted = (pkg.doc["dist-tags"] as Record<string, string>)[rest[0] ?? ""] ?? rest[0] ?? "";
    const version = (pkg.doc.versions as Record<string, unknown>)[wanted];
    return version ? json(version) : json(`version not found: ${rest[0]}`, 404);
  });
  const add = (pkg: NpmPackageSpec) => {
    packages.set(pkg.name, publish(pkg, fake.url));
  };
  for (const pkg of initial) add(pkg);
  return {
    ...fake,
    add,
    tarballs: () => fake.requests.filter((r) => r.pathname.endsWith(".tgz")).length,
    hangTarballs: (on) => {
      hang = on;
    },
    requireToken: (t) => {
      token = t;
    },
    authorizations: () => [...auths],
  };
}
