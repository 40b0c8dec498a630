import { createHash } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../store/db.ts";
import { getMeta, insertMetaIfAbsent, setMeta } from "../store/meta.ts";
import { CatwalkError } from "../util/error.ts";
import { Fernet, generateKey, MultiFernet } from "./fernet.ts";

export class VaultKeyMissingError extends CatwalkError {
  readonly code = "vault.key_missing";
  readonly status = 500;
}

export class VaultKeyMismatchError extends CatwalkError {
  readonly code = "vault.key_mismatch";
  readonly status = 500;
}

const CHECK_KEY = "vault.check";
const CHECK_TEXT = "catwalk vault check v1";

export const MASTER_KEY_FILE = "master.key";

/**
 * Encrypts secrets at rest with Fernet under the master key ring (first key encrypts, any key
 * decrypts). A check value encrypted at first start lets every later start prove that the key it
 * was given opens this database, so a lost or swapped key is an error at boot instead of garbage
 * at the first credential read.
 */
export interface Vault {
  encrypt(plaintext: string): string;
  decrypt(token: string): string;
  /** Short fingerprints of the keys, newest first; safe to log. */
  readonly fingerprints: string[];
  /** Where the keys came from, for the banner. */
  readonly source: "env" | "file";
  readonly keys: readonly string[];
  /**
   * Switches to another key ring in place (key rotation). Everything holding this vault sees the
   * new keys at once, so no module keeps encrypting under a retired key.
   */
  use(keys: readonly string[], source: "env" | "file"): void;
}

export function fingerprint(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

export function parseKeys(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s !== "" && !s.startsWith("#"));
}

export function makeVault(keys: readonly string[], source: "env" | "file"): Vault {
  let ring = new MultiFernet(keys.map((k) => new Fernet(k)));
  const vault = {
    encrypt: (plaintext: string) => ring.encrypt(plaintext),
    decrypt: (token: string) => ring.decryptText(token),
    fingerprints: keys.map(fingerprint),
    source,
    keys,
    use(next: readonly string[], from: "env" | "file") {
      ring = new MultiFernet(next.map((k) => new Fernet(k)));
      vault.fingerprints = next.map(fingerprint);
      vault.source = from;
      vault.keys = next;
    },
  };
  return vault;
}

/** Writes the key file atomically with mode 0600 (temp file in the same dir, then rename). */
export function writeKeyFile(dataDir: string, keys: readonly string[]): void {
  const path = join(dataDir, MASTER_KEY_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${keys.join("\n")}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function readKeyFile(dataDir: string): string[] | undefined {
  const path = join(dataDir, MASTER_KEY_FILE);
  if (!existsSync(path)) return undefined;
  return parseKeys(readFileSync(path, "utf8"));
}

export interface OpenVaultOptions {
  db: Db;
  dataDir: string;
  /** `CATWALK_MASTER_KEY` (comma-separated), which wins over the key file. */
  masterKey?: string | undefined;
}

export async function openVault(opts: OpenVaultOptions): Promise<Vault> {
  const check = await getMeta(opts.db, CHECK_KEY);
  const fromEnv = opts.masterKey ? parseKeys(opts.masterKey) : undefined;
  let keys = fromEnv ?? readKeyFile(opts.dataDir);
  const source = fromEnv ? "env" : "file";
  let generated = false;

  if (!keys || keys.length === 0) {
    if (check) {
      throw new VaultKeyMissingError(
        `No master key, but this database holds secrets encrypted with one (${join(opts.dataDir, MASTER_KEY_FILE)} is missing).`,
        {
          hint: "Restore the master.key file from your backup, or set CATWALK_MASTER_KEY to the key it held (with a remote database shared by several hosts: the key the other hosts use).",
        },
      );
    }
    keys = [generateKey()];
    writeKeyFile(opts.dataDir, keys);
    generated = true;
  }

  const vault = makeVault(keys, source);
  // Several hosts may start at once on a new shared database: the first check value stored wins,
  // and a host whose key differs is refused below instead of overwriting it.
  if (!check && (await insertMetaIfAbsent(opts.db, CHECK_KEY, vault.encrypt(CHECK_TEXT)))) return vault;
  const stored = check ?? (await getMeta(opts.db, CHECK_KEY));
  try {
    if (stored !== undefined && vault.decrypt(stored) === CHECK_TEXT) return vault;
  } catch {
    // fall through to the mismatch error below
  }
  // Lost the first-start race to another host: the key made here opens nothing, so do not keep it.
  if (generated) rmSync(join(opts.dataDir, MASTER_KEY_FILE), { force: true });
  throw new VaultKeyMismatchError(
    `The master key (${source === "env" ? "CATWALK_MASTER_KEY" : MASTER_KEY_FILE}, fingerprint ${vault.fingerprints.join(",")}) does not open this database's secrets.`,
    {
      hint: "Use the key this data dir was created with (restore master.key or fix CATWALK_MASTER_KEY); a new key cannot read old secrets. Hosts sharing one remote database must all set the same CATWALK_MASTER_KEY.",
    },
  );
}

/** Re-encrypts the check value under the vault's first key (used by key rotation). */
export async function resealCheck(db: Db, vault: Vault): Promise<void> {
  await setMeta(db, CHECK_KEY, vault.encrypt(CHECK_TEXT));
}
