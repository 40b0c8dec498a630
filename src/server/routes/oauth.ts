import { Elysia } from "elysia";
import { z } from "zod";
import type { App } from "../../app/app.ts";
import { OAuthUnavailableError } from "../../oauth/errors.ts";
import { OAuthHttp, type RequestContext } from "../../oauth/http.ts";
import { oauthFor } from "../../oauth/instance.ts";
import type { DeploymentRef } from "../../oauth/oauth.ts";
import { NotFoundError } from "../../util/error.ts";
import { originAllowed } from "../guard.ts";

const OAUTH_PATHS = new Set(["/authorize", "/token", "/register", "/revoke"]);

/** Paths served by the authorization server: own error format, own Origin/CSRF handling. */
export function isOAuthPath(path: string): boolean {
  return OAUTH_PATHS.has(path) || path.startsWith("/.well-known/") || path.startsWith("/register/");
}

const hidden = { detail: { hide: true } };
const raw = { parse: "none" as const, detail: { hide: true } };

const ConnectedClient = z.object({
  clientId: z.string().describe("client_id: cli_… for registered clients, the metadata URL for URL clients"),
  clientName: z.string().nullable().describe("Name the client gave itself"),
  kind: z.enum(["dcr", "cimd"]).describe("dcr: dynamically registered; cimd: Client ID Metadata Document"),
  redirectHosts: z.array(z.string()).describe("Hosts (or app schemes) the client redirects to"),
  createdAt: z.string().describe("When the client registered or was first seen"),
  lastUsedAt: z.string().nullable().describe("Last token issue, refresh or MCP request (±1 min)"),
  activeGrants: z.number().int().describe("Active grants for this deployment"),
});

const ConnectCode = z.object({
  code: z.string().describe("One-time code to type on the consent page; shown once"),
  expiresAt: z.string(),
  deployment: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  resource: z.string().describe("The MCP endpoint URL to add to the client"),
});

function tags(operationId: string, summary: string) {
  return { detail: { operationId, summary, tags: ["oauth"] } };
}

/** The OAuth endpoints (outside /api) and the admin API for connected clients. */
export function oauthRoutes(app: App, port: () => number) {
  const oauth = oauthFor(app, port);
  const http = new OAuthHttp(oauth, app.log);
  const ctx = (
    request: Request,
    server: { requestIP(r: Request): { address: string } | null } | null,
  ): RequestContext => ({
    address: server?.requestIP(request)?.address ?? "unknown",
    originAllowed: (origin) =>
      origin === new URL(oauth.issuer()).origin || originAllowed(app, origin, port()),
  });
  const deployment = async (idOrSlug: string): Promise<DeploymentRef> => {
    const dep = (await oauth.directory.byId(idOrSlug)) ?? (await oauth.directory.bySlug(idOrSlug));
    if (dep) return dep;
    throw new NotFoundError(`No deployment ${JSON.stringify(idOrSlug)}.`, {
      hint: "Use a deployment id (dep_…) or slug; `catwalk ls` lists them.",
    });
  };
  const preflight = () => http.preflight();

  return (
    new Elysia({ name: "routes.oauth" })
      .get("/.well-known/oauth-authorization-server", () => http.metadata(), hidden)
      .get("/.well-known/openid-configuration", () => http.metadata(), hidden)
      .get("/.well-known/jwks.json", () => http.jwks(), hidden)
      .get("/.well-known/oauth-protected-resource", () => http.protectedResource(undefined), hidden)
      .get(
        "/.well-known/oauth-protected-resource/mcp/:slug",
        ({ params }) => http.protectedResource(params.slug),
        hidden,
      )
      // Path-appended form, for clients that add the well-known suffix to the resource URL.
      .get(
        "/mcp/:slug/.well-known/oauth-protected-resource",
        ({ params }) => http.protectedResource(params.slug),
        hidden,
      )
      .get("/authorize", ({ request, server }) => http.authorize(request, ctx(request, server)), hidden)
      .post("/authorize", ({ request, server }) => http.authorize(request, ctx(request, server)), raw)
      .post("/token", ({ request }) => http.token(request), raw)
      .post("/revoke", ({ request }) => http.revoke(request), raw)
      .post("/register", ({ request, server }) => http.register(request, ctx(request, server)), raw)
      .get("/register/:clientId", ({ request, params }) => http.registration(request, params.clientId), raw)
      .put("/register/:clientId", ({ request, params }) => http.registration(request, params.clientId), raw)
      .delete(
        "/register/:clientId",
        ({ request, params }) => http.registration(request, params.clientId),
        raw,
      )
      .options("/token", preflight, hidden)
      .options("/revoke", preflight, hidden)
      .options("/register", preflight, hidden)
      .options("/register/:clientId", preflight, hidden)
      .options("/.well-known/*", preflight, hidden)
      .get(
        "/api/deployments/:id/oauth-clients",
        async ({ params }) => ({ clients: await oauth.connectedClients((await deployment(params.id)).id) }),
        {
          response: { 200: z.object({ clients: z.array(ConnectedClient) }) },
          ...tags("oauthClients.list", "OAuth clients connected to a deployment"),
        },
      )
      .delete(
        "/api/deployments/:id/oauth-clients/:clientId",
        async ({ params }) => {
          const dep = await deployment(params.id);
          const revoked = await oauth.revokeClient(dep.id, params.clientId);
          if (revoked === 0)
            throw new NotFoundError(`Client ${params.clientId} has no active grant for ${dep.slug}.`, {
              hint: `\`catwalk clients ls ${dep.slug}\` lists the connected clients.`,
            });
          return { revoked };
        },
        {
          response: { 200: z.object({ revoked: z.number().int() }) },
          ...tags("oauthClients.revoke", "Revoke every grant of a client for a deployment"),
        },
      )
      .post(
        "/api/deployments/:id/connect-code",
        async ({ params }) => {
          const dep = await deployment(params.id);
          const problem = oauth.problem();
          if (problem)
            throw new OAuthUnavailableError(problem, {
              hint: "Claude needs an https URL: run behind TLS and set CATWALK_PUBLIC_URL.",
            });
          const { code, expiresAt } = await oauth.connectCode(dep.id);
          return {
            code,
            expiresAt: expiresAt.toISOString(),
            deployment: { id: dep.id, slug: dep.slug, name: dep.name },
            resource: oauth.resourceUrl(dep.slug),
          };
        },
        {
          response: { 200: ConnectCode },
          ...tags("oauthClients.connectCode", "One-time code to approve an OAuth client for a deployment"),
        },
      )
      .post("/api/oauth/signing-keys/rotate", async () => ({ kid: await oauth.rotateSigningKey() }), {
        response: { 200: z.object({ kid: z.string() }) },
        ...tags(
          "oauth.rotateSigningKey",
          "New access-token signing key; tokens signed by the old one stay valid",
        ),
      })
  );
}
