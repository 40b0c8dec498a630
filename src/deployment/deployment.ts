import { and, asc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { isReservedEnv } from "../analysis/credentials.ts";
import { ENV_NAME } from "../registry/names.ts";
import type { Db } from "../store/db.ts";
import { ConflictError, InvalidInputError, NotFoundError } from "../util/error.ts";
import { isId, newId } from "../util/ids.ts";
import { hashToken, newToken } from "../util/secret.ts";
import type { Vault } from "../vault/vault.ts";
import {
  AccessTokenTable,
  CredentialTable,
  DeploymentTable as Deployments,
  type DeploymentTable,
  type ObservedState,
} from "./deployment.sql.ts";

export type Row = typeof DeploymentTable.$inferSelect;

export class DeploymentNotFoundError extends NotFoundError {
  override readonly code = "deployment.not_found";
}

/** Slugs appear in URLs and process titles: lowercase letters, digits and single dashes. */
export const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const FORBIDDEN_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "accept",
  "mcp-session-id",
  "mcp-protocol-version",
  "connection",
  "transfer-encoding",
]);

/** An HTTP header a remote deployment sends upstream (not one the gateway sets itself). */
export const HeaderName = z
  .string()
  .regex(HEADER_NAME, "must be an HTTP header name")
  .refine((h) => !FORBIDDEN_HEADERS.has(h.toLowerCase()), "is set by the gateway");

export const EnvName = z
  .string()
  .regex(ENV_NAME, "must be a shell-style variable name (letters, digits, underscore)")
  .refine(
    (n) => !isReservedEnv(n),
    "is reserved (PATH, HOME, NODE_OPTIONS, LD_*, BUN_*, npm_config_*, CATWALK_* …)",
  );

export const CreateInput = z
  .object({
    source: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe("npm:<pkg>[@ver], pypi:<pkg>[==ver], GitHub URL (analysed first) or remote MCP URL"),
    analysis: z
      .string()
      .regex(/^ana_[0-9A-Z]{26}$/)
      .optional()
      .describe("Deploy the manifest of this analysis (ana_…); credentials are checked against its schema"),
    name: z.string().regex(SLUG, "lowercase letters, digits and dashes, at most 48 characters").optional(),
    env: z
      .record(EnvName, z.string().max(65_536))
      .default({})
      .describe("Environment values; stored encrypted, never returned"),
    args: z.array(z.string().max(4096)).max(64).default([]).describe("Extra arguments for the server"),
    headers: z
      .record(HeaderName, z.string().max(8192))
      .default({})
      .describe("Headers sent to a remote upstream; stored encrypted"),
    sessionMode: z.enum(["isolated", "shared"]).default("isolated"),
    runtime: z.enum(["local", "fly"]).optional(),
    command: z
      .array(z.string().min(1).max(4096))
      .min(1)
      .max(64)
      .optional()
      .describe("Run this command instead of a package (needs local.allowCommands)"),
  })
  .refine((v) => [v.source, v.command, v.analysis].filter((x) => x !== undefined).length === 1, {
    message: "give exactly one of source, analysis or command",
    path: ["source"],
  });
export type CreateInput = z.infer<typeof CreateInput>;

export const UpstreamInfo = z.object({
  kind: z.enum(["npm", "pypi", "remote", "command"]),
  package: z.string().optional(),
  version: z.string().optional(),
  url: z.string().optional(),
  args: z
    .array(z.string())
    .optional()
    .describe("arguments the server runs with (a command's whole argument list); none for remotes"),
});

export const DeploymentInfo = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  source: z.string(),
  runtime: z.enum(["local", "fly", "remote"]),
  sessionMode: z.enum(["isolated", "shared"]),
  state: z.string().describe("observed: pending, installing, starting, running, stopped, crashed, failed"),
  desiredState: z.enum(["running", "stopped"]),
  stateReason: z.string().nullable(),
  restarts: z
    .number()
    .int()
    .describe("times its servers were restarted after a crash or hang since it last started on this host"),
  url: z.string().describe("the MCP endpoint"),
  upstream: UpstreamInfo,
  env: z
    .array(z.object({ name: z.string(), secret: z.boolean() }))
    .describe("names only; values are write-only"),
  headers: z
    .array(z.string())
    .describe("names of the headers sent to a remote upstream; values are write-only"),
  sessions: z.number().int(),
  activity: z.object({
    calls: z.number().int(),
    errors: z.number().int(),
    callsPerMinute: z.number().int(),
    lastActivity: z.string().nullable(),
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DeploymentInfo = z.infer<typeof DeploymentInfo>;

export const TokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});

export function upstreamInfo(row: Row): z.infer<typeof UpstreamInfo> {
  const u = row.upstream;
  if (u.kind === "npm" || u.kind === "pypi")
    return { kind: u.kind, package: u.package, version: u.version, args: u.args };
  if (u.kind === "remote") return { kind: "remote", url: u.url };
  return { kind: "command", args: u.args };
}

