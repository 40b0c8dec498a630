import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamps } from "../store/columns.ts";

const at = (name: string) => integer(name, { mode: "timestamp_ms" });

/**
 * OAuth clients: registered by RFC 7591 (`kind` dcr, id `cli_…`) or known by their Client ID
 * Metadata Document URL (`kind` cimd, id = the URL, metadata refreshed from it). Secrets and
 * registration access tokens are stored as SHA-256 hashes only.
 */
export const OAuthClientTable = sqliteTable("oauth_clients", {
  id: text("id").primaryKey(),
  kind: text("kind", { enum: ["dcr", "cimd"] }).notNull(),
  name: text("name"),
  redirectUris: text("redirect_uris", { mode: "json" }).$type<string[]>().notNull(),
  applicationType: text("application_type", { enum: ["web", "native"] }).notNull(),
  authMethod: text("token_endpoint_auth_method").notNull(),
  secretHash: text("secret_hash"),
  registrationTokenHash: text("registration_token_hash"),
  /** The registered (or fetched) client metadata as the client sent it, for RFC 7592 reads. */
  metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  lastUsedAt: at("last_used_at"),
  /** Set by RFC 7592 DELETE; the row stays until no token issued to the client can be valid. */
  deletedAt: at("deleted_at"),
  ...timestamps,
});

/**
 * One consent of the operator: a client may use one deployment. A grant is the family of its
 * refresh tokens; revoking it ends every token issued under it. `deployment_id` is the
 * deployments domain's id (no foreign key: the deployments table belongs to another module).
 */
export const OAuthGrantTable = sqliteTable(
  "oauth_grants",
  {
    id: text("id").primaryKey(),
    clientId: text("client_id")
      .notNull()
      .references(() => OAuthClientTable.id, { onDelete: "cascade" }),
    deploymentId: text("deployment_id").notNull(),
    resource: text("resource").notNull(),
    scope: text("scope").notNull(),
    /** How the operator proved who they were on the consent page. */
    via: text("via", { enum: ["admin_token", "connect_code"] }).notNull(),
    lastUsedAt: at("last_used_at"),
    revokedAt: at("revoked_at"),
    revokeReason: text("revoke_reason"),
    ...timestamps,
  },
  (t) => [index("oauth_grants_deployment_client").on(t.deploymentId, t.clientId)],
);

/** Authorization codes (hash only), single use, bound to client, redirect URI, PKCE and resource. */
export const OAuthCodeTable = sqliteTable("oauth_codes", {
  hash: text("hash").primaryKey(),
  clientId: text("client_id")
    .notNull()
    .references(() => OAuthClientTable.id, { onDelete: "cascade" }),
  deploymentId: text("deployment_id").notNull(),
  resource: text("resource").notNull(),
  redirectUri: text("redirect_uri").notNull(),
  /** Whether the authorization request named the redirect URI (then the token request must too). */
  redirectUriGiven: integer("redirect_uri_given", { mode: "boolean" }).notNull(),
  codeChallenge: text("code_challenge").notNull(),
  scope: text("scope").notNull(),
  via: text("via", { enum: ["admin_token", "connect_code"] }).notNull(),
  expiresAt: at("expires_at").notNull(),
  usedAt: at("used_at"),
  /** The grant the code was redeemed for, so a replayed code can revoke it. */
  grantId: text("grant_id"),
  createdAt: timestamps.createdAt,
});

/** Refresh tokens (hash only). Rotated on every use; presenting a rotated one revokes the grant. */
export const OAuthRefreshTokenTable = sqliteTable(
  "oauth_refresh_tokens",
  {
    hash: text("hash").primaryKey(),
    grantId: text("grant_id")
      .notNull()
      .references(() => OAuthGrantTable.id, { onDelete: "cascade" }),
    status: text("status", { enum: ["active", "rotated", "revoked"] }).notNull(),
    expiresAt: at("expires_at").notNull(),
    usedAt: at("used_at"),
    createdAt: timestamps.createdAt,
  },
  (t) => [index("oauth_refresh_tokens_grant").on(t.grantId)],
);

/**
 * Access-token signing keys (ES256). The private key is encrypted with the vault, so a restart
 * or upgrade keeps every issued token valid. Retired keys stay published until the tokens they
 * signed have expired.
 */
export const OAuthSigningKeyTable = sqliteTable("oauth_signing_keys", {
  id: text("id").primaryKey(),
  alg: text("alg").notNull(),
  publicJwk: text("public_jwk", { mode: "json" }).$type<JsonWebKey>().notNull(),
  privateKey: text("private_key").notNull(),
  retiredAt: at("retired_at"),
  ...timestamps,
});

/** One-time codes an operator types on the consent page instead of the admin token (HMAC only). */
export const OAuthConnectCodeTable = sqliteTable("oauth_connect_codes", {
  hash: text("hash").primaryKey(),
  deploymentId: text("deployment_id").notNull(),
  expiresAt: at("expires_at").notNull(),
  usedAt: at("used_at"),
  createdAt: timestamps.createdAt,
});
