import { createHash, createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { eq, inArray } from "drizzle-orm";
import type { Logger } from "../log/log.ts";
import type { Db } from "../store/db.ts";
import { getMeta, setMeta } from "../store/meta.ts";
import { safeEqual } from "../util/secret.ts";
import type { Vault } from "../vault/vault.ts";
import { CimdFetcher } from "./cimd.ts";
import { redirectHost, redirectMatches } from "./clients.ts";
import { CONSENT_PARAMS, type ConsentParams } from "./consent.ts";
import { OAuthConfigError, OAuthError } from "./errors.ts";
import { type CodeRow, type GrantRow, Grants, normalizeConnectCode, type Via } from "./grants.ts";
import { SigningKeys } from "./keys.ts";
import { OAuthClientTable } from "./oauth.sql.ts";
import { FailureLimiter } from "./ratelimit.ts";
import { ClientRegistry } from "./registry.ts";
import { type AccessResult, AccessTokens, type Expected } from "./tokens.ts";
import type {
  AuditSink,
  ClientCredentials,
  ClientRow,
  DeploymentDirectory,
  DeploymentRef,
  OAuthAuditEvent,
  OAuthConfig,
} from "./types.ts";

export type {
  AuditSink,
  ClientCredentials,
  ClientRow,
  DeploymentDirectory,
  DeploymentRef,
  OAuthAuditEvent,
  OAuthAuditType,
  OAuthConfig,
} from "./types.ts";

export const SCOPE = "mcp";
const HMAC_META_KEY = "oauth.hmac_key";
const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

export const NO_DEPLOYMENTS: DeploymentDirectory = {
  bySlug: async () => undefined,
  byId: async () => undefined,
};

export interface OAuthServerOptions {
  db: Db;
  vault: Vault;
  log: Logger;
  config: OAuthConfig;
  /** The issuer identifier: the public base URL, or the server's own loopback URL. */
  issuer: () => string;
  verifyAdminToken(token: string): Promise<boolean>;
  directory?: DeploymentDirectory;
  audit?: AuditSink;
}

/** A validated authorization request, ready for the consent page. */
export interface AuthorizationRequest {
  params: ConsentParams;
  client: ClientRow;
  redirectUri: string;
  redirectUriGiven: boolean;
  state: string | undefined;
  codeChallenge: string;
  scope: string;
  resource: string | undefined;
  deployment: DeploymentRef | undefined;
}

/**
 * A failed authorization request. With `redirectTo` the error goes back to the client (RFC 6749
 * §4.1.2.1); without it (unknown client, bad redirect URI) it is shown to the user and never
 * redirected, so the endpoint cannot be used as an open redirector.
 */
export class AuthorizeError extends Error {
  constructor(
    readonly oauth: OAuthError,
    readonly redirectTo?: string,
  ) {
    super(oauth.message);
  }
}

/** A consent attempt to re-render with a message (wrong credential, unknown deployment, …). */
export class ConsentProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** An OAuth client connected to a deployment, as the admin API lists it. */
export interface ConnectedClient {
  clientId: string;
  clientName: string | null;
  kind: "dcr" | "cimd";
  redirectHosts: string[];
  createdAt: string;
  lastUsedAt: string | null;
  activeGrants: number;
}

function withParams(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

function readCaFile(path: string): string {
  try {
    const pem = readFileSync(path, "utf8");
    if (pem.includes("-----BEGIN CERTIFICATE-----")) return pem;
  } catch (e) {
    throw new OAuthConfigError(`Cannot read oauth.cimdCaFile ${path}: ${(e as Error).message}.`, {
      hint: "Point CATWALK_OAUTH_CIMD_CA_FILE at a readable PEM file, or unset it to trust the system CAs only.",
    });
  }
  throw new OAuthConfigError(`oauth.cimdCaFile ${path} holds no PEM certificate.`, {
    hint: "It must contain one or more -----BEGIN CERTIFICATE----- blocks.",
  });
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

/**
 * Catwalk's OAuth 2.1 authorization server for MCP clients. One issuer for the whole instance;
 * every deployment is a protected resource (`<issuer>/mcp/<slug>`) and every token is bound to
 * exactly one of them (RFC 8707). HTTP framing lives in `http.ts`; this class is the protocol.
 */
export class OAuthServer {
  readonly keys: SigningKeys;
  readonly grants: Grants;
  readonly tokens: AccessTokens;
  readonly cimd: CimdFetcher;
  readonly clients: ClientRegistry;
  /** Wrong credentials on the consent page: 10 per address and 50 overall per 10 minutes. */
  readonly consentLimiter = new FailureLimiter(10, 50, 10 * 60_000);
  directory: DeploymentDirectory;
  private auditSink: AuditSink | undefined;
  private hmacKey: Buffer | undefined;
  private started: Promise<void> | undefined;
  private prunedAt = 0;

  constructor(private readonly opts: OAuthServerOptions) {
    const c = opts.config;
    this.keys = new SigningKeys(opts.db, opts.vault);
    this.grants = new Grants(
      opts.db,
      {
        accessTtlMs: c.accessTokenTtlSeconds * 1000,
        refreshTtlMs: c.refreshTokenTtlSeconds * 1000,
        codeTtlMs: c.codeTtlSeconds * 1000,
        connectCodeTtlMs: c.connectCodeTtlSeconds * 1000,
      },
      (value) => this.hmac("connect-code", value),
    );
    this.tokens = new AccessTokens(this.keys, this.grants, () => this.issuer(), c.accessTokenTtlSeconds);
    this.cimd = new CimdFetcher({
      allowPrivate: c.cimdAllowPrivateAddresses,
      cacheSeconds: c.cimdCacheSeconds,
      maxBytes: c.cimdMaxBytes,
      timeoutMs: c.cimdTimeoutMs,
      ca: c.cimdCaFile ? readCaFile(c.cimdCaFile) : undefined,
    });
    this.clients = new ClientRegistry({
      db: opts.db,
      cimd: this.cimd,
      grants: this.grants,
      issuer: () => this.issuer(),
      audit: (event) => this.audit(event),
      housekeeping: () => void this.maybePrune(),
    });
    this.directory = opts.directory ?? NO_DEPLOYMENTS;
    this.auditSink = opts.audit;
  }

  /** Replaces the injected seams (the deployments directory, the audit sink). */
  wire(seams: { directory?: DeploymentDirectory; audit?: AuditSink }): this {
    if (seams.directory) this.directory = seams.directory;
    if (seams.audit) this.auditSink = seams.audit;
    return this;
  }

  issuer(): string {
    return this.opts.issuer();
  }

  /**
   * Why OAuth cannot be served, or undefined when it can. Non-loopback issuers must be https
   * (OAuth 2.1 §1.5); a path in the public URL would move the well-known documents out of reach.
   */
  problem(): string | undefined {
    if (!this.opts.config.enabled) return "OAuth is disabled (oauth.enabled is false).";
    const url = new URL(this.issuer());
    const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
    if (url.protocol !== "https:" && !loopback)
      return `The issuer ${url.origin} is not https; set CATWALK_PUBLIC_URL to the https URL clients reach Catwalk at.`;
    if (url.pathname !== "/" || url.search)
      return "CATWALK_PUBLIC_URL must be an origin without a path (https://host[:port]) for OAuth.";
    return undefined;
  }

  /** Loads keys, secrets and the revocation cache once; every endpoint awaits it. */
  ready(): Promise<void> {
    this.started ??= this.start().catch((e) => {
      this.started = undefined;
      throw e;
    });
    return this.started;
  }

  private async start(): Promise<void> {
    await this.keys.load();
    const stored = await getMeta(this.opts.db, HMAC_META_KEY);
    if (stored) this.hmacKey = Buffer.from(this.opts.vault.decrypt(stored), "base64url");
    else {
      this.hmacKey = randomBytes(32);
      await setMeta(this.opts.db, HMAC_META_KEY, this.opts.vault.encrypt(this.hmacKey.toString("base64url")));
    }
    await this.grants.syncRevocations(true);
  }

  /** HMAC under the instance key, for connect codes and CSRF tokens; domain-separated by `purpose`. */
  hmac(purpose: string, value: string): string {
    return createHmac("sha256", this.secret()).update(`${purpose}\n${value}`).digest("base64url");
  }

  secret(): Buffer {
    if (!this.hmacKey) throw new Error("OAuth server not started");
    return this.hmacKey;
  }

  private async audit(event: OAuthAuditEvent): Promise<void> {
    this.opts.log.info(event.type, { ...event });
    try {
      await this.auditSink?.(event);
    } catch (e) {
      this.opts.log.error("audit sink failed", { type: event.type, error: e });
    }
  }

  /** Housekeeping at most once an hour, piggybacked on registrations and grants. */
  private async maybePrune(): Promise<void> {
    if (Date.now() - this.prunedAt < 3_600_000) return;
    this.prunedAt = Date.now();
    try {
      await this.grants.prune();
      await this.keys.prune(this.opts.config.accessTokenTtlSeconds * 1000);
      await this.keys.load();
    } catch (e) {
      this.opts.log.warn("oauth housekeeping failed", { error: e });
    }
  }

  // ── discovery ────────────────────────────────────────────────────────────────────────────

  resourceUrl(slug: string): string {
    return `${this.issuer()}/mcp/${slug}`;
  }

  resourceMetadataUrl(slug: string): string {
    return `${this.issuer()}/.well-known/oauth-protected-resource/mcp/${slug}`;
  }

  /** RFC 8414 authorization server metadata (also served at the OpenID discovery path). */
  metadata(): Record<string, unknown> {
    const base = this.issuer();
    const methods = ["none", "client_secret_post", "client_secret_basic"];
    return {
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      registration_endpoint: `${base}/register`,
      revocation_endpoint: `${base}/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      scopes_supported: [SCOPE],
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      token_endpoint_auth_methods_supported: methods,
      revocation_endpoint_auth_methods_supported: methods,
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
    };
  }

  /** RFC 9728 protected resource metadata of one deployment; undefined for an unknown slug. */
  async protectedResource(slug: string): Promise<Record<string, unknown> | undefined> {
    const dep = await this.directory.bySlug(slug);
    if (!dep) return undefined;
    return {
      resource: this.resourceUrl(dep.slug),
      authorization_servers: [this.issuer()],
      scopes_supported: [SCOPE],
      bearer_methods_supported: ["header"],
      resource_name: dep.name,
    };
  }

  /** The root-form metadata: the whole server; clients that use it name the deployment at consent. */
  rootProtectedResource(): Record<string, unknown> {
    return {
      resource: this.issuer(),
      authorization_servers: [this.issuer()],
      scopes_supported: [SCOPE],
      bearer_methods_supported: ["header"],
      resource_name: "Catwalk",
    };
  }

  /**
   * The `WWW-Authenticate` value of a 401 from `/mcp/<slug>` (RFC 6750 §3, RFC 9728 §5.1). Pass
   * `error: "invalid_token"` when the request carried a token that failed verification.
   */
  challenge(slug: string, opts: { error?: "invalid_token"; description?: string } = {}): string {
    // Without a usable issuer, point no client at an authorization server it cannot use.
    const parts = this.problem()
      ? ['realm="catwalk"']
      : [`resource_metadata="${this.resourceMetadataUrl(slug)}"`, `scope="${SCOPE}"`];
    if (opts.error) parts.unshift(`error="${opts.error}"`);
    if (opts.error && opts.description)
      parts.splice(1, 0, `error_description="${opts.description.replace(/["\\]/g, "")}"`);
    return `Bearer ${parts.join(", ")}`;
  }

  /**
   * Verifies an access token for one deployment's endpoint: one ES256 signature check and an
   * in-memory revocation lookup (re-synced from the store at most every 2 s).
   */
  async verifyAccessToken(token: string, expected: Expected): Promise<AccessResult> {
    if (!this.opts.config.enabled) return { ok: false, reason: "invalid" };
    await this.ready();
    return this.tokens.verify(token, expected);
  }

  // ── authorization ────────────────────────────────────────────────────────────────────────

  /** Validates an authorization request (GET /authorize or the consent POST's hidden fields). */
  async checkAuthorization(query: URLSearchParams): Promise<AuthorizationRequest> {
    const params: ConsentParams = {};
    for (const k of CONSENT_PARAMS) {
      const all = query.getAll(k);
      if (all.length > 1 && k !== "resource")
        throw new AuthorizeError(
          new OAuthError("invalid_request", `The parameter ${k} appears more than once.`),
        );
      if (all[0] !== undefined) params[k] = all[0];
    }
    const clientId = params.client_id;
    if (!clientId) throw new AuthorizeError(new OAuthError("invalid_request", "client_id is missing."));
    let client: ClientRow | undefined;
    try {
      client = await this.clients.forAuthorization(clientId);
    } catch (e) {
      if (e instanceof OAuthError) throw new AuthorizeError(e);
      throw e;
    }
    if (!client)
      throw new AuthorizeError(
        new OAuthError(
          "invalid_client",
          "This client is not registered here (or was deleted). Reconnect it from the client.",
        ),
      );
    const redirectUri = this.redirectFor(client, params.redirect_uri);
    const state = params.state;
    const back = (error: OAuthError) =>
      new AuthorizeError(
        error,
        withParams(redirectUri, {
          error: error.error,
          error_description: error.message,
          state,
          iss: this.issuer(),
        }),
      );
    if (params.response_type !== "code")
      throw back(new OAuthError("unsupported_response_type", 'response_type must be "code".'));
    if (!params.code_challenge)
      throw back(
        new OAuthError("invalid_request", "PKCE is required: send code_challenge with method S256."),
      );
    if (params.code_challenge_method !== "S256")
      throw back(new OAuthError("invalid_request", "Only the S256 code_challenge_method is supported."));
    if (!PKCE_VALUE.test(params.code_challenge))
      throw back(new OAuthError("invalid_request", "code_challenge is not a valid S256 challenge."));
    let target: { resource: string | undefined; deployment: DeploymentRef | undefined };
    try {
      target = await this.target(query.getAll("resource"));
    } catch (e) {
      if (e instanceof OAuthError) throw back(e);
      throw e;
    }
    return {
      params,
      client,
      redirectUri,
      redirectUriGiven: params.redirect_uri !== undefined,
      state,
      codeChallenge: params.code_challenge,
      scope: SCOPE,
      ...target,
    };
  }

  private redirectFor(client: ClientRow, given: string | undefined): string {
    if (given === undefined) {
      if (client.redirectUris.length === 1) return client.redirectUris[0] as string;
      throw new AuthorizeError(
        new OAuthError("invalid_request", "redirect_uri is required: this client registered several."),
      );
    }
    if (!redirectMatches(client.redirectUris, given))
      throw new AuthorizeError(
        new OAuthError(
          "invalid_request",
          "redirect_uri does not match any redirect URI registered for this client.",
        ),
      );
    return given;
  }

  /**
   * RFC 8707: the deployment a request is for. `resource` must be one deployment's URL; the
   * server's own URL (what clients take from the root-form metadata) or no resource leaves the
   * choice to the consent step, where a connect code or the slug names the deployment.
   */
  private async target(
    resources: string[],
  ): Promise<{ resource: string | undefined; deployment: DeploymentRef | undefined }> {
    const distinct = [...new Set(resources.map((r) => r.replace(/\/$/, "")))];
    if (distinct.length > 1)
      throw new OAuthError("invalid_target", "Request one resource (one deployment) at a time.");
    const resource = distinct[0];
    if (resource === undefined || resource === this.issuer())
      return { resource: undefined, deployment: undefined };
    const dep = await this.deploymentOfResource(resource);
    return { resource: this.resourceUrl(dep.slug), deployment: dep };
  }

  private async deploymentOfResource(resource: string): Promise<DeploymentRef> {
    const prefix = `${this.issuer()}/mcp/`;
    const slug = resource.startsWith(prefix) ? resource.slice(prefix.length).replace(/\/$/, "") : "";
    const dep = /^[A-Za-z0-9._~-]+$/.test(slug) ? await this.directory.bySlug(slug) : undefined;
    if (!dep || dep.slug !== slug)
      throw new OAuthError("invalid_target", "The resource is not a deployment of this Catwalk server.");
    return dep;
  }

  /**
   * The operator's decision on the consent page. Approval needs the admin token or a connect
   * code for the deployment; wrong credentials are counted per address and re-rendered.
   */
  async decide(
    req: AuthorizationRequest,
    input: { decision: string | undefined; credential: string | undefined; slug: string | undefined },
    address: string,
  ): Promise<string> {
    if (input.decision === "deny") {
      await this.audit({
        type: "oauth.consent_denied",
        clientId: req.client.id,
        deploymentId: req.deployment?.id,
      });
      return withParams(req.redirectUri, {
        error: "access_denied",
        error_description: "The operator denied the request.",
        state: req.state,
        iss: this.issuer(),
      });
    }
    if (input.decision !== "approve") throw new ConsentProblem(400, "Choose Approve or Deny.");
    const wait = this.consentLimiter.retryAfter(address);
    if (wait > 0)
      throw new ConsentProblem(429, "Too many wrong attempts; wait a few minutes.", Math.ceil(wait / 1000));
    const { deployment, via } = await this.proveOperator(req, input, address);
    const code = await this.grants.issueCode({
      clientId: req.client.id,
      deploymentId: deployment.id,
      resource: this.resourceUrl(deployment.slug),
      redirectUri: req.redirectUri,
      redirectUriGiven: req.redirectUriGiven,
      codeChallenge: req.codeChallenge,
      scope: req.scope,
      via,
    });
    await this.audit({ type: "oauth.consent", clientId: req.client.id, deploymentId: deployment.id, via });
    return withParams(req.redirectUri, { code, state: req.state, iss: this.issuer() });
  }

  private async proveOperator(
    req: AuthorizationRequest,
    input: { credential: string | undefined; slug: string | undefined },
    address: string,
  ): Promise<{ deployment: DeploymentRef; via: Via }> {
    const credential = input.credential?.trim() ?? "";
    const wrong = (message: string) => {
      this.consentLimiter.record(address);
      return new ConsentProblem(401, message);
    };
    if (credential === "") throw new ConsentProblem(400, "Enter the admin token or a connect code.");
    if (credential.startsWith("cwadm_")) {
      if (!(await this.opts.verifyAdminToken(credential))) throw wrong("That admin token is not valid.");
      const deployment = req.deployment ?? (await this.deploymentBySlug(input.slug));
      return { deployment, via: "admin_token" };
    }
    if (normalizeConnectCode(credential).length !== 12)
      throw wrong("That is neither an admin token nor a connect code.");
    const depId = await this.grants.peekConnectCode(credential);
    if (!depId) throw wrong("That connect code is not valid (wrong, used or expired).");
    if (req.deployment && req.deployment.id !== depId)
      throw new ConsentProblem(
        400,
        "That connect code is for another deployment than the one the client asked for.",
      );
    const deployment = req.deployment ?? (await this.directory.byId(depId));
    if (!deployment) throw new ConsentProblem(400, "The connect code's deployment no longer exists.");
    if (!(await this.grants.consumeConnectCode(credential)))
      throw wrong("That connect code was just used or expired.");
    return { deployment, via: "connect_code" };
  }

  private async deploymentBySlug(slug: string | undefined): Promise<DeploymentRef> {
    const wanted = slug?.trim() ?? "";
    if (wanted === "") throw new ConsentProblem(400, "The client did not name a deployment: enter its slug.");
    const dep = await this.directory.bySlug(wanted);
    if (!dep) throw new ConsentProblem(400, "There is no deployment with that slug.");
    return dep;
  }

  // ── token endpoint ───────────────────────────────────────────────────────────────────────

  async token(form: URLSearchParams, creds: ClientCredentials | undefined): Promise<TokenResponse> {
    const grantType = form.get("grant_type");
    if (!grantType) throw new OAuthError("invalid_request", "grant_type is missing.");
    if (grantType !== "authorization_code" && grantType !== "refresh_token")
      throw new OAuthError(
        "unsupported_grant_type",
        "Only authorization_code and refresh_token are supported.",
      );
    const client = await this.clients.authenticate(creds);
    const out =
      grantType === "authorization_code"
        ? await this.redeemCode(form, client)
        : await this.refresh(form, client);
    void this.maybePrune();
    return out;
  }

  private async redeemCode(form: URLSearchParams, client: ClientRow): Promise<TokenResponse> {
    const code = form.get("code");
    const verifier = form.get("code_verifier");
    if (!code) throw new OAuthError("invalid_request", "code is missing.");
    if (!verifier) throw new OAuthError("invalid_request", "code_verifier is missing (PKCE is required).");
    const result = await this.grants.consumeCode(code);
    if (result.kind === "reused") {
      await this.reuseDetected(result.code, client.id);
      throw new OAuthError(
        "invalid_grant",
        "The authorization code was already used; its tokens are revoked.",
      );
    }
    if (result.kind === "invalid")
      throw new OAuthError("invalid_grant", "The authorization code is invalid or expired.");
    const row = result.code;
    if (row.clientId !== client.id)
      throw new OAuthError("invalid_grant", "The authorization code was issued to another client.");
    const redirect = form.get("redirect_uri");
    if ((row.redirectUriGiven || redirect !== null) && redirect !== row.redirectUri)
      throw new OAuthError(
        "invalid_grant",
        "redirect_uri differs from the one in the authorization request.",
      );
    if (!PKCE_VALUE.test(verifier) || !safeEqual(s256(verifier), row.codeChallenge))
      throw new OAuthError("invalid_grant", "The code_verifier does not match the code_challenge.");
    this.checkResourceParam(form, row.resource);
    if (!(await this.directory.byId(row.deploymentId)))
      throw new OAuthError("invalid_grant", "The deployment of this authorization no longer exists.");
    const { grant, refreshToken } = await this.grants.createGrant(row);
    await this.opts.db
      .update(OAuthClientTable)
      .set({ lastUsedAt: new Date() })
      .where(eq(OAuthClientTable.id, client.id));
    await this.audit({
      type: "oauth.grant",
      clientId: client.id,
      deploymentId: grant.deploymentId,
      grantId: grant.id,
      via: grant.via,
    });
    return this.respond(grant, refreshToken);
  }

  private async reuseDetected(code: CodeRow, clientId: string): Promise<void> {
    if (!code.grantId) return;
    await this.grants.revoke([code.grantId], "code_reused");
    await this.audit({
      type: "oauth.reuse_detected",
      clientId,
      deploymentId: code.deploymentId,
      grantId: code.grantId,
      reason: "authorization code replayed",
    });
  }

  private checkResourceParam(form: URLSearchParams, bound: string): void {
    // The server's own URL (root-form metadata) names no deployment: the grant's binding stands.
    const given = form
      .getAll("resource")
      .map((r) => r.replace(/\/$/, ""))
      .filter((r) => r !== this.issuer());
    if (given.length === 0) return;
    if (given.some((r) => r !== bound))
      throw new OAuthError("invalid_target", "The resource differs from the deployment this grant is for.");
  }

  private async refresh(form: URLSearchParams, client: ClientRow): Promise<TokenResponse> {
    const token = form.get("refresh_token");
    if (!token) throw new OAuthError("invalid_request", "refresh_token is missing.");
    const result = await this.grants.rotateRefresh(token, client.id);
    if (result.kind === "reused") {
      await this.grants.revoke([result.grant.id], "refresh_token_reused");
      await this.audit({
        type: "oauth.reuse_detected",
        clientId: client.id,
        deploymentId: result.grant.deploymentId,
        grantId: result.grant.id,
        reason: "refresh token replayed",
      });
      throw new OAuthError(
        "invalid_grant",
        "The refresh token was already used; the whole grant is revoked.",
      );
    }
    if (result.kind === "invalid")
      throw new OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.");
    const { grant } = result;
    this.checkResourceParam(form, grant.resource);
    if (!(await this.directory.byId(grant.deploymentId))) {
      await this.grants.revoke([grant.id], "deployment_removed");
      throw new OAuthError("invalid_grant", "The deployment of this grant no longer exists.");
    }
    await this.audit({
      type: "oauth.refresh",
      clientId: client.id,
      deploymentId: grant.deploymentId,
      grantId: grant.id,
    });
    return this.respond(grant, result.refreshToken);
  }

  private respond(grant: GrantRow, refreshToken: string): TokenResponse {
    const { token, expiresIn } = this.tokens.issue({
      grantId: grant.id,
      clientId: grant.clientId,
      deploymentId: grant.deploymentId,
      resource: grant.resource,
      scope: grant.scope,
    });
    return {
      access_token: token,
      token_type: "Bearer",
      expires_in: expiresIn,
      refresh_token: refreshToken,
      scope: grant.scope,
    };
  }

  /**
   * RFC 7009. Revoking either token of a grant revokes the grant (refresh family and access
   * tokens). Unknown tokens and tokens of other clients are answered the same way: 200.
   */
  async revokeToken(form: URLSearchParams, creds: ClientCredentials | undefined): Promise<void> {
    const token = form.get("token");
    if (!token) throw new OAuthError("invalid_request", "token is missing.");
    const client = await this.clients.authenticate(creds);
    let grant: GrantRow | undefined;
    if (token.startsWith("cwort_")) grant = await this.grants.grantOfRefresh(token);
    else {
      const claims = await this.tokens.decode(token);
      if (claims) grant = await this.grants.grant(claims.sub);
    }
    if (!grant || grant.clientId !== client.id) return;
    const revoked = await this.grants.revoke([grant.id], "client_revoked");
    for (const g of revoked)
      await this.audit({
        type: "oauth.revoke",
        clientId: client.id,
        deploymentId: g.deploymentId,
        grantId: g.id,
        reason: "client_revoked",
      });
  }

  // ── administration ───────────────────────────────────────────────────────────────────────

  /** Clients with at least one active grant for the deployment. */
  async connectedClients(deploymentId: string): Promise<ConnectedClient[]> {
    const grants = await this.grants.activeGrants({ deploymentId });
    if (grants.length === 0) return [];
    const ids = [...new Set(grants.map((g) => g.clientId))];
    const clients = await this.opts.db
      .select()
      .from(OAuthClientTable)
      .where(inArray(OAuthClientTable.id, ids))
      .all();
    return clients
      .map((c) => {
        const mine = grants.filter((g) => g.clientId === c.id);
        const last = Math.max(0, ...mine.map((g) => g.lastUsedAt?.getTime() ?? g.createdAt.getTime()));
        return {
          clientId: c.id,
          clientName: c.name,
          kind: c.kind,
          redirectHosts: [...new Set(c.redirectUris.map(redirectHost))],
          createdAt: c.createdAt.toISOString(),
          lastUsedAt: last > 0 ? new Date(last).toISOString() : null,
          activeGrants: mine.length,
        };
      })
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  }

  /** Revokes every grant of a client for a deployment; returns how many were active. */
  async revokeClient(deploymentId: string, clientId: string, reason = "admin_revoked"): Promise<number> {
    const active = await this.grants.activeGrants({ deploymentId, clientId });
    const revoked = await this.grants.revoke(
      active.map((g) => g.id),
      reason,
    );
    for (const g of revoked)
      await this.audit({ type: "oauth.revoke", clientId, deploymentId, grantId: g.id, reason });
    return revoked.length;
  }

  /** Revokes every grant for a deployment (call it when a deployment is deleted). */
  async revokeDeployment(deploymentId: string, reason = "deployment_removed"): Promise<number> {
    await this.ready();
    const active = await this.grants.activeGrants({ deploymentId });
    const revoked = await this.grants.revoke(
      active.map((g) => g.id),
      reason,
    );
    for (const g of revoked)
      await this.audit({ type: "oauth.revoke", clientId: g.clientId, deploymentId, grantId: g.id, reason });
    return revoked.length;
  }

  async connectCode(deploymentId: string): Promise<{ code: string; expiresAt: Date }> {
    await this.ready();
    return this.grants.issueConnectCode(deploymentId);
  }

  async rotateSigningKey(): Promise<string> {
    await this.ready();
    return this.keys.rotate();
  }
}
