import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeNpm, startFakeNpm } from "../../../test/fakes/npm-registry.ts";
import { testRuntime } from "../../../test/helpers/local.ts";
import { tempDir } from "../../../test/helpers/server.ts";
import { rpc } from "../../../test/helpers/upstream.ts";
import { resolveNpm } from "./npm.ts";
import { BinNotFoundError, InstallError, locateBin, PackageCache } from "./packages.ts";
import { isRunning } from "./proc.ts";

const NAME = "@fake/mcp-fixture";
let registry: FakeNpm;

beforeAll(async () => {
  registry = await startFakeNpm([
    { name: NAME, versions: [{ version: "1.0.0" }, { version: "2.0.0" }, { version: "3.0.0" }] },
    { name: "slow-pkg", versions: [{ version: "1.0.0" }] },
  ]);
});
afterAll(() => registry.stop());

function cache(over: Partial<PackageCache["opts"]> = {}): PackageCache {
  return new PackageCache({
    dir: tempDir("catwalk-cache-"),
    npmRegistryUrl: registry.url,
    pypiUrl: "http://127.0.0.1:9",
    installTimeoutMs: 60_000,
    searchPath: "/usr/local/bin:/usr/bin:/bin",
    ...over,
  });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

/** Live processes whose working directory is inside `dir`. */
function processesIn(dir: string): number[] {
  return readdirSync("/proc").flatMap((entry) => {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) return [];
    try {
      return readlinkSync(`/proc/${pid}/cwd`).startsWith(dir) && isRunning(pid) ? [pid] : [];
    } catch {
      return [];
    }
  });
}

