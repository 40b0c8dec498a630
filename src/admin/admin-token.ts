import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../store/db.ts";
import { getMeta, insertMetaIfAbsent, setMeta } from "../store/meta.ts";
import { hashToken, newToken, safeEqual } from "../util/secret.ts";

export const ADMIN_TOKEN_FILE = "admin-token";
const HASH_KEY = "admin.token_hash";

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, ADMIN_TOKEN_FILE);
}

export function readAdminTokenFile(dataDir: string): string | undefined {
  const path = adminTokenPath(dataDir);
  if (!existsSync(path)) return undefined;
  const token = readFileSync(path, "utf8").trim();
  return token === "" ? undefined : token;
}

function writeTokenFile(dataDir: string, token: string): void {
  const path = adminTokenPath(dataDir);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Makes a new admin token, stores only its hash, and writes the token to `<dataDir>/admin-token`. */
export async function rotateAdminToken(db: Db, dataDir: string): Promise<string> {
  const token = newToken("adm");
  await setMeta(db, HASH_KEY, hashToken(token));
  writeTokenFile(dataDir, token);
  return token;
}

/** Makes `token` (read from this data dir's token file) the admin token of `db`, e.g. a restored backup. */
export async function adoptAdminToken(db: Db, token: string): Promise<void> {
  await setMeta(db, HASH_KEY, hashToken(token));
}

/**
 * First start: creates the admin token. Returns it when it was created now, otherwise undefined.
 * Of several hosts starting at once on one shared database, only the one whose hash was stored
 * writes a token file; the others' operators copy it (a token file that does not work is worse).
 */
export async function ensureAdminToken(db: Db, dataDir: string): Promise<string | undefined> {
  if (await getMeta(db, HASH_KEY)) return undefined;
  const token = newToken("adm");
  if (!(await insertMetaIfAbsent(db, HASH_KEY, hashToken(token)))) return undefined;
  writeTokenFile(dataDir, token);
  return token;
}

/**
 * Checks admin tokens against the stored hash. The hash is cached; a token that does not match the
 * cache re-reads it, so a rotation done by `catwalk admin token --rotate` in another process takes
 * effect at once (the old token fails, the new one works) without a database read per request.
 */
export class AdminTokens {
  private hash: string | undefined;
  private readAt = 0;

  /** `recheckMs`: with a store shared by several hosts, how long a cached hash is trusted (a rotation elsewhere). */
  constructor(
    private readonly db: Db,
    private readonly recheckMs?: number,
  ) {}

  async verify(token: string): Promise<boolean> {
    const presented = hashToken(token);
    const fresh = this.recheckMs === undefined || Date.now() - this.readAt <= this.recheckMs;
    if (this.hash && fresh && safeEqual(presented, this.hash)) return true;
    this.hash = await getMeta(this.db, HASH_KEY);
    this.readAt = Date.now();
    return this.hash !== undefined && safeEqual(presented, this.hash);
  }

  forget(): void {
    this.hash = undefined;
  }
}
