import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { eq } from "drizzle-orm";
import * as o from "oauth4webapi";
import {
  completeConsent,
  MemoryDirectory,
  MemoryOAuthProvider,
  type OAuthTestServer,
  openConsent,
  startOAuthTestServer,
  textOf,
} from "../../test/helpers/oauth.ts";
import { tempDir } from "../../test/helpers/server.ts";
import { openApp } from "../app/app.ts";
import { loadConfig } from "../config/config.ts";
import { createLogger } from "../log/log.ts";
import { OAuthConfigError } from "./errors.ts";
import { oauthFor } from "./instance.ts";
import { OAuthCodeTable, OAuthConnectCodeTable } from "./oauth.sql.ts";

const insecure = { [o.allowInsecureRequests]: true } as const;
const REDIRECT = "http://127.0.0.1:9/callback";
const ALPHA = { id: "dep_01ALPHA0000000000000000000", slug: "alpha", name: "Alpha tools" };
const BETA = { id: "dep_01BETA00000000000000000000", slug: "beta", name: "Beta tools" };

let srv: OAuthTestServer;

beforeAll(async () => {
  srv = await startOAuthTestServer([ALPHA, BETA]);
});
afterAll(() => srv.close());
afterEach(() => setSystemTime());

const resourceOf = (s: OAuthTestServer, slug: string) => `${s.url}/mcp/${slug}`;

/** RFC 9728 → RFC 8414 discovery as oauth4webapi does it. */
async function discover(s: OAuthTestServer, slug = "alpha"): Promise<o.AuthorizationServer> {
  const resource = new URL(resourceOf(s, slug));
  const prm = await o.processResourceDiscoveryResponse(
    resource,
    await o.resourceDiscoveryRequest(resource, insecure),
  );
  const issuer = new URL(prm.authorization_servers?.[0] as string);
  return o.processDiscoveryResponse(
    issuer,
    await o.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }),
  );
}

async function register(as: o.AuthorizationServer, extra: Partial<o.Client> = {}): Promise<o.Client> {
  const res = await o.dynamicClientRegistrationRequest(
    as,
    { redirect_uris: [REDIRECT], token_endpoint_auth_method: "none", client_name: "Test client", ...extra },
    insecure,
  );
  const reg = await o.processDynamicClientRegistrationResponse(res);
  return { client_id: reg.client_id };
}

interface Authorized {
  callback: URL;
  verifier: string;
  state: string;
}

async function authorize(
  s: OAuthTestServer,
  as: o.AuthorizationServer,
  client: o.Client,
  opts: { resource?: string | null; credential?: string; deployment?: string; redirect?: string } = {},
): Promise<Authorized> {
  const verifier = o.generateRandomCodeVerifier();
  const state = o.generateRandomState();
  const url = new URL(as.authorization_endpoint as string);
  url.searchParams.set("client_id", client.client_id);
  url.searchParams.set("redirect_uri", opts.redirect ?? REDIRECT);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("code_challenge", await o.calculatePKCECodeChallenge(verifier));
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", state);
  url.searchParams.set("scope", "mcp");
  if (opts.resource !== null) url.searchParams.set("resource", opts.resource ?? resourceOf(s, "alpha"));
  const callback = await completeConsent(url, {
    credential: opts.credential ?? s.token,
    ...(opts.deployment ? { deployment: opts.deployment } : {}),
  });
  return { callback, verifier, state };
}

async function exchange(
  as: o.AuthorizationServer,
  client: o.Client,
  a: Authorized,
  resource?: string,
): Promise<o.TokenEndpointResponse> {
  const params = o.validateAuthResponse(as, client, a.callback, a.state);
  const res = await o.authorizationCodeGrantRequest(as, client, o.None(), params, REDIRECT, a.verifier, {
    ...(resource ? { additionalParameters: { resource } } : {}),
    ...insecure,
  });
  return o.processAuthorizationCodeResponse(as, client, res);
}

async function connect(s: OAuthTestServer, slug = "alpha") {
  const as = await discover(s, slug);
  const client = await register(as);
  const a = await authorize(s, as, client, { resource: resourceOf(s, slug) });
  const tokens = await exchange(as, client, a, resourceOf(s, slug));
  return { as, client, tokens };
}

function refresh(as: o.AuthorizationServer, client: o.Client, token: string, extra?: Record<string, string>) {
  return o.refreshTokenGrantRequest(as, client, o.None(), token, {
    ...(extra ? { additionalParameters: extra } : {}),
    ...insecure,
  });
}

async function oauthError(res: Response): Promise<{ status: number; error: string; cache: string | null }> {
  const body = (await res.json()) as { error: string; error_description: string };
  expect(typeof body.error_description).toBe("string");
  return { status: res.status, error: body.error, cache: res.headers.get("cache-control") };
}

