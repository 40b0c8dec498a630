import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { oauthFor } from "../../src/oauth/instance.ts";
import type {
  DeploymentDirectory,
  DeploymentRef,
  OAuthAuditEvent,
  OAuthServer,
} from "../../src/oauth/oauth.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./server.ts";

/** An in-memory deployments directory for tests (the real one belongs to the deployments domain). */
export class MemoryDirectory implements DeploymentDirectory {
  readonly deployments = new Map<string, DeploymentRef>();

  constructor(initial: DeploymentRef[] = []) {
    for (const d of initial) this.add(d);
  }

  add(d: DeploymentRef): DeploymentRef {
    this.deployments.set(d.id, d);
    return d;
  }

  remove(id: string): void {
    this.deployments.delete(id);
  }

  async bySlug(slug: string): Promise<DeploymentRef | undefined> {
    return [...this.deployments.values()].find((d) => d.slug === slug);
  }

  async byId(id: string): Promise<DeploymentRef | undefined> {
    return this.deployments.get(id);
  }
}

export interface OAuthTestServer extends TestServer {
  oauth: OAuthServer;
  directory: MemoryDirectory;
  events: OAuthAuditEvent[];
}

/** A test server whose authorization server knows the given deployments and records audit events. */
export async function startOAuthTestServer(
  deployments: DeploymentRef[],
  opts: TestServerOptions & { directory?: MemoryDirectory } = {},
): Promise<OAuthTestServer> {
  const srv = await startTestServer(opts);
  const directory = opts.directory ?? new MemoryDirectory(deployments);
  const events: OAuthAuditEvent[] = [];
  const oauth = oauthFor(srv.app).wire({ directory, audit: (e) => void events.push(e) });
  return { ...srv, oauth, directory, events };
}

const ENTITIES: Record<string, string> = {
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&#39;": "'",
};

function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39);/g, (m) => ENTITIES[m] ?? m);
}

/** The consent page as a browser sees it: status, HTML, hidden fields, consent cookie. */
export interface ConsentPage {
  url: URL;
  status: number;
  headers: Headers;
  html: string;
  fields: Record<string, string>;
  cookie: string | undefined;
}

export type Opened =
  | { kind: "page"; page: ConsentPage }
  | { kind: "redirect"; location: URL; status: number };

/** GET an authorization URL without following redirects. */
export async function openConsent(authorizationUrl: string | URL): Promise<Opened> {
  const url = new URL(authorizationUrl);
  const res = await fetch(url, { redirect: "manual" });
  const location = res.headers.get("location");
  if (location) {
    await res.body?.cancel();
    return { kind: "redirect", location: new URL(location), status: res.status };
  }
  const html = await res.text();
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1] as string] = decodeEntities(m[2] as string);
  const cookie = res.headers.get("set-cookie")?.split(";")[0];
  return { kind: "page", page: { url, status: res.status, headers: res.headers, html, fields, cookie } };
}

export interface ConsentInput {
  /** The admin token or a connect code. */
  credential?: string;
  /** Deployment slug, when the client did not name a resource. */
  deployment?: string;
  decision?: "approve" | "deny";
  /** Origin header of the form post; default the page's origin, null for none. */
  origin?: string | null;
  /** Override or drop the consent cookie (CSRF tests). */
  cookie?: string | null;
  /** Override hidden fields (CSRF and tampering tests). */
  fields?: Record<string, string>;
}

export type Submitted =
  | { kind: "redirect"; location: URL; status: number }
  | { kind: "page"; page: ConsentPage };

