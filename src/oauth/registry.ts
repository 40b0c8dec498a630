import { eq } from "drizzle-orm";
import type { Db } from "../store/db.ts";
import { newId } from "../util/ids.ts";
import { hashToken, safeEqual } from "../util/secret.ts";
import { type CimdFetcher, isClientIdUrl } from "./cimd.ts";
import { type ClientMetadata, validateClientMetadata } from "./clients.ts";
import { OAuthError } from "./errors.ts";
import { type Grants, opaque } from "./grants.ts";
import { OAuthClientTable } from "./oauth.sql.ts";
import { FailureLimiter } from "./ratelimit.ts";
import type { ClientCredentials, ClientRow, OAuthAuditEvent } from "./types.ts";

const CLIENT_SECRET_PREFIX = "cwcs_";
const REGISTRATION_TOKEN_PREFIX = "cwrat_";

export interface RegistryDeps {
  db: Db;
  cimd: CimdFetcher;
  grants: Grants;
  issuer: () => string;
  audit(event: OAuthAuditEvent): Promise<void>;
  /** Called after a registration, to run housekeeping now and then. */
  housekeeping(): void;
}

/**
 * The clients of the authorization server: dynamic registration (RFC 7591) with its
 * configuration endpoint (RFC 7592), URL clients known from their metadata documents, and client
 * authentication at the token and revocation endpoints. Secrets and registration access tokens
 * are kept as hashes only.
 */
export class ClientRegistry {
  /** Registrations: 120 per address and 600 overall per 10 minutes (unused ones are pruned after a day). */
  readonly limiter = new FailureLimiter(120, 600, 10 * 60_000);

  constructor(private readonly deps: RegistryDeps) {}

  /** RFC 7591 dynamic registration. Every call makes a new client: registering twice is fine. */
  async register(body: unknown, address: string): Promise<Record<string, unknown>> {
    if (this.limiter.retryAfter(address) > 0)
      throw new OAuthError("invalid_request", "Too many registrations from this address; try again later.", {
        status: 429,
      });
    this.limiter.record(address);
    const meta = validateClientMetadata(body, { kind: "dcr" });
    const id = newId("cli");
    const secret = meta.authMethod === "none" ? undefined : opaque(CLIENT_SECRET_PREFIX);
    const registrationToken = opaque(REGISTRATION_TOKEN_PREFIX);
    const [row] = await this.deps.db
      .insert(OAuthClientTable)
      .values({
        id,
        kind: "dcr",
        name: meta.name,
        redirectUris: meta.redirectUris,
        applicationType: meta.applicationType,
        authMethod: meta.authMethod,
        secretHash: secret ? hashToken(secret) : null,
        registrationTokenHash: hashToken(registrationToken),
        metadata: { ...meta.raw, grant_types: meta.grantTypes },
      })
      .returning();
    await this.deps.audit({ type: "oauth.client_registered", clientId: id });
    this.deps.housekeeping();
    return this.registrationResponse(row as ClientRow, registrationToken, secret);
  }

  private registrationResponse(client: ClientRow, registrationToken: string, secret?: string) {
    return {
      ...client.metadata,
      client_id: client.id,
      client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      client_name: client.name ?? undefined,
      redirect_uris: client.redirectUris,
      response_types: ["code"],
      registration_access_token: registrationToken,
      registration_client_uri: `${this.deps.issuer()}/register/${encodeURIComponent(client.id)}`,
    };
  }

  /** RFC 7592: the registration access token opens the client's configuration endpoint. */
  private async registered(clientId: string, token: string | undefined): Promise<ClientRow> {
    const client = await this.stored(clientId);
    const hash = client?.registrationTokenHash;
    if (!client || client.deletedAt || !hash || !token || !safeEqual(hashToken(token), hash))
      throw new OAuthError("invalid_token", "The registration access token is not valid for this client.");
    return client;
  }

  /** Reads a registration. The registration access token is rotated (RFC 7592 §3): only hashes are kept. */
  async readRegistration(clientId: string, token: string | undefined): Promise<Record<string, unknown>> {
    const client = await this.registered(clientId, token);
    const fresh = opaque(REGISTRATION_TOKEN_PREFIX);
    await this.deps.db
      .update(OAuthClientTable)
      .set({ registrationTokenHash: hashToken(fresh) })
      .where(eq(OAuthClientTable.id, client.id));
    return this.registrationResponse(client, fresh);
  }

