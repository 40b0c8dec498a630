import { readFileSync } from "node:fs";
import { join } from "node:path";
import { binary, waitForServer } from "./binary.ts";
import { freePort } from "./everything.ts";
import { tempDir } from "./server.ts";

export interface ServerProcess {
  url: string;
  dataDir: string;
  port: number;
  pid: number;
  token: string;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<number>;
  /** The same server again: same data dir, same port. */
  restart(): Promise<ServerProcess>;
}

/**
 * The compiled catwalk server as its own process (so tests can SIGKILL it), on a fixed port so
 * clients find it again after a restart.
 */
export async function startServerProcess(
  opts: { dataDir?: string; port?: number; env?: Record<string, string> } = {},
): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? tempDir("catwalk-proc-");
  const port = opts.port ?? freePort();
  const proc = Bun.spawn([binary(), "serve", "--port", String(port), "--data-dir", dataDir], {
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", HOME: dataDir, CATWALK_LOG_LEVEL: "warn", ...opts.env },
    stdout: "ignore",
    stderr: "pipe",
  });
  const url = await waitForServer(dataDir, 30_000);
  const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
  return {
    url,
    dataDir,
    port,
    pid: proc.pid,
    token,
    api: (path, init = {}) =>
      fetch(url + path, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
      }),
    kill: async (signal = "SIGTERM") => {
      proc.kill(signal);
      return proc.exited;
    },
    restart: () => startServerProcess({ dataDir, port, env: opts.env }),
  };
}
