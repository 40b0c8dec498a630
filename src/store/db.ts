import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { type Client, createClient, type InStatement, type TransactionMode } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { CatwalkError, messageOf } from "../util/error.ts";
import { StoreBusyError, storeFailure } from "./errors.ts";
import { embeddedMigrations } from "./migrations.macro.ts" with { type: "macro" };
import type { Migration } from "./migrations.macro.ts";
import { remoteOpenFailure } from "./remote.ts";
import * as schema from "./schema.ts";

export type Db = LibSQLDatabase<typeof schema>;

export class StoreOpenError extends CatwalkError {
  readonly code = "store.open_failed";
  readonly status = 500;
}

export class StoreCorruptError extends CatwalkError {
  readonly code = "store.corrupt";
  readonly status = 500;
}

export class StoreForeignError extends CatwalkError {
  readonly code = "store.foreign";
  readonly status = 500;
}

export class StoreTooNewError extends CatwalkError {
  readonly code = "store.too_new";
  readonly status = 500;
}

export interface Store {
  db: Db;
  client: Client;
  /** The database location without credentials, for banners and logs. */
  location: string;
  /** True for an embedded file database (WAL, file permissions, backup by file copy apply). */
  embedded: boolean;
  /** Tags of migrations applied by this open. */
  applied: string[];
  close(): void;
}

export interface OpenOptions {
  dataDir: string;
  url?: string | undefined;
  authToken?: string | undefined;
  /** How long a write waits for another process's write lock (embedded file only); default 5 s. */
  busyTimeoutMs?: number | undefined;
}

const MIGRATIONS: Migration[] = embeddedMigrations();

/** How long a write waits for another process's write lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * libsql 0.5 does not reset a statement that failed with SQLITE_BUSY. It stays active on its pooled
 * connection, and SQLite commits nothing that connection writes afterwards (an implicit transaction
 * ends only when every statement has finished) while it keeps the write lock: later writes answer
 * success, stay invisible to other connections and are lost if the process dies. The statement is
 * released only when it is garbage-collected, so after such a failure we collect at once: a full
 * collection, then one tick for the finalizers.
 */
async function releaseBusyStatement(e: unknown): Promise<void> {
  if (!(storeFailure(e) instanceof StoreBusyError)) return;
  Bun.gc(true);
  await Bun.sleep(0);
}

function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (e) {
      await releaseBusyStatement(e);
      throw e;
    }
  };
}

/** Applies `releaseBusyStatement` to every statement the client (or a transaction of it) runs. */
function guardBusy(client: Client): Client {
  client.execute = guard(client.execute.bind(client)) as Client["execute"];
  client.batch = guard(client.batch.bind(client));
  client.executeMultiple = guard(client.executeMultiple.bind(client));
  client.migrate = guard(client.migrate.bind(client));
  const begin = client.transaction.bind(client);
  const transaction = guard((mode?: TransactionMode) => begin(mode));
  client.transaction = (async (mode?: TransactionMode) => {
    const tx = await transaction(mode);
    tx.execute = guard(tx.execute.bind(tx));
    tx.batch = guard(tx.batch.bind(tx));
    tx.executeMultiple = guard(tx.executeMultiple.bind(tx));
    tx.commit = guard(tx.commit.bind(tx));
    return tx;
  }) as Client["transaction"];
  return client;
}

export function migrationTags(): string[] {
  return MIGRATIONS.map((m) => m.tag);
}

function fileUrl(opts: OpenOptions): { url: string; path: string | undefined } {
  if (!opts.url) {
    const path = join(opts.dataDir, "catwalk.db");
    return { url: `file:${path}`, path };
  }
  if (opts.url.startsWith("file:")) return { url: opts.url, path: opts.url.slice("file:".length) };
  return { url: opts.url, path: undefined };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.searchParams.delete("authToken");
    return u.toString();
  } catch {
    return url;
  }
}

function isNotADatabase(e: unknown): boolean {
  const text = `${(e as { code?: string }).code ?? ""} ${messageOf(e)}`;
  return /NOTADB|not a database|file is encrypted|malformed/i.test(text);
}

async function exec(client: Client, stmt: InStatement, path: string | undefined) {
  try {
    return await client.execute(stmt);
  } catch (e) {
    if (!isNotADatabase(e)) throw e;
    throw new StoreCorruptError(
      `The database file ${path ?? "at the configured URL"} is not a readable SQLite database.`,
      {
        hint: "Restore it from a backup (`catwalk backup` makes one), or move it away to start empty. The master key alone cannot recover it.",
        cause: e,
      },
    );
  }
}

