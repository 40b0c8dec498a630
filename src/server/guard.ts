import type { App } from "../app/app.ts";
import { isLoopbackHost } from "../config/config.ts";
import { bearer } from "../util/secret.ts";
import { envelope, errorResponse } from "./errors.ts";

/** Paths under /api that answer without the admin token. */
const PUBLIC_API = new Set(["/api/health"]);

/**
 * Origins a browser may call us from: our own (every loopback spelling when bound to loopback,
 * the public URL) plus the configured list. Requests without `Origin` (CLIs, MCP clients) pass;
 * this is the DNS-rebinding defence the MCP spec asks for, applied to the admin API as well.
 */
export function originAllowed(app: App, origin: string | null, port: number): boolean {
  if (origin === null) return true;
  if (app.config.allowedOrigins.includes(origin)) return true;
  if (app.config.publicUrl && new URL(app.config.publicUrl).origin === origin) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  const samePort =
    url.port === String(port) || (url.port === "" && port === (url.protocol === "https:" ? 443 : 80));
  if (!samePort) return false;
  const host = url.hostname;
  if (isLoopbackHost(host))
    return isLoopbackHost(app.config.host) || app.config.host === "0.0.0.0" || app.config.host === "::";
  return host === app.config.host;
}

export function forbiddenOrigin(origin: string): Response {
  return errorResponse(
    403,
    envelope(
      "forbidden_origin",
      `Requests from origin ${origin} are not allowed.`,
      "Add the origin to allowedOrigins (CATWALK_ALLOWED_ORIGINS) if it is yours.",
    ),
  );
}

/** Admin-token check for everything under /api except the public paths. Undefined means: go on. */
export async function guardApi(app: App, request: Request, path: string): Promise<Response | undefined> {
  if (!path.startsWith("/api/") && path !== "/api") return undefined;
  if (PUBLIC_API.has(path)) return undefined;
  const token = bearer(request.headers.get("authorization"));
  const challenge = { "www-authenticate": 'Bearer realm="catwalk-admin"' };
  if (!token) {
    return errorResponse(
      401,
      envelope(
        "unauthorized",
        "This endpoint needs the admin token.",
        "Send Authorization: Bearer <token>; `catwalk admin token` prints it.",
      ),
      challenge,
    );
  }
  if (await app.adminTokens.verify(token)) return undefined;
  if (/^cw(dep|oat|ort|brg)_/.test(token)) {
    return errorResponse(
      403,
      envelope(
        "forbidden",
        "This token opens one deployment's MCP endpoint, not the admin API.",
        "Use the admin token (`catwalk admin token`).",
      ),
    );
  }
  return errorResponse(
    401,
    envelope(
      "unauthorized",
      "The admin token is not valid.",
      "`catwalk admin token` prints the current one; it changes when rotated.",
    ),
    { ...challenge, "www-authenticate": 'Bearer realm="catwalk-admin", error="invalid_token"' },
  );
}