function form(url: string, params: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(params),
  });
}

describe("discovery", () => {
  test("protected resource metadata names the deployment URL and this issuer, path-inserted and root", async () => {
    const res = await fetch(`${srv.url}/.well-known/oauth-protected-resource/mcp/alpha`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      resource: `${srv.url}/mcp/alpha`,
      authorization_servers: [srv.url],
      scopes_supported: ["mcp"],
      bearer_methods_supported: ["header"],
      resource_name: "Alpha tools",
    });
    const root = (await (await fetch(`${srv.url}/.well-known/oauth-protected-resource`)).json()) as Record<
      string,
      unknown
    >;
    expect(root.resource).toBe(srv.url);
    expect(root.authorization_servers).toEqual([srv.url]);
    expect((await fetch(`${srv.url}/.well-known/oauth-protected-resource/mcp/nope`)).status).toBe(404);
  });

  test("authorization server metadata is served at the RFC 8414 and OpenID paths with exact issuer", async () => {
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
      const meta = (await (await fetch(srv.url + path)).json()) as Record<string, unknown>;
      expect(meta.issuer).toBe(srv.url);
      expect(meta.authorization_endpoint).toBe(`${srv.url}/authorize`);
      expect(meta.token_endpoint).toBe(`${srv.url}/token`);
      expect(meta.registration_endpoint).toBe(`${srv.url}/register`);
      expect(meta.revocation_endpoint).toBe(`${srv.url}/revoke`);
      expect(meta.code_challenge_methods_supported).toEqual(["S256"]);
      expect(meta.authorization_response_iss_parameter_supported).toBe(true);
      expect(meta.client_id_metadata_document_supported).toBe(true);
      expect(meta.scopes_supported).toEqual(["mcp"]);
    }
    const oidc = await o.processDiscoveryResponse(
      new URL(srv.url),
      await o.discoveryRequest(new URL(srv.url), { algorithm: "oidc", ...insecure }),
    );
    expect(oidc.issuer).toBe(srv.url);
  });

  test("the 401 challenge carries resource_metadata and scope, and invalid_token when a token was sent", () => {
    expect(srv.oauth.challenge("alpha")).toBe(
      `Bearer resource_metadata="${srv.url}/.well-known/oauth-protected-resource/mcp/alpha", scope="mcp"`,
    );
    expect(srv.oauth.challenge("alpha", { error: "invalid_token", description: 'token "expired"' })).toBe(
      `Bearer error="invalid_token", error_description="token expired", resource_metadata="${srv.url}/.well-known/oauth-protected-resource/mcp/alpha", scope="mcp"`,
    );
  });

  test("OAuth endpoints serve browser clients from any Origin (CORS) instead of the API's 403", async () => {
    const pre = await fetch(`${srv.url}/token`, {
      method: "OPTIONS",
      headers: { origin: "https://inspector.example", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    const res = await form(
      `${srv.url}/token`,
      { grant_type: "authorization_code" },
      { origin: "https://inspector.example" },
    );
    expect(await oauthError(res)).toEqual({ status: 401, error: "invalid_client", cache: "no-store" });
    const meta = await fetch(`${srv.url}/.well-known/oauth-authorization-server`, {
      headers: { origin: "https://inspector.example" },
    });
    expect(meta.status).toBe(200);
  });
});

describe("authorization code flow (oauth4webapi as the client)", () => {
  test("discovery, registration, consent with the admin token, iss, token exchange and verification", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const a = await authorize(srv, as, client);
    expect(a.callback.origin + a.callback.pathname).toBe(REDIRECT);
    expect(a.callback.searchParams.get("iss")).toBe(srv.url);
    const tokens = await exchange(as, client, a, resourceOf(srv, "alpha"));
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.scope).toBe("mcp");
    expect(tokens.access_token).toStartWith("cwoat_");
    expect(tokens.refresh_token).toStartWith("cwort_");
    expect(tokens.expires_in).toBe(3600);

    const verified = await srv.oauth.verifyAccessToken(tokens.access_token, {
      resource: resourceOf(srv, "alpha"),
      deploymentId: ALPHA.id,
    });
    expect(verified).toMatchObject({
      ok: true,
      deploymentId: ALPHA.id,
      clientId: client.client_id,
      scope: "mcp",
    });

    // The JWS inside the prefix is an RFC 9068 access token a standard library validates.
    const jwt = tokens.access_token.slice("cwoat_".length);
    const claims = await o.validateJwtAccessToken(
      as,
      new Request(resourceOf(srv, "alpha"), { headers: { authorization: `Bearer ${jwt}` } }),
      resourceOf(srv, "alpha"),
      insecure,
    );
    expect(claims.client_id).toBe(client.client_id);
    const types = srv.events.filter((e) => e.clientId === client.client_id).map((e) => e.type);
    expect(types).toEqual(["oauth.client_registered", "oauth.consent", "oauth.grant"]);
  });

  test("a connect code approves once and names the deployment when the client sent no resource", async () => {
    const res = await srv.api("/api/deployments/beta/connect-code", { method: "POST" });
    expect(res.status).toBe(200);
    const issued = (await res.json()) as { code: string; expiresAt: string; resource: string };
    expect(issued.code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(issued.resource).toBe(resourceOf(srv, "beta"));
    const stored = await srv.app.store.db.select().from(OAuthConnectCodeTable).all();
    expect(JSON.stringify(stored)).not.toContain(issued.code);

    const as = await discover(srv);
    const client = await register(as);
    const a = await authorize(srv, as, client, { resource: null, credential: issued.code.toLowerCase() });
    const tokens = await exchange(as, client, a);
    const forBeta = await srv.oauth.verifyAccessToken(tokens.access_token, {
      resource: resourceOf(srv, "beta"),
    });
    expect(forBeta).toMatchObject({ ok: true, deploymentId: BETA.id });
    expect(srv.events.find((e) => e.type === "oauth.grant" && e.clientId === client.client_id)?.via).toBe(
      "connect_code",
    );

    await expect(authorize(srv, as, client, { resource: null, credential: issued.code })).rejects.toThrow(
      "connect code is not valid",
    );
  });

  test("a client using the root-form metadata (resource = server URL) gets the deployment named at consent", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const a = await authorize(srv, as, client, { resource: srv.url, deployment: "beta" });
    const tokens = await exchange(as, client, a, srv.url);
    expect(
      await srv.oauth.verifyAccessToken(tokens.access_token, { resource: resourceOf(srv, "beta") }),
    ).toMatchObject({ ok: true, deploymentId: BETA.id });
  });

  test("refresh rotates the token; replaying the old one revokes the whole family", async () => {
    const { as, client, tokens } = await connect(srv);
    const next = await o.processRefreshTokenResponse(
      as,
      client,
      await refresh(as, client, tokens.refresh_token as string),
    );
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    const third = await o.processRefreshTokenResponse(
      as,
      client,
      await refresh(as, client, next.refresh_token as string),
    );
    const resource = { resource: resourceOf(srv, "alpha") };
    expect((await srv.oauth.verifyAccessToken(third.access_token, resource)).ok).toBe(true);

    const replay = await refresh(as, client, tokens.refresh_token as string);
    expect(await oauthError(replay)).toEqual({ status: 400, error: "invalid_grant", cache: "no-store" });
    expect(await srv.oauth.verifyAccessToken(third.access_token, resource)).toEqual({
      ok: false,
      reason: "revoked",
    });
    expect(await oauthError(await refresh(as, client, third.refresh_token as string))).toMatchObject({
      error: "invalid_grant",
    });
    const reuse = srv.events.find(
      (e) => e.type === "oauth.reuse_detected" && e.clientId === client.client_id,
    );
    expect(reuse?.deploymentId).toBe(ALPHA.id);
    expect(
      srv.events.filter((e) => e.type === "oauth.refresh" && e.clientId === client.client_id),
    ).toHaveLength(2);
  });

  test("revoking the refresh token (RFC 7009) ends the grant; unknown tokens answer 200 too", async () => {
    const { as, client, tokens } = await connect(srv);
    const res = await o.revocationRequest(as, client, o.None(), tokens.refresh_token as string, insecure);
    await o.processRevocationResponse(res);
    const resource = { resource: resourceOf(srv, "alpha") };
    expect(await srv.oauth.verifyAccessToken(tokens.access_token, resource)).toEqual({
      ok: false,
      reason: "revoked",
    });
    expect(await oauthError(await refresh(as, client, tokens.refresh_token as string))).toMatchObject({
      error: "invalid_grant",
    });
    const unknown = await form(`${srv.url}/revoke`, { token: "cwort_nope", client_id: client.client_id });
    expect(unknown.status).toBe(200);
    expect(srv.events.some((e) => e.type === "oauth.revoke" && e.clientId === client.client_id)).toBe(true);
  });

  test("revoking an access token revokes its grant; another client cannot revoke it", async () => {
    const { as, client, tokens } = await connect(srv);
    const other = await register(as);
    await o.processRevocationResponse(
      await o.revocationRequest(as, other, o.None(), tokens.access_token, insecure),
    );
    const resource = { resource: resourceOf(srv, "alpha") };
    expect((await srv.oauth.verifyAccessToken(tokens.access_token, resource)).ok).toBe(true);
    await o.processRevocationResponse(
      await o.revocationRequest(as, client, o.None(), tokens.access_token, insecure),
    );
    expect(await srv.oauth.verifyAccessToken(tokens.access_token, resource)).toEqual({
      ok: false,
      reason: "revoked",
    });
  });

  test("the MCP SDK client's OAuth support completes discovery, registration, PKCE, tokens and refresh", async () => {
    const provider = new MemoryOAuthProvider("MCP SDK");
    const serverUrl = resourceOf(srv, "alpha");
    expect(await auth(provider, { serverUrl })).toBe("REDIRECT");
    expect(provider.authorizationUrl?.searchParams.get("resource")).toBe(serverUrl);
    const callback = await completeConsent(provider.authorizationUrl as URL, { credential: srv.token });
    const code = callback.searchParams.get("code") as string;
    expect(await auth(provider, { serverUrl, authorizationCode: code })).toBe("AUTHORIZED");
    const first = provider.saved as OAuthTokens;
    expect((await srv.oauth.verifyAccessToken(first.access_token, { resource: serverUrl })).ok).toBe(true);
    expect(await auth(provider, { serverUrl })).toBe("AUTHORIZED");
    expect(provider.saved?.refresh_token).not.toBe(first.refresh_token);
    expect(
      (await srv.oauth.verifyAccessToken(provider.saved?.access_token as string, { resource: serverUrl })).ok,
    ).toBe(true);
  });
});

