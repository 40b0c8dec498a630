import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Runs at bundle time: the package version and the commit the binary was built from. */
export function buildInfo(): { version: string; commit: string } {
  const pkg = JSON.parse(readFileSync(join(import.meta.dir, "..", "package.json"), "utf8")) as {
    version: string;
  };
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], {
    cwd: import.meta.dir,
    stderr: "ignore",
  });
  const commit = git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";
  return { version: pkg.version, commit };
}
