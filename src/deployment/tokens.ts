import type { Db } from "../store/db.ts";
import { hashToken } from "../util/secret.ts";
import { matchToken, touchToken } from "./deployment.ts";

interface Cached {
  tokenId: string;
  deploymentId: string;
  touched: number;
}

/** How often `last_used_at` is written per token; finer tracking would cost a write per MCP request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Verifies deployment access tokens on the MCP hot path: a hit is a hash and a map lookup; a miss
 * reads the store once. Revoking a token drops it from the cache, so the next request with it is
 * refused even on an open session.
 */
export class AccessTokens {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly db: Db) {}

  async verify(token: string, deploymentId: string): Promise<string | undefined> {
    const hash = hashToken(token);
    let hit = this.cache.get(hash);
    if (!hit) {
      const match = await matchToken(this.db, token);
      if (!match) return undefined;
      hit = { ...match, touched: 0 };
      this.cache.set(hash, hit);
    }
    if (hit.deploymentId !== deploymentId) return undefined;
    const now = Date.now();
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