describe("interop traps", () => {
  test("a client that builds /register, /authorize and /token from the base URL works", async () => {
    const reg = await fetch(`${srv.url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
        client_name: "claude.ai",
        token_endpoint_auth_method: "client_secret_post",
        grant_types: ["authorization_code", "refresh_token"],
      }),
    });
    expect(reg.status).toBe(201);
    const body = (await reg.json()) as Record<string, string>;
    expect(body.registration_client_uri).toBe(`${srv.url}/register/${body.client_id}`);
    expect(body.client_secret).toStartWith("cwcs_");
    expect(body.application_type).toBe("web");

    const verifier = o.generateRandomCodeVerifier();
    const url = new URL(`${srv.url}/authorize`);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: body.client_id as string,
      redirect_uri: "https://claude.ai/api/mcp/auth_callback",
      code_challenge: await o.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state: "xyz",
      resource: resourceOf(srv, "alpha"),
    }).toString();
    const callback = await completeConsent(url, { credential: srv.token });
    expect(callback.origin).toBe("https://claude.ai");
    expect(callback.searchParams.get("state")).toBe("xyz");
    const tokenRes = await form(`${srv.url}/token`, {
      grant_type: "authorization_code",
      code: callback.searchParams.get("code") as string,
      redirect_uri: "https://claude.ai/api/mcp/auth_callback",
      code_verifier: verifier,
      client_id: body.client_id as string,
      client_secret: body.client_secret as string,
      resource: resourceOf(srv, "alpha"),
    });
    expect(tokenRes.status).toBe(200);
    expect(tokenRes.headers.get("cache-control")).toBe("no-store");
    const tokens = (await tokenRes.json()) as { access_token: string; token_type: string };
    expect(tokens.token_type).toBe("Bearer");
    const wrongSecret = await form(`${srv.url}/token`, {
      grant_type: "refresh_token",
      refresh_token: "cwort_x",
      client_id: body.client_id as string,
      client_secret: "cwcs_wrong",
    });
    expect(await oauthError(wrongSecret)).toMatchObject({ status: 401, error: "invalid_client" });
  });

  test("the same client registering twice gets two working registrations", async () => {
    const as = await discover(srv);
    const first = await register(as, { client_name: "Twice" });
    const second = await register(as, { client_name: "Twice" });
    expect(first.client_id).not.toBe(second.client_id);
    for (const client of [first, second]) {
      const tokens = await exchange(as, client, await authorize(srv, as, client));
      expect(tokens.access_token).toStartWith("cwoat_");
    }
  });

  test("registration_client_uri reads (rotating the token), updates and deletes the registration", async () => {
    const res = await fetch(`${srv.url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "none",
        client_name: "RFC 7592",
      }),
    });
    const reg = (await res.json()) as Record<string, string>;
    const uri = reg.registration_client_uri as string;
    const bearer = (t: string | undefined) => ({ authorization: `Bearer ${t}` });

    const read = await fetch(uri, { headers: bearer(reg.registration_access_token) });
    expect(read.status).toBe(200);
    const readBody = (await read.json()) as Record<string, string>;
    expect(readBody.client_name).toBe("RFC 7592");
    expect(readBody.registration_access_token).not.toBe(reg.registration_access_token);
    expect((await fetch(uri, { headers: bearer(reg.registration_access_token) })).status).toBe(401);

    const put = await fetch(uri, {
      method: "PUT",
      headers: { ...bearer(readBody.registration_access_token), "content-type": "application/json" },
      body: JSON.stringify({
        client_id: reg.client_id,
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "none",
        client_name: "Renamed",
      }),
    });
    expect(put.status).toBe(200);
    const updated = (await put.json()) as Record<string, string>;
    expect(updated.client_name).toBe("Renamed");

    // A grant made before deletion stops working with it.
    const as = await discover(srv);
    const client = { client_id: reg.client_id as string };
    const tokens = await exchange(as, client, await authorize(srv, as, client));
    const del = await fetch(uri, { method: "DELETE", headers: bearer(updated.registration_access_token) });
    expect(del.status).toBe(204);
    expect(
      await srv.oauth.verifyAccessToken(tokens.access_token, { resource: resourceOf(srv, "alpha") }),
    ).toEqual({
      ok: false,
      reason: "revoked",
    });
    expect(await oauthError(await refresh(as, client, tokens.refresh_token as string))).toMatchObject({
      status: 401,
      error: "invalid_client",
    });
  });

  test("dynamic registration refuses unsafe redirect URIs with invalid_redirect_uri", async () => {
    const cases: Record<string, unknown>[] = [
      { redirect_uris: ["http://evil.example/cb"] },
      { redirect_uris: ["javascript:alert(1)"] },
      { redirect_uris: ["https://ok.example/cb#frag"] },
      { redirect_uris: ["http://127.0.0.1:3000/cb"], application_type: "web" },
      { redirect_uris: [] },
    ];
    for (const metadata of cases) {
      const res = await fetch(`${srv.url}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token_endpoint_auth_method: "none", ...metadata }),
      });
      expect(await oauthError(res)).toMatchObject({ status: 400, error: "invalid_redirect_uri" });
    }
    const badType = await fetch(`${srv.url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: [REDIRECT], application_type: "desktop" }),
    });
    expect(await oauthError(badType)).toMatchObject({ status: 400, error: "invalid_client_metadata" });
  });

  test("loopback redirect URIs match on any port (RFC 8252), other redirect URIs only exactly", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const a = await authorize(srv, as, client, { redirect: "http://127.0.0.1:51234/callback" });
    expect(a.callback.port).toBe("51234");
  });
});

