import { chmodSync, copyFileSync, existsSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { adoptAdminToken, readAdminTokenFile } from "../admin/admin-token.ts";
import { migrationTags, openStore, type Store } from "../store/db.ts";
import { CatwalkError, InvalidInputError, NotFoundError } from "../util/error.ts";
import { openVault, VaultKeyMismatchError } from "../vault/vault.ts";

export const DB_FILE = "catwalk.db";
const SIDE_FILES = ["", "-wal", "-shm"];

export class RestoreKeyMismatchError extends CatwalkError {
  readonly code = "restore.key_mismatch";
  readonly status = 422;
}

export interface RestoreOptions {
  /** The snapshot `catwalk backup` wrote. */
  file: string;
  dataDir: string;
  /** `CATWALK_MASTER_KEY`, which wins over `<dataDir>/master.key`, as for the server. */
  masterKey?: string | undefined;
  now?: Date;
}

export interface Restored {
  deployments: number;
  /** Where the database that was replaced now is (undefined when the data dir had none). */
  previous: string | undefined;
  /** Migrations applied to bring an older backup up to this version. */
  migrated: string[];
  /** `kept`: the data dir's admin-token file still works; `backup`: the backup's admin token is in force. */
  adminToken: "kept" | "backup";
}

/**
 * Puts a backup in place of a stopped server's database, checking it first on a copy: it must be
 * a Catwalk database this binary can open (an older one is migrated), and the data dir's master
 * key must open its secrets. The database it replaces is kept beside it, never deleted. The data
 * dir's admin token stays valid, so tools that read `<dataDir>/admin-token` keep working and a
 * token rotated since the backup does not come back.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<Restored> {
  if (!existsSync(opts.file) || !statSync(opts.file).isFile()) {
    throw new NotFoundError(`No backup file at ${opts.file}.`, {
      hint: "Pass the file `catwalk backup <file>` wrote.",
    });
  }
  const target = join(opts.dataDir, DB_FILE);
  const staging = join(opts.dataDir, `${DB_FILE}.restoring-${process.pid}`);
  const removeStaging = () => {
    for (const s of SIDE_FILES) rmSync(staging + s, { force: true });
  };
  removeStaging();
  copyFileSync(opts.file, staging);
  chmodSync(staging, 0o600);
  let checked: Omit<Restored, "previous">;
  try {
    checked = await check(staging, opts);
  } catch (e) {
    removeStaging();
    throw e;
  }
  const stamp = (opts.now ?? new Date()).toISOString().replace(/[:.]/g, "-");
  const previous = existsSync(target) ? `${target}.before-restore-${stamp}` : undefined;
  if (previous) {
    // The main file and its WAL move together, so the kept copy opens with every committed write.
    for (const s of SIDE_FILES) if (existsSync(target + s)) renameSync(target + s, previous + s);
  }
  renameSync(staging, target);
  return { ...checked, previous };
}

async function check(path: string, opts: RestoreOptions): Promise<Omit<Restored, "previous">> {
  let store: Store;
  try {
    store = await openStore({ dataDir: opts.dataDir, url: `file:${path}` });
  } catch (e) {
    if (!(e instanceof CatwalkError)) throw e;
    throw new InvalidInputError(`${opts.file} cannot be restored: ${e.message}`, {
      hint: e.hint ?? "Pass a file written by `catwalk backup`.",
      cause: e,
    });
  }
  try {
    if (store.applied.length === migrationTags().length) {
      throw new InvalidInputError(`${opts.file} is not a Catwalk backup: it holds no Catwalk tables.`, {
        hint: "Pass the file `catwalk backup <file>` wrote.",
      });
    }
    await opensWithKey(store, opts);
    const token = readAdminTokenFile(opts.dataDir);
    if (token) await adoptAdminToken(store.db, token);
    const count = await store.client.execute("select count(*) as n from deployments");
    // Leave a single self-contained file: everything in the WAL goes into the database file.
    await store.client.execute("pragma journal_mode = delete");
    return {
      deployments: Number(count.rows[0]?.n ?? 0),
      migrated: store.applied,
      adminToken: token ? "kept" : "backup",
    };
  } finally {
    store.close();
  }
}

async function opensWithKey(store: Store, opts: RestoreOptions): Promise<void> {
  try {
    await openVault({ db: store.db, dataDir: opts.dataDir, masterKey: opts.masterKey });
  } catch (e) {
    if (!(e instanceof VaultKeyMismatchError)) throw e;
    throw new RestoreKeyMismatchError(
      `The master key of this data dir does not open the secrets in ${opts.file}: the backup was taken under another key.`,
      {
        hint: "Set CATWALK_MASTER_KEY to the key the backup was taken with (after a key rotation: the previous key) and restore again; nothing was changed.",
        cause: e,
      },
    );
  }
}
