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