/** Refuses a database some other program created: migrating it would mix our tables into theirs. */
async function checkOwnership(client: Client, path: string | undefined): Promise<void> {
  const rows = await exec(
    client,
    "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_litestream%'",
    path,
  );
  const tables = rows.rows.map((r) => String(r.name));
  if (tables.length === 0 || tables.includes("__drizzle_migrations")) return;
  throw new StoreForeignError(
    `The database ${path ?? "at the configured URL"} belongs to another program (tables: ${tables.slice(0, 5).join(", ")}).`,
    { hint: "Point --data-dir or CATWALK_DATABASE_URL at a Catwalk database, or at an empty location." },
  );
}

async function migrate(client: Client, path: string | undefined): Promise<string[]> {
  await exec(
    client,
    "create table if not exists __drizzle_migrations (id integer primary key autoincrement, hash text not null, created_at numeric)",
    path,
  );
  await guardJournal(client, path);
  const done = await client.execute("select hash, created_at from __drizzle_migrations order by created_at");
  const known = new Set(MIGRATIONS.map((m) => m.hash));
  const unknown = done.rows.filter((r) => !known.has(String(r.hash)));
  if (unknown.length > 0) {
    throw new StoreTooNewError(
      `The database was migrated by a newer Catwalk (${unknown.length} unknown migrations).`,
      {
        hint: "Run the newer catwalk binary, or restore a backup taken before the upgrade.",
      },
    );
  }
  const last = Math.max(0, ...done.rows.map((r) => Number(r.created_at)));
  const pending = MIGRATIONS.filter((m) => m.when > last);
  const applied: string[] = [];
  for (const m of pending) {
    try {
      // One batch per migration: its statements and its journal row commit together or not at all.
      await client.batch(
        [
          ...m.statements,
          {
            sql: "insert into __drizzle_migrations (hash, created_at) values (?, ?)",
            args: [m.hash, m.when],
          },
        ],
        "write",
      );
      applied.push(m.tag);
    } catch (e) {
      if (await appliedElsewhere(client, m.hash)) continue;
      throw e;
    }
  }
  return applied;
}

/**
 * Several hosts sharing a remote database start at once and all see the same pending migrations.
 * Batches are write transactions, so they run one after the other; every later one fails (its
 * `create table` exists, or at the latest the unique journal index refuses its row) and rolls back
 * whole. A failed migration whose hash is now in the journal was applied by another host.
 */
async function guardJournal(client: Client, path: string | undefined): Promise<void> {
  await exec(
    client,
    "create unique index if not exists __drizzle_migrations_hash on __drizzle_migrations (hash)",
    path,
  );
}

async function appliedElsewhere(client: Client, hash: string): Promise<boolean> {
  const rows = await client.execute({
    sql: "select 1 from __drizzle_migrations where hash = ?",
    args: [hash],
  });
  return rows.rows.length > 0;
}

export async function openStore(opts: OpenOptions): Promise<Store> {
  const { url, path } = fileUrl(opts);
  if (path) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (!existsSync(path)) {
      // Create it 0600 before libsql does, so credentials never sit in a world-readable file.
      await Bun.write(path, "");
      chmodSync(path, 0o600);
    }
  }
  let client: Client;
  try {
    // The busy timeout as a client option: the client pools connections, and a pragma reaches only one.
    client = createClient({
      url,
      authToken: opts.authToken,
      ...(path ? { timeout: opts.busyTimeoutMs ?? BUSY_TIMEOUT_MS } : {}),
    });
    if (path) guardBusy(client);
  } catch (e) {
    throw new StoreOpenError(`Cannot open the database at ${redactUrl(url)}: ${messageOf(e)}.`, {
      hint: "Check CATWALK_DATABASE_URL (file:, libsql://, http(s)://) and CATWALK_DATABASE_AUTH_TOKEN.",
      cause: e,
    });
  }
  try {
    if (path) {
      await exec(client, "pragma journal_mode = wal", path);
      await exec(client, "pragma synchronous = normal", path);
    }
    await exec(client, "pragma foreign_keys = on", path);
    await checkOwnership(client, path);
    const applied = await migrate(client, path);
    return {
      db: drizzle(client, { schema }),
      client,
      location: path ?? redactUrl(url),
      embedded: path !== undefined,
      applied,
      close: () => client.close(),
    };
  } catch (e) {
    client.close();
    if (e instanceof CatwalkError) throw e;
    const hasToken = opts.authToken !== undefined || /[?&]authToken=/.test(url);
    const remote = path ? undefined : remoteOpenFailure(e, redactUrl(url), hasToken);
    if (remote) throw new StoreOpenError(remote.message, { hint: remote.hint, cause: e });
    throw new StoreOpenError(`Cannot open the database at ${path ?? redactUrl(url)}: ${messageOf(e)}.`, {
      hint: path
        ? "Check that the data dir is writable and on a local disk with free space."
        : "Check that the libsql server is reachable and the auth token is valid.",
      cause: e,
    });
  }
}
