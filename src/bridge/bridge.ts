import type { Server } from "bun";
import type { Config } from "../config/config.ts";
import type { EnvVars } from "../config/env.ts";
import type { Logger } from "../log/log.ts";
import { ErrorCode } from "../mcp/jsonrpc.ts";
import { Gateway, type GatewayTarget } from "../proxy/gateway.ts";
import { jsonResponse, rpcError } from "../proxy/http.ts";
import { BRIDGE_SECRET_NAME, HEALTH_PATH, MCP_PATH } from "../runtime/fly/machine-config.ts";
import { createLocalRuntime, type LocalRuntime } from "../runtime/local/local.ts";
import { EXACT_SEMVER, parseNpmSpecifier } from "../runtime/local/npm.ts";
import { parsePypiSpecifier } from "../runtime/local/pypi.ts";
import type { PoolStateName, UpstreamPool, UpstreamSpec } from "../runtime/types.ts";
import { CatwalkError, InvalidInputError } from "../util/error.ts";
import { bearer, safeEqual } from "../util/secret.ts";

/**
 * `catwalk bridge`: one MCP server's stdio served as Streamable HTTP at `/mcp`, the runner of a Fly
 * Machine. It is the server's own gateway over a local pool (the same code as `/mcp/<slug>`), in
 * isolated session mode: every session Catwalk opens gets its own child. `/mcp` requires the
 * bridge secret as a bearer token; `GET /healthz` is open and tells whether the pool runs.
 */

/** The environment variable holding the bearer secret (a Fly app secret on Machines). */
const SECRET_VAR = BRIDGE_SECRET_NAME;
const MIN_SECRET_LENGTH = 16;

export class BridgeConfigError extends CatwalkError {
  readonly code = "bridge.invalid";
  readonly status = 422;
}

export interface BridgeOptions {
  config: Config & { dataDir: string };
  /** The bearer secret `/mcp` requires. */
  secret: string;
  spec: UpstreamSpec;
  /** Environment of the MCP server (the Machine's app secrets among it). */
  env: Record<string, string>;
  /** Where node, uvx and bare commands are looked up. */
  hostPath: string | undefined;
  log: Logger;
  /** Identifies the server in logs; the deployment id on Fly. */
  name?: string | undefined;
  /** Lines of the pool (child stderr, lifecycle); default: the logger. */
  output?: (stream: "stderr" | "lifecycle", line: string) => void;
}

export interface Bridge {
  url: string;
  port: number;
  pool: UpstreamPool;
  stop(): Promise<void>;
}

/** Variables never handed to the MCP server: the runner's own, and what the pool sets itself. */
const RUNNER_ONLY = /^(CATWALK_.*|PATH|HOME|TMPDIR|LANG)$/;

/** The MCP server's environment: everything the runner got (app secrets included) but its own variables. */
export function childEnv(env: EnvVars): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !RUNNER_ONLY.test(name)) out[name] = value;
  }
  return out;
}

/** The bearer secret from the environment; refuses to run without a usable one. */
export function bridgeSecret(env: EnvVars): string {
  const secret = env[SECRET_VAR]?.trim();
  if (!secret || secret.length < MIN_SECRET_LENGTH) {
    throw new BridgeConfigError(
      `${SECRET_VAR} is ${secret ? "too short" : "not set"}: the bridge will not serve MCP without a secret.`,
      {
        hint: `Set ${SECRET_VAR} to a random value of at least ${MIN_SECRET_LENGTH} characters (on Fly, Catwalk sets it as an app secret).`,
      },
    );
  }
  return secret;
}

/**
 * What the bridge runs: `--package npm:<name>@<x.y.z>` / `pypi:<name>==<v>` (installed at boot by
 * the package cache, version pinned) with `args` as the server's arguments, or without a package
 * `args` as the whole command line.
 */
