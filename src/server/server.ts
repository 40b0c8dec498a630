import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { z } from "zod";
import type { App } from "../app/app.ts";
import { createServices, type Services } from "../app/services.ts";
import { finishRotation } from "../keys/rotate.ts";
import { newId } from "../util/ids.ts";
import { VERSION } from "../version.ts";
import { parseApiJson } from "./body.ts";
import { toErrorResponse } from "./errors.ts";
import { forbiddenOrigin, guardApi, originAllowed } from "./guard.ts";
import { adminRoutes } from "./routes/admin.ts";
import { analysisRoutes } from "./routes/analyses.ts";
import { deploymentRoutes } from "./routes/deployments.ts";
import { eventRoutes } from "./routes/events.ts";
import { flyRoutes } from "./routes/fly.ts";
import { healthRoutes } from "./routes/health.ts";
import { isOAuthPath, oauthRoutes } from "./routes/oauth.ts";
import { registryRoutes } from "./routes/registry.ts";

export const SERVER_FILE = "server.json";

/** What `serve` records in the data dir so local CLI commands find the running server. */
export interface ServerFile {
  url: string;
  pid: number;
  version: string;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Paths whose failures are answered by their own handler (JSON-RPC errors, OAuth errors), not
 * the API envelope, and that check Origin themselves (the consent form keeps its CSRF defence).
 */
function ownsErrors(path: string): boolean {
  return path.startsWith("/mcp/") || path === "/mcp" || isOAuthPath(path);
}

/**
 * Routes that read their own bodies (OAuth, `/mcp/:slug`) are registered before the `/api` JSON
 * parse hook: Elysia runs a parse hook for every route registered after it, even `parse: "none"`
 * ones, and such a route then loses its body.
 */
export function buildServer(app: App, services: Services, port: () => number) {
  const ids = new WeakMap<Request, string>();
  return new Elysia({ name: "catwalk" })
    .use(
      openapi({
        path: "/api/docs",
        specPath: "/api/openapi.json",
        provider: null,
        mapJsonSchema: { zod: z.toJSONSchema },
        documentation: {
          info: {
            title: "Catwalk API",
            version: VERSION,
            description: "Manage MCP deployments. Every path except /api/health needs the admin token.",
          },
          components: { securitySchemes: { admin: { type: "http", scheme: "bearer" } } },
          security: [{ admin: [] }],
        },
      }),
    )
    .onRequest(async ({ request, set }) => {
      const given = request.headers.get("x-request-id");
      const id = given && REQUEST_ID.test(given) ? given : newId("log").slice(4);
      ids.set(request, id);
      set.headers["x-request-id"] = id;
      const path = new URL(request.url).pathname;
      if (ownsErrors(path)) return;
      const origin = request.headers.get("origin");
      if (!originAllowed(app, origin, port())) return forbiddenOrigin(origin ?? "");
      return guardApi(app, request, path);
    })
    .onError(({ code, error, request }) => {
      const url = new URL(request.url);
      return toErrorResponse(
        code,
        error,
        app.log,
        ids.get(request) ?? "-",
        `${request.method} ${url.pathname}`,
      );
    })
    .onAfterResponse(({ request, set }) => {
      const url = new URL(request.url);
      app.log.debug("request", {
        method: request.method,
        path: url.pathname,
        status: set.status,
        id: ids.get(request),
      });
    })
    .use(oauthRoutes(app, port))
    .all(
      "/mcp/:slug",
      ({ request, params, server }) => {
        // The gateway runs its own timeouts (progress-aware); Bun's idle timeout would cut long calls.
        server?.timeout(request, 0);
        return services.gateway.handle(request, params.slug);
      },
      { parse: "none", detail: { hide: true } },
    )
    .onParse(parseApiJson)
    .use(healthRoutes(app))
    .use(deploymentRoutes(services))
    .use(eventRoutes(services))
    .use(adminRoutes(services))
    .use(analysisRoutes(app))
    .use(registryRoutes(app))
    .use(flyRoutes(services))
    .get(
      "/",
      () =>
        new Response(`catwalk ${VERSION}\nAPI: /api (admin token)  health: /api/health  MCP: /mcp/<slug>\n`),
      { detail: { hide: true } },
    );
}

export interface Running {
  url: string;
  port: number;
  services: Services;
  stop(): Promise<void>;
}

/** Binds the HTTP server and records it in `<dataDir>/server.json` for local CLI commands. */
export async function startServer(app: App): Promise<Running> {
  let bound = app.config.port;
  const services = createServices(app, () => bound);
  const server = buildServer(app, services, () => bound);
  server.listen({
    hostname: app.config.host,
    port: app.config.port,
    // The gateway enforces its own, smaller limit with a JSON-RPC 413; this is the hard ceiling.
    maxRequestBodySize: Math.max(app.config.gateway.maxBodyBytes * 2, 16 * 1024 * 1024),
    idleTimeout: 255,
  });
  const srv = server.server;
  if (!srv) throw new Error("HTTP server did not start");
  bound = srv.port ?? app.config.port;
  const host = app.config.host.includes(":") ? `[${app.config.host}]` : app.config.host;
  const url = `http://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${bound}`;
  services.manager.baseUrl = url;
  const finished = await finishRotation(app);
  if (finished !== undefined)
    app.log.warn("finished an interrupted master key rotation", { reencrypted: finished });
  await services.manager.boot();
  const file = join(app.config.dataDir, SERVER_FILE);
  const info: ServerFile = { url, pid: process.pid, version: VERSION };
  writeFileSync(file, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    rmSync(file, { force: true });
    await server.stop(true);
  };
  app.onClose(stop);
  return { url, port: bound, services, stop };
}
