import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AdminTokens, ensureAdminToken } from "../admin/admin-token.ts";
import type { Loaded } from "../config/config.ts";
import { createLogger, type Logger } from "../log/log.ts";
import { openStore, type Store } from "../store/db.ts";
import { openVault, type Vault } from "../vault/vault.ts";

/**
 * Everything a running Catwalk holds, built once by `openApp` and passed to the server, the
 * gateway and the runtimes. Services that need shutting down register a closer with `onClose`;
 * `close()` runs them in reverse order of registration.
 */
export interface App {
  config: Loaded["config"];
  sources: Loaded["sources"];
  store: Store;
  vault: Vault;
  log: Logger;
  adminTokens: AdminTokens;
  /**
   * Other modules' encrypted columns, for key rotation: each re-encrypts its values in the given
   * transaction with `rotate` and returns how many it changed.
   */
  encrypted?: ((
    tx: Parameters<Parameters<Store["db"]["transaction"]>[0]>[0],
    rotate: (token: string) => string,
  ) => Promise<number>)[];
  /** Set when this start created the admin token (first start of a data dir). */
  createdAdminToken: string | undefined;
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

export interface OpenAppOptions {
  log?: Logger;
}

export async function openApp(loaded: Loaded, opts: OpenAppOptions = {}): Promise<App> {
  const { config } = loaded;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const log =
    opts.log ??
    createLogger({
      level: config.logLevel,
      format: config.logFormat,
      file: join(config.dataDir, "logs", "catwalk.log"),
    });
  log.redactor.add(config.masterKey, config.databaseAuthToken, config.github.token, config.anthropic.apiKey);
  log.redactor.add(config.fly.apiToken, config.local.npmToken);

  const store = await openStore({
    dataDir: config.dataDir,
    url: config.databaseUrl,
    authToken: config.databaseAuthToken,
    busyTimeoutMs: config.databaseBusyTimeoutMs,
  });
  const closers: (() => Promise<void> | void)[] = [() => store.close()];
  try {
    const vault = await openVault({ db: store.db, dataDir: config.dataDir, masterKey: config.masterKey });
    log.redactor.add(...vault.keys);
    const createdAdminToken = await ensureAdminToken(store.db, config.dataDir);
    log.redactor.add(createdAdminToken);
    let closed = false;
    return {
      config,
      sources: loaded.sources,
      store,
      vault,
      log,
      adminTokens: new AdminTokens(store.db, store.embedded ? undefined : config.databaseSyncMs),
      encrypted: [],
      createdAdminToken,
      onClose: (fn) => closers.push(fn),
      close: async () => {
        if (closed) return;
        closed = true;
        for (const fn of closers.reverse()) {
          try {
            await fn();
          } catch (e) {
            log.error("shutdown step failed", { error: e });
          }
        }
      },
    };
  } catch (e) {
    store.close();
    throw e;
  }
}