describe("package cache (npm)", () => {
  test("installs an exact version once, marks it complete, and a second install is a no-op", async () => {
    const c = cache();
    const before = registry.tarballs();
    const first = await c.installNpm(NAME, "1.0.0");
    expect(first).toEqual({ dir: join(c.opts.dir, "npm", "@fake+mcp-fixture@1.0.0"), fresh: true });
    expect(existsSync(join(first.dir, ".catwalk-installed"))).toBe(true);
    expect(existsSync(join(first.dir, "node_modules", "@fake", "mcp-fixture", "server.js"))).toBe(true);
    expect(readdirSync(join(c.opts.dir, "npm", ".tmp"))).toEqual([]);
    expect(await c.installNpm(NAME, "1.0.0")).toEqual({ dir: first.dir, fresh: false });
    expect(registry.tarballs() - before).toBe(1);
  });

  test("the launch runs the package's bin file directly with node, from the cache", async () => {
    const c = cache();
    const launch = await c.prepare({ kind: "npm", package: NAME, version: "1.0.0", args: ["--x"] });
    const bin = join(
      c.opts.dir,
      "npm",
      "@fake+mcp-fixture@1.0.0",
      "node_modules",
      "@fake",
      "mcp-fixture",
      "server.js",
    );
    expect(launch.command).toBe(Bun.which("node", { PATH: c.opts.searchPath }) as string);
    expect(launch.args).toEqual([bin, "--x"]);
    expect(launch.env).toEqual({});
  });

  test("without node the bin runs on Bun (the catwalk binary itself, as BUN_BE_BUN)", async () => {
    const c = cache({ searchPath: "/nonexistent" });
    const launch = await c.prepare({ kind: "npm", package: NAME, version: "1.0.0", args: [] });
    expect(launch.command).toBe(process.execPath);
    expect(launch.env).toEqual({ BUN_BE_BUN: "1" });
  });

  test("concurrent installs in one process share a single installation", async () => {
    const c = cache();
    const before = registry.tarballs();
    const results = await Promise.all([1, 2, 3].map(() => c.installNpm(NAME, "2.0.0")));
    expect(new Set(results.map((r) => r.dir)).size).toBe(1);
    expect(registry.tarballs() - before).toBe(1);
  });

  test("concurrent installs from separate processes leave one complete copy", async () => {
    const dir = tempDir("catwalk-cache-");
    const script = join(tempDir("catwalk-script-"), "install.ts");
    writeFileSync(
      script,
      [
        `import { PackageCache } from ${JSON.stringify(join(import.meta.dir, "packages.ts"))};`,
        `const c = new PackageCache({ dir: ${JSON.stringify(dir)}, npmRegistryUrl: ${JSON.stringify(registry.url)},`,
        `  pypiUrl: "http://127.0.0.1:9", installTimeoutMs: 60000, searchPath: "/usr/bin:/bin" });`,
        `const r = await c.installNpm(${JSON.stringify(NAME)}, "3.0.0");`,
        "console.log(r.dir);",
      ].join("\n"),
    );
    const procs = [1, 2, 3].map(() =>
      Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" }),
    );
    const outs = await Promise.all(
      procs.map(async (p) => ({ code: await p.exited, out: await new Response(p.stdout).text() })),
    );
    expect(outs.map((o) => o.code)).toEqual([0, 0, 0]);
    const final = join(dir, "npm", "@fake+mcp-fixture@3.0.0");
    expect(new Set(outs.map((o) => o.out.trim()))).toEqual(new Set([final]));
    expect(existsSync(join(final, ".catwalk-installed"))).toBe(true);
    expect(existsSync(join(final, "node_modules", "@fake", "mcp-fixture", "package.json"))).toBe(true);
    expect(readdirSync(join(dir, "npm")).sort()).toEqual([".tmp", "@fake+mcp-fixture@3.0.0"]);
    expect(readdirSync(join(dir, "npm", ".tmp"))).toEqual([]);
  });

  test("a version the registry lacks fails with the installer's own output and leaves nothing behind", async () => {
    const c = cache();
    const err = await rejection(c.installNpm(NAME, "9.9.9"));
    expect(err).toBeInstanceOf(InstallError);
    expect(err.message).toContain(`Installing npm:${NAME}@9.9.9 failed`);
    expect(err.message).toMatch(/9\.9\.9/);
    expect(existsSync(join(c.opts.dir, "npm", "@fake+mcp-fixture@9.9.9"))).toBe(false);
    expect(readdirSync(join(c.opts.dir, "npm", ".tmp"))).toEqual([]);
  });

  test("an install over installTimeoutMs is killed with its whole process group", async () => {
    const c = cache({ installTimeoutMs: 1500 });
    registry.hangTarballs(true);
    try {
      const err = await rejection(c.installNpm("slow-pkg", "1.0.0"));
      expect(err).toBeInstanceOf(InstallError);
      expect(err.message).toContain("did not finish within 1500 ms");
      expect((err as InstallError).hint).toContain("local.installTimeoutMs");
      expect(processesIn(c.opts.dir)).toEqual([]);
    } finally {
      registry.hangTarballs(false);
    }
  });

  test("close() stops installs in flight", async () => {
    const c = cache();
    registry.hangTarballs(true);
    try {
      const pending = rejection(c.installNpm("slow-pkg", "1.0.0"));
      await Bun.sleep(300);
      c.close();
      const err = await pending;
      expect(err.message).toContain("was stopped");
      expect(processesIn(c.opts.dir)).toEqual([]);
    } finally {
      registry.hangTarballs(false);
    }
  });

  test("refuses a version that is not exact before touching the disk", async () => {
    const c = cache();
    expect(() => c.installNpm(NAME, "^1.0.0")).toThrow(InstallError);
    expect(() => c.installNpm("../evil", "1.0.0")).toThrow();
    expect(existsSync(join(c.opts.dir, "npm"))).toBe(false);
  });
});

describe("bin location", () => {
  function pkgDir(bin: unknown, files: string[] = ["server.js", "other.js"]): string {
    const dir = tempDir("catwalk-bin-");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "@x/tool", version: "1.0.0", bin }));
    for (const f of files) writeFileSync(join(dir, f), "#!/usr/bin/env node\n");
    return dir;
  }

  test("a string bin is the bin", () => {
    const dir = pkgDir("server.js");
    expect(locateBin(dir, "@x/tool", undefined)).toBe(join(dir, "server.js"));
  });

  test("in a map, the entry named like the unscoped package wins, else the only entry", () => {
    const dir = pkgDir({ other: "other.js", tool: "server.js" });
    expect(locateBin(dir, "@x/tool", undefined)).toBe(join(dir, "server.js"));
    const single = pkgDir({ "mcp-server-tool": "other.js" });
    expect(locateBin(single, "@x/tool", undefined)).toBe(join(single, "other.js"));
  });

  test("several entries and none chosen is an error listing the choices; a named one is used", () => {
    const dir = pkgDir({ a: "server.js", b: "other.js" });
    expect(() => locateBin(dir, "@x/tool", undefined)).toThrow(/its bins are a, b/);
    expect(locateBin(dir, "@x/tool", "b")).toBe(join(dir, "other.js"));
    expect(() => locateBin(dir, "@x/tool", "c")).toThrow(BinNotFoundError);
  });

  test("a bin outside the package or missing is refused", () => {
    const outside = pkgDir({ tool: "../../etc/passwd" });
    expect(() => locateBin(outside, "@x/tool", undefined)).toThrow(/not a file in the package/);
    expect(() => locateBin(pkgDir({}), "@x/tool", undefined)).toThrow(/declares no bin/);
  });
});

