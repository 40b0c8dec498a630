import { eq } from "drizzle-orm";
import type { Db } from "./db.ts";
import { MetaTable } from "./meta.sql.ts";

export async function getMeta(db: Db, key: string): Promise<string | undefined> {
  const row = await db.select({ value: MetaTable.value }).from(MetaTable).where(eq(MetaTable.key, key)).get();
  return row?.value;
}

export async function setMeta(db: Db, key: string, value: string): Promise<void> {
  await db
    .insert(MetaTable)
    .values({ key, value })
    .onConflictDoUpdate({ target: MetaTable.key, set: { value, updatedAt: new Date() } });
}

/**
 * Stores a value only when the key has none yet; true when this call stored it. Hosts sharing a
 * remote database race on first-start values (vault check, admin token hash): exactly one wins.
 */
export async function insertMetaIfAbsent(db: Db, key: string, value: string): Promise<boolean> {
  const rows = await db
    .insert(MetaTable)
    .values({ key, value })
    .onConflictDoNothing({ target: MetaTable.key })
    .returning({ key: MetaTable.key });
  return rows.length > 0;
}
