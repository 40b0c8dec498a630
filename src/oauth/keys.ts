import type { KeyObject } from "node:crypto";
import { and, isNotNull, isNull, lt } from "drizzle-orm";
import type { Db } from "../store/db.ts";
import { newId } from "../util/ids.ts";
import type { Vault } from "../vault/vault.ts";
import { generateSigningKey, JWS_ALG, privateKeyFromPem, publicKeyFromJwk } from "./jws.ts";
import { OAuthSigningKeyTable } from "./oauth.sql.ts";

interface LoadedKey {
  kid: string;
  publicJwk: JsonWebKey;
  publicKey: KeyObject;
  retiredAt: Date | null;
}

/**
 * The access-token signing keys. Generated once and stored encrypted with the vault, so tokens
 * survive restarts and upgrades. Rotation makes a new key the signer; the old one keeps verifying
 * (and stays in the JWKS) until every token it signed has expired, then `prune` deletes it.
 */
export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private signer: { kid: string; key: KeyObject } | undefined;
  private lastReload = 0;

  constructor(
    private readonly db: Db,
    private readonly vault: Vault,
  ) {}

  /** Loads the keys; creates the first one when the store has none. */
  async load(): Promise<void> {
    const rows = await this.db.select().from(OAuthSigningKeyTable).all();
    if (!rows.some((r) => r.retiredAt === null)) {
      await this.create();
      return this.load();
    }
    this.keys = new Map(
      rows.map((r) => [
        r.id,
        {
          kid: r.id,
          publicJwk: r.publicJwk,
          publicKey: publicKeyFromJwk(r.publicJwk),
          retiredAt: r.retiredAt,
        },
      ]),
    );
    const active = rows.filter((r) => r.retiredAt === null).sort((a, b) => (a.id < b.id ? 1 : -1))[0];
    if (active)
      this.signer = { kid: active.id, key: privateKeyFromPem(this.vault.decrypt(active.privateKey)) };
    this.lastReload = Date.now();
  }

  private async create(): Promise<string> {
    const pair = generateSigningKey();
    const kid = newId("key");
    await this.db.insert(OAuthSigningKeyTable).values({
      id: kid,
      alg: JWS_ALG,
      publicJwk: pair.publicJwk,
      privateKey: this.vault.encrypt(pair.privatePem),
    });
    return kid;
  }

  current(): { kid: string; key: KeyObject } {
    if (!this.signer) throw new Error("signing keys not loaded");
    return this.signer;
  }

  /**
   * The verification key for a `kid`. An unknown kid re-reads the table (at most every 10 s), so a
   * key rotated by another process sharing the database is picked up.
   */
  async publicKey(kid: string): Promise<KeyObject | undefined> {
    const known = this.keys.get(kid);
    if (known) return known.publicKey;
    if (Date.now() - this.lastReload < 10_000) return undefined;
    await this.load();
    return this.keys.get(kid)?.publicKey;
  }

  jwks(): { keys: JsonWebKey[] } {
    return {
      keys: [...this.keys.values()].map((k) => ({ ...k.publicJwk, kid: k.kid, alg: JWS_ALG, use: "sig" })),
    };
  }

  /** Makes a new signing key; the previous one only verifies from now on. Returns the new kid. */
  async rotate(): Promise<string> {
    const kid = await this.create();
    await this.db
      .update(OAuthSigningKeyTable)
      .set({ retiredAt: new Date() })
      .where(and(isNull(OAuthSigningKeyTable.retiredAt), lt(OAuthSigningKeyTable.id, kid)));
    await this.load();
    return kid;
  }

  /** Deletes keys retired longer ago than the longest-lived token they can have signed. */
  async prune(maxTokenAgeMs: number): Promise<void> {
    const before = new Date(Date.now() - maxTokenAgeMs - 60_000);
    await this.db
      .delete(OAuthSigningKeyTable)
      .where(and(isNotNull(OAuthSigningKeyTable.retiredAt), lt(OAuthSigningKeyTable.retiredAt, before)));
  }
}