describe("an npm deployment in a pool", () => {
  test("installs (state installing), starts the cached bin, and a restart reuses the cache", async () => {
    const rt = testRuntime({ "local.npmRegistryUrl": registry.url });
    try {
      const p = rt.pool({ kind: "npm", package: NAME, version: "1.0.0", args: [] }, { warm: false });
      p.start();
      const up = await p.acquire();
      expect(p.states.map((s) => s.state).slice(0, 3)).toEqual(["installing", "starting", "running"]);
      expect(p.lifecycle()).toContain(`installing npm:${NAME}@1.0.0`);
      expect(up.init.serverInfo.name).toBe("fake-npm-fixture");
      const list = await rpc(up.channel).call("tools/list");
      expect("result" in list && list.result.tools).toEqual([
        { name: "hello", inputSchema: { type: "object" } },
      ]);
      await p.stop();
      p.start();
      await (await p.acquire()).release();
      expect(p.lifecycle()).toContain(`using cached npm:${NAME}@1.0.0`);
      await p.stop();
    } finally {
      await rt.close();
    }
  });

  test("an npm source resolves to an exact spec through the runtime", async () => {
    const rt = testRuntime({ "local.npmRegistryUrl": registry.url });
    try {
      const { spec } = await rt.runtime.resolve(`npm:${NAME}@^2`, { bin: "mcp-fixture" });
      expect(spec).toEqual({ kind: "npm", package: NAME, version: "2.0.0", bin: "mcp-fixture", args: [] });
    } finally {
      await rt.close();
    }
  });
});

describe("a private npm registry (local.npmToken)", () => {
  test("resolve and install send the token; without it the registry's refusal names the setting", async () => {
    const priv = await startFakeNpm([{ name: "@corp/private-mcp", versions: [{ version: "1.2.0" }] }]);
    priv.requireToken("npm-tok-5d1e");
    try {
      const refused = await rejection(resolveNpm("@corp/private-mcp", undefined, { registryUrl: priv.url }));
      expect(refused.message).toContain("refused access to @corp/private-mcp (401)");
      expect((refused as { hint?: string }).hint).toContain("local.npmToken");

      const resolved = await resolveNpm("@corp/private-mcp", undefined, {
        registryUrl: priv.url,
        token: "npm-tok-5d1e",
      });
      expect(resolved.version).toBe("1.2.0");

      const without = cache({ npmRegistryUrl: priv.url });
      const failed = await rejection(without.installNpm("@corp/private-mcp", "1.2.0"));
      expect(failed).toBeInstanceOf(InstallError);

      const before = priv.authorizations().length;
      const withToken = cache({ npmRegistryUrl: priv.url, npmToken: "npm-tok-5d1e" });
      const installed = await withToken.installNpm("@corp/private-mcp", "1.2.0");
      expect(installed.fresh).toBe(true);
      expect(existsSync(join(installed.dir, ".catwalk-installed"))).toBe(true);
      const sent = priv.authorizations().slice(before);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.every((a) => a === "Bearer npm-tok-5d1e")).toBe(true);
      // The token reaches the installer through its environment only: nothing on disk has it.
      const files = readdirSync(withToken.opts.dir, { recursive: true }) as string[];
      for (const f of files) {
        const path = join(withToken.opts.dir, f);
        if (statSync(path).isFile()) expect(readFileSync(path, "latin1")).not.toContain("npm-tok-5d1e");
      }
    } finally {
      await priv.stop();
    }
  });
});
