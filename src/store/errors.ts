import { CatwalkError, messageOf } from "../util/error.ts";

/** Another process holds the database's write lock longer than the busy timeout. */
export class StoreBusyError extends CatwalkError {
  readonly code = "store.busy";
  readonly status = 503;
}

/** The disk under the database is full (or the database hit its size limit). */
export class StoreFullError extends CatwalkError {
  readonly code = "store.full";
  readonly status = 507;
}

/** SQLite result codes of a driver error, searched along its `cause` chain (drizzle wraps them). */
function sqliteCodes(e: unknown): string[] {
  const codes: string[] = [];
  for (let cur = e, depth = 0; cur && depth < 5; depth++) {
    const c = cur as { code?: unknown; extendedCode?: unknown; cause?: unknown };
    if (typeof c.code === "string") codes.push(c.code);
    if (typeof c.extendedCode === "string") codes.push(c.extendedCode);
    cur = c.cause;
  }
  return codes;
}

/**
 * The named error for a database failure an operator can act on (locked, full), or undefined.
 * The message is the driver's own short reason, never the query or its parameters.
 */
export function storeFailure(e: unknown): CatwalkError | undefined {
  const codes = sqliteCodes(e);
  if (codes.some((c) => c.startsWith("SQLITE_BUSY") || c.startsWith("SQLITE_LOCKED"))) {
    return new StoreBusyError("The database is locked by another process; the change was not saved.", {
      hint: "Retry shortly. If it persists, look for another program holding a write transaction on catwalk.db (a backup, the sqlite3 shell, a second catwalk).",
      cause: e,
    });
  }
  if (codes.some((c) => c.startsWith("SQLITE_FULL") || c === "ENOSPC")) {
    return new StoreFullError("The disk holding the database is full; the change was not saved.", {
      hint: "Free space on the data dir's filesystem; Catwalk resumes writing by itself.",
      cause: e,
    });
  }
  return undefined;
}

/** The innermost driver message of an error (drizzle's wrapper repeats the whole query and its parameters). */
export function rootMessage(e: unknown): string {
  let cur = e;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (cur as { cause?: unknown } | undefined)?.cause;
    if (!cause) break;
    cur = cause;
  }
  return messageOf(cur);
}
