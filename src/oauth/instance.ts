import type { App } from "../app/app.ts";
import { OAuthServer } from "./oauth.ts";

const instances = new WeakMap<App, OAuthServer>();

/**
 * The issuer: `publicUrl` when set, otherwise the loopback URL the server listens on. Other
 * binds without a public URL yield an http issuer that `OAuthServer.problem()` refuses.
 */
export function issuerOf(app: App, port: number): string {
  if (app.config.publicUrl) return app.config.publicUrl.replace(/\/+$/, "");
  const host = app.config.host;
  if (host === "0.0.0.0" || host === "::") return `http://127.0.0.1:${port}`;
  return `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

/**
 * The authorization server of a running instance, created on first use. The gateway calls
 * `oauthFor(app).verifyAccessToken(…)` and `.challenge(…)`; the deployments domain wires its
 * directory and the audit sink with `oauthFor(app).wire({directory, audit})`.
 */
export function oauthFor(app: App, port?: () => number): OAuthServer {
  let server = instances.get(app);
  if (!server) {
    const bound = port ?? (() => app.config.port);
    server = new OAuthServer({
      db: app.store.db,
      vault: app.vault,
      log: app.log,
      config: app.config.oauth,
      issuer: () => issuerOf(app, bound()),
      verifyAdminToken: (token) => app.adminTokens.verify(token),
    });
    instances.set(app, server);
  }
  return server;
}
