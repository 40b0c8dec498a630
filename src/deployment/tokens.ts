import type { Db } from "../store/db.ts";
import { hashToken } from "../util/secret.ts";
import { matchToken, touchToken } from "./deployment.ts";

interface Cached {
  tokenId: string;
  deploymentId: string;
  touched: number;
  /** When the store last confirmed the token. */
  checked: number;
}

/** How often `last_used_at` is written per token; finer tracking would cost a write per MCP request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Verifies deployment access tokens on the MCP hot path: a hit is a hash and a map lookup; a miss
 * reads the store once. Revoking a token drops it from the cache, so the next request with it is
 * refused even on an open session. With a store shared by several hosts (`recheckMs`), a revocation
 * made on another host is only in the store, so a cached token is confirmed again once it is older
 * than `recheckMs`.
 */
export class AccessTokens {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly db: Db,
    private readonly recheckMs?: number,
  ) {}

  async verify(token: string, deploymentId: string): Promise<string | undefined> {
    const hash = hashToken(token);
    const now = Date.now();
    const cached = this.cache.get(hash);
    let hit = cached;
    if (hit && this.recheckMs !== undefined && now - hit.checked > this.recheckMs) {
      this.cache.delete(hash);
      hit = undefined;
    }
    if (!hit) {
      const match = await matchToken(this.db, token);
      if (!match) return undefined;
      hit = { ...match, touched: cached?.touched ?? 0, checked: now };
      this.cache.set(hash, hit);
    }
    if (hit.deploymentId !== deploymentId) return undefined;
    if (now - hit.touched > TOUCH_EVERY_MS) {
      hit.touched = now;
      touchToken(this.db, hit.tokenId).catch(() => {});
    }
    return hit.tokenId;
  }

  forget(tokenId: string): void {
    for (const [hash, c] of this.cache) if (c.tokenId === tokenId) this.cache.delete(hash);
  }

  forgetDeployment(deploymentId: string): void {
    for (const [hash, c] of this.cache) if (c.deploymentId === deploymentId) this.cache.delete(hash);
  }
}
