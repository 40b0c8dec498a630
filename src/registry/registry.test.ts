import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type FakeMcpRegistry, startFakeMcpRegistry } from "../../test/fakes/mcp-registry.ts";
import { type FakeNpm, startFakeNpm } from "../../test/fakes/npm-registry.ts";
import { type FakePypi, startFakePypi } from "../../test/fakes/pypi.ts";
import { ServiceResponseError, ServiceTimeoutError } from "./http.ts";
import { McpRegistry, RegistryServerNotFoundError } from "./mcp-registry.ts";
import {
  isExactSemver,
  isNpmName,
  isPypiName,
  isSafeArg,
  normalizePypiName,
  npmNameProblems,
} from "./names.ts";
import { InvalidPackageNameError, NpmRegistry, PackageNotFoundError, VersionNotFoundError } from "./npm.ts";
import { githubRepoOf, repoKey } from "./provenance.ts";
import { Pypi } from "./pypi.ts";
import { parseServerJson } from "./server-json.ts";
import { checkNpm, checkPypi } from "./validate.ts";

const HEAD = "4f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e";

describe("package names", () => {
  test("npm names follow npm's rules for new packages", () => {
    for (const ok of ["left-pad", "@modelcontextprotocol/server-everything", "a", "mcp.server_x-1"]) {
      expect(npmNameProblems(ok)).toEqual([]);
    }
    for (const bad of [
      "",
      "Upper",
      ".hidden",
      "_private",
      "-flag",
      "a b",
      "@scope/",
      "@/x",
      "node_modules",
      "x".repeat(215),
    ]) {
      expect(isNpmName(bad)).toBe(false);
    }
  });

  test("no string with shell syntax passes the npm, PyPI or argument validators", () => {
    const shell = /[\s;&|$`<>(){}!*?"'\\]/;
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        if (isNpmName(s) || isPypiName(s) || isSafeArg(s)) expect(shell.test(s)).toBe(false);
      }),
      { numRuns: 3000 },
    );
    for (const evil of ["evil; rm -rf ~", "$(curl x|sh)", "a`id`", "pkg && x", "x\ny"]) {
      expect(isNpmName(evil) || isPypiName(evil) || isSafeArg(evil)).toBe(false);
    }
  });

  test("PyPI names follow PEP 508 and normalize per PEP 503", () => {
    expect(isPypiName("mcp-server-fetch")).toBe(true);
    expect(isPypiName("Notes_MCP.server")).toBe(true);
    expect(isPypiName("-x")).toBe(false);
    expect(isPypiName("x-")).toBe(false);
    expect(normalizePypiName("Notes__MCP.server")).toBe("notes-mcp-server");
  });

  test("exact versions are semver; ranges and tags are not exact", () => {
    expect(isExactSemver("1.2.3")).toBe(true);
    expect(isExactSemver("1.2.3-beta.1+build.5")).toBe(true);
    for (const v of ["^1.2.3", "1.x", "latest", "1.2", "01.2.3"]) expect(isExactSemver(v)).toBe(false);
  });

  test("GitHub repositories are recognized in every form packages declare them", () => {
    const forms = [
      "git+https://github.com/Acme/Weather-MCP.git",
      "https://github.com/acme/weather-mcp",
      "git@github.com:acme/weather-mcp.git",
      "ssh://git@github.com/acme/weather-mcp.git",
      "github:acme/weather-mcp",
      "acme/weather-mcp",
      "https://github.com/acme/weather-mcp/tree/main/src",
    ];
    for (const f of forms)
      expect(repoKey(githubRepoOf(f) ?? { owner: "", repo: "" })).toBe("acme/weather-mcp");
    expect(githubRepoOf("https://gitlab.com/acme/weather-mcp")).toBeUndefined();
  });
});

describe("npm registry client", () => {
  let npm: FakeNpm;
  const ep = () => ({ npmUrl: npm.url, pypiUrl: "http://127.0.0.1:9", timeoutMs: 2000 });
  beforeAll(async () => {
    npm = await startFakeNpm([
      {
        name: "@acme/weather-mcp",
        versions: [
          { version: "1.3.0", repository: { url: "git+https://github.com/acme/weather-mcp.git" } },
          {
            version: "1.4.2",
            repository: { url: "git+https://github.com/acme/weather-mcp.git" },
            gitHead: HEAD,
            bin: { "weather-mcp": "dist/index.js" },
          },
          { version: "2.0.0-beta.1", repository: { url: "git+https://github.com/acme/weather-mcp.git" } },
        ],
        distTags: { latest: "1.4.2", next: "2.0.0-beta.1" },
      },
      { name: "weather-mcp", versions: [{ version: "9.9.9", repository: "github:evil/typosquat" }] },
      {
        name: "old-mcp",
        versions: [{ version: "0.1.0", deprecated: "use new-mcp", repository: "github:acme/old-mcp" }],
      },
    ]);
  });
  afterAll(() => npm.stop());

  test("resolves latest, exact versions, dist-tags and ranges to one exact version", async () => {
    const reg = new NpmRegistry({ baseUrl: npm.url, timeoutMs: 2000 });
    expect((await reg.resolve("@acme/weather-mcp")).version).toBe("1.4.2");
    expect(await reg.resolve("@acme/weather-mcp", "1.3.0")).toMatchObject({ version: "1.3.0", how: "exact" });
    expect(await reg.resolve("@acme/weather-mcp", "next")).toMatchObject({
      version: "2.0.0-beta.1",
      how: "tag",
    });
    expect(await reg.resolve("@acme/weather-mcp", "^1.0.0")).toMatchObject({
      version: "1.4.2",
      how: "range",
    });
    const latest = await reg.resolve("@acme/weather-mcp");
    expect(latest.gitHead).toBe(HEAD);
    expect(latest.bin).toEqual({ "weather-mcp": "dist/index.js" });
  });

  test("a private registry: the token goes along as a Bearer header; without it the refusal names local.npmToken", async () => {
    npm.requireToken("reg-tok-77a1");
    try {
      const refused = (await new NpmRegistry({ baseUrl: npm.url, timeoutMs: 2000 })
        .resolve("@acme/weather-mcp")
        .then(
          () => undefined,
          (e: unknown) => e,
        )) as { code: string; message: string; hint?: string };
      expect(refused.code).toBe("npm.unauthorized");
      expect(refused.message).toBe("The npm registry refused access to @acme/weather-mcp (401).");
      expect(refused.hint).toContain("local.npmToken");
      const ok = await new NpmRegistry({ baseUrl: npm.url, timeoutMs: 2000, token: "reg-tok-77a1" }).resolve(
        "@acme/weather-mcp",
      );
      expect(ok.version).toBe("1.4.2");
      expect(npm.authorizations().at(-1)).toBe("Bearer reg-tok-77a1");
      const check = await checkNpm("@acme/weather-mcp", undefined, undefined, {
        ...ep(),
        npmToken: "reg-tok-77a1",
      });
      expect(check.version).toBe("1.4.2");
    } finally {
      npm.requireToken(undefined);
    }
  });

  test("requests scoped packuments with the scope separator encoded as npm does", async () => {
    await new NpmRegistry({ baseUrl: npm.url, timeoutMs: 2000 }).resolve("@acme/weather-mcp");
    expect(npm.requests.at(-1)?.path).toBe("/@acme%2fweather-mcp");
  });

  test("unknown packages, versions and invalid names are distinct, clear errors", async () => {
    const reg = new NpmRegistry({ baseUrl: npm.url, timeoutMs: 2000 });
    await expect(reg.resolve("no-such-pkg")).rejects.toBeInstanceOf(PackageNotFoundError);
    const v = await reg.resolve("@acme/weather-mcp", "7.0.0").catch((e: unknown) => e);
    expect(v).toBeInstanceOf(VersionNotFoundError);
    expect((v as VersionNotFoundError).hint).toContain("1.4.2");
    const before = npm.requests.length;
    await expect(reg.resolve("evil; rm -rf ~")).rejects.toBeInstanceOf(InvalidPackageNameError);
    expect(npm.requests.length).toBe(before);
  });

  test("a provenance mismatch is a loud warning, a match is silent, deprecation is flagged", async () => {
    const expected = { owner: "acme", repo: "weather-mcp" };
    const good = await checkNpm("@acme/weather-mcp", undefined, expected, ep());
    expect(good.provenance).toBe("match");
    expect(good.warnings).toEqual([]);
    const bad = await checkNpm("weather-mcp", undefined, expected, ep());
    expect(bad.provenance).toBe("mismatch");
    expect(bad.warnings[0]).toStartWith("PROVENANCE MISMATCH");
    const old = await checkNpm("old-mcp", undefined, undefined, ep());
    expect(old.deprecated).toBe("use new-mcp");
    expect(old.warnings.join()).toContain("deprecated");
  });

  test("5xx and slow answers become service errors naming npm", async () => {
    const reg = new NpmRegistry({ baseUrl: npm.url, timeoutMs: 200 });
    npm.fail({ path: "old-mcp", status: 503, times: 1 });
    const e = await reg.resolve("old-mcp").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ServiceResponseError);
    expect((e as ServiceResponseError).code).toBe("npm.bad_response");
    npm.fail({ path: "old-mcp", delayMs: 600, times: 1 });
    const t = await reg.resolve("old-mcp").catch((x: unknown) => x);
    expect(t).toBeInstanceOf(ServiceTimeoutError);
    expect((t as ServiceTimeoutError).code).toBe("npm.timeout");
  });
});

describe("PyPI JSON API client", () => {
  let pypi: FakePypi;
  const ep = () => ({ npmUrl: "http://127.0.0.1:9", pypiUrl: pypi.url, timeoutMs: 2000 });
  beforeAll(async () => {
    pypi = await startFakePypi([
      {
        name: "notes-mcp",
        releases: [{ version: "0.2.0" }, { version: "0.3.0", yanked: "broken wheel" }, { version: "0.3.1" }],
        projectUrls: {
          Homepage: "https://notes.example.com",
          Repository: "https://github.com/acme/notes-mcp",
        },
      },
    ]);
  });
  afterAll(() => pypi.stop());

  test("resolves the latest release and follows PyPI's redirect to the normalized name", async () => {
    const r = await new Pypi({ baseUrl: pypi.url, timeoutMs: 2000 }).resolve("Notes_MCP");
    expect(r).toMatchObject({ name: "notes-mcp", version: "0.3.1", how: "latest", yanked: undefined });
    expect(pypi.requests.some((q) => q.pathname === "/pypi/notes-mcp/json")).toBe(true);
  });

  test("flags a yanked release and rejects a missing one", async () => {
    const check = await checkPypi("notes-mcp", "0.3.0", { owner: "acme", repo: "notes-mcp" }, ep());
    expect(check.yanked).toBe("broken wheel");
    expect(check.provenance).toBe("match");
    expect(check.warnings.join()).toContain("yanked");
    await expect(checkPypi("notes-mcp", "9.9", undefined, ep())).rejects.toBeInstanceOf(VersionNotFoundError);
    await expect(checkPypi("nope-mcp", undefined, undefined, ep())).rejects.toBeInstanceOf(
      PackageNotFoundError,
    );
  });
});

describe("official MCP registry client", () => {
  let reg: FakeMcpRegistry;
  beforeAll(async () => {
    const mk = (n: number) => ({
      name: `io.github.acme/weather-${n}`,
      description: `Weather server ${n}`,
      version: "1.0.0",
      packages: [
        {
          registryType: "npm",
          identifier: `@acme/weather-${n}`,
          version: "1.0.0",
          transport: { type: "stdio" },
        },
      ],
    });
    reg = await startFakeMcpRegistry([
      mk(1),
      mk(2),
      mk(3),
      { name: "broken", description: "x", version: "1" },
    ]);
  });
  afterAll(() => reg.stop());

  test("search pages with nextCursor and asks for latest versions only", async () => {
    const client = new McpRegistry({ baseUrl: reg.url, timeoutMs: 2000 });
    const first = await client.search("weather", { limit: 2 });
    expect(first.servers.map((s) => s.server.name)).toEqual([
      "io.github.acme/weather-1",
      "io.github.acme/weather-2",
    ]);
    expect(first.nextCursor).toBe("io.github.acme/weather-2");
    expect(first.servers[0]?.status).toBe("active");
    const second = await client.search("weather", { limit: 2, cursor: first.nextCursor });
    expect(second.servers.map((s) => s.server.name)).toEqual(["io.github.acme/weather-3"]);
    expect(second.nextCursor).toBeUndefined();
    expect(reg.requests.at(-1)?.query.get("version")).toBe("latest");
  });

  test("get reads one server by its URL-encoded name; an unknown one is a 404 error", async () => {
    const client = new McpRegistry({ baseUrl: reg.url, timeoutMs: 2000 });
    const entry = await client.get("io.github.acme/weather-2");
    expect(entry.server.packages?.[0]?.identifier).toBe("@acme/weather-2");
    expect(reg.requests.at(-1)?.path).toBe("/v0/servers/io.github.acme%2Fweather-2/versions/latest");
    await expect(client.get("io.github.acme/nope")).rejects.toBeInstanceOf(RegistryServerNotFoundError);
  });
});

describe("server.json", () => {
  test("parses the current camelCase schema and converts the 2025-07 snake_case draft", () => {
    const snake = parseServerJson({
      name: "io.github.example/weather-mcp",
      description: "Weather",
      version_detail: { version: "0.5.0" },
      packages: [
        {
          registry_type: "pypi",
          identifier: "weather-mcp-server",
          version: "0.5.0",
          runtime_hint: "uvx",
          environment_variables: [{ name: "WEATHER_API_KEY", is_required: true, is_secret: true }],
        },
      ],
    });
    expect(snake.ok).toBe(true);
    if (!snake.ok) return;
    expect(snake.value.version).toBe("0.5.0");
    expect(snake.value.packages?.[0]?.environmentVariables?.[0]).toMatchObject({
      isRequired: true,
      isSecret: true,
    });
    const bad = parseServerJson({ name: "no-slash", description: "x", version: "1" });
    expect(bad.ok).toBe(false);
  });
});
