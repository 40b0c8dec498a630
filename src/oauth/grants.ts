import { randomBytes } from "node:crypto";
import { and, eq, gte, inArray, isNotNull, isNull, lt, or } from "drizzle-orm";
import type { Db } from "../store/db.ts";
import { newId } from "../util/ids.ts";
import { hashToken } from "../util/secret.ts";
import {
  OAuthClientTable,
  OAuthCodeTable,
  OAuthConnectCodeTable,
  OAuthGrantTable,
  OAuthRefreshTokenTable,
} from "./oauth.sql.ts";

export type Via = "admin_token" | "connect_code";
export type GrantRow = typeof OAuthGrantTable.$inferSelect;
export type CodeRow = typeof OAuthCodeTable.$inferSelect;

export interface GrantTimes {
  accessTtlMs: number;
  refreshTtlMs: number;
  codeTtlMs: number;
  connectCodeTtlMs: number;
}

export interface NewCode {
  clientId: string;
  deploymentId: string;
  resource: string;
  redirectUri: string;
  redirectUriGiven: boolean;
  codeChallenge: string;
  scope: string;
  via: Via;
}

export type CodeResult =
  | { kind: "ok"; code: CodeRow }
  | { kind: "reused"; code: CodeRow }
  | { kind: "invalid"; reason: "unknown" | "expired" };

export type RefreshResult =
  | { kind: "ok"; grant: GrantRow; refreshToken: string }
  | { kind: "reused"; grant: GrantRow }
  | { kind: "invalid"; reason: "unknown" | "expired" | "revoked" | "wrong_client"; grant?: GrantRow };