export async function findDeployment(db: Db, ref: string): Promise<Row> {
  const column = isId("dep", ref) ? Deployments.id : Deployments.slug;
  const row = await db.select().from(Deployments).where(eq(column, ref)).get();
  if (!row) {
    throw new DeploymentNotFoundError(`No deployment ${JSON.stringify(ref)}.`, {
      hint: "`catwalk ls` lists deployments by slug.",
    });
  }
  return row;
}

export async function listDeployments(db: Db): Promise<Row[]> {
  return db.select().from(Deployments).orderBy(asc(Deployments.createdAt)).all();
}

/** A free slug: the requested one (conflict if taken), or the base name with a numeric suffix. */
export async function allocateSlug(db: Db, base: string, explicit: boolean): Promise<string> {
  const clean =
    base
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "server";
  const taken = async (s: string) =>
    (await db.select({ id: Deployments.id }).from(Deployments).where(eq(Deployments.slug, s)).get()) !==
    undefined;
  if (explicit) {
    if (await taken(clean)) {
      throw new ConflictError(`A deployment named ${JSON.stringify(clean)} already exists.`, {
        hint: "Choose another --name, or remove the existing one with `catwalk rm`.",
      });
    }
    return clean;
  }
  for (let i = 1; i < 1000; i++) {
    const candidate = i === 1 ? clean : `${clean}-${i}`;
    if (!(await taken(candidate))) return candidate;
  }
  throw new ConflictError(`Too many deployments named ${clean}.`, { hint: "Pass --name." });
}

export interface NewDeployment {
  row: typeof DeploymentTable.$inferInsert;
  credentials: Record<string, string>;
  secretNames?: ReadonlySet<string>;
}

/** Stores the deployment, its credentials (encrypted) and its first access token, in one transaction. */
export async function insertDeployment(
  db: Db,
  vault: Vault,
  input: NewDeployment,
): Promise<{ row: Row; token: string }> {
  const token = newToken("dep");
  const id = input.row.id;
  await db.transaction(async (tx) => {
    await tx.insert(Deployments).values(input.row);
    for (const [name, value] of Object.entries(input.credentials)) {
      await tx.insert(CredentialTable).values({
        id: newId("cred"),
        deploymentId: id,
        name,
        value: vault.encrypt(value),
        secret: input.secretNames ? input.secretNames.has(name) : true,
      });
    }
    await tx
      .insert(AccessTokenTable)
      .values({ id: newId("tok"), deploymentId: id, name: "default", hash: hashToken(token) });
  });
  return { row: await findDeployment(db, id), token };
}

export async function credentialNames(
  db: Db,
  deploymentId: string,
): Promise<{ name: string; secret: boolean }[]> {
  return db
    .select({ name: CredentialTable.name, secret: CredentialTable.secret })
    .from(CredentialTable)
    .where(eq(CredentialTable.deploymentId, deploymentId))
    .orderBy(asc(CredentialTable.name))
    .all();
}

/** Decrypted credentials, for the runtime only. Header credentials are stored as `header:<Name>`. */
export async function credentialValues(
  db: Db,
  vault: Vault,
  deploymentId: string,
): Promise<Record<string, string>> {
  const rows = await db
    .select()
    .from(CredentialTable)
    .where(eq(CredentialTable.deploymentId, deploymentId))
    .all();
  return Object.fromEntries(rows.map((r) => [r.name, vault.decrypt(r.value)]));
}

/** Every deployment's encrypted credentials in one read (hosts sharing a store compare them). */
export async function allCredentials(db: Db): Promise<Map<string, { name: string; value: string }[]>> {
  const rows = await db
    .select({
      deploymentId: CredentialTable.deploymentId,
      name: CredentialTable.name,
      value: CredentialTable.value,
    })
    .from(CredentialTable)
    .all();
  const out = new Map<string, { name: string; value: string }[]>();
  for (const r of rows) {
    const list = out.get(r.deploymentId) ?? [];
    list.push({ name: r.name, value: r.value });
    out.set(r.deploymentId, list);
  }
  return out;
}

export async function setObservedState(
  db: Db,
  id: string,
  state: ObservedState,
  reason: string | null,
): Promise<void> {
  await db.update(Deployments).set({ state, stateReason: reason }).where(eq(Deployments.id, id));
}

export async function deleteDeployment(db: Db, id: string): Promise<void> {
  await db.delete(Deployments).where(eq(Deployments.id, id));
}

export interface TokenMatch {
  tokenId: string;
  deploymentId: string;
}

/** Looks a presented access token up by hash; revoked tokens do not match. */
export async function matchToken(db: Db, token: string): Promise<TokenMatch | undefined> {
  const row = await db
    .select({ id: AccessTokenTable.id, deploymentId: AccessTokenTable.deploymentId })
    .from(AccessTokenTable)
    .where(and(eq(AccessTokenTable.hash, hashToken(token)), isNull(AccessTokenTable.revokedAt)))
    .get();
  return row ? { tokenId: row.id, deploymentId: row.deploymentId } : undefined;
}