describe("spec-correct errors", () => {
  test("a wrong PKCE verifier is invalid_grant and issues nothing", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const a = await authorize(srv, as, client);
    const params = o.validateAuthResponse(as, client, a.callback, a.state);
    const res = await o.authorizationCodeGrantRequest(
      as,
      client,
      o.None(),
      params,
      REDIRECT,
      o.generateRandomCodeVerifier(),
      insecure,
    );
    const err = await oauthError(res);
    expect(err).toEqual({ status: 400, error: "invalid_grant", cache: "no-store" });
    expect(srv.events.some((e) => e.type === "oauth.grant" && e.clientId === client.client_id)).toBe(false);
  });

  test("a reused code is invalid_grant and revokes what the first redemption issued", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const a = await authorize(srv, as, client);
    const tokens = await exchange(as, client, a);
    const params = o.validateAuthResponse(as, client, a.callback, a.state);
    const again = await o.authorizationCodeGrantRequest(
      as,
      client,
      o.None(),
      params,
      REDIRECT,
      a.verifier,
      insecure,
    );
    expect(await oauthError(again)).toMatchObject({ status: 400, error: "invalid_grant" });
    expect(
      await srv.oauth.verifyAccessToken(tokens.access_token, { resource: resourceOf(srv, "alpha") }),
    ).toEqual({
      ok: false,
      reason: "revoked",
    });
    expect(srv.events.some((e) => e.type === "oauth.reuse_detected" && e.clientId === client.client_id)).toBe(
      true,
    );
  });

  test("a token for deployment A is refused by deployment B, and cannot be refreshed into B", async () => {
    const { as, client, tokens } = await connect(srv, "alpha");
    expect(
      await srv.oauth.verifyAccessToken(tokens.access_token, { resource: resourceOf(srv, "beta") }),
    ).toEqual({
      ok: false,
      reason: "wrong_audience",
    });
    // Same URL, but a different deployment now behind the slug (deleted and recreated).
    expect(
      await srv.oauth.verifyAccessToken(tokens.access_token, {
        resource: resourceOf(srv, "alpha"),
        deploymentId: BETA.id,
      }),
    ).toEqual({ ok: false, reason: "wrong_audience" });
    const res = await refresh(as, client, tokens.refresh_token as string, {
      resource: resourceOf(srv, "beta"),
    });
    expect(await oauthError(res)).toMatchObject({ status: 400, error: "invalid_target" });
  });

  test("a resource that is not a deployment goes back to the client as invalid_target with iss", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const url = new URL(`${srv.url}/authorize`);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      code_challenge: await o.calculatePKCECodeChallenge(o.generateRandomCodeVerifier()),
      code_challenge_method: "S256",
      state: "s1",
      resource: "https://elsewhere.example/mcp/alpha",
    }).toString();
    const opened = await openConsent(url);
    expect(opened.kind).toBe("redirect");
    if (opened.kind !== "redirect") return;
    expect(opened.location.searchParams.get("error")).toBe("invalid_target");
    expect(opened.location.searchParams.get("state")).toBe("s1");
    expect(opened.location.searchParams.get("iss")).toBe(srv.url);
  });

  test("PKCE is required and only S256 is accepted", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const base = { response_type: "code", client_id: client.client_id, redirect_uri: REDIRECT, state: "p" };
    const extras: Record<string, string>[] = [
      {},
      { code_challenge: "a".repeat(43), code_challenge_method: "plain" },
      { code_challenge: "a".repeat(43) },
    ];
    for (const extra of extras) {
      const opened = await openConsent(`${srv.url}/authorize?${new URLSearchParams({ ...base, ...extra })}`);
      expect(opened.kind === "redirect" && opened.location.searchParams.get("error")).toBe("invalid_request");
    }
  });

  test("a redirect URI mismatch is shown to the user, never redirected, and refused at the token endpoint", async () => {
    const as = await discover(srv);
    const client = await register(as);
    const evil = `${srv.url}/authorize?${new URLSearchParams({
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: "https://evil.example/steal",
      code_challenge: "a".repeat(43),
      code_challenge_method: "S256",
    })}`;
    const opened = await openConsent(evil);
    expect(opened.kind).toBe("page");
    if (opened.kind !== "page") return;
    expect(opened.page.status).toBe(400);
    expect(textOf(opened.page.html)).toContain("redirect_uri does not match");

    const a = await authorize(srv, as, client, { redirect: "http://127.0.0.1:4000/callback" });
    const res = await form(`${srv.url}/token`, {
      grant_type: "authorization_code",
      code: a.callback.searchParams.get("code") as string,
      redirect_uri: REDIRECT,
      code_verifier: a.verifier,
      client_id: client.client_id,
    });
    expect(await oauthError(res)).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  test("an unknown client is a page, not a redirect; at the token endpoint it is 401 invalid_client", async () => {
    const opened = await openConsent(
      `${srv.url}/authorize?${new URLSearchParams({ response_type: "code", client_id: "cli_unknown", redirect_uri: REDIRECT })}`,
    );
    expect(opened.kind === "page" && opened.page.status).toBe(400);
    const res = await form(`${srv.url}/token`, {
      grant_type: "refresh_token",
      refresh_token: "x",
      client_id: "cli_x",
    });
    expect(res.headers.get("www-authenticate")).toStartWith("Basic");
    expect(await oauthError(res)).toMatchObject({ status: 401, error: "invalid_client" });
    const unsupported = await form(`${srv.url}/token`, { grant_type: "password", client_id: "cli_x" });
    expect(await oauthError(unsupported)).toMatchObject({ status: 400, error: "unsupported_grant_type" });
  });

  test("expired access tokens, codes and refresh tokens are refused", async () => {
    const { as, client, tokens } = await connect(srv);
    const resource = { resource: resourceOf(srv, "alpha") };
    setSystemTime(new Date(Date.now() + 3601_000));
    expect(await srv.oauth.verifyAccessToken(tokens.access_token, resource)).toEqual({
      ok: false,
      reason: "expired",
    });
    setSystemTime(new Date(Date.now() + 31 * 86_400_000));
    expect(await oauthError(await refresh(as, client, tokens.refresh_token as string))).toMatchObject({
      error: "invalid_grant",
    });
    setSystemTime();

    const a = await authorize(srv, as, client);
    await srv.app.store.db
      .update(OAuthCodeTable)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(OAuthCodeTable.clientId, client.client_id));
    const params = o.validateAuthResponse(as, client, a.callback, a.state);
    const res = await o.authorizationCodeGrantRequest(
      as,
      client,
      o.None(),
      params,
      REDIRECT,
      a.verifier,
      insecure,
    );
    expect(await oauthError(res)).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  test("malformed and foreign tokens are invalid without touching the store", async () => {
    const resource = { resource: resourceOf(srv, "alpha") };
    for (const token of [
      "cwdep_abc",
      "cwoat_abc.def.ghi",
      "cwoat_",
      "eyJhbGciOiJub25lIn0.e30.",
      `cwoat_${"a".repeat(9000)}`,
    ])
      expect(await srv.oauth.verifyAccessToken(token, resource)).toEqual({ ok: false, reason: "invalid" });
    const { tokens } = await connect(srv);
    const [h, p, s] = tokens.access_token.slice(6).split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, aud: resourceOf(srv, "beta") })).toString(
      "base64url",
    );
    expect(
      await srv.oauth.verifyAccessToken(`cwoat_${h}.${forged}.${s}`, { resource: resourceOf(srv, "beta") }),
    ).toEqual({ ok: false, reason: "invalid" });
  });

  test("no token, code or secret appears in error bodies or the log", async () => {
    const { as, client, tokens } = await connect(srv);
    await o.processRefreshTokenResponse(
      as,
      client,
      await refresh(as, client, tokens.refresh_token as string),
    );
    const bodies = [];
    for (let i = 0; i < 2; i++)
      bodies.push(await (await refresh(as, client, tokens.refresh_token as string)).text());
    bodies.push(
      await (await form(`${srv.url}/revoke`, { token: tokens.access_token, client_id: "cli_nope" })).text(),
    );
    const all = [...bodies, srv.lines.join("\n")].join("\n");
    expect(bodies[0]).toContain("invalid_grant");
    expect(all).not.toContain(tokens.refresh_token as string);
    expect(all).not.toContain(tokens.access_token.slice(6, 60));
    expect(all).not.toContain(srv.token);
  });
});

