import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type FakeNpm, startFakeNpm } from "../../../test/fakes/npm-registry.ts";
import { InvalidInputError } from "../../util/error.ts";
import {
  isSemverRange,
  isValidNpmName,
  PackageNotFoundError,
  packumentUrl,
  parseNpmSpecifier,
  RegistryUnavailableError,
  resolveNpm,
  VersionNotFoundError,
} from "./npm.ts";
import { safeNpmDirName } from "./packages.ts";

let registry: FakeNpm;
beforeAll(async () => {
  registry = await startFakeNpm([
    {
      name: "@acme/mcp",
      versions: ["0.9.0", "1.0.0", "1.2.3", "1.4.0", "1.5.0", "2.0.0-beta.2"].map((version) => ({ version })),
      distTags: { latest: "1.4.0", next: "2.0.0-beta.2" },
    },
    {
      name: "old",
      versions: [{ version: "2.9.0" }, { version: "3.0.0", deprecated: "use new-thing instead" }],
    },
  ]);
  registry.fail({ path: "/broken", status: 500, body: "oops" });
  registry.fail({ path: "/garbled", status: 200, body: "{not json" });
});
afterAll(() => registry.stop());

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("npm names", () => {
  test("accepts real package names, scoped or not", () => {
    for (const name of [
      "@modelcontextprotocol/server-everything",
      "mcp-remote",
      "a",
      "lodash.merge",
      "x_y-1",
    ]) {
      expect(isValidNpmName(name)).toBe(true);
    }
  });

  test("rejects uppercase, spaces, traversal, leading dots and overlong names", () => {
    for (const name of [
      "Foo",
      "a b",
      "../x",
      "@scope/../x",
      ".hidden",
      "_x",
      "-x",
      "",
      "a/b",
      "@/x",
      "x".repeat(215),
    ]) {
      expect(isValidNpmName(name)).toBe(false);
    }
  });

  test("no name with a shell metacharacter, slash run or whitespace is ever accepted", () => {
    const bad = fc.constantFrom(..." ;&|$`'\"<>()\\*?!~{}[]#%^\n\t\r".split(""));
    const name = fc.tuple(fc.string(), bad, fc.string()).map(([a, c, b]) => `${a}${c}${b}`);
    fc.assert(fc.property(name, (n) => !isValidNpmName(n)));
    fc.assert(fc.property(fc.string(), (s) => !isValidNpmName(`../${s}`) && !isValidNpmName(`${s}/../x`)));
  });

  test("every accepted name is one path segment in the cache and a safe URL segment", () => {
    const ch = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-._".split(""));
    const part = fc.tuple(fc.constantFrom(..."abcxyz019".split("")), fc.array(ch, { maxLength: 20 }));
    const word = part.map(([h, t]) => h + t.join(""));
    const name = fc.tuple(fc.option(word), word).map(([s, n]) => (s ? `@${s}/${n}` : n));
    fc.assert(
      fc.property(name, (n) => {
        expect(isValidNpmName(n)).toBe(true);
        const dir = safeNpmDirName(n, "1.0.0");
        expect(dir.includes("/") || dir === "." || dir === "..").toBe(false);
        expect(packumentUrl("https://r.example", n)).toBe(`https://r.example/${n.replace("/", "%2F")}`);
      }),
    );
  });

  test("a source splits into name and wanted version", () => {
    expect(parseNpmSpecifier("@acme/mcp@^1.2")).toEqual({ name: "@acme/mcp", wanted: "^1.2" });
    expect(parseNpmSpecifier("@acme/mcp")).toEqual({ name: "@acme/mcp", wanted: undefined });
    expect(parseNpmSpecifier("mcp-remote@latest")).toEqual({ name: "mcp-remote", wanted: "latest" });
    expect(() => parseNpmSpecifier("evil;rm -rf /@1")).toThrow(InvalidInputError);
  });

  test("ranges are recognised by npm's grammar, not by Bun.semver's leniency", () => {
    for (const r of ["^1.2", "~1.2.3", ">=1 <2", "1.x || 2", "1.0.0 - 1.4", "*", ">= 1.2.3"]) {
      expect(isSemverRange(r)).toBe(true);
    }
    for (const r of ["lates", "1.2.3; rm -rf /", "$(id)", "^1.2 && 3"]) expect(isSemverRange(r)).toBe(false);
  });
});