export function bridgeSpec(pkg: string | undefined, bin: string | undefined, args: string[]): UpstreamSpec {
  if (pkg === undefined) {
    const [command, ...rest] = args;
    if (!command) {
      throw new InvalidInputError("Nothing to run: give --package or a command after --.", {
        hint: "catwalk bridge --package npm:<name>@<version> [-- args] | catwalk bridge -- <command> [args]",
      });
    }
    if (bin !== undefined) throw new InvalidInputError("--bin goes with --package.");
    return { kind: "command", command, args: rest };
  }
  if (pkg.startsWith("npm:")) {
    const { name, wanted } = parseNpmSpecifier(pkg.slice(4).trim());
    if (!wanted || !EXACT_SEMVER.test(wanted)) throw unpinned(pkg);
    return { kind: "npm", package: name, version: wanted, bin, args };
  }
  if (pkg.startsWith("pypi:")) {
    const { name, wanted } = parsePypiSpecifier(pkg.slice(5).trim());
    if (!wanted) throw unpinned(pkg);
    return { kind: "pypi", package: name, version: wanted, entry: bin, args };
  }
  throw new InvalidInputError(`--package ${JSON.stringify(pkg)} is neither npm: nor pypi:.`, {
    hint: "Write npm:<name>@<x.y.z> or pypi:<name>==<version>.",
  });
}

function unpinned(pkg: string): InvalidInputError {
  return new InvalidInputError(`--package ${JSON.stringify(pkg)} does not pin an exact version.`, {
    hint: "The runner installs exactly what it is given: npm:<name>@<x.y.z> or pypi:<name>==<version>.",
  });
}

const HEALTHY: ReadonlySet<PoolStateName> = new Set(["running"]);

/** Starts the pool (install, first child) and the HTTP server; resolves once it listens. */
export function startBridge(opts: BridgeOptions): Bridge {
  const { config, log } = opts;
  log.redactor.add(opts.secret, ...Object.values(opts.env));
  const runtime: LocalRuntime = createLocalRuntime({
    config,
    dataDir: config.dataDir,
    hostPath: opts.hostPath,
    log,
  });
  const output =
    opts.output ??
    ((stream: "stderr" | "lifecycle", line: string) =>
      stream === "stderr" ? log.info(line) : log.info(`bridge: ${line}`));
  const pool = runtime.pool({
    deploymentId: opts.name ?? "bridge",
    spec: opts.spec,
    env: opts.env,
    hooks: { log: output, state: () => {} },
    maxChildren: config.local.maxChildren,
    warm: true,
  });
  const target: GatewayTarget = { id: opts.name ?? "bridge", slug: "bridge", sessionMode: "isolated", pool };
  const gateway = new Gateway({
    config: config.gateway,
    log,
    target: () => target,
    // Only Catwalk calls the runner, server to server; a browser Origin is never legitimate here.
    originAllowed: (origin) => origin === null,
    authorize: async (request) => {
      const token = bearer(request.headers.get("authorization"));
      if (token && safeEqual(token, opts.secret)) return { ok: true, tokenId: undefined };
      return {
        ok: false,
        response: rpcError(
          401,
          ErrorCode.server,
          "Unauthorized: this runner answers only its Catwalk server.",
          {
            headers: { "www-authenticate": 'Bearer realm="catwalk-bridge"' },
          },
        ),
      };
    },
  });
  const server: Server<undefined> = Bun.serve({
    hostname: config.host,
    port: config.port,
    idleTimeout: 255,
    maxRequestBodySize: Math.max(config.gateway.maxBodyBytes * 2, 16 * 1024 * 1024),
    fetch(request, srv) {
      const path = new URL(request.url).pathname;
      if (path === HEALTH_PATH && (request.method === "GET" || request.method === "HEAD")) {
        const state = pool.state().state;
        return jsonResponse(
          { status: HEALTHY.has(state) ? "ok" : "unavailable", state },
          {},
          HEALTHY.has(state) ? 200 : 503,
        );
      }
      if (path === MCP_PATH) {
        // The gateway runs its own progress-aware timeouts; Bun's idle timeout would cut long calls.
        srv.timeout(request, 0);
        return gateway.handle(request, "bridge");
      }
      return rpcError(404, ErrorCode.server, `Not found: the MCP endpoint is ${MCP_PATH}.`);
    },
  });
  pool.start();
  const port = server.port ?? config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${port}`,
    port,
    pool,
    stop: () => {
      stopping ??= (async () => {
        gateway.close();
        await server.stop(true);
        await runtime.close();
      })();
      return stopping;
    },
  };
}
