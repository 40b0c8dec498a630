import type { Logger } from "../log/log.ts";
import { bearer } from "../util/secret.ts";
import { redirectHost } from "./clients.ts";
import {
  CONSENT_PARAMS,
  csrfToken,
  csrfValid,
  formTargetSource,
  htmlHeaders,
  newNonce,
  renderConsent,
  renderError,
} from "./consent.ts";
import { OAuthError } from "./errors.ts";
import {
  type AuthorizationRequest,
  AuthorizeError,
  type ClientCredentials,
  ConsentProblem,
  type OAuthServer,
} from "./oauth.ts";

/**
 * HTTP framing of the authorization server on web-standard Request/Response, so the Elysia
 * routes stay one line each. Everything here answers in OAuth's formats: JSON
 * `{error, error_description}` with the RFC's status codes and `Cache-Control: no-store`, or
 * HTML for the browser-facing /authorize. Nothing uses the `/api` error envelope.
 */
export interface RequestContext {
  /** The client's address, for rate limits. */
  address: string;
  /** Whether a browser Origin may post the consent form (our own origins). */
  originAllowed(origin: string): boolean;
}

const MAX_FORM_BYTES = 64 * 1024;
const MAX_JSON_BYTES = 16 * 1024;
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, content-type, mcp-protocol-version",
  "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
  "access-control-max-age": "600",
};

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      "cache-control": "no-store",
      pragma: "no-cache",
      ...CORS,
      ...headers,
    },
  });
}

function html(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...htmlHeaders(), ...headers } });
}

function redirect(status: 302 | 303, location: string): Response {
  return new Response(null, {
    status,
    headers: { location, "cache-control": "no-store", "referrer-policy": "no-referrer" },
  });
}

async function readBody(request: Request, max: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max)
    throw new OAuthError("invalid_request", `The request body is larger than ${max} bytes.`, { status: 413 });
  const text = await request.text();
  if (text.length > max)
    throw new OAuthError("invalid_request", `The request body is larger than ${max} bytes.`, { status: 413 });
  return text;
}

function mediaType(request: Request): string {
  return (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** Form parameters (RFC 6749 §3.2); JSON bodies are accepted too, for clients that send them. */
async function readForm(request: Request): Promise<URLSearchParams> {
  const text = await readBody(request, MAX_FORM_BYTES);
  const type = mediaType(request);
  if (type === "application/x-www-form-urlencoded") return new URLSearchParams(text);
  if (type === "application/json") {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new OAuthError("invalid_request", "The request body is not valid JSON.");
    }
    const form = new URLSearchParams();
    if (typeof body === "object" && body !== null)
      for (const [k, v] of Object.entries(body)) if (typeof v === "string") form.set(k, v);
    return form;
  }
  throw new OAuthError("invalid_request", "Send the parameters as application/x-www-form-urlencoded.");
}

function decodeFormComponent(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, " "));
}

/** Client credentials from HTTP Basic (RFC 6749 §2.3.1) or the body; one method per request. */
function credentials(request: Request, form: URLSearchParams): ClientCredentials | undefined {
  const header = request.headers.get("authorization");
  const bodyId = form.get("client_id") ?? undefined;
  const bodySecret = form.get("client_secret") ?? undefined;
  if (header && /^basic\s/i.test(header)) {
    let id: string;
    let secret: string;
    try {
      const decoded = Buffer.from(header.replace(/^basic\s+/i, ""), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) throw new Error("no colon");
      id = decodeFormComponent(decoded.slice(0, colon));
      secret = decodeFormComponent(decoded.slice(colon + 1));
    } catch {
      throw new OAuthError("invalid_client", "The Basic authorization header is malformed.");
    }
    if (bodySecret !== undefined || (bodyId !== undefined && bodyId !== id))
      throw new OAuthError("invalid_request", "Use one client authentication method per request.");
    return { clientId: id, secret };
  }
  return bodyId ? { clientId: bodyId, secret: bodySecret } : undefined;
}

function cookies(request: Request): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

export class OAuthHttp {
  private warned = false;