  async updateRegistration(
    clientId: string,
    token: string | undefined,
    body: unknown,
  ): Promise<Record<string, unknown>> {
    const client = await this.registered(clientId, token);
    const given = (body ?? {}) as Record<string, unknown>;
    if (given.client_id !== client.id)
      throw new OAuthError("invalid_request", "The body's client_id must equal the client being updated.");
    const meta = validateClientMetadata(body, { kind: "dcr" });
    if (meta.authMethod !== client.authMethod)
      throw new OAuthError(
        "invalid_client_metadata",
        "token_endpoint_auth_method cannot change; register a new client instead.",
      );
    const fresh = opaque(REGISTRATION_TOKEN_PREFIX);
    const [row] = await this.deps.db
      .update(OAuthClientTable)
      .set({
        name: meta.name,
        redirectUris: meta.redirectUris,
        applicationType: meta.applicationType,
        metadata: { ...meta.raw, grant_types: meta.grantTypes, client_id: undefined },
        registrationTokenHash: hashToken(fresh),
      })
      .where(eq(OAuthClientTable.id, client.id))
      .returning();
    return this.registrationResponse(row as ClientRow, fresh);
  }

  /** Deletes a registration and revokes everything issued to it. */
  async deleteRegistration(clientId: string, token: string | undefined): Promise<void> {
    const client = await this.registered(clientId, token);
    const revoked = await this.deps.grants.revoke(
      (await this.deps.grants.activeGrants({ clientId: client.id })).map((g) => g.id),
      "client_deleted",
    );
    await this.deps.db
      .update(OAuthClientTable)
      .set({ deletedAt: new Date(), registrationTokenHash: null, secretHash: null })
      .where(eq(OAuthClientTable.id, client.id));
    for (const g of revoked)
      await this.deps.audit({
        type: "oauth.revoke",
        clientId: client.id,
        deploymentId: g.deploymentId,
        grantId: g.id,
        reason: "client_deleted",
      });
    await this.deps.audit({ type: "oauth.client_deleted", clientId: client.id });
  }

  stored(id: string): Promise<ClientRow | undefined> {
    return this.deps.db.select().from(OAuthClientTable).where(eq(OAuthClientTable.id, id)).get();
  }

  /**
   * The client for an authorization request: a registered one, or a URL client whose metadata
   * document is fetched (or taken from the cache) and stored so grants can refer to it.
   */
  async forAuthorization(clientId: string): Promise<ClientRow | undefined> {
    if (!isClientIdUrl(clientId)) {
      const row = await this.stored(clientId);
      return row && !row.deletedAt ? row : undefined;
    }
    const { metadata } = await this.deps.cimd.get(clientId);
    return this.upsertUrlClient(clientId, metadata);
  }

  private async upsertUrlClient(id: string, meta: ClientMetadata): Promise<ClientRow> {
    const values = {
      name: meta.name,
      redirectUris: meta.redirectUris,
      applicationType: meta.applicationType,
      authMethod: meta.authMethod,
      metadata: meta.raw,
      deletedAt: null,
    };
    const [row] = await this.deps.db
      .insert(OAuthClientTable)
      .values({ id, kind: "cimd", ...values })
      .onConflictDoUpdate({ target: OAuthClientTable.id, set: values })
      .returning();
    return row as ClientRow;
  }

  /**
   * Client authentication at the token and revocation endpoints. Public clients (`none`) are
   * identified by client_id alone (PKCE protects the code); a secret they send anyway is ignored.
   */
  async authenticate(creds: ClientCredentials | undefined): Promise<ClientRow> {
    if (!creds?.clientId)
      throw new OAuthError("invalid_client", "Client authentication failed: no client_id.");
    const client = await this.stored(creds.clientId);
    if (!client || client.deletedAt)
      throw new OAuthError("invalid_client", "Client authentication failed: unknown client.");
    if (client.authMethod === "none") return client;
    if (!creds.secret || !client.secretHash || !safeEqual(hashToken(creds.secret), client.secretHash))
      throw new OAuthError("invalid_client", "Client authentication failed: wrong or missing client secret.");
    return client;
  }
}
