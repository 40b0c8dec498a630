import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { type Fake, json, startFake } from "./http.ts";

/**
 * A fake GitHub REST API serving real file trees (fixture directories) with real git object ids:
 * blob, tree and commit shas are computed exactly as git computes them. Endpoints:
 *   GET /repos/{o}/{r}                              repository metadata
 *   GET /repos/{o}/{r}/commits/{ref}                ref (branch, tag, sha; slashes allowed) → commit
 *   GET /repos/{o}/{r}/git/trees/{sha}[?recursive=1] commit or tree sha → entries
 *   GET /repos/{o}/{r}/contents/{path}?ref=…        file (base64, 60-char lines) or directory listing
 * Private repositories answer 404 unless `Authorization: Bearer <token>` carries the configured
 * token; any other token is `401 Bad credentials`. Every answer carries `x-ratelimit-*` headers;
 * `setRateLimit(remaining)` makes the limit run out (then 403 with remaining 0, as GitHub does).
 *
 *   const gh = await startFakeGitHub({ repos: [{ owner: "acme", repo: "weather-mcp", dir: fixture("ts-table-server") }] });
 *   gh.commitOf("acme/weather-mcp")  gh.url  gh.requests  gh.fail({ path: "/contents/", status: 500 })
 */
export interface RepoSpec {
  owner: string;
  repo: string;
  /** A fixture directory; every file under it is part of the single commit. */
  dir?: string;
  /** Or the files inline (path → content). */
  files?: Record<string, string>;
  private?: boolean;
  defaultBranch?: string;
  /** Extra branch or tag names (may contain slashes) pointing at the same commit. */
  refs?: string[];
  description?: string;
}

export interface FakeGitHub extends Fake {
  add(spec: RepoSpec): void;
  /** The commit sha of a repository (`owner/repo`). */
  commitOf(fullName: string): string;
  setRateLimit(remaining: number, resetEpochSeconds?: number): void;
}

interface Blob {
  path: string;
  content: Buffer;
  sha: string;
}

interface Built {
  spec: RepoSpec;
  id: number;
  blobs: Map<string, Blob>;
  /** Every tree sha → its entries (full paths). */
  trees: Map<string, { path: string; mode: string; type: "blob" | "tree"; sha: string; size?: number }[]>;
  rootTree: string;
  commit: string;
}

const sha1 = (b: Buffer) => createHash("sha1").update(b).digest("hex");
const gitObject = (type: string, body: Buffer) =>
  sha1(Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]));

function readDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[relative(dir, full).split("\\").join("/")] = readFileSync(full, "utf8");
    }
  };
  walk(dir);
  return out;
}

let nextId = 700_000_000;

function build(spec: RepoSpec): Built {
  const files = spec.files ?? (spec.dir ? readDir(spec.dir) : {});
  const blobs = new Map<string, Blob>();
  for (const [path, text] of Object.entries(files)) {
    const content = Buffer.from(text, "utf8");
    blobs.set(path, { path, content, sha: gitObject("blob", content) });
  }
  const trees = new Map<
    string,
    { path: string; mode: string; type: "blob" | "tree"; sha: string; size?: number }[]
  >();
  const flat: { path: string; mode: string; type: "blob" | "tree"; sha: string; size?: number }[] = [];
  const treeOf = (prefix: string): string => {
    const names = new Set<string>();
    for (const p of blobs.keys())
      if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split("/")[0] ?? "");
    const entries = [...names].map((name) => {
      const path = prefix + name;
      const blob = blobs.get(path);
      if (blob)
        return {
          name,
          path,
          mode: "100644",
          type: "blob" as const,
          sha: blob.sha,
          size: blob.content.length,
        };
      return { name, path, mode: "40000", type: "tree" as const, sha: treeOf(`${path}/`) };
    });
    // git sorts tree entries by name, comparing directories as if their name ended in "/".
    entries.sort((a, b) => {
      const ka = a.type === "tree" ? `${a.name}/` : a.name;
      const kb = b.type === "tree" ? `${b.name}/` : b.name;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const body = Buffer.concat(
      entries.map((e) => Buffer.concat([Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.sha, "hex")])),
    );
    const sha = gitObject("tree", body);
    for (const e of entries)
      flat.push({ path: e.path, mode: e.mode, type: e.type, sha: e.sha, size: e.size });
    trees.set(
      sha,
      entries.map(({ path, mode, type, sha: s, size }) => ({ path, mode, type, sha: s, size })),
    );
    return sha;
  };
  const rootTree = treeOf("");
  flat.sort((a, b) => (a.path < b.path ? -1 : 1));
  trees.set(`recursive:${rootTree}`, flat);
  const commitBody = Buffer.from(
    `tree ${rootTree}\nauthor Fixture <fixture@example.com> 1735689600 +0000\ncommitter Fixture <fixture@example.com> 1735689600 +0000\n\nFixture snapshot of ${spec.owner}/${spec.repo}\n`,
  );
  return { spec, id: nextId++, blobs, trees, rootTree, commit: gitObject("commit", commitBody) };
}