  constructor(
    private readonly oauth: OAuthServer,
    private readonly log: Logger,
  ) {}

  /** Why OAuth is off, logged once for the operator (clients get it in every 503). */
  private problem(): string | undefined {
    const problem = this.oauth.problem();
    if (problem && !this.warned) {
      this.warned = true;
      this.log.warn("OAuth endpoints are unavailable", { reason: problem });
    }
    return problem;
  }

  private get secure(): boolean {
    return this.oauth.issuer().startsWith("https:");
  }

  /** `__Host-` pins the cookie to this origin, but browsers accept that prefix only over https. */
  private get cookieName(): string {
    return this.secure ? "__Host-cw_consent" : "cw_consent";
  }

  /** Runs a JSON endpoint: availability, start-up, and OAuth-format errors. */
  private async run(fn: () => Promise<Response>): Promise<Response> {
    const problem = this.problem();
    if (problem) return json(503, { error: "temporarily_unavailable", error_description: problem });
    try {
      await this.oauth.ready();
      return await fn();
    } catch (e) {
      return this.failure(e);
    }
  }

  private failure(e: unknown): Response {
    if (e instanceof OAuthError) {
      const headers: Record<string, string> = {};
      if (e.error === "invalid_client") headers["www-authenticate"] = 'Basic realm="catwalk"';
      if (e.error === "invalid_token") headers["www-authenticate"] = 'Bearer error="invalid_token"';
      return json(e.status, e.toOAuthBody(), headers);
    }
    this.log.error("oauth endpoint failed", { error: e, stack: e instanceof Error ? e.stack : undefined });
    return json(500, {
      error: "server_error",
      error_description: "Internal error; the server log has details.",
    });
  }

  preflight(): Response {
    return new Response(null, { status: 204, headers: CORS });
  }

  metadata(): Promise<Response> {
    return this.run(async () => json(200, this.oauth.metadata(), { "cache-control": "public, max-age=300" }));
  }

  jwks(): Promise<Response> {
    return this.run(async () =>
      json(200, this.oauth.keys.jwks(), { "cache-control": "public, max-age=300" }),
    );
  }

  protectedResource(slug: string | undefined): Promise<Response> {
    return this.run(async () => {
      if (slug === undefined)
        return json(200, this.oauth.rootProtectedResource(), { "cache-control": "public, max-age=60" });
      const doc = await this.oauth.protectedResource(slug);
      if (!doc) return json(404, { error: "not_found", error_description: "No deployment with that slug." });
      return json(200, doc, { "cache-control": "public, max-age=60" });
    });
  }

  token(request: Request): Promise<Response> {
    return this.run(async () => {
      const form = await readForm(request);
      return json(200, await this.oauth.token(form, credentials(request, form)));
    });
  }

  revoke(request: Request): Promise<Response> {
    return this.run(async () => {
      const form = await readForm(request);
      await this.oauth.revokeToken(form, credentials(request, form));
      return json(200, undefined);
    });
  }

  register(request: Request, ctx: RequestContext): Promise<Response> {
    return this.run(async () =>
      json(201, await this.oauth.clients.register(await this.readJson(request), ctx.address)),
    );
  }

  registration(request: Request, clientId: string): Promise<Response> {
    return this.run(async () => {
      const token = bearer(request.headers.get("authorization"));
      if (request.method === "GET")
        return json(200, await this.oauth.clients.readRegistration(clientId, token));
      if (request.method === "PUT")
        return json(
          200,
          await this.oauth.clients.updateRegistration(clientId, token, await this.readJson(request)),
        );
      await this.oauth.clients.deleteRegistration(clientId, token);
      return new Response(null, { status: 204, headers: { "cache-control": "no-store", ...CORS } });
    });
  }

  private async readJson(request: Request): Promise<unknown> {
    if (mediaType(request) !== "application/json")
      throw new OAuthError("invalid_client_metadata", "Send the client metadata as application/json.");
    const text = await readBody(request, MAX_JSON_BYTES);
    try {
      return JSON.parse(text);
    } catch {
      throw new OAuthError("invalid_client_metadata", "The client metadata is not valid JSON.");
    }
  }

