import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { CatwalkError } from "../../util/error.ts";
import type { UpstreamSpec } from "../types.ts";
import { describePath, findExecutable, MissingToolError, type RunResult, runTool } from "./exec.ts";
import { EXACT_SEMVER, validateNpmName } from "./npm.ts";
import { normalizePypiName, validatePypiName } from "./pypi.ts";

export class InstallError extends CatwalkError {
  readonly code = "package.install_failed";
  readonly status = 502;
}

/** The package has no runnable bin, or several and none was chosen. */
export class BinNotFoundError extends CatwalkError {
  readonly code = "package.bin_not_found";
  readonly status = 422;
}

/** What a child runs, before the pool adds HOME/PATH/LANG/TMPDIR and the deployment's env. */
export interface Launch {
  /** Absolute path of the program. */
  command: string;
  args: string[];
  /** Variables the runner itself needs (`BUN_BE_BUN`, `UV_CACHE_DIR`, ...). */
  env: Record<string, string>;
  /** Directories the child's minimal PATH starts with (the runner's own directory, package bins). */
  pathDirs: string[];
}

export interface PackageCacheOptions {
  /** Root of the cache (`local.packageCacheDir`, default `<dataDir>/packages`). */
  dir: string;
  npmRegistryUrl: string;
  /** A private registry's token, given to the installer as NPM_CONFIG_TOKEN (never on disk). */
  npmToken?: string | undefined;
  pypiUrl: string;
  installTimeoutMs: number;
  /** `local.nodePath`; when unset `node` is looked up on `searchPath`, then Bun itself is used. */
  nodePath?: string | undefined;
  /** `local.uvxPath`; when unset `uvx` is looked up on `searchPath`. */
  uvxPath?: string | undefined;
  /** The host PATH, searched for node, uvx and bare commands and given to installers. */
  searchPath: string;
}

const MARKER = ".catwalk-installed";
const UV_HINT =
  "Install uv (https://docs.astral.sh/uv/getting-started/installation/, e.g. `curl -LsSf https://astral.sh/uv/install.sh | sh`), then restart Catwalk or set local.uvxPath (CATWALK_LOCAL_UVX_PATH) to the uvx executable.";

/** `@scope/name` → `@scope+name`: one path segment; `+` cannot occur in npm names. */
export function safeNpmDirName(name: string, version: string): string {
  return `${validateNpmName(name).replace("/", "+")}@${version}`;
}

function checkVersion(version: string): void {
  if (!EXACT_SEMVER.test(version)) {
    throw new InstallError(`${JSON.stringify(version)} is not an exact npm version.`, {
      hint: "Resolve the version first (npm:<name>@<version> is resolved when a deployment is created).",
    });
  }
}

function unscoped(name: string): string {
  return name.slice(name.indexOf("/") + 1);
}

/**
 * The per-version package cache. npm packages are installed once per exact version into
 * `<dir>/npm/<name>@<version>/` by `bun install` (the Bun inside the catwalk binary), in a temp dir
 * renamed into place when complete; a marker file tells a finished install. Concurrent installs
 * of one version share a promise in-process; across processes the first rename wins and the loser
 * discards its copy. PyPI packages are prefetched into uv's cache under `<dir>/uv`.
 */
export class PackageCache {
  private readonly inflight = new Map<string, Promise<{ dir: string; fresh: boolean }>>();
  private readonly aborter = new AbortController();

  constructor(readonly opts: PackageCacheOptions) {}

  npmDir(name: string, version: string): string {
    return join(this.opts.dir, "npm", safeNpmDirName(name, version));
  }

  isNpmInstalled(name: string, version: string): boolean {
    return existsSync(join(this.npmDir(name, version), MARKER));
  }

  /** Installs exactly `name@version` unless it is cached; `fresh` tells whether this call installed it. */
  installNpm(name: string, version: string): Promise<{ dir: string; fresh: boolean }> {
    validateNpmName(name);
    checkVersion(version);
    const key = `npm:${name}@${version}`;
    let job = this.inflight.get(key);
    if (!job) {
      job = this.doInstallNpm(name, version).finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
    }
    return job;
  }

