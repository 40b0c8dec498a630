import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION } from "../../src/version.ts";
import { isolatedBinary, waitForServer } from "../helpers/binary.ts";

const baseEnv = (home: string) => ({ PATH: "/usr/bin:/bin", HOME: home });

describe("compiled binary from an empty directory", () => {
  test("--version prints the version without node_modules nearby", () => {
    const { dir, bin } = isolatedBinary();
    const res = Bun.spawnSync([bin, "--version"], { cwd: dir, env: baseEnv(dir) });
    expect(res.exitCode).toBe(0);
    expect(res.stdout.toString()).toStartWith(`catwalk ${VERSION} (`);
    expect(existsSync(join(dir, "node_modules"))).toBe(false);
  });

  test("output into a pipe its reader already closed ends quietly with exit 0", () => {
    const { dir, bin } = isolatedBinary();
    // `true` exits at once; catwalk starts writing 300 ms later into a pipe nobody reads.
    const res = Bun.spawnSync(
      ["bash", "-o", "pipefail", "-c", `{ sleep 0.3; exec "${bin}" config schema; } | true; echo "exit=$?"`],
      { cwd: dir, env: baseEnv(dir), stdout: "pipe", stderr: "pipe" },
    );
    expect(res.stdout.toString().trim()).toBe("exit=0");
    expect(res.stderr.toString()).toBe("");
  });

  test("serve answers health, refuses no token with 401 and uses the token file, ignoring .env and bunfig.toml", async () => {
    const { dir, bin } = isolatedBinary();
    // If the binary loaded these it would fail to start (invalid level) or use the wrong dir.
    writeFileSync(join(dir, ".env"), "CATWALK_LOG_LEVEL=shouting\nCATWALK_DATA_DIR=/nonexistent\n");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./missing-preload.ts"]\n');
    const dataDir = join(dir, "X");
    const proc = Bun.spawn([bin, "serve", "--port", "0", "--data-dir", dataDir], {
      cwd: dir,
      env: baseEnv(dir),
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const url = await waitForServer(dataDir);
      const health = await fetch(`${url}/api/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok", version: VERSION });

      const anon = await fetch(`${url}/api/deployments`);
      expect(anon.status).toBe(401);
      expect(((await anon.json()) as { error: { code: string } }).error.code).toBe("unauthorized");

      const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
      const authed = await fetch(`${url}/api/definitely-not-a-route`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(authed.status).toBe(404);
      expect(((await authed.json()) as { error: { code: string } }).error.code).toBe("not_found");
      const doc = await fetch(`${url}/api/openapi.json`, { headers: { authorization: `Bearer ${token}` } });
      expect(doc.status).toBe(200);
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
    const out = await new Response(proc.stdout).text();
    expect(out).toContain(`data dir     ${dataDir}`);
    expect(out).toContain("catwalk admin token");
    expect(existsSync(join(dataDir, "server.json"))).toBe(false);
  });

  test("an invalid config value exits 2 and names the key and the fix", () => {
    const { dir, bin } = isolatedBinary();
    const res = Bun.spawnSync([bin, "serve", "--data-dir", join(dir, "d")], {
      cwd: dir,
      env: { ...baseEnv(dir), CATWALK_GATEWAY_MAX_SESSIONS: "lots" },
    });
    expect(res.exitCode).toBe(2);
    const err = res.stderr.toString();
    expect(err).toContain("gateway.maxSessions");
    expect(err).toContain("hint: Set CATWALK_GATEWAY_MAX_SESSIONS");
  });

  test("a corrupted database file gives a clear error and exit code, not a crash loop", () => {
    const { dir, bin } = isolatedBinary();
    const dataDir = join(dir, "d");
    Bun.spawnSync(["mkdir", "-p", dataDir]);
    writeFileSync(join(dataDir, "catwalk.db"), "garbage ".repeat(1000));
    const res = Bun.spawnSync([bin, "serve", "--port", "0", "--data-dir", dataDir], {
      cwd: dir,
      env: baseEnv(dir),
    });
    expect(res.exitCode).toBe(7);
    expect(res.stderr.toString()).toContain("is not a readable SQLite database");
    expect(res.stderr.toString()).toContain("hint:");
  });
});
