import { analysisServiceOf } from "../analysis/instance.ts";
import { analysisPort } from "../analysis/port.ts";
import { hostEnv } from "../config/env.ts";
import { DeploymentManager, type PoolFactory } from "../deployment/manager.ts";
import { sourceText } from "../deployment/source.ts";
import { AccessTokens } from "../deployment/tokens.ts";
import { Bus } from "../events/bus.ts";
import { EventRecorder } from "../events/recorder.ts";
import { LogStore } from "../logs/logs.ts";
import { ErrorCode } from "../mcp/jsonrpc.ts";
import { oauthFor } from "../oauth/instance.ts";
import type { OAuthServer } from "../oauth/oauth.ts";
import { rotateOAuthSecrets } from "../oauth/rotate.ts";
import { type AuthResult, Gateway, type GatewayTarget } from "../proxy/gateway.ts";
import { rpcError } from "../proxy/http.ts";
import { McpRegistry } from "../registry/mcp-registry.ts";
import { createLocalRuntime, type LocalRuntime } from "../runtime/local/local.ts";
import { createRemotePool } from "../runtime/remote/remote.ts";
import { originAllowed } from "../server/guard.ts";
import { Stats } from "../stats/stats.ts";
import { bearer } from "../util/secret.ts";
import type { App } from "./app.ts";
import { createFlyRuntime, type FlyRuntime } from "./fly.ts";

/** The running parts of a server built on an `App`: deployments, their pools, the gateway and observability. */
export interface Services {
  app: App;
  manager: DeploymentManager;
  gateway: Gateway;
  tokens: AccessTokens;
  oauth: OAuthServer;
  local: LocalRuntime;
  fly: FlyRuntime;
  bus: Bus;
  logs: LogStore;
  stats: Stats;
  recorder: EventRecorder;
}

function unauthorized(message: string, challenge: string): AuthResult {
  return {
    ok: false,
    response: rpcError(401, ErrorCode.server, message, { headers: { "www-authenticate": challenge } }),
  };
}

export function registryClient(app: App): McpRegistry {
  return new McpRegistry({
    baseUrl: app.config.mcpRegistry.url,
    timeoutMs: app.config.analysis.httpTimeoutMs,
  });
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

export function localPools(app: App, runtime: LocalRuntime): PoolFactory {
  return ({ row, env, hooks }) =>
    runtime.pool({
      deploymentId: row.id,
      spec: row.upstream,
      env,
      hooks,
      maxChildren: app.config.local.maxChildren,
      warm: row.sessionMode === "isolated",
    });
}

/**
 * Who may use a deployment's endpoint: its static access tokens (`cwdep_…`), or OAuth access
 * tokens bound to exactly this deployment. Every 401 carries the RFC 9728 challenge, so OAuth
 * clients can discover where to sign in.
 */
function authorizer(app: App, tokens: AccessTokens, oauth: OAuthServer) {
  return async (request: Request, target: GatewayTarget): Promise<AuthResult> => {
    const token = bearer(request.headers.get("authorization"));
    if (!token) {
      return unauthorized(
        "Unauthorized: send Authorization: Bearer <token> for this deployment.",
        oauth.challenge(target.slug),
      );
    }
    if (token.startsWith("cwdep_")) {
      const tokenId = await tokens.verify(token, target.id);
      if (tokenId) return { ok: true, tokenId };
    } else if (app.config.oauth.enabled) {
      const verdict = await oauth.verifyAccessToken(token, {
        resource: oauth.resourceUrl(target.slug),
        deploymentId: target.id,
      });
      if (verdict.ok) return { ok: true, tokenId: `grant:${verdict.grantId}` };
    }
    return unauthorized(
      "Unauthorized: the token is not valid for this deployment.",
      oauth.challenge(target.slug, {
        error: "invalid_token",
        description: "The access token is invalid, expired, revoked, or for another deployment.",
      }),
    );
  };
}

export function createServices(app: App, port: () => number): Services {
  const local = createLocalRuntime({
    config: app.config,
    dataDir: app.config.dataDir,
    hostPath: hostEnv().path,
    log: app.log,
  });
  const bus = new Bus();
  const stats = new Stats();
  const logs = new LogStore(app.store.db, app.log.redactor, app.log);
  const recorder = new EventRecorder(app.store.db, bus, app.log);
  // With a store shared by several hosts, revocations elsewhere reach this host's cache in databaseSyncMs.
  const shared = !app.store.embedded;
  const tokens = new AccessTokens(app.store.db, shared ? app.config.databaseSyncMs : undefined);
  const oauth = oauthFor(app, port);
  app.encrypted?.push(rotateOAuthSecrets);
  const analysis = analysisServiceOf(app);
  analysis.setPoolFactory((opts) => local.pool(opts));
  let manager: DeploymentManager | undefined;
  const gateway = new Gateway({
    config: app.config.gateway,
    log: app.log.child({ component: "gateway" }),
    target: (slug) => manager?.lookup(slug),
    originAllowed: (origin) => originAllowed(app, origin, port()),
    authorize: authorizer(app, tokens, oauth),
    onCall: (call) => {
      stats.record(call.deploymentId, call.method, call.durationMs, call.ok);
      bus.publish("mcp.call", call.deploymentId, {
        sessionId: call.sessionId ?? null,
        method: call.method,
        name: call.name ?? null,
        durationMs: Math.round(call.durationMs * 1000) / 1000,
        ok: call.ok,
        errorCode: call.errorCode ?? null,
        client: call.client ?? null,
      });
    },
    onRateLimited: (id) => stats.limited(id),
    onSession: (e) => {
      stats.touch(e.deploymentId);
      bus.publish(e.kind === "opened" ? "session.opened" : "session.closed", e.deploymentId, {
        sessionId: e.sessionId,
        ...(e.reason ? { reason: e.reason } : {}),
      });
    },
  });
  const fly = createFlyRuntime(app);
  const deployments = new DeploymentManager(app, {
    pools: { local: localPools(app, local), remote: remotePools(app), fly: fly.pools },
    drivers: { fly: fly.driver },
    resolve: (source, args) => local.resolve(sourceText(source), { args }),
    analyses: analysisPort(analysis, () => registryClient(app)),
    bus,
    logs,
    stats,
    sessions: (id) => gateway.sessionCount(id),
    endSessions: (id, reason, tokenId) => gateway.endSessions(id, reason, tokenId),
    forgetTokens: ({ deploymentId, tokenId }) => {
      if (tokenId) tokens.forget(tokenId);
      if (deploymentId) tokens.forgetDeployment(deploymentId);
    },
    onRemoved: async (id) => {
      await oauth.revokeDeployment(id);
    },
    ...(shared ? { reconcileMs: app.config.databaseSyncMs } : {}),
  });
  manager = deployments;
  oauth.wire({
    directory: {
      bySlug: async (slug) => deployments.ref(slug),
      byId: async (id) => deployments.ref(id),
    },
    audit: (e) => {
      const { type, deploymentId, ...data } = e;
      bus.publish(type, deploymentId ?? null, data);
    },
  });
  app.onClose(async () => {
    gateway.close();
    await deployments.close();
    await local.close();
    await logs.close();
    await recorder.close();
  });
  return { app, manager: deployments, gateway, tokens, oauth, local, fly, bus, logs, stats, recorder };
}
