import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { binary, waitForServer } from "./binary.ts";
import { freePort } from "./everything.ts";
import { tempDir } from "./server.ts";

export interface ServerProcess {
  url: string;
  dataDir: string;
  port: number;
  pid: number;
  /**
   * The admin token, read from `<dataDir>/admin-token` when first used (a host sharing a remote
   * database with another one has none until the operator copies it there).
   */
  readonly token: string;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Everything the process wrote to stdout and stderr so far (the banner, warnings; last 64 KiB). */
  output(): string;
  /** Everything the process wrote to stderr so far (its log lines; up to 8 MiB). */
  stderr(): string;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<number>;
  /** The same server again: same data dir, same port. */
  restart(): Promise<ServerProcess>;
}

/**
 * Collects a process's output, so a chatty server never blocks on a full pipe: `all` keeps the
 * last 64 KiB of both streams, `stderr` the first 8 MiB of stderr (log lines tests count).
 */
function collect(stdout: ReadableStream<Uint8Array>, stderr: ReadableStream<Uint8Array>) {
  let all = "";
  let err = "";
  const read = async (stream: ReadableStream<Uint8Array>, isErr: boolean) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      all = (all + text).slice(-65_536);
      if (isErr && err.length < 8 * 1024 * 1024) err += text;
    }
  };
  void read(stdout, false).catch(() => {});
  void read(stderr, true).catch(() => {});
  return { output: () => all, stderr: () => err };
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
    stdout: "pipe",
    stderr: "pipe",
  });
  const { output, stderr } = collect(proc.stdout, proc.stderr);
  let url: string;
  try {
    url = await waitForServer(dataDir, 30_000);
  } catch (e) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw new Error(`${(e as Error).message}\n${output()}`);
  }
  const tokenFile = join(dataDir, "admin-token");
  let token: string | undefined;
  const adminToken = () => {
    if (token) return token;
    if (!existsSync(tokenFile)) throw new Error(`no admin token in ${dataDir}`);
    token = readFileSync(tokenFile, "utf8").trim();
    return token;
  };
  if (existsSync(tokenFile)) adminToken();
  return {
    url,
    dataDir,
    port,
    pid: proc.pid,
    get token() {
      return adminToken();
    },
    api: (path, init = {}) =>
      fetch(url + path, {
        ...init,
        headers: { authorization: `Bearer ${adminToken()}`, ...(init.headers as Record<string, string>) },
      }),
    output,
    stderr,
    kill: async (signal = "SIGTERM") => {
      proc.kill(signal);
      return proc.exited;
    },
    restart: () => startServerProcess({ dataDir, port, env: opts.env }),
  };
}
