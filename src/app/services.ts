import { DeploymentManager, type PoolFactory } from "../deployment/manager.ts";
import { AccessTokens } from "../deployment/tokens.ts";
import { ErrorCode } from "../mcp/jsonrpc.ts";
import { type AuthResult, Gateway } from "../proxy/gateway.ts";
import { rpcError } from "../proxy/http.ts";
import { createRemotePool } from "../runtime/remote/remote.ts";
import { originAllowed } from "../server/guard.ts";
import { bearer } from "../util/secret.ts";
import type { App } from "./app.ts";

/** The running parts of a server built on an `App`: deployments, their pools and the gateway. */
export interface Services {
  manager: DeploymentManager;
  gateway: Gateway;
  tokens: AccessTokens;
}

function unauthorized(message: string, invalid: boolean): AuthResult {
  const challenge = invalid ? 'Bearer realm="catwalk", error="invalid_token"' : 'Bearer realm="catwalk"';
  return {
    ok: false,
    response: rpcError(401, ErrorCode.server, message, { headers: { "www-authenticate": challenge } }),
  };
}

export function remotePools(app: App): PoolFactory {
  return ({ row, headers, hooks }) => {
    if (row.upstream.kind !== "remote")
      throw new Error(`remote runtime cannot run a ${row.upstream.kind} upstream`);
    return createRemotePool({
      url: row.upstream.url,
      headers: { ...row.upstream.headers, ...headers },
      hooks,
      maxChildren: app.config.local.maxChildren,
      startTimeoutMs: app.config.local.startTimeoutMs,
      warm: row.sessionMode === "isolated",
    });
  };
}

export function createServices(app: App, port: () => number): Services {
  const tokens = new AccessTokens(app.store.db);
  let manager: DeploymentManager | undefined;
  const gateway = new Gateway({
    config: app.config.gateway,
    log: app.log.child({ component: "gateway" }),
    target: (slug) => manager?.target(slug),
    originAllowed: (origin) => originAllowed(app, origin, port()),
    authorize: async (request, target) => {
      const token = bearer(request.headers.get("authorization"));
      if (!token)
        return unauthorized("Unauthorized: send Authorization: Bearer <token> for this deployment.", false);
      const tokenId = await tokens.verify(token, target.id);
      if (!tokenId) return unauthorized("Unauthorized: the token is not valid for this deployment.", true);
      return { ok: true, tokenId };
    },
  });
  manager = new DeploymentManager(app, {
    pools: { remote: remotePools(app) },
    sessions: (id) => gateway.sessionCount(id),
    onRemoved: (id) => {
      gateway.endSessions(id, "the deployment was removed");
      tokens.forgetDeployment(id);
    },
  });
  app.onClose(async () => {
    gateway.close();
    await manager?.close();
  });
  return { manager, gateway, tokens };
}
