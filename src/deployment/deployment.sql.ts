import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { CredentialSchema } from "../analysis/credentials.ts";
import type { UpstreamSpec } from "../runtime/types.ts";
import { timestamps } from "../store/columns.ts";

export type RuntimeKind = "local" | "fly" | "remote";
export type SessionMode = "isolated" | "shared";
export type DesiredState = "running" | "stopped";
export type ObservedState =
  | "pending"
  | "installing"
  | "starting"
  | "running"
  | "stopped"
  | "crashed"
  | "failed";

export const DeploymentTable = sqliteTable(
  "deployments",
  {
    id: text("id").primaryKey(),
    slug: text("slug").notNull(),
    name: text("name").notNull(),
    /** What the operator asked for, normalized: `npm:@scope/pkg@1.2.3`, `https://…`. */
    source: text("source").notNull(),
    runtime: text("runtime").$type<RuntimeKind>().notNull(),
    /** The exact, resolved upstream the runtime runs or reaches. */
    upstream: text("upstream", { mode: "json" }).$type<UpstreamSpec>().notNull(),
    sessionMode: text("session_mode").$type<SessionMode>().notNull(),
    desiredState: text("desired_state").$type<DesiredState>().notNull(),
    state: text("state").$type<ObservedState>().notNull(),
    stateReason: text("state_reason"),
    /** The analysis this deployment was made from, if any. */
    analysisId: text("analysis_id"),
    /** JSON Schema its credentials must satisfy (from the analysis), checked on every change. */
    credentialSchema: text("credential_schema", { mode: "json" }).$type<CredentialSchema>(),
    ...timestamps,
  },
  (t) => [uniqueIndex("deployments_slug_unique").on(t.slug)],
);

/** Bearer tokens for `/mcp/<slug>`; only the SHA-256 of each token is stored. */
export const AccessTokenTable = sqliteTable(
  "access_tokens",
  {
    id: text("id").primaryKey(),
    deploymentId: text("deployment_id")
      .notNull()
      .references(() => DeploymentTable.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    hash: text("hash").notNull(),
    lastUsedAt: integer("last_used_at", { mode: "timestamp_ms" }),
    revokedAt: integer("revoked_at", { mode: "timestamp_ms" }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex("access_tokens_hash_unique").on(t.hash),
    index("access_tokens_deployment").on(t.deploymentId),
  ],
);

/** Environment values of a deployment, each encrypted with the vault; never returned by any API. */
export const CredentialTable = sqliteTable(
  "credentials",
  {
    id: text("id").primaryKey(),
    deploymentId: text("deployment_id")
      .notNull()
      .references(() => DeploymentTable.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** Fernet token of the value. */
    value: text("value").notNull(),
    secret: integer("secret", { mode: "boolean" }).notNull(),
    ...timestamps,
  },
  (t) => [uniqueIndex("credentials_deployment_name").on(t.deploymentId, t.name)],
);
