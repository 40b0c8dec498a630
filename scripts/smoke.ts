/**
 * Smoke test of a built binary as a user gets it: copied alone into an empty directory, started
 * with a bare environment. `bun scripts/smoke.ts [dist/catwalk]`; exits non-zero on any failure.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const source = resolve(process.argv[2] ?? "dist/catwalk");
const dir = mkdtempSync(join(tmpdir(), "catwalk-smoke-"));
const bin = join(dir, "catwalk");
copyFileSync(source, bin);
Bun.spawnSync(["chmod", "755", bin]);
const env = { PATH: "/usr/bin:/bin", HOME: dir };

/** The directory holds a copy of the binary (~120 MB): never leave it behind. */
function cleanUp(): void {
  rmSync(dir, { recursive: true, force: true });
}

function fail(message: string): never {
  console.error(`smoke: FAIL ${message}`);
  cleanUp();
  process.exit(1);
}

const version = Bun.spawnSync([bin, "--version"], { cwd: dir, env });
if (version.exitCode !== 0) fail(`--version exited ${version.exitCode}`);
console.log(`smoke: ${version.stdout.toString().trim()}`);

const dataDir = join(dir, "data");
const proc = Bun.spawn([bin, "serve", "--port", "0", "--data-dir", dataDir], {
  cwd: dir,
  env,
  stdout: "pipe",
  stderr: "pipe",
});
try {
  let url = "";
  for (let i = 0; i < 200 && !url; i++) {
    await Bun.sleep(50);
    try {
      url = (JSON.parse(readFileSync(join(dataDir, "server.json"), "utf8")) as { url: string }).url;
    } catch {
      // not written yet
    }
  }
  if (!url) fail("server did not write server.json within 10 s");
  const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
  const checks: [string, Record<string, string>, number][] = [
    ["/api/health", {}, 200],
    ["/api/deployments", {}, 401],
    ["/api/openapi.json", { authorization: `Bearer ${token}` }, 200],
    ["/api/no-such-route", { authorization: `Bearer ${token}` }, 404],
  ];
  for (const [path, headers, want] of checks) {
    const res = await fetch(url + path, { headers });
    if (res.status !== want) fail(`${path} answered ${res.status}, expected ${want}`);
    console.log(`smoke: ${path} -> ${res.status}`);
  }
} finally {
  proc.kill("SIGTERM");
  const code = await proc.exited;
  if (code !== 0) fail(`serve exited ${code} after SIGTERM`);
}
cleanUp();
console.log("smoke: OK");
