import { eq } from "drizzle-orm";
import type { App } from "../app/app.ts";
import { CredentialTable } from "../deployment/deployment.sql.ts";
import { MetaTable } from "../store/meta.sql.ts";
import { CatwalkError } from "../util/error.ts";
import { Fernet, generateKey, MultiFernet } from "../vault/fernet.ts";
import { fingerprint, makeVault, readKeyFile, type Vault, writeKeyFile } from "../vault/vault.ts";

export class KeyRotationError extends CatwalkError {
  readonly code = "keys.rotation_refused";
  readonly status = 409;
}

export interface RotationResult {
  fingerprint: string;
  previous: string[];
  reencrypted: number;
  source: "env" | "file";
}

/** Re-encrypts every encrypted value in one transaction under `next`'s first key. */
async function reencrypt(app: App, next: Vault): Promise<number> {
  const ring = new MultiFernet(next.keys.map((k) => new Fernet(k)));
  let count = 0;
  await app.store.db.transaction(async (tx) => {
    const creds = await tx
      .select({ id: CredentialTable.id, value: CredentialTable.value })
      .from(CredentialTable)
      .all();
    for (const c of creds) {
      await tx
        .update(CredentialTable)
        .set({ value: ring.rotate(c.value) })
        .where(eq(CredentialTable.id, c.id));
      count++;
    }
    const check = await tx.select().from(MetaTable).where(eq(MetaTable.key, "vault.check")).get();
    if (check)
      await tx
        .update(MetaTable)
        .set({ value: ring.rotate(check.value), updatedAt: new Date() })
        .where(eq(MetaTable.key, "vault.check"));
    for (const extra of app.encrypted ?? []) count += await extra(tx, (v) => ring.rotate(v));
  });
  return count;
}

/**
 * Rotates the master key. With a key file: write `[new, old]` (atomically), re-encrypt everything
 * in one transaction, then write `[new]`. Interrupted anywhere, the file holds a key ring that opens
 * every value in the store. With `CATWALK_MASTER_KEY`, the operator supplies the ring
 * (`new,old`); this re-encrypts under the first key and says when the old one may go.
 */
export async function rotateKeys(app: App): Promise<RotationResult> {
  const current = app.vault;
  const previous = current.fingerprints;
  if (current.source === "env") {
    if (current.keys.length < 2) {
      throw new KeyRotationError(
        "The master key comes from CATWALK_MASTER_KEY, which Catwalk cannot rewrite.",
        {
          hint: `Run \`catwalk keys generate\`, set CATWALK_MASTER_KEY="<new key>,<current key>", restart the server, then run \`catwalk keys rotate\` again.`,
        },
      );
    }
    const count = await reencrypt(app, current);
    return {
      fingerprint: current.fingerprints[0] as string,
      previous: previous.slice(1),
      reencrypted: count,
      source: "env",
    };
  }
  const dataDir = app.config.dataDir;
  const fresh = generateKey();
  const onDisk = readKeyFile(dataDir) ?? [...current.keys];
  const ring = [fresh, ...onDisk.filter((k) => k !== fresh)];
  writeKeyFile(dataDir, ring);
  const next = makeVault(ring, "file");
  app.log.redactor.add(fresh);
  const count = await reencrypt(app, next);
  writeKeyFile(dataDir, [fresh]);
  app.vault = makeVault([fresh], "file");
  return { fingerprint: fingerprint(fresh), previous, reencrypted: count, source: "file" };
}