describe("npm resolution against a registry", () => {
  const opts = () => ({ registryUrl: registry.url });

  test("no version resolves to dist-tags.latest", async () => {
    expect(await resolveNpm("@acme/mcp", undefined, opts())).toEqual({
      name: "@acme/mcp",
      version: "1.4.0",
      deprecated: undefined,
    });
    expect(registry.requests.map((r) => r.pathname)).toContain("/@acme%2Fmcp");
  });

  test("a dist-tag resolves to its version", async () => {
    expect((await resolveNpm("@acme/mcp", "next", opts())).version).toBe("2.0.0-beta.2");
  });

  test("a range resolves to the highest satisfying version, latest first when it satisfies", async () => {
    expect((await resolveNpm("@acme/mcp", "^1.0.0", opts())).version).toBe("1.4.0");
    expect((await resolveNpm("@acme/mcp", ">=1.4.1", opts())).version).toBe("1.5.0");
    expect((await resolveNpm("@acme/mcp", "~1.2", opts())).version).toBe("1.2.3");
    expect((await resolveNpm("@acme/mcp", "<1", opts())).version).toBe("0.9.0");
  });

  test("an exact version must exist; the error lists available versions and tags", async () => {
    expect((await resolveNpm("@acme/mcp", "1.2.3", opts())).version).toBe("1.2.3");
    const err = (await rejection(resolveNpm("@acme/mcp", "1.3.0", opts()))) as VersionNotFoundError;
    expect(err).toBeInstanceOf(VersionNotFoundError);
    expect(err.status).toBe(404);
    expect(err.hint).toContain("1.5.0, 1.4.0, 1.2.3");
    expect(err.hint).toContain("dist-tags: latest, next");
  });

  test("an unsatisfiable range or unknown tag is a version-not-found error", async () => {
    expect(await rejection(resolveNpm("@acme/mcp", "^3", opts()))).toBeInstanceOf(VersionNotFoundError);
    expect(await rejection(resolveNpm("@acme/mcp", "canary", opts()))).toBeInstanceOf(VersionNotFoundError);
  });

  test("an unknown package is a not-found error naming it", async () => {
    const err = await rejection(resolveNpm("nope-not-here", undefined, opts()));
    expect(err).toBeInstanceOf(PackageNotFoundError);
    expect(err.message).toContain("nope-not-here");
  });

  test("a deprecated version resolves with the deprecation as a warning", async () => {
    expect(await resolveNpm("old", undefined, opts())).toEqual({
      name: "old",
      version: "3.0.0",
      deprecated: "use new-thing instead",
    });
  });

  test("registry failures are named: server error, garbage, unreachable", async () => {
    const broken = await rejection(resolveNpm("broken", undefined, opts()));
    expect(broken).toBeInstanceOf(RegistryUnavailableError);
    expect(broken.message).toContain("answered 500");
    expect(await rejection(resolveNpm("garbled", undefined, opts()))).toBeInstanceOf(
      RegistryUnavailableError,
    );
    const closed = Bun.serve({ port: 0, fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}`;
    closed.stop(true);
    const down = await rejection(resolveNpm("x", undefined, { registryUrl: url }));
    expect(down).toBeInstanceOf(RegistryUnavailableError);
    expect(down.message).toContain("unreachable");
  });

  test("a registry that does not answer in time is reported as a timeout", async () => {
    const slow = Bun.serve({ port: 0, fetch: () => Bun.sleep(2000).then(() => new Response("{}")) });
    try {
      const err = await rejection(
        resolveNpm("x", undefined, { registryUrl: `http://127.0.0.1:${slow.port}`, timeoutMs: 100 }),
      );
      expect(err).toBeInstanceOf(RegistryUnavailableError);
      expect(err.message).toContain("timed out");
    } finally {
      slow.stop(true);
    }
  });

  test("a wanted version with shell characters is refused before any lookup matters", async () => {
    const err = await rejection(resolveNpm("@acme/mcp", "1.0.0 && curl evil", opts()));
    expect(err).toBeInstanceOf(InvalidInputError);
  });
});