  /** Installs what `spec` needs (if anything) and returns the command line to run it. */
  async prepare(spec: UpstreamSpec, note: (line: string) => void = () => {}): Promise<Launch> {
    if (spec.kind === "npm") return this.prepareNpm(spec, note);
    if (spec.kind === "pypi") return this.preparePypi(spec, note);
    if (spec.kind === "command") return this.prepareCommand(spec);
    throw new InstallError("A remote upstream has nothing to run locally.", {
      hint: "Remote deployments use the remote runtime, not the local one.",
    });
  }

  /** Stops in-flight installs (their process groups are killed); used at server shutdown. */
  close(): void {
    this.aborter.abort();
  }

  private async prepareNpm(
    spec: Extract<UpstreamSpec, { kind: "npm" }>,
    note: (line: string) => void,
  ): Promise<Launch> {
    const label = `npm:${spec.package}@${spec.version}`;
    if (this.isNpmInstalled(spec.package, spec.version)) note(`using cached ${label}`);
    else note(`installing ${label}`);
    const started = Date.now();
    const { dir, fresh } = await this.installNpm(spec.package, spec.version);
    if (fresh) note(`installed ${label} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const pkgDir = join(dir, "node_modules", ...spec.package.split("/"));
    const bin = locateBin(pkgDir, spec.package, spec.bin);
    const runner = this.runnerFor(bin);
    return {
      command: runner.command,
      args: [...runner.args, bin, ...spec.args],
      env: runner.env,
      pathDirs: [join(dir, "node_modules", ".bin"), dirname(runner.command)],
    };
  }

  private async doInstallNpm(name: string, version: string): Promise<{ dir: string; fresh: boolean }> {
    const final = this.npmDir(name, version);
    if (existsSync(join(final, MARKER))) return { dir: final, fresh: false };
    const tmpRoot = join(this.opts.dir, "npm", ".tmp");
    mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
    this.sweepTemp(tmpRoot);
    const tmp = join(
      tmpRoot,
      `${safeNpmDirName(name, version)}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`,
    );
    mkdirSync(tmp, { mode: 0o700 });
    try {
      const manifest = { name: "catwalk-package", private: true, dependencies: { [name]: version } };
      writeFileSync(join(tmp, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      const res = await runTool(this.bunInstallArgv(), {
        cwd: tmp,
        env: this.installerEnv({
          BUN_BE_BUN: "1",
          NPM_CONFIG_REGISTRY: this.opts.npmRegistryUrl,
          ...(this.opts.npmToken ? { NPM_CONFIG_TOKEN: this.opts.npmToken } : {}),
          BUN_INSTALL_CACHE_DIR: join(this.opts.dir, "bun"),
        }),
        timeoutMs: this.opts.installTimeoutMs,
        signal: this.aborter.signal,
      });
      this.checkInstall(res, `npm:${name}@${version}`);
      checkInstalledVersion(tmp, name, version);
      writeFileSync(
        join(tmp, MARKER),
        `${JSON.stringify({ name, version, at: new Date().toISOString() })}\n`,
      );
      return { dir: this.publish(tmp, final), fresh: true };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private bunInstallArgv(): string[] {
    return [
      process.execPath,
      "install",
      "--production",
      "--linker=hoisted",
      "--no-progress",
      `--registry=${this.opts.npmRegistryUrl}`,
      `--cache-dir=${join(this.opts.dir, "bun")}`,
    ];
  }

  /** Moves a finished install into place; if another process won the race, keeps theirs. */
  private publish(tmp: string, final: string): string {
    if (existsSync(final) && !existsSync(join(final, MARKER))) {
      // A directory without a marker is not ours to trust (an interrupted manual copy): replace it.
      const stale = `${tmp}.stale`;
      renameSync(final, stale);
      rmSync(stale, { recursive: true, force: true });
    }
    try {
      renameSync(tmp, final);
    } catch (e) {
      if (!existsSync(join(final, MARKER))) throw e;
    }
    return final;
  }

  /** Removes temp dirs older than twice the install limit: their installer is gone. */
  private sweepTemp(tmpRoot: string): void {
    const cutoff = Date.now() - 2 * Math.max(this.opts.installTimeoutMs, 60_000);
    for (const entry of readdirSync(tmpRoot)) {
      const path = join(tmpRoot, entry);
      const mtime = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (mtime < cutoff) rmSync(path, { recursive: true, force: true });
    }
  }

  private checkInstall(res: RunResult, label: string): void {
    if (res.code === 0) return;
    const output = res.tail.length ? `\n${res.tail.slice(-15).join("\n")}` : "";
    if (res.aborted) throw new InstallError(`Installing ${label} was stopped (server shutting down).`);
    if (res.timedOut) {
      throw new InstallError(
        `Installing ${label} did not finish within ${this.opts.installTimeoutMs} ms.${output}`,
        {
          hint: "Check the network and registry, or raise local.installTimeoutMs (CATWALK_LOCAL_INSTALL_TIMEOUT_MS).",
        },
      );
    }
    const how = res.signal ? `was killed by ${res.signal}` : `exited with code ${res.code}`;
    throw new InstallError(`Installing ${label} failed: the installer ${how}.${output}`, {
      hint: "The installer output above names the cause; check the package, the registry (local.npmRegistryUrl) and the network.",
    });
  }

  private installerEnv(extra: Record<string, string>): Record<string, string> {
    const home = join(this.opts.dir, "home");
    mkdirSync(home, { recursive: true, mode: 0o700 });
    return { PATH: this.opts.searchPath, HOME: home, TMPDIR: tmpdir(), NO_COLOR: "1", ...extra };
  }

  /** How to execute a package bin: node (configured, or on PATH), else Bun; native/other scripts directly. */
  private runnerFor(bin: string): { command: string; args: string[]; env: Record<string, string> } {
    const kind = scriptKind(bin);
    if (kind === "direct") return { command: bin, args: [], env: {} };
    if (kind === "node") {
      const node = this.node();
      if (node) return { command: node, args: [], env: {} };
    }
    return { command: process.execPath, args: [], env: { BUN_BE_BUN: "1" } };
  }

  private node(): string | undefined {
    const configured = this.opts.nodePath;
    if (!configured) return findExecutable("node", this.opts.searchPath);
    const found = findExecutable(configured, this.opts.searchPath);
    if (found) return found;
    throw new MissingToolError(
      "node",
      `local.nodePath ${configured}`,
      "Fix local.nodePath (CATWALK_LOCAL_NODE_PATH) or unset it to use node from PATH, or Bun when there is none.",
    );
  }

  private uvx(): string {
    const configured = this.opts.uvxPath;
    const found = findExecutable(configured ?? "uvx", this.opts.searchPath);
    if (found) return found;
    const where = configured ? `local.uvxPath ${configured}` : describePath(this.opts.searchPath);
    throw new MissingToolError("uvx", where, UV_HINT);
  }

  private uvEnv(): Record<string, string> {
    const uv = join(this.opts.dir, "uv");
    const env: Record<string, string> = {
      UV_CACHE_DIR: uv,
      UV_PYTHON_INSTALL_DIR: join(uv, "python"),
      UV_NO_PROGRESS: "1",
    };
    const index = this.opts.pypiUrl.replace(/\/+$/, "");
    if (index !== "https://pypi.org") env.UV_DEFAULT_INDEX = `${index}/simple`;
    return env;
  }

  /**
   * PyPI: the install phase is a prefetch, `uvx --from <name>==<version> python -c ""`, which
   * resolves, downloads and builds the tool environment in uv's cache (uv keys it by the
   * requirements, not the command) without starting the server; each child then runs
   * `uvx --from <name>==<version> <entry>` from that warm cache.
   */
  private async preparePypi(
    spec: Extract<UpstreamSpec, { kind: "pypi" }>,
    note: (line: string) => void,
  ): Promise<Launch> {
    validatePypiName(spec.package);
    const uvx = this.uvx();
    const from = `${spec.package}==${spec.version}`;
    const label = `pypi:${from}`;
    const marker = join(this.opts.dir, "pypi", `${normalizePypiName(spec.package)}@${spec.version}`, MARKER);
    const env = this.uvEnv();
    if (existsSync(marker)) note(`using cached ${label}`);
    else {
      note(`installing ${label}`);
      const res = await runTool([uvx, "--from", from, "python", "-c", ""], {
        cwd: this.opts.dir,
        env: this.installerEnv(env),
        timeoutMs: this.opts.installTimeoutMs,
        signal: this.aborter.signal,
      });
      this.checkInstall(res, label);
      mkdirSync(dirname(marker), { recursive: true });
      writeFileSync(marker, `${JSON.stringify({ name: spec.package, version: spec.version })}\n`);
    }
    return {
      command: uvx,
      args: ["--from", from, spec.entry ?? spec.package, ...spec.args],
      env,
      pathDirs: [dirname(uvx)],
    };
  }

  private prepareCommand(spec: Extract<UpstreamSpec, { kind: "command" }>): Launch {
    const command = findExecutable(spec.command, this.opts.searchPath);
    if (!command) {
      const where = spec.command.includes("/") ? spec.command : describePath(this.opts.searchPath);
      throw new MissingToolError(
        spec.command,
        where,
        "Install the program or give its absolute path in the deployment's command.",
      );
    }
    // The catwalk binary is a Bun runtime only when asked to be.
    const env: Record<string, string> = command === process.execPath ? { BUN_BE_BUN: "1" } : {};
    return { command, args: spec.args, env, pathDirs: [dirname(command)] };
  }
}

function checkInstalledVersion(root: string, name: string, version: string): void {
  const file = join(root, "node_modules", ...name.split("/"), "package.json");
  let got: unknown;
  try {
    got = (JSON.parse(readFileSync(file, "utf8")) as { version?: unknown }).version;
  } catch {
    got = undefined;
  }
  if (got !== version) {
    throw new InstallError(
      `Installing npm:${name}@${version} produced ${got ? `version ${String(got)}` : "no package"}.`,
      {
        hint: "The registry may serve inconsistent metadata; check local.npmRegistryUrl.",
      },
    );
  }
}

/** The bin of an installed package: the named one, the one named like the package, or the only one. */
export function locateBin(pkgDir: string, name: string, wanted: string | undefined): string {
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { bin?: unknown };
  const bins: Record<string, string> =
    typeof pkg.bin === "string"
      ? { [unscoped(name)]: pkg.bin }
      : typeof pkg.bin === "object" && pkg.bin !== null
        ? (pkg.bin as Record<string, string>)
        : {};
  const names = Object.keys(bins);
  const chosen =
    wanted ??
    (bins[unscoped(name)] !== undefined ? unscoped(name) : names.length === 1 ? names[0] : undefined);
  const rel = chosen === undefined ? undefined : bins[chosen];
  if (typeof rel !== "string") {
    const list = names.length ? `its bins are ${names.join(", ")}` : "it declares no bin";
    throw new BinNotFoundError(
      wanted
        ? `npm package ${name} has no bin named ${wanted}: ${list}.`
        : `Cannot tell which bin of npm package ${name} to run: ${list}.`,
      {
        hint: names.length
          ? "Name the bin in the deployment (npm bin field)."
          : "Run it with a command spec instead.",
      },
    );
  }
  const path = resolve(pkgDir, rel);
  if (!path.startsWith(pkgDir + sep) || !existsSync(path)) {
    throw new BinNotFoundError(
      `npm package ${name} declares bin ${chosen} at ${rel}, which is not a file in the package.`,
      {
        hint: "Pick another bin or report the broken package to its authors.",
      },
    );
  }
  return path;
}

/** `direct` for native executables and non-JS scripts, `bun` for `#!…bun`, else `node`. */
function scriptKind(path: string): "direct" | "node" | "bun" {
  const head = Buffer.alloc(128);
  const fd = openSync(path, "r");
  const n = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const text = head.subarray(0, n).toString("latin1");
  if (text.startsWith("\x7fELF") || text.startsWith("\xcf\xfa\xed\xfe")) return "direct";
  if (!text.startsWith("#!")) return "node";
  const shebang = text.slice(0, text.indexOf("\n") === -1 ? n : text.indexOf("\n"));
  if (/\bbun\b/.test(shebang)) return "bun";
  if (/\bnode\b/.test(shebang)) return "node";
  return "direct";
}
