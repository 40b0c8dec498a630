import { eq } from "drizzle-orm";
import type { App } from "../app/app.ts";
import { MetaTable } from "../store/meta.sql.ts";
import { OAuthSigningKeyTable } from "./oauth.sql.ts";

type Rotator = NonNullable<App["encrypted"]>[number];

/** The OAuth values encrypted with the vault (signing keys, the HMAC key), for master key rotation. */
export const rotateOAuthSecrets: Rotator = async (tx, rotate) => {
  let count = 0;
  const keys = await tx
    .select({ id: OAuthSigningKeyTable.id, privateKey: OAuthSigningKeyTable.privateKey })
    .from(OAuthSigningKeyTable)
    .all();
  for (const k of keys) {
    await tx
      .update(OAuthSigningKeyTable)
      .set({ privateKey: rotate(k.privateKey) })
      .where(eq(OAuthSigningKeyTable.id, k.id));
    count++;
  }
  const hmac = await tx.select().from(MetaTable).where(eq(MetaTable.key, "oauth.hmac_key")).get();
  if (hmac) {
    await tx
      .update(MetaTable)
      .set({ value: rotate(hmac.value), updatedAt: new Date() })
      .where(eq(MetaTable.key, "oauth.hmac_key"));
    count++;
  }
  return count;
};
