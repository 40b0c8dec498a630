import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type App, openApp } from "../../src/app/app.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger, type Logger } from "../../src/log/log.ts";
import { type Running, startServer } from "../../src/server/server.ts";

export function tempDir(prefix = "catwalk-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A directory kept between test runs (beside the run's own temp dir, which is removed at the
 * end), for caches that would otherwise be downloaded again by every run.
 */
export function sharedCacheDir(name: string): string {
  return join(Bun.env.CATWALK_TEST_SHARED_TMP ?? tmpdir(), name);
}

export interface TestServer {
  app: App;
  url: string;
  dataDir: string;
  /** The admin token (read back from the token file the first start wrote). */
  token: string;
  lines: string[];
  running: Running;
  /** fetch against the server with the admin token. */
  api(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  dataDir?: string;
  env?: Record<string, string>;
  flags?: Record<string, unknown>;
}

/** Boots a real server on 127.0.0.1 with a free port and a fresh (or given) data dir. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const loaded = loadConfig({ env: { ...opts.env }, flags: { port: 0, dataDir, ...opts.flags } });
  const lines: string[] = [];
  const log: Logger = createLogger({
    level: "debug",
    file: join(dataDir, "logs", "catwalk.log"),
    write: (l) => lines.push(l),
  });
  const app = await openApp(loaded, { log });
  const running = await startServer(app);
  const token = (await Bun.file(join(dataDir, "admin-token")).text()).trim();
  return {
    app,
    url: running.url,
    dataDir,
    token,
    lines,
    running,
    api: (path, init = {}) =>
      fetch(running.url + path, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
      }),
    close: () => app.close(),
  };
}
