import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { binary, waitForServer } from "./binary.ts";
import type { TestServer } from "./server.ts";

/**
 * The compiled server as its own process, for tests that kill it, count its descriptors and
 * children, or restart it on the same data dir and port. `api` and `url` match `TestServer`, so
 * the `deploy` helper works with it.
 */
export interface ProcessServer extends Pick<TestServer, "url" | "dataDir" | "token" | "api"> {
  pid: number;
  proc: Subprocess<"ignore", "ignore", "pipe">;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number>;
  /** SIGKILL, then waits until the process is gone. */
  kill9(): Promise<void>;
}

export interface ProcessServerOptions {
  dataDir: string;
  port?: number;
  env?: Record<string, string>;
}

export async function startProcessServer(opts: ProcessServerOptions): Promise<ProcessServer> {
  const proc = Bun.spawn([binary(), "serve", "--port", String(opts.port ?? 0), "--data-dir", opts.dataDir], {
    env: {
      PATH: Bun.env.PATH ?? "/usr/bin:/bin",
      HOME: opts.dataDir,
      TMPDIR: Bun.env.TMPDIR ?? "/tmp",
      CATWALK_LOG_FORMAT: "json",
      ...opts.env,
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let err = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) err += decoder.decode(chunk, { stream: true });
  })();
  let url: string;
  try {
    url = await waitForServer(opts.dataDir, 30_000);
  } catch (e) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw new Error(`${(e as Error).message}\nstderr:\n${err}`);
  }
  const token = readFileSync(join(opts.dataDir, "admin-token"), "utf8").trim();
  return {
    pid: proc.pid,
    proc,
    url,
    dataDir: opts.dataDir,
    token,
    stderr: () => err,
    api: (path, init = {}) =>
      fetch(url + path, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
      }),
    stop: async () => {
      proc.kill("SIGTERM");
      return proc.exited;
    },
    kill9: async () => {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}
