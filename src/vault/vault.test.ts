import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/helpers/server.ts";
import { openStore } from "../store/db.ts";
import { generateKey } from "./fernet.ts";
import { MASTER_KEY_FILE, openVault, VaultKeyMismatchError, VaultKeyMissingError } from "./vault.ts";

async function open(dataDir: string, masterKey?: string) {
  const store = await openStore({ dataDir });
  try {
    return { store, vault: await openVault({ db: store.db, dataDir, masterKey }) };
  } catch (e) {
    store.close();
    throw e;
  }
}

describe("vault", () => {
  test("first start creates a 0600 key file and later starts reuse it", async () => {
    const dataDir = tempDir();
    const a = await open(dataDir);
    const token = a.vault.encrypt("s3cret-value");
    a.store.close();
    expect((statSync(join(dataDir, MASTER_KEY_FILE)).mode & 0o777).toString(8)).toBe("600");
    const b = await open(dataDir);
    expect(b.vault.decrypt(token)).toBe("s3cret-value");
    expect(b.vault.source).toBe("file");
    b.store.close();
  });

  test("a different master key is refused at open, naming the key source", async () => {
    const dataDir = tempDir();
    (await open(dataDir)).store.close();
    const error = await open(dataDir, generateKey()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultKeyMismatchError);
    expect((error as VaultKeyMismatchError).message).toContain("CATWALK_MASTER_KEY");
  });

  test("a lost key file is an error, not a silently generated new key", async () => {
    const dataDir = tempDir();
    (await open(dataDir)).store.close();
    rmSync(join(dataDir, MASTER_KEY_FILE));
    const error = await open(dataDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultKeyMissingError);
    expect((error as VaultKeyMissingError).hint).toContain("CATWALK_MASTER_KEY");
  });

  test("CATWALK_MASTER_KEY wins over the file and accepts old keys after the new one", async () => {
    const dataDir = tempDir();
    const oldKey = generateKey();
    const a = await open(dataDir, oldKey);
    const token = a.vault.encrypt("kept across rotation");
    a.store.close();
    const b = await open(dataDir, `${generateKey()},${oldKey}`);
    expect(b.vault.source).toBe("env");
    expect(b.vault.decrypt(token)).toBe("kept across rotation");
    b.store.close();
  });

  test("plaintext of an encrypted value never appears in the database file", async () => {
    const dataDir = tempDir();
    const { store, vault } = await open(dataDir);
    const secret = "sk-live-PLAINTEXT-MARKER-4f7c2b91";
    await store.client.execute({
      sql: "insert into meta (key, value, created_at, updated_at) values (?, ?, 0, 0)",
      args: ["x", vault.encrypt(secret)],
    });
    await store.client.execute("pragma wal_checkpoint(truncate)");
    store.close();
    for (const file of ["catwalk.db", "catwalk.db-wal"]) {
      const path = join(dataDir, file);
      const bytes = (() => {
        try {
          return readFileSync(path);
        } catch {
          return Buffer.alloc(0);
        }
      })();
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
    expect(readFileSync(join(dataDir, "catwalk.db")).includes(Buffer.from("gAAAAA"))).toBe(true);
  });
});