describe("administration", () => {
  test("connected clients are listed per deployment by id or slug, and revoked", async () => {
    const { client, tokens } = await connect(srv, "beta");
    for (const id of ["beta", BETA.id]) {
      const res = await srv.api(`/api/deployments/${id}/oauth-clients`);
      expect(res.status).toBe(200);
      const { clients } = (await res.json()) as { clients: Record<string, unknown>[] };
      const mine = clients.find((c) => c.clientId === client.client_id);
      expect(mine).toMatchObject({
        clientName: "Test client",
        kind: "dcr",
        redirectHosts: ["127.0.0.1:9"],
        activeGrants: 1,
      });
      expect(typeof mine?.lastUsedAt).toBe("string");
    }
    const del = await srv.api(`/api/deployments/beta/oauth-clients/${client.client_id}`, {
      method: "DELETE",
    });
    expect(await del.json()).toEqual({ revoked: 1 });
    expect(
      await srv.oauth.verifyAccessToken(tokens.access_token, { resource: resourceOf(srv, "beta") }),
    ).toEqual({
      ok: false,
      reason: "revoked",
    });
    const again = await srv.api(`/api/deployments/beta/oauth-clients/${client.client_id}`, {
      method: "DELETE",
    });
    expect(again.status).toBe(404);
    const list = (await (await srv.api("/api/deployments/beta/oauth-clients")).json()) as {
      clients: { clientId: string }[];
    };
    expect(list.clients.map((c) => c.clientId)).not.toContain(client.client_id);
    expect(srv.events.some((e) => e.type === "oauth.revoke" && e.reason === "admin_revoked")).toBe(true);
  });

  test("the client API needs the admin token and names unknown deployments", async () => {
    expect((await fetch(`${srv.url}/api/deployments/alpha/oauth-clients`)).status).toBe(401);
    const res = await srv.api("/api/deployments/nope/oauth-clients");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { hint: string } }).error.hint).toContain("slug");
  });

  test("revokeDeployment ends every grant of a removed deployment", async () => {
    const own = await startOAuthTestServer([], { directory: new MemoryDirectory([{ ...ALPHA }]) });
    try {
      const { as, client, tokens } = await connect(own);
      expect(await own.oauth.revokeDeployment(ALPHA.id)).toBe(1);
      expect(
        (await own.oauth.verifyAccessToken(tokens.access_token, { resource: resourceOf(own, "alpha") })).ok,
      ).toBe(false);
      own.directory.remove(ALPHA.id);
      expect(await oauthError(await refresh(as, client, tokens.refresh_token as string))).toMatchObject({
        error: "invalid_grant",
      });
    } finally {
      await own.close();
    }
  });
});

