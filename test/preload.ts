// Loaded before every test file (bunfig.toml). Tests never read the developer's real data dir or
// config: each gets a throwaway HOME unless it sets its own. Everything a run writes under the
// temp dir goes into one directory of its own, removed when the run ends (a full run makes
// gigabytes: data dirs, compiled binaries, package caches); runs that died without cleaning up
// are swept by the next one.
import { afterAll } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RUN_PREFIX = "catwalk-test-run-";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const shared = tmpdir();
for (const name of readdirSync(shared)) {
  if (!name.startsWith(RUN_PREFIX)) continue;
  const pid = Number(name.slice(RUN_PREFIX.length).split("-")[0]);
  if (Number.isInteger(pid) && pid !== process.pid && !alive(pid))
    rmSync(join(shared, name), { recursive: true, force: true });
}
const run = mkdtempSync(join(shared, `${RUN_PREFIX}${process.pid}-`));
process.env.TMPDIR = run;
// Caches worth keeping between runs (installed npm packages) live beside the run dirs.
process.env.CATWALK_TEST_SHARED_TMP = shared;
afterAll(() => rmSync(run, { recursive: true, force: true }));

const home = mkdtempSync(join(run, "catwalk-test-home-"));
process.env.HOME = home;
process.env.XDG_DATA_HOME = join(home, ".local", "share");
process.env.XDG_CONFIG_HOME = join(home, ".config");
for (const key of Object.keys(process.env)) {
  if (key.startsWith("CATWALK_") && !key.startsWith("CATWALK_TEST_")) delete process.env[key];
}
