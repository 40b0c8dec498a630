import { OAuthError } from "./errors.ts";

/**
 * Client metadata rules shared by dynamic registration (RFC 7591) and Client ID Metadata
 * Documents: redirect URIs by application type (OpenID registration, RFC 8252), the token
 * endpoint methods we accept, and exact redirect matching with the loopback port exception.
 */
export type AuthMethod = "none" | "client_secret_post" | "client_secret_basic";
export type ApplicationType = "web" | "native";

export interface ClientMetadata {
  redirectUris: string[];
  applicationType: ApplicationType;
  authMethod: AuthMethod;
  name: string | null;
  grantTypes: string[];
  /** What the client sent, minus secrets, for RFC 7592 reads and the registration response. */
  raw: Record<string, unknown>;
}

const AUTH_METHODS: readonly string[] = ["none", "client_secret_post", "client_secret_basic"];
const GRANT_TYPES: readonly string[] = ["authorization_code", "refresh_token"];
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);
const FORBIDDEN_SCHEMES = new Set([
  "javascript:",
  "data:",
  "file:",
  "vbscript:",
  "blob:",
  "about:",
  "ws:",
  "wss:",
  "ftp:",
]);
const MAX_REDIRECT_URIS = 20;
const MAX_URI_LENGTH = 2000;

function bad(
  what: string,
  error: "invalid_client_metadata" | "invalid_redirect_uri" = "invalid_client_metadata",
) {
  return new OAuthError(error, what);
}

export function isLoopbackRedirect(url: URL): boolean {
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

/** Private-use URI schemes of native apps (`com.example.app:/cb`); RFC 8252 §7.1. */
function isPrivateUse(url: URL): boolean {
  return url.protocol !== "http:" && url.protocol !== "https:";
}

function parseRedirect(uri: unknown): URL {
  if (typeof uri !== "string" || uri.length === 0 || uri.length > MAX_URI_LENGTH)
    throw bad("Every redirect_uris entry must be a URI string.", "invalid_redirect_uri");
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw bad("A redirect URI is not an absolute URI.", "invalid_redirect_uri");
  }
  if (uri.includes("#")) throw bad("Redirect URIs must not contain a fragment.", "invalid_redirect_uri");
  if (FORBIDDEN_SCHEMES.has(url.protocol))
    throw bad(`Redirect URIs with the ${url.protocol} scheme are not allowed.`, "invalid_redirect_uri");
  if (url.username || url.password)
    throw bad("Redirect URIs must not contain user information.", "invalid_redirect_uri");
  if (url.protocol === "http:" && !isLoopbackRedirect(url))
    throw bad(
      "Redirect URIs must use https, except loopback (127.0.0.1, [::1], localhost).",
      "invalid_redirect_uri",
    );
  return url;
}

function checkForType(url: URL, type: ApplicationType): void {
  if (type === "web" && (isLoopbackRedirect(url) || isPrivateUse(url) || LOOPBACK_HOSTS.has(url.hostname)))
    throw bad(
      'A "web" client must use https redirect URIs on a public host; register loopback or app-scheme redirect URIs with application_type "native".',
      "invalid_redirect_uri",
    );
}

/** The SEP-837 default when `application_type` is absent: native when any redirect is local. */
function inferType(urls: URL[]): ApplicationType {
  return urls.some((u) => isLoopbackRedirect(u) || isPrivateUse(u)) ? "native" : "web";
}

function strings(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
    throw bad(`${field} must be an array of strings.`);
  return value as string[];
}

function optionalString(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length > max)
    throw bad(`${field} must be a string of at most ${max} characters.`);
  return value;
}

/** Removes control characters so a hostile name cannot forge lines in logs or the consent page. */
export function cleanName(name: string | undefined): string | null {
  if (!name) return null;
  const clean = name.replace(/[\p{Cc}\p{Cf}]/gu, "").trim();
  return clean === "" ? null : clean.slice(0, 100);
}