const notFound = () =>
  json({ message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" }, 404);

export async function startFakeGitHub(
  opts: { repos?: RepoSpec[]; token?: string } = {},
): Promise<FakeGitHub> {
  const repos = new Map<string, Built>();
  for (const r of opts.repos ?? []) repos.set(`${r.owner}/${r.repo}`.toLowerCase(), build(r));
  let remaining = 5000;
  let reset = Math.floor(Date.now() / 1000) + 3600;
  let base = "";

  const handle = (req: Request, url: URL): Response => {
    const auth = req.headers.get("authorization");
    const authed = auth !== null && opts.token !== undefined && auth === `Bearer ${opts.token}`;
    if (auth !== null && !authed) {
      return json(
        { message: "Bad credentials", documentation_url: "https://docs.github.com/rest", status: "401" },
        401,
      );
    }
    const m = /^\/repos\/([^/]+)\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    if (!m) return notFound();
    const built = repos.get(
      `${decodeURIComponent(m[1] ?? "")}/${decodeURIComponent(m[2] ?? "")}`.toLowerCase(),
    );
    if (!built || (built.spec.private && !authed)) return notFound();
    const rest = m[3] ?? "";
    const full = `${built.spec.owner}/${built.spec.repo}`;
    const api = `${base}/repos/${full}`;
    const branch = built.spec.defaultBranch ?? "main";
    if (rest === "") {
      return json({
        id: built.id,
        node_id: `R_kgDO${built.id}`,
        name: built.spec.repo,
        full_name: full,
        private: built.spec.private === true,
        owner: { login: built.spec.owner, id: built.id - 1, type: "Organization" },
        html_url: `https://github.com/${full}`,
        description: built.spec.description ?? null,
        fork: false,
        url: api,
        default_branch: branch,
        archived: false,
        disabled: false,
        visibility: built.spec.private ? "private" : "public",
        license: { key: "mit", name: "MIT License", spdx_id: "MIT" },
        topics: ["mcp"],
        stargazers_count: 42,
        size: 128,
        created_at: "2025-01-01T00:00:00Z",
        updated_at: "2025-06-01T00:00:00Z",
        pushed_at: "2025-06-01T00:00:00Z",
      });
    }
    if (rest.startsWith("commits/")) {
      const ref = decodeURIComponent(rest.slice("commits/".length));
      const known = ref === branch || ref === built.commit || (built.spec.refs ?? []).includes(ref);
      if (!known) {
        return json(
          {
            message: `No commit found for SHA: ${ref}`,
            documentation_url: "https://docs.github.com/rest/commits/commits#get-a-commit",
            status: "422",
          },
          422,
        );
      }
      return json({
        sha: built.commit,
        node_id: `C_${built.commit.slice(0, 12)}`,
        commit: {
          author: { name: "Fixture", email: "fixture@example.com", date: "2025-01-01T00:00:00Z" },
          committer: { name: "Fixture", email: "fixture@example.com", date: "2025-01-01T00:00:00Z" },
          message: `Fixture snapshot of ${full}`,
          tree: { sha: built.rootTree, url: `${api}/git/trees/${built.rootTree}` },
        },
        url: `${api}/commits/${built.commit}`,
        html_url: `https://github.com/${full}/commit/${built.commit}`,
        parents: [],
      });
    }
    if (rest.startsWith("git/trees/")) {
      const sha = rest.slice("git/trees/".length);
      const tree = sha === built.commit ? built.rootTree : sha;
      const recursive = url.searchParams.get("recursive") !== null && tree === built.rootTree;
      const entries = built.trees.get(recursive ? `recursive:${tree}` : tree);
      if (!entries) return notFound();
      return json({
        sha: tree,
        url: `${api}/git/trees/${tree}`,
        tree: entries.map((e) => ({
          path: recursive ? e.path : (e.path.split("/").at(-1) ?? e.path),
          mode: e.mode,
          type: e.type,
          sha: e.sha,
          ...(e.type === "blob" ? { size: e.size } : {}),
          url: `${api}/git/${e.type === "blob" ? "blobs" : "trees"}/${e.sha}`,
        })),
        truncated: false,
      });
    }
    if (rest.startsWith("contents")) {
      const path = decodeURIComponent(rest.slice("contents".length).replace(/^\//, ""));
      const ref = url.searchParams.get("ref") ?? branch;
      if (ref !== branch && ref !== built.commit && !(built.spec.refs ?? []).includes(ref)) {
        return json(
          {
            message: `No commit found for the ref ${ref}`,
            documentation_url: "https://docs.github.com/rest/repos/contents",
            status: "404",
          },
          404,
        );
      }
      const blob = built.blobs.get(path);
      const html = `https://github.com/${full}/blob/${ref}/${path}`;
      if (blob) {
        const b64 = blob.content.toString("base64").replace(/(.{60})/g, "$1\n");
        return json({
          type: "file",
          encoding: "base64",
          size: blob.content.length,
          name: path.split("/").at(-1),
          path,
          content: `${b64}\n`,
          sha: blob.sha,
          url: `${api}/contents/${path}?ref=${ref}`,
          git_url: `${api}/git/blobs/${blob.sha}`,
          html_url: html,
          download_url: `https://raw.githubusercontent.com/${full}/${ref}/${path}`,
          _links: { self: `${api}/contents/${path}?ref=${ref}`, git: `${api}/git/blobs/${blob.sha}`, html },
        });
      }
      const prefix = path === "" ? "" : `${path}/`;
      const children = [...built.blobs.keys()].filter((p) => p.startsWith(prefix));
      if (children.length === 0) return notFound();
      const names = [...new Set(children.map((p) => p.slice(prefix.length).split("/")[0] ?? ""))].sort();
      return json(
        names.map((name) => {
          const p = prefix + name;
          const b = built.blobs.get(p);
          return { type: b ? "file" : "dir", name, path: p, sha: b?.sha ?? "", size: b?.content.length ?? 0 };
        }),
      );
    }
    return notFound();
  };

  const fake = await startFake("github", (req, url) => {
    const authed = req.headers.get("authorization") !== null;
    const limit = authed ? 5000 : 60;
    const headers = {
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(Math.max(remaining - 1, 0)),
      "x-ratelimit-reset": String(reset),
      "x-ratelimit-used": String(limit - remaining),
      "x-ratelimit-resource": "core",
      "x-github-api-version-selected": "2022-11-28",
    };
    if (remaining <= 0) {
      return json(
        {
          message:
            "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
          documentation_url: "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
        },
        403,
        { ...headers, "x-ratelimit-remaining": "0" },
      );
    }
    remaining -= 1;
    const res = handle(req, url);
    for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    return res;
  });
  base = fake.url;
  return {
    ...fake,
    add: (spec) => repos.set(`${spec.owner}/${spec.repo}`.toLowerCase(), build(spec)),
    commitOf: (name) => {
      const b = repos.get(name.toLowerCase());
      if (!b) throw new Error(`no fixture repo ${name}`);
      return b.commit;
    },
    setRateLimit: (n, resetAt) => {
      remaining = n;
      if (resetAt !== undefined) reset = resetAt;
    },
  };
}

/** Path of a fixture repository under test/fixtures/repos. */
export function fixtureRepo(name: string): string {
  return join(import.meta.dir, "..", "fixtures", "repos", name);
}
