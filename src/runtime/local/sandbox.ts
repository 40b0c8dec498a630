import { join, resolve } from "node:path";
import type { ChildCommand } from "./child.ts";
import { describePath, findExecutable, MissingToolError } from "./exec.ts";

/**
 * `local.sandbox = "bwrap"`: each child runs inside bubblewrap, which needs no privileges. The
 * child sees the host as it is except for what would let it reach other deployments or catwalk
 * itself:
 * - the data dir is an empty tmpfs (no master key, database, admin token, other homes), with only
 *   its own home (read-write) and the package cache (read-only; uv's cache read-write, since uvx
 *   locks it) put back;
 * - it has its own pid namespace and `/proc`, so it cannot see or signal catwalk or other
 *   children, nor read their environment (`CATWALK_MASTER_KEY` when set there);
 * - it dies with catwalk (`--die-with-parent`). It stays in catwalk's process group for the
 *   supervisor's signals; the network is the host's (servers call their APIs).
 */
export interface Sandbox {
  bwrap: string;
  dataDir: string;
  cacheDir: string;
}

export const BWRAP_HINT =
  "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), set local.bwrapPath, or set local.sandbox to off.";

/** The sandbox children run in, or undefined when it is off; throws when bubblewrap is missing. */
export function findSandbox(opts: {
  mode: "off" | "bwrap";
  bwrapPath?: string | undefined;
  searchPath: string;
  dataDir: string;
  cacheDir: string;
}): Sandbox | undefined {
  if (opts.mode === "off") return undefined;
  const bwrap = findExecutable(opts.bwrapPath ?? "bwrap", opts.searchPath);
  if (!bwrap) {
    const where = opts.bwrapPath ? `local.bwrapPath ${opts.bwrapPath}` : describePath(opts.searchPath);
    throw new MissingToolError("bwrap", where, BWRAP_HINT);
  }
  // bubblewrap wants absolute paths; local.packageCacheDir may be relative to the working directory.
  return { bwrap, dataDir: resolve(opts.dataDir), cacheDir: resolve(opts.cacheDir) };
}

/**
 * `cmd` run inside the sandbox (its cwd is its home). The host's /tmp stays (programs and
 * checkouts live there; a data dir there is masked like anywhere else).
 */
export function sandboxed(cmd: ChildCommand, box: Sandbox): ChildCommand {
  const uv = join(box.cacheDir, "uv");
  const args = [
    "--dev-bind",
    "/",
    "/",
    "--tmpfs",
    box.dataDir,
    // -try: a server run as a plain command may come before any package was installed.
    "--ro-bind-try",
    box.cacheDir,
    box.cacheDir,
    "--bind-try",
    uv,
    uv,
    "--bind",
    cmd.cwd,
    cmd.cwd,
    "--proc",
    "/proc",
    "--unshare-pid",
    "--die-with-parent",
    "--chdir",
    cmd.cwd,
    "--",
    cmd.command,
    ...cmd.args,
  ];
  return { command: box.bwrap, args, env: cmd.env, cwd: cmd.cwd };
}