export interface ValidateOptions {
  /** CIMD clients cannot hold a shared secret: only `none` is accepted and it is the default. */
  kind: "dcr" | "cimd";
}

/** Validates client metadata; throws `invalid_client_metadata` / `invalid_redirect_uri`. */
export function validateClientMetadata(input: unknown, opts: ValidateOptions): ClientMetadata {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    throw bad("The client metadata must be a JSON object.");
  const body = input as Record<string, unknown>;
  const uris = strings(body.redirect_uris, "redirect_uris");
  if (!uris || uris.length === 0) throw bad("redirect_uris is required.", "invalid_redirect_uri");
  if (uris.length > MAX_REDIRECT_URIS) throw bad(`At most ${MAX_REDIRECT_URIS} redirect URIs are allowed.`);
  const urls = uris.map(parseRedirect);

  const givenType = body.application_type;
  if (givenType !== undefined && givenType !== "web" && givenType !== "native")
    throw bad('application_type must be "web" or "native".');
  const applicationType = (givenType as ApplicationType | undefined) ?? inferType(urls);
  for (const url of urls) checkForType(url, applicationType);

  const authMethod = authMethodOf(body, opts.kind);
  const grantTypes = (strings(body.grant_types, "grant_types") ?? ["authorization_code"]).filter((g) =>
    GRANT_TYPES.includes(g),
  );
  if (!grantTypes.includes("authorization_code"))
    throw bad('grant_types must include "authorization_code"; it is the only flow this server offers.');
  const responseTypes = strings(body.response_types, "response_types") ?? ["code"];
  if (!responseTypes.includes("code")) throw bad('response_types must include "code".');

  const name = cleanName(optionalString(body.client_name, "client_name", 1000));
  optionalString(body.scope, "scope", 1000);
  const raw: Record<string, unknown> = { ...body };
  delete raw.client_secret;
  delete raw.client_secret_expires_at;
  delete raw.registration_access_token;
  return {
    redirectUris: uris,
    applicationType,
    authMethod,
    name,
    grantTypes: grantTypes.includes("refresh_token") ? grantTypes : [...grantTypes, "refresh_token"],
    raw: { ...raw, application_type: applicationType, token_endpoint_auth_method: authMethod },
  };
}

function authMethodOf(body: Record<string, unknown>, kind: "dcr" | "cimd"): AuthMethod {
  const given = body.token_endpoint_auth_method;
  if (kind === "cimd") {
    if (body.client_secret !== undefined || body.client_secret_expires_at !== undefined)
      throw bad("A client metadata document must not contain client_secret.");
    if (given === undefined || given === "none") return "none";
    throw bad(
      `token_endpoint_auth_method "${String(given).slice(0, 40)}" is not supported for metadata-document clients; use "none" with PKCE.`,
    );
  }
  // RFC 7591 §2: the default is client_secret_basic.
  const method = given ?? "client_secret_basic";
  if (typeof method !== "string" || !AUTH_METHODS.includes(method))
    throw bad(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(", ")}.`);
  return method as AuthMethod;
}

/**
 * Exact string match (RFC 9700 §4.1.3), except that loopback redirects may use any port at
 * request time (RFC 8252 §7.3): native apps bind an ephemeral port per login.
 */
export function redirectMatches(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let want: URL;
  try {
    want = new URL(requested);
  } catch {
    return false;
  }
  if (!isLoopbackRedirect(want) || requested.includes("#")) return false;
  return registered.some((r) => {
    let have: URL;
    try {
      have = new URL(r);
    } catch {
      return false;
    }
    return (
      isLoopbackRedirect(have) &&
      have.hostname === want.hostname &&
      have.pathname === want.pathname &&
      have.search === want.search
    );
  });
}

/** The host a consent page shows for a redirect URI (`scheme:` for app schemes). */
export function redirectHost(uri: string): string {
  try {
    const url = new URL(uri);
    return url.protocol === "http:" || url.protocol === "https:" ? url.host : url.protocol;
  } catch {
    return "(invalid)";
  }
}
