import { eq } from "drizzle-orm";
import type { App } from "../app/app.ts";
import { CredentialTable } from "../deployment/deployment.sql.ts";
import { MetaTable } from "../store/meta.sql.ts";
import { CatwalkError } from "../util/error.ts";
import { Fernet, generateKey, MultiFernet } from "../vault/fernet.ts";
import { fingerprint, readKeyFile, writeKeyFile } from "../vault/vault.ts";

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

/**
 * Re-encrypts, in one transaction, every encrypted value that does not already open with the
 * ring's first key alone; returns how many changed.
 */
async function reencrypt(app: App, keys: readonly string[]): Promise<number> {
  const ring = new MultiFernet(keys.map((k) => new Fernet(k)));
  const first = new Fernet(keys[0] as string);
  const current = (v: string) => {
    try {
      first.decrypt(v);
      return true;
    } catch {
      return false;
    }
  };
  let count = 0;
  const rotate = (v: string) => {
    if (current(v)) return v;
    count++;
    return ring.rotate(v);
  };
  await app.store.db.transaction(async (tx) => {
    const creds = await tx
      .select({ id: CredentialTable.id, value: CredentialTable.value })
      .from(CredentialTable)
      .all();
    for (const c of creds) {
      const next = rotate(c.value);
      if (next !== c.value)
        await tx.update(CredentialTable).set({ value: next }).where(eq(CredentialTable.id, c.id));
    }
    const check = await tx.select().from(MetaTable).where(eq(MetaTable.key, "vault.check")).get();
    if (check) {
      const next = rotate(check.value);
      if (next !== check.value) {
        await tx
          .update(MetaTable)
          .set({ value: next, updatedAt: new Date() })
          .where(eq(MetaTable.key, "vault.check"));
      }
    }
    for (const extra of app.encrypted ?? []) await extra(tx, rotate);
  });
  return count;
}

/**
 * Rotates the master key. With a key file:
 * 1. write `[new, old]` atomically and switch the running vault to it (new writes use the new key);
 * 2. re-encrypt everything in one transaction, then sweep once more for values encrypted under
 *    the old key just before the switch;
 * 3. write `[new]` and drop the old key from the running vault.
 * Interrupted anywhere, the key file holds a ring that opens every value in the store. With
 * `CATWALK_MASTER_KEY` the operator supplies the ring (`new,old`); this re-encrypts under the
 * first key and the operator drops the old one afterwards.
 */
export async function rotateKeys(app: App): Promise<RotationResult> {
  const current = app.vault;
  const previous = [...current.fingerprints];
  if (current.source === "env") {
    if (current.keys.length < 2) {
      throw new KeyRotationError(
        "The master key comes from CATWALK_MASTER_KEY, which Catwalk cannot rewrite.",
        {
          hint: 'Run `catwalk keys generate`, set CATWALK_MASTER_KEY="<new key>,<current key>", restart the server, then run `catwalk keys rotate` again.',
        },
      );
    }
    const count = await reencrypt(app, current.keys);
    return {
      fingerprint: current.fingerprints[0] as string,
      previous: previous.slice(1),
      reencrypted: count,
      source: "env",
    };
  }
  const dataDir = app.config.dataDir;
  const fresh = generateKey();
  app.log.redactor.add(fresh);
  const onDisk = readKeyFile(dataDir) ?? [...current.keys];
  const ring = [fresh, ...onDisk.filter((k) => k !== fresh)];
  writeKeyFile(dataDir, ring);
  app.vault.use(ring, "file");
  let count = await reencrypt(app, ring);
  count += await reencrypt(app, ring);
  writeKeyFile(dataDir, [fresh]);
  app.vault.use([fresh], "file");
  return { fingerprint: fingerprint(fresh), previous, reencrypted: count, source: "file" };
}

/**
 * Completes a rotation that was interrupted (the key file still lists the old keys after the
 * new one): re-encrypts what is left under the first key and drops the others. Run at start.
 */
export async function finishRotation(app: App): Promise<number | undefined> {
  const vault = app.vault;
  if (vault.source !== "file" || vault.keys.length < 2) return undefined;
  const ring = [...vault.keys];
  let count = await reencrypt(app, ring);
  count += await reencrypt(app, ring);
  writeKeyFile(app.config.dataDir, [ring[0] as string]);
  vault.use([ring[0] as string], "file");
  return count;
}