/** Posts the consent form the way a browser would. */
export async function submitConsent(page: ConsentPage, input: ConsentInput): Promise<Submitted> {
  const form = new URLSearchParams({ ...page.fields, ...input.fields });
  form.set("decision", input.decision ?? "approve");
  if (input.credential !== undefined) form.set("credential", input.credential);
  if (input.deployment !== undefined) form.set("deployment", input.deployment);
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  const origin = input.origin === undefined ? page.url.origin : input.origin;
  if (origin !== null) headers.origin = origin;
  const cookie = input.cookie === undefined ? page.cookie : input.cookie;
  if (cookie) headers.cookie = cookie;
  const res = await fetch(new URL("/authorize", page.url), {
    method: "POST",
    body: form,
    headers,
    redirect: "manual",
  });
  const location = res.headers.get("location");
  if (location) {
    await res.body?.cancel();
    return { kind: "redirect", location: new URL(location), status: res.status };
  }
  const html = await res.text();
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1] as string] = decodeEntities(m[2] as string);
  return {
    kind: "page",
    page: {
      url: page.url,
      status: res.status,
      headers: res.headers,
      html,
      fields,
      cookie: res.headers.get("set-cookie")?.split(";")[0],
    },
  };
}

/**
 * Drives the consent step over HTTP for an authorization URL (as an MCP client would open it in
 * a browser) and returns the URL the browser is sent back to: the client's redirect URI with
 * `code`, `state` and `iss` (or `error`). Throws when the server answers with a page instead.
 */
export async function completeConsent(authorizationUrl: string | URL, input: ConsentInput): Promise<URL> {
  const opened = await openConsent(authorizationUrl);
  if (opened.kind === "redirect") return opened.location;
  if (opened.page.status !== 200)
    throw new Error(`consent page answered ${opened.page.status}: ${textOf(opened.page.html)}`);
  const done = await submitConsent(opened.page, input);
  if (done.kind === "redirect") return done.location;
  throw new Error(`consent was not accepted (${done.page.status}): ${textOf(done.page.html)}`);
}

const TEST_REDIRECT = "http://127.0.0.1:9/callback";

/**
 * The MCP SDK's `OAuthClientProvider` kept in memory, as a client app would persist it: the
 * registration, the tokens, the PKCE verifier, and the authorization URL it was sent to (a
 * test then drives the consent page over HTTP).
 */
export class MemoryOAuthProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = "";
  authorizationUrl: URL | undefined;
  readonly redirectUrl = TEST_REDIRECT;
  readonly clientMetadata;

  constructor(clientName: string) {
    this.clientMetadata = {
      redirect_uris: [TEST_REDIRECT],
      client_name: clientName,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  clientInformation = () => this.info;
  saveClientInformation = (i: OAuthClientInformationMixed) => {
    this.info = i;
  };
  tokens = () => this.saved;
  saveTokens = (t: OAuthTokens) => {
    this.saved = t;
  };
  redirectToAuthorization = (u: URL) => {
    this.authorizationUrl = u;
  };
  saveCodeVerifier = (v: string) => {
    this.verifier = v;
  };
  codeVerifier = () => this.verifier;
}

/**
 * What a connector does with a connect code: registers a public client (DCR), approves it on the
 * consent page with the code, and redeems the authorization code with PKCE. Returns the client id.
 */
export async function connectWithCode(baseUrl: string, code: string, clientName: string): Promise<string> {
  const reg = (await (
    await fetch(`${baseUrl}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [TEST_REDIRECT],
        token_endpoint_auth_method: "none",
        client_name: clientName,
      }),
    })
  ).json()) as { client_id: string };
  const callback = await completeConsent(
    `${baseUrl}/authorize?${new URLSearchParams({
      response_type: "code",
      client_id: reg.client_id,
      redirect_uri: TEST_REDIRECT,
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
    })}`,
    { credential: code },
  );
  const token = await fetch(`${baseUrl}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: callback.searchParams.get("code") as string,
      redirect_uri: TEST_REDIRECT,
      code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
      client_id: reg.client_id,
    }),
  });
  if (token.status !== 200)
    throw new Error(`the token endpoint answered ${token.status}: ${await token.text()}`);
  return reg.client_id;
}

/** The visible error of a consent page, for assertion messages. */
export function textOf(html: string): string {
  const error = /<p class="error"[^>]*>([^<]*)<\/p>/.exec(html)?.[1];
  const body = /<h1>([^<]*)<\/h1>\s*(?:<p>([^<]*)<\/p>)?/.exec(html);
  return decodeEntities(error ?? [body?.[1], body?.[2]].filter(Boolean).join(": "));
}