const REFRESH_PREFIX = "cwort_";
const CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Random opaque secret with a recognisable prefix; only its SHA-256 is stored. */
export function opaque(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** `ABCD-EFGH-JKMN`: 60 bits in Crockford base32, easy to read off a terminal and type. */
function connectCode(): string {
  const bytes = randomBytes(12);
  const chars = [...bytes].map((b) => CODE_ALPHABET[b % 32]).join("");
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

/** Undoes what people do when typing a code: case, spaces, dashes, O for 0, I/L for 1. */
export function normalizeConnectCode(input: string): string {
  return input.toUpperCase().replace(/[\s-]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
}

/**
 * Authorization codes, grants (one operator consent = one refresh-token family), refresh-token
 * rotation with reuse detection, revocation and connect codes. Every secret is stored hashed.
 *
 * Revocation is checked on every MCP request without a database read: revoked grant ids are kept
 * in memory (loaded at start, updated at once by revocations in this process) and re-synced from
 * the table at most every `syncMs`, so a revocation made by another process sharing the database
 * is seen within that interval.
 */
export class Grants {
  private readonly revoked = new Map<string, number>();
  private syncedAt = 0;
  private syncing: Promise<void> | undefined;
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly times: GrantTimes,
    private readonly hmac: (value: string) => string,
    private readonly syncMs = 2000,
  ) {}

  // ── authorization codes ──────────────────────────────────────────────────────────────────

  async issueCode(input: NewCode): Promise<string> {
    const code = opaque("cwac_");
    await this.db.insert(OAuthCodeTable).values({
      ...input,
      hash: hashToken(code),
      expiresAt: new Date(Date.now() + this.times.codeTtlMs),
    });
    return code;
  }

  /** Marks the code used in one statement, so two concurrent redemptions cannot both succeed. */
  async consumeCode(code: string): Promise<CodeResult> {
    const hash = hashToken(code);
    const now = new Date();
    const [won] = await this.db
      .update(OAuthCodeTable)
      .set({ usedAt: now })
      .where(and(eq(OAuthCodeTable.hash, hash), isNull(OAuthCodeTable.usedAt)))
      .returning();
    if (won) return won.expiresAt < now ? { kind: "invalid", reason: "expired" } : { kind: "ok", code: won };
    const row = await this.db.select().from(OAuthCodeTable).where(eq(OAuthCodeTable.hash, hash)).get();
    return row ? { kind: "reused", code: row } : { kind: "invalid", reason: "unknown" };
  }

  // ── grants and refresh tokens ────────────────────────────────────────────────────────────

  /** Creates the grant a redeemed code stands for, with its first refresh token. */
  async createGrant(code: CodeRow): Promise<{ grant: GrantRow; refreshToken: string }> {
    const id = newId("grt");
    const [grant] = await this.db
      .insert(OAuthGrantTable)
      .values({
        id,
        clientId: code.clientId,
        deploymentId: code.deploymentId,
        resource: code.resource,
        scope: code.scope,
        via: code.via,
        lastUsedAt: new Date(),
      })
      .returning();
    await this.db.update(OAuthCodeTable).set({ grantId: id }).where(eq(OAuthCodeTable.hash, code.hash));
    const refreshToken = await this.issueRefresh(id);
    return { grant: grant as GrantRow, refreshToken };
  }

  private async issueRefresh(grantId: string): Promise<string> {
    const token = opaque(REFRESH_PREFIX);
    await this.db.insert(OAuthRefreshTokenTable).values({
      hash: hashToken(token),
      grantId,
      status: "active",
      expiresAt: new Date(Date.now() + this.times.refreshTtlMs),
    });
    return token;
  }

  /**
   * Rotates a refresh token: the presented one becomes `rotated`, a new one is issued. A token
   * that was already rotated is a replay (stolen, or a client that lost the new one): the caller
   * revokes the whole grant.
   */
  async rotateRefresh(token: string, clientId: string): Promise<RefreshResult> {
    if (!token.startsWith(REFRESH_PREFIX)) return { kind: "invalid", reason: "unknown" };
    const hash = hashToken(token);
    const row = await this.db
      .select()
      .from(OAuthRefreshTokenTable)
      .where(eq(OAuthRefreshTokenTable.hash, hash))
      .get();
    if (!row) return { kind: "invalid", reason: "unknown" };
    const grant = await this.grant(row.grantId);
    if (!grant) return { kind: "invalid", reason: "unknown" };
    if (grant.clientId !== clientId) return { kind: "invalid", reason: "wrong_client", grant };
    if (grant.revokedAt || row.status === "revoked") return { kind: "invalid", reason: "revoked", grant };
    if (row.status === "rotated") return { kind: "reused", grant };
    if (row.expiresAt.getTime() <= Date.now()) return { kind: "invalid", reason: "expired", grant };
    const now = new Date();
    const [won] = await this.db
      .update(OAuthRefreshTokenTable)
      .set({ status: "rotated", usedAt: now })
      .where(and(eq(OAuthRefreshTokenTable.hash, hash), eq(OAuthRefreshTokenTable.status, "active")))
      .returning();
    if (!won) return { kind: "reused", grant };
    await this.db.update(OAuthGrantTable).set({ lastUsedAt: now }).where(eq(OAuthGrantTable.id, grant.id));
    await this.db.update(OAuthClientTable).set({ lastUsedAt: now }).where(eq(OAuthClientTable.id, clientId));
    return {
      kind: "ok",
      grant: { ...grant, lastUsedAt: now },
      refreshToken: await this.issueRefresh(grant.id),
    };
  }

  /** The grant a refresh token belongs to, whatever its state (for RFC 7009 revocation). */
  async grantOfRefresh(token: string): Promise<GrantRow | undefined> {
    const row = await this.db
      .select({ grantId: OAuthRefreshTokenTable.grantId })
      .from(OAuthRefreshTokenTable)
      .where(eq(OAuthRefreshTokenTable.hash, hashToken(token)))
      .get();
    return row ? this.grant(row.grantId) : undefined;
  }

  grant(id: string): Promise<GrantRow | undefined> {
    return this.db.select().from(OAuthGrantTable).where(eq(OAuthGrantTable.id, id)).get();
  }

  /** Revokes grants (and their refresh tokens); returns the ones that were active. */
  async revoke(ids: string[], reason: string): Promise<GrantRow[]> {
    if (ids.length === 0) return [];
    const now = new Date();
    const rows = await this.db
      .update(OAuthGrantTable)
      .set({ revokedAt: now, revokeReason: reason })
      .where(and(inArray(OAuthGrantTable.id, ids), isNull(OAuthGrantTable.revokedAt)))
      .returning();
    await this.db
      .update(OAuthRefreshTokenTable)
      .set({ status: "revoked" })
      .where(and(inArray(OAuthRefreshTokenTable.grantId, ids), eq(OAuthRefreshTokenTable.status, "active")));
    for (const r of rows) this.revoked.set(r.id, now.getTime());
    return rows;
  }

  async activeGrants(filter: { deploymentId?: string; clientId?: string }): Promise<GrantRow[]> {
    const conds = [isNull(OAuthGrantTable.revokedAt)];
    if (filter.deploymentId) conds.push(eq(OAuthGrantTable.deploymentId, filter.deploymentId));
    if (filter.clientId) conds.push(eq(OAuthGrantTable.clientId, filter.clientId));
    return this.db
      .select()
      .from(OAuthGrantTable)
      .where(and(...conds))
      .all();
  }

  // ── revocation cache ─────────────────────────────────────────────────────────────────────

  isRevoked(grantId: string): boolean {
    return this.revoked.has(grantId);
  }

  /** Re-reads recent revocations when the cache is older than `syncMs`; concurrent callers share one read. */
  async syncRevocations(force = false): Promise<void> {
    if (!force && Date.now() - this.syncedAt < this.syncMs) return;
    this.syncing ??= this.readRevocations().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async readRevocations(): Promise<void> {
    const started = Date.now();
    // A token can only be valid for accessTtl after issue, so older revocations no longer matter.
    const horizon = started - this.times.accessTtlMs - 60_000;
    const since = this.syncedAt === 0 ? horizon : Math.max(horizon, this.syncedAt - 5000);
    const rows = await this.db
      .select({ id: OAuthGrantTable.id, revokedAt: OAuthGrantTable.revokedAt })
      .from(OAuthGrantTable)
      .where(and(isNotNull(OAuthGrantTable.revokedAt), gte(OAuthGrantTable.revokedAt, new Date(since))))
      .all();
    for (const r of rows) this.revoked.set(r.id, r.revokedAt?.getTime() ?? started);
    for (const [id, at] of this.revoked) if (at < horizon) this.revoked.delete(id);
    this.syncedAt = started;
  }

  /** Records use of a grant by an access token; written at most once a minute per grant. */
  touch(grantId: string, clientId: string): void {
    const now = Date.now();
    if (now - (this.touched.get(grantId) ?? 0) < 60_000) return;
    this.touched.set(grantId, now);
    if (this.touched.size > 10_000) this.touched.clear();
    const at = new Date(now);
    void Promise.all([
      this.db.update(OAuthGrantTable).set({ lastUsedAt: at }).where(eq(OAuthGrantTable.id, grantId)),
      this.db.update(OAuthClientTable).set({ lastUsedAt: at }).where(eq(OAuthClientTable.id, clientId)),
    ]).catch(() => undefined);
  }

  // ── connect codes ────────────────────────────────────────────────────────────────────────

  async issueConnectCode(deploymentId: string): Promise<{ code: string; expiresAt: Date }> {
    const code = connectCode();
    const expiresAt = new Date(Date.now() + this.times.connectCodeTtlMs);
    await this.db
      .insert(OAuthConnectCodeTable)
      .values({ hash: this.hmac(normalizeConnectCode(code)), deploymentId, expiresAt });
    return { code, expiresAt };
  }

  /** The deployment of a valid, unused connect code, without using it up. */
  async peekConnectCode(input: string): Promise<string | undefined> {
    const row = await this.db
      .select()
      .from(OAuthConnectCodeTable)
      .where(eq(OAuthConnectCodeTable.hash, this.hmac(normalizeConnectCode(input))))
      .get();
    if (!row || row.usedAt || row.expiresAt.getTime() <= Date.now()) return undefined;
    return row.deploymentId;
  }

  /** Uses a connect code up; false when it was used or expired meanwhile. */
  async consumeConnectCode(input: string): Promise<boolean> {
    const [won] = await this.db
      .update(OAuthConnectCodeTable)
      .set({ usedAt: new Date() })
      .where(
        and(
          eq(OAuthConnectCodeTable.hash, this.hmac(normalizeConnectCode(input))),
          isNull(OAuthConnectCodeTable.usedAt),
          gte(OAuthConnectCodeTable.expiresAt, new Date()),
        ),
      )
      .returning();
    return won !== undefined;
  }

  // ── housekeeping ─────────────────────────────────────────────────────────────────────────

  /**
   * Deletes what can no longer matter: expired codes and connect codes, refresh tokens past
   * expiry, grants revoked longer ago than an access token lives, and dynamically registered
   * clients that never got a grant within a day (clients that register on every connect).
   */
  async prune(): Promise<void> {
    const now = Date.now();
    const tokenHorizon = new Date(now - this.times.accessTtlMs - 60_000);
    await this.db.delete(OAuthCodeTable).where(lt(OAuthCodeTable.expiresAt, new Date(now - 3_600_000)));
    await this.db.delete(OAuthConnectCodeTable).where(lt(OAuthConnectCodeTable.expiresAt, new Date(now)));
    await this.db
      .delete(OAuthRefreshTokenTable)
      .where(
        or(
          lt(OAuthRefreshTokenTable.expiresAt, new Date(now)),
          and(
            eq(OAuthRefreshTokenTable.status, "rotated"),
            lt(OAuthRefreshTokenTable.usedAt, new Date(now - this.times.refreshTtlMs)),
          ),
        ),
      );
    await this.db
      .delete(OAuthGrantTable)
      .where(and(isNotNull(OAuthGrantTable.revokedAt), lt(OAuthGrantTable.revokedAt, tokenHorizon)));
    await this.db
      .delete(OAuthClientTable)
      .where(and(isNotNull(OAuthClientTable.deletedAt), lt(OAuthClientTable.deletedAt, tokenHorizon)));
    const stale = await this.db
      .select({ id: OAuthClientTable.id })
      .from(OAuthClientTable)
      .leftJoin(OAuthGrantTable, eq(OAuthGrantTable.clientId, OAuthClientTable.id))
      .where(
        and(
          eq(OAuthClientTable.kind, "dcr"),
          isNull(OAuthGrantTable.id),
          lt(OAuthClientTable.createdAt, new Date(now - 86_400_000)),
        ),
      )
      .all();
    if (stale.length > 0)
      await this.db.delete(OAuthClientTable).where(
        inArray(
          OAuthClientTable.id,
          stale.map((s) => s.id),
        ),
      );
  }
}