describe("restarts", () => {
  test("a restart keeps signing keys, refresh tokens and revocations", async () => {
    const first = await startOAuthTestServer([ALPHA]);
    const dataDir = first.dataDir;
    const { tokens } = await connect(first);
    const revoked = await connect(first);
    await first.oauth.revokeClient(ALPHA.id, revoked.client.client_id);
    const jwks = await (await fetch(`${first.url}/.well-known/jwks.json`)).json();
    const oldUrl = first.url;
    await first.close();

    const second = await startOAuthTestServer([ALPHA], {
      dataDir,
      flags: { port: Number(new URL(oldUrl).port) },
    });
    try {
      expect(await (await fetch(`${second.url}/.well-known/jwks.json`)).json()).toEqual(jwks);
      const resource = { resource: resourceOf(second, "alpha") };
      expect((await second.oauth.verifyAccessToken(tokens.access_token, resource)).ok).toBe(true);
      expect(await second.oauth.verifyAccessToken(revoked.tokens.access_token, resource)).toEqual({
        ok: false,
        reason: "revoked",
      });
      const as = await discover(second);
      const client = {
        client_id: await second.oauth
          .verifyAccessToken(tokens.access_token, resource)
          .then((r) => (r.ok ? r.clientId : "")),
      };
      const next = await o.processRefreshTokenResponse(
        as,
        client,
        await refresh(as, client, tokens.refresh_token as string),
      );
      expect((await second.oauth.verifyAccessToken(next.access_token, resource)).ok).toBe(true);
    } finally {
      await second.close();
    }
  });

  test("a rotated signing key signs new tokens while tokens of the old key stay valid", async () => {
    const { tokens } = await connect(srv);
    const res = await srv.api("/api/oauth/signing-keys/rotate", { method: "POST" });
    const { kid } = (await res.json()) as { kid: string };
    const { tokens: fresh } = await connect(srv);
    const header = (t: string) =>
      JSON.parse(Buffer.from(t.slice(6).split(".")[0] as string, "base64url").toString());
    expect(header(fresh.access_token).kid).toBe(kid);
    expect(header(tokens.access_token).kid).not.toBe(kid);
    const resource = { resource: resourceOf(srv, "alpha") };
    expect((await srv.oauth.verifyAccessToken(tokens.access_token, resource)).ok).toBe(true);
    expect((await srv.oauth.verifyAccessToken(fresh.access_token, resource)).ok).toBe(true);
    const { keys } = (await (await fetch(`${srv.url}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    expect(keys.map((k) => k.kid)).toContain(kid);
  });
});

describe("issuer configuration", () => {
  test("a public https URL is the issuer and the base of every resource", async () => {
    const own = await startOAuthTestServer([ALPHA], {
      env: { CATWALK_PUBLIC_URL: "https://catwalk.example.com/" },
    });
    try {
      const meta = (await (
        await fetch(`${own.url}/.well-known/oauth-authorization-server`)
      ).json()) as Record<string, string>;
      expect(meta.issuer).toBe("https://catwalk.example.com");
      expect(meta.token_endpoint).toBe("https://catwalk.example.com/token");
      const prm = (await (
        await fetch(`${own.url}/.well-known/oauth-protected-resource/mcp/alpha`)
      ).json()) as Record<string, unknown>;
      expect(prm.resource).toBe("https://catwalk.example.com/mcp/alpha");
      expect(own.oauth.challenge("alpha")).toContain(
        'resource_metadata="https://catwalk.example.com/.well-known/oauth-protected-resource/mcp/alpha"',
      );
    } finally {
      await own.close();
    }
  });

  test("a non-loopback http issuer refuses to serve OAuth with a clear error", async () => {
    const own = await startOAuthTestServer([ALPHA], {
      env: { CATWALK_PUBLIC_URL: "http://catwalk.example.com" },
    });
    try {
      const res = await fetch(`${own.url}/.well-known/oauth-authorization-server`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error).toBe("temporarily_unavailable");
      expect(body.error_description).toContain("CATWALK_PUBLIC_URL");
      const page = await fetch(`${own.url}/authorize?client_id=x`);
      expect(page.status).toBe(503);
      expect(own.lines.filter((l) => l.includes("OAuth endpoints are unavailable"))).toHaveLength(1);
      expect(own.oauth.challenge("alpha")).toBe('Bearer realm="catwalk"');
      const code = await own.api("/api/deployments/alpha/connect-code", { method: "POST" });
      expect(code.status).toBe(503);
      expect(((await code.json()) as { error: { hint: string } }).error.hint).toContain("CATWALK_PUBLIC_URL");
    } finally {
      await own.close();
    }
  });

  test("oauth.enabled=false turns the endpoints and OAuth tokens off", async () => {
    const own = await startOAuthTestServer([ALPHA]);
    const { tokens } = await connect(own);
    await own.close();
    const off = await startOAuthTestServer([ALPHA], {
      dataDir: own.dataDir,
      env: { CATWALK_OAUTH_ENABLED: "false" },
      flags: { port: Number(new URL(own.url).port) },
    });
    try {
      expect((await fetch(`${off.url}/.well-known/oauth-authorization-server`)).status).toBe(503);
      expect(
        await off.oauth.verifyAccessToken(tokens.access_token, { resource: resourceOf(off, "alpha") }),
      ).toEqual({
        ok: false,
        reason: "invalid",
      });
    } finally {
      await off.close();
    }
  });

  test("an unreadable CA file for metadata documents stops the start with the setting and the fix", async () => {
    const dataDir = tempDir();
    const config = loadConfig({
      env: { CATWALK_OAUTH_CIMD_CA_FILE: `${dataDir}/missing.pem` },
      flags: { dataDir },
    });
    const app = await openApp(config, { log: createLogger({ level: "error", write: () => undefined }) });
    try {
      let thrown: unknown;
      try {
        oauthFor(app);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(OAuthConfigError);
      expect((thrown as OAuthConfigError).hint).toContain("CATWALK_OAUTH_CIMD_CA_FILE");
    } finally {
      await app.close();
    }
  });
});
