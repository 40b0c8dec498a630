import type { Config } from "../config/schema.ts";
import type { Via } from "./grants.ts";
import type { OAuthClientTable } from "./oauth.sql.ts";

export type OAuthConfig = Config["oauth"];
export type ClientRow = typeof OAuthClientTable.$inferSelect;

/** What the authorization server needs to know about a deployment. */
export interface DeploymentRef {
  id: string;
  slug: string;
  name: string;
}

/** Injected by the deployments domain; tests pass a small in-memory one. */
export interface DeploymentDirectory {
  bySlug(slug: string): Promise<DeploymentRef | undefined>;
  byId(id: string): Promise<DeploymentRef | undefined>;
}

export type OAuthAuditType =
  | "oauth.client_registered"
  | "oauth.client_deleted"
  | "oauth.consent"
  | "oauth.consent_denied"
  | "oauth.grant"
  | "oauth.refresh"
  | "oauth.reuse_detected"
  | "oauth.revoke";

/** An audit record; never carries a token, code or secret. */
export interface OAuthAuditEvent {
  type: OAuthAuditType;
  clientId: string;
  deploymentId?: string | undefined;
  grantId?: string | undefined;
  via?: Via | undefined;
  reason?: string | undefined;
}

export type AuditSink = (event: OAuthAuditEvent) => void | Promise<void>;

export interface ClientCredentials {
  clientId: string;
  secret?: string | undefined;
}