export async function touchToken(db: Db, tokenId: string): Promise<void> {
  await db.update(AccessTokenTable).set({ lastUsedAt: new Date() }).where(eq(AccessTokenTable.id, tokenId));
}

export function assertCommandAllowed(allowed: boolean): void {
  if (allowed) return;
  throw new InvalidInputError("Deploying an arbitrary command is disabled on this server.", {
    hint: "Set local.allowCommands (CATWALK_LOCAL_ALLOW_COMMANDS=true) to allow it; it runs any program as the catwalk user.",
  });
}

export class TokenNotFoundError extends NotFoundError {
  override readonly code = "token.not_found";
}

export type TokenRow = typeof AccessTokenTable.$inferSelect;

export function tokenInfo(t: TokenRow): z.infer<typeof TokenInfo> {
  return {
    id: t.id,
    name: t.name,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

export async function listTokens(db: Db, deploymentId: string): Promise<TokenRow[]> {
  return db
    .select()
    .from(AccessTokenTable)
    .where(eq(AccessTokenTable.deploymentId, deploymentId))
    .orderBy(asc(AccessTokenTable.createdAt))
    .all();
}

/** A token of the deployment by id or (active) name. */
export async function findToken(db: Db, deploymentId: string, ref: string): Promise<TokenRow> {
  const rows = await listTokens(db, deploymentId);
  const hit = rows.find((t) => t.id === ref) ?? rows.find((t) => t.name === ref && !t.revokedAt);
  if (!hit) {
    throw new TokenNotFoundError(`No token ${JSON.stringify(ref)} on this deployment.`, {
      hint: "`catwalk token ls <slug>` lists its tokens by id and name.",
    });
  }
  return hit;
}

export async function createToken(
  db: Db,
  deploymentId: string,
  name: string,
): Promise<{ row: TokenRow; token: string }> {
  const token = newToken("dep");
  const id = newId("tok");
  await db.insert(AccessTokenTable).values({ id, deploymentId, name, hash: hashToken(token) });
  const row = await db.select().from(AccessTokenTable).where(eq(AccessTokenTable.id, id)).get();
  return { row: row as TokenRow, token };
}

export async function revokeToken(db: Db, tokenId: string): Promise<void> {
  await db
    .update(AccessTokenTable)
    .set({ revokedAt: new Date() })
    .where(and(eq(AccessTokenTable.id, tokenId), isNull(AccessTokenTable.revokedAt)));
}

/** Sets and removes credential values (encrypted); returns the names that changed. */
export async function updateCredentials(
  db: Db,
  vault: Vault,
  deploymentId: string,
  set: Record<string, string>,
  unset: readonly string[],
  secretNames?: ReadonlySet<string>,
): Promise<string[]> {
  await db.transaction(async (tx) => {
    for (const [name, value] of Object.entries(set)) {
      const secret = secretNames ? secretNames.has(name) : true;
      await tx
        .insert(CredentialTable)
        .values({ id: newId("cred"), deploymentId, name, value: vault.encrypt(value), secret })
        .onConflictDoUpdate({
          target: [CredentialTable.deploymentId, CredentialTable.name],
          set: { value: vault.encrypt(value), secret, updatedAt: new Date() },
        });
    }
    for (const name of unset) {
      await tx
        .delete(CredentialTable)
        .where(and(eq(CredentialTable.deploymentId, deploymentId), eq(CredentialTable.name, name)));
    }
  });
  return [...Object.keys(set), ...unset].sort();
}

export async function updateRow(
  db: Db,
  id: string,
  patch: Partial<typeof Deployments.$inferInsert>,
): Promise<Row> {
  await db
    .update(Deployments)
    .set({ ...patch, updatedAt: new Date() })
    .where(eq(Deployments.id, id));
  return findDeployment(db, id);
}

export const UpdateInput = z.object({
  version: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe("New package version or range (npm/pypi deployments)"),
  args: z.array(z.string().max(4096)).max(64).optional().describe("Replace the extra arguments"),
  sessionMode: z.enum(["isolated", "shared"]).optional(),
});
export type UpdateInput = z.infer<typeof UpdateInput>;

export const EnvInput = z.object({
  set: z.record(EnvName, z.string().max(65_536)).default({}),
  unset: z.array(EnvName).max(256).default([]),
  headers: z
    .record(HeaderName, z.string().max(8192))
    .default({})
    .describe(
      "Headers a remote deployment sends upstream (names are case-insensitive); stored encrypted, never returned",
    ),
  unsetHeaders: z.array(HeaderName).max(64).default([]),
});
export type EnvInput = z.infer<typeof EnvInput>;
