import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeGitHub, fixtureRepo, startFakeGitHub } from "../../test/fakes/github.ts";
import { GitHub, GitHubBadCredentialsError, GitHubRefNotFoundError, MAX_FILE_BYTES } from "./github.ts";
import { readSnapshot } from "./reader.ts";

let gh: FakeGitHub;
beforeAll(async () => {
  gh = await startFakeGitHub({
    token: "ghp_good",
    repos: [
      { owner: "acme", repo: "weather-mcp", dir: fixtureRepo("ts-table-server") },
      {
        owner: "acme",
        repo: "big",
        files: {
          "README.md": "# big",
          "src/huge.ts": "x".repeat(MAX_FILE_BYTES + 10),
          "src/index.ts": "\0binary",
        },
      },
    ],
  });
});
afterAll(() => gh.stop());

const client = (token?: string) => new GitHub({ apiUrl: gh.url, token, timeoutMs: 3000 });

describe("GitHub REST client", () => {
  test("reads metadata, the tree at a commit and base64 file contents with git's object ids", async () => {
    const c = client();
    const repo = await c.repo("ACME", "Weather-MCP");
    expect([repo.owner, repo.repo, repo.defaultBranch, repo.private, repo.license]).toEqual([
      "acme",
      "weather-mcp",
      "main",
      false,
      "MIT",
    ]);
    const sha = await c.commit("acme", "weather-mcp", "main");
    expect(sha).toBe(gh.commitOf("acme/weather-mcp"));
    const tree = await c.tree("acme", "weather-mcp", sha as string);
    expect(tree.entries.filter((e) => e.type === "blob").map((e) => e.path)).toEqual([
      ".gitignore",
      "LICENSE",
      "README.md",
      "package.json",
      "src/client.ts",
      "src/index.ts",
      "tsconfig.json",
    ]);
    const text = readFileSync(join(fixtureRepo("ts-table-server"), "src/index.ts"), "utf8");
    const git = Bun.spawnSync(["git", "hash-object", "--stdin"], { stdin: Buffer.from(text) })
      .stdout.toString()
      .trim();
    expect(tree.entries.find((e) => e.path === "src/index.ts")?.sha).toBe(git);
    const file = await c.file("acme", "weather-mcp", "src/index.ts", sha as string);
    expect(file?.text).toBe(text);
    expect(gh.requests.at(-1)?.path).toBe(`/repos/acme/weather-mcp/contents/src/index.ts?ref=${sha}`);
    expect(gh.requests.at(-1)?.headers["x-github-api-version"]).toBe("2022-11-28");
  });

  test("a ref GitHub does not know and a refused token are distinct errors with fixes", async () => {
    await expect(client().resolveRef("acme", "weather-mcp", ["nope", "src"])).rejects.toBeInstanceOf(
      GitHubRefNotFoundError,
    );
    const e = await client("ghp_bad")
      .repo("acme", "weather-mcp")
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(GitHubBadCredentialsError);
    expect((e as GitHubBadCredentialsError).hint).toContain("CATWALK_GITHUB_TOKEN");
    expect((e as Error).message).not.toContain("ghp_bad");
  });

  test("oversized and binary files are skipped with a warning, never read whole", async () => {
    const c = client();
    const commit = gh.commitOf("acme/big");
    const res = await readSnapshot(c, { owner: "acme", repo: "big", commit, subdir: "" });
    expect(res.files.map((f) => f.path)).toEqual(["README.md"]);
    expect(res.warnings).toEqual([
      "src/index.ts could not be read as a text file (binary or too large); it was skipped.",
    ]);
    expect(gh.requests.some((r) => r.path.includes("huge.ts"))).toBe(false);
  });
});
