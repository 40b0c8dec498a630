import { spawn } from "node:child_process";
import { delimiter, isAbsolute } from "node:path";
import { CatwalkError } from "../../util/error.ts";
import { LineSplitter } from "./lines.ts";
import { signalGroup } from "./proc.ts";

/** A program Catwalk needs (node, uvx, a deployment's command) is not installed where we looked. */
export class MissingToolError extends CatwalkError {
  readonly code = "runtime.missing_tool";
  readonly status = 503;

  constructor(
    readonly tool: string,
    readonly lookedIn: string,
    hint: string,
  ) {
    super(`${tool} was not found (looked in ${lookedIn}).`, { hint });
  }
}

/** The absolute path of `name`: as given when it contains a slash, else the first match on `path`. */
export function findExecutable(name: string, path: string): string | undefined {
  if (name.includes("/")) return isAbsolute(name) && Bun.which(name) ? name : undefined;
  return Bun.which(name, { PATH: path }) ?? undefined;
}

export function describePath(path: string): string {
  const dirs = path.split(delimiter).filter(Boolean);
  return dirs.length ? `PATH ${dirs.join(delimiter)}` : "an empty PATH";
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  /** The last lines of stdout and stderr together. */
  tail: string[];
}

export interface RunOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  tailLines?: number;
}

/**
 * Runs a helper program (an install, a prefetch) in its own process group with a time limit;
 * on timeout or abort the whole group is killed. Never rejects for the program's own failure.
 */
export function runTool(argv: string[], opts: RunOptions): Promise<RunResult> {
  const [command, ...args] = argv as [string, ...string[]];
  const tail: string[] = [];
  const keep = opts.tailLines ?? 40;
  const collect = (line: string) => {
    tail.push(line);
    if (tail.length > keep) tail.shift();
  };
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    const proc = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const kill = () => {
      if (proc.pid !== undefined) signalGroup(proc.pid, "SIGKILL");
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    for (const stream of [proc.stdout, proc.stderr]) {
      const lines = new LineSplitter(4096);
      stream?.on("data", (chunk: Buffer) => {
        if (!lines.push(chunk, collect)) lines.clear();
      });
    }
    let settled = false;
    const done = (code: number | null, signal: string | null, error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (error) collect(error.message);
      resolve({ code, signal, timedOut, aborted, tail });
    };
    proc.on("error", (e) => done(null, null, e));
    proc.on("close", (code, signal) => {
      // Helpers a package manager left behind in the group go with it.
      if (proc.pid !== undefined) signalGroup(proc.pid, "SIGKILL");
      done(code, signal);
    });
  });
}
