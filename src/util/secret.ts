import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Bearer tokens: a recognisable prefix (so secret scanners and humans can tell what leaked) and
 * 256 random bits. Only their SHA-256 is stored; tokens have full entropy, so a slow hash would
 * add latency to every MCP request without adding safety.
 */
export type TokenKind = "adm" | "dep" | "oat" | "ort" | "brg";

export function newToken(kind: TokenKind): string {
  return `cw${kind}_${randomBytes(32).toString("base64url")}`;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Compares two strings in time independent of where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** Reads `Authorization: Bearer <token>`; undefined when absent or of another scheme. */
export function bearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match?.[1];
}
