import { randomBytes } from "node:crypto";
import type { Grants } from "./grants.ts";
import { parseJws, signJws, verifyJws } from "./jws.ts";
import type { SigningKeys } from "./keys.ts";

/**
 * Access tokens: `cwoat_` + a compact JWS (ES256) in the RFC 9068 profile (`typ: at+jwt`, `iss`,
 * `aud` = the deployment's resource URL, `sub` = the grant, `client_id`, `scope`, `jti`, `iat`,
 * `exp`). The prefix tells humans, secret scanners and the admin guard what the token is; the
 * JWS lets the gateway verify it with one signature check and an in-memory revocation lookup.
 */
export const ACCESS_PREFIX = "cwoat_";

export interface AccessClaims {
  iss: string;
  aud: string;
  sub: string;
  client_id: string;
  scope: string;
  jti: string;
  iat: number;
  exp: number;
  /** The deployment id the audience names (a slug can be reused by a later deployment). */
  cw_dep: string;
}

export interface VerifiedAccess {
  ok: true;
  deploymentId: string;
  clientId: string;
  grantId: string;
  scope: string;
  expiresAt: Date;
}

export type AccessFailure = "invalid" | "expired" | "wrong_audience" | "revoked";
export type AccessResult = VerifiedAccess | { ok: false; reason: AccessFailure };

export interface Expected {
  /** The resource URL the request was made to: `<issuer>/mcp/<slug>`. */
  resource: string;
  /** The id of the deployment now behind that URL, when the caller knows it. */
  deploymentId?: string;
}

export class AccessTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly grants: Grants,
    private readonly issuer: () => string,
    private readonly ttlSeconds: number,
  ) {}

  issue(input: {
    grantId: string;
    clientId: string;
    deploymentId: string;
    resource: string;
    scope: string;
  }): {
    token: string;
    expiresIn: number;
  } {
    const now = Math.floor(Date.now() / 1000);
    const claims: AccessClaims = {
      iss: this.issuer(),
      aud: input.resource,
      sub: input.grantId,
      client_id: input.clientId,
      scope: input.scope,
      jti: randomBytes(16).toString("base64url"),
      iat: now,
      exp: now + this.ttlSeconds,
      cw_dep: input.deploymentId,
    };
    const { kid, key } = this.keys.current();
    const jws = signJws({ typ: "at+jwt", kid }, { ...claims }, key);
    return { token: `${ACCESS_PREFIX}${jws}`, expiresIn: this.ttlSeconds };
  }

  /** Signature, issuer and shape only: the claims of a token this server signed, expired or not. */
  async decode(token: string): Promise<AccessClaims | undefined> {
    if (!token.startsWith(ACCESS_PREFIX)) return undefined;
    const parsed = parseJws(token.slice(ACCESS_PREFIX.length));
    if (parsed?.header.typ !== "at+jwt" || typeof parsed.header.kid !== "string") return undefined;
    const key = await this.keys.publicKey(parsed.header.kid);
    if (!key || !verifyJws(parsed, key)) return undefined;
    const c = parsed.payload;
    const strings = ["iss", "aud", "sub", "client_id", "scope", "jti", "cw_dep"] as const;
    if (!strings.every((k) => typeof c[k] === "string")) return undefined;
    if (typeof c.exp !== "number" || typeof c.iat !== "number") return undefined;
    if (c.iss !== this.issuer()) return undefined;
    return c as unknown as AccessClaims;
  }

  async verify(token: string, expected: Expected): Promise<AccessResult> {
    const claims = await this.decode(token);
    if (!claims) return { ok: false, reason: "invalid" };
    if (claims.exp <= Date.now() / 1000) return { ok: false, reason: "expired" };
    if (claims.aud !== expected.resource) return { ok: false, reason: "wrong_audience" };
    if (expected.deploymentId !== undefined && claims.cw_dep !== expected.deploymentId)
      return { ok: false, reason: "wrong_audience" };
    await this.grants.syncRevocations();
    if (this.grants.isRevoked(claims.sub)) return { ok: false, reason: "revoked" };
    this.grants.touch(claims.sub, claims.client_id);
    return {
      ok: true,
      deploymentId: claims.cw_dep,
      clientId: claims.client_id,
      grantId: claims.sub,
      scope: claims.scope,
      expiresAt: new Date(claims.exp * 1000),
    };
  }
}