  // ── /authorize ───────────────────────────────────────────────────────────────────────────

  async authorize(request: Request, ctx: RequestContext): Promise<Response> {
    const problem = this.problem();
    if (problem) return html(503, renderError("Connecting clients is not available", problem));
    try {
      await this.oauth.ready();
      return request.method === "POST"
        ? await this.consentPost(request, ctx)
        : await this.consentGet(request);
    } catch (e) {
      if (e instanceof AuthorizeError) {
        if (e.redirectTo) return redirect(request.method === "POST" ? 303 : 302, e.redirectTo);
        return html(
          e.oauth.status === 401 ? 400 : e.oauth.status,
          renderError("This connection request cannot be used", e.message),
        );
      }
      if (e instanceof OAuthError)
        return html(e.status, renderError("This connection request cannot be used", e.message));
      this.log.error("authorization endpoint failed", {
        error: e,
        stack: e instanceof Error ? e.stack : undefined,
      });
      return html(500, renderError("Something went wrong", "Internal error; the server log has details."));
    }
  }

  private async consentGet(request: Request): Promise<Response> {
    const req = await this.oauth.checkAuthorization(new URL(request.url).searchParams);
    return this.renderConsent(req, 200);
  }

  private renderConsent(
    req: AuthorizationRequest,
    status: number,
    extra: { error?: string; slug?: string | undefined; retryAfter?: number | undefined } = {},
  ): Response {
    const nonce = newNonce();
    const body = renderConsent({
      params: req.params,
      csrf: csrfToken(this.oauth.secret(), nonce, req.params),
      clientName: req.client.name,
      clientId: req.client.id,
      clientKind: req.client.kind,
      redirectHost: redirectHost(req.redirectUri),
      deployment: req.deployment,
      scope: req.scope,
      error: extra.error,
      slug: extra.slug,
    });
    const cookie = [
      `${this.cookieName}=${nonce}`,
      "Path=/",
      "HttpOnly",
      "SameSite=Strict",
      "Max-Age=1800",
      ...(this.secure ? ["Secure"] : []),
    ].join("; ");
    const headers: Record<string, string> = {
      ...htmlHeaders(formTargetSource(req.redirectUri)),
      "set-cookie": cookie,
    };
    if (extra.retryAfter) headers["retry-after"] = String(extra.retryAfter);
    return new Response(body, { status, headers });
  }

  private async consentPost(request: Request, ctx: RequestContext): Promise<Response> {
    // "null" (opaque origins, privacy modes) proves nothing either way; the CSRF check below decides.
    const origin = request.headers.get("origin");
    if (origin !== null && origin !== "null" && !ctx.originAllowed(origin))
      return html(403, renderError("Request refused", "The consent form was posted from another site."));
    if (mediaType(request) !== "application/x-www-form-urlencoded")
      return html(400, renderError("Request refused", "The consent form must be posted as a form."));
    const form = new URLSearchParams(await readBody(request, MAX_FORM_BYTES));
    const query = new URLSearchParams();
    for (const k of CONSENT_PARAMS) for (const v of form.getAll(k)) query.append(k, v);
    const req = await this.oauth.checkAuthorization(query);
    const slug = form.get("deployment") ?? undefined;
    if (
      !csrfValid(
        this.oauth.secret(),
        cookies(request).get(this.cookieName),
        form.get("csrf") ?? undefined,
        req.params,
      )
    )
      return this.renderConsent(req, 403, {
        error: "This page expired or was opened in another tab. Review the request and decide again.",
        slug,
      });
    try {
      const location = await this.oauth.decide(
        req,
        {
          decision: form.get("decision") ?? undefined,
          credential: form.get("credential") ?? undefined,
          slug,
        },
        ctx.address,
      );
      return redirect(303, location);
    } catch (e) {
      if (!(e instanceof ConsentProblem)) throw e;
      return this.renderConsent(req, e.status, { error: e.message, slug, retryAfter: e.retryAfterSeconds });
    }
  }
}
