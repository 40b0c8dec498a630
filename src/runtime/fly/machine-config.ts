import { createHash, createHmac } from "node:crypto";
import type { UpstreamSpec } from "../types.ts";
import { FlyUnsupportedError } from "./errors.ts";
import type { MachineConfig } from "./types.ts";

/**
 * Pure pieces of placement: names, the runner command, the Machine config and the route. The
 * Machine config holds nothing secret: Fly returns `config` (env included) to anyone who can read
 * the app, so credentials and the bridge secret travel only as app secrets, which Fly injects as
 * environment variables at boot.
 */

/** The subset of `config.fly` placement needs (structural, so `config.fly` can be passed as is). */
export interface FlySettings {
  org: string;
  region: string;
  fallbackRegions: readonly string[];
  image?: string | undefined;
  appDomain: string;
  appScheme: "https" | "http";
  appPrefix: string;
  internalPort: number;
  guestCpuKind: "shared" | "performance";
  guestCpus: number;
  guestMemoryMb: number;
  autostop: "off" | "stop" | "suspend";
  maxRestarts: number;
  startTimeoutMs: number;
}

export interface FlyDeploymentRef {
  id: string;
  slug: string;
}

/** Name of the app secret holding the per-deployment bearer secret the runner checks. */
export const BRIDGE_SECRET_NAME = "CATWALK_BRIDGE_SECRET";
export const HEALTH_PATH = "/healthz";
export const MCP_PATH = "/mcp";
export const RUNNER_REPOSITORY = "ghcr.io/catwalk-mcp/catwalk-runner";

export const META = {
  deployment: "catwalk_deployment",
  slug: "catwalk_slug",
  config: "catwalk_config",
  secrets: "catwalk_secrets",
} as const;

/** The runner image published for this Catwalk version by `.github/workflows/runner-image.yml`. */
export function defaultRunnerImage(version: string): string {
  return `${RUNNER_REPOSITORY}:${version}`;
}

/**
 * `<prefix><slug>-<6 hex of sha256(deployment id)>`, at most 63 characters. Derived, never stored:
 * a placement interrupted at any step finds its app again. The hash keeps two deployments with the
 * same slug (one deleted, one new) apart, and makes collisions with strangers' apps unlikely (Fly
 * app names are one global namespace).
 */
export function appNameFor(prefix: string, dep: FlyDeploymentRef): string {
  const suffix = createHash("sha256").update(dep.id).digest("hex").slice(0, 6);
  const room = 63 - prefix.length - suffix.length - 1;
  const slug = dep.slug
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, Math.max(0, room))
    .replace(/-$/, "");
  return `${prefix}${slug || "mcp"}-${suffix}`.replace(/-+/g, "-");
}

/**
 * The arguments of `catwalk bridge` (the image ENTRYPOINT) inside the Machine: `--package` with the
 * exact version, which the runner installs at boot with Catwalk's package cache, then the server's
 * arguments after `--`; a command deployment is the whole command line after `--`.
 */
export function runnerCommand(spec: UpstreamSpec): string[] {
  switch (spec.kind) {
    case "npm":
      return [
        "--package",
        `npm:${spec.package}@${spec.version}`,
        ...(spec.bin ? ["--bin", spec.bin] : []),
        "--",
        ...spec.args,
      ];
    case "pypi":
      return [
        "--package",
        `pypi:${spec.package}==${spec.version}`,
        ...(spec.entry ? ["--bin", spec.entry] : []),
        "--",
        ...spec.args,
      ];
    case "command":
      return ["--", spec.command, ...spec.args];
    case "remote":
      throw new FlyUnsupportedError("A remote MCP server is reached directly and is never placed on Fly.", {
        hint: "Deploy it with the remote upstream instead of --runtime fly.",
      });
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Credential names that would reach into the runner's or Fly's own variables are refused. */
export function checkSecretNames(env: Record<string, string>): void {
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name)) {
      throw new FlyUnsupportedError(
        `Credential name ${JSON.stringify(name)} is not an environment variable name.`,
        {
          hint: "Use letters, digits and underscores, not starting with a digit.",
        },
      );
    }
    if (/^(CATWALK_|FLY_)/i.test(name)) {
      throw new FlyUnsupportedError(`Credential name ${name} is reserved on Fly (CATWALK_* and FLY_*).`, {
        hint: "Rename the credential; the MCP server reads it under its new name.",
      });
    }
  }
}

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, stable((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Identifies a desired config, so an unchanged Machine is left alone on the next placement. */
export function configHash(config: MachineConfig): string {
  const { [META.config]: _, ...metadata } = config.metadata ?? {};
  const json = JSON.stringify(stable({ ...config, metadata }));
  return createHash("sha256").update(json).digest("hex").slice(0, 16);
}

/**
 * A MAC of the secret values, keyed by the bridge secret, kept in the Machine metadata to tell
 * whether the Machine already runs with these secrets. A plain hash would let anyone who can read
 * the metadata test guesses of a weak credential offline; without the key they cannot.
 */
export function secretsMac(secrets: Record<string, string>, key: string): string {
  return createHmac("sha256", key)
    .update(JSON.stringify(stable(secrets)))
    .digest("hex")
    .slice(0, 16);
}

export interface MachineConfigInput {
  deployment: FlyDeploymentRef;
  spec: UpstreamSpec;
  image: string;
  secretsMac: string;
}

export function machineConfig(s: FlySettings, input: MachineConfigInput): MachineConfig {
  const port = s.internalPort;
  const config: MachineConfig = {
    image: input.image,
    init: { cmd: runnerCommand(input.spec) },
    // Not secret: where the runner listens and what it runs (also visible in init.cmd).
    env: {
      CATWALK_HOST: "0.0.0.0",
      CATWALK_PORT: String(port),
      CATWALK_DEPLOYMENT: input.deployment.id,
    },
    guest: { cpu_kind: s.guestCpuKind, cpus: s.guestCpus, memory_mb: s.guestMemoryMb },
    services: [
      {
        protocol: "tcp",
        internal_port: port,
        autostart: true,
        autostop: s.autostop,
        min_machines_running: 0,
        ports: [
          { port: 443, handlers: ["tls", "http"] },
          { port: 80, handlers: ["http"], force_https: true },
        ],
        checks: [
          {
            type: "http",
            port,
            method: "GET",
            path: HEALTH_PATH,
            interval: "15s",
            timeout: "5s",
            grace_period: "30s",
          },
        ],
        // Fly's default (25 connections) would cap open MCP streams per Machine.
        concurrency: { type: "requests", soft_limit: 100, hard_limit: 200 },
      },
    ],
    restart: { policy: "on-failure", max_retries: s.maxRestarts },
    metadata: {
      [META.deployment]: input.deployment.id,
      [META.slug]: input.deployment.slug,
      [META.secrets]: input.secretsMac,
    },
  };
  config.metadata = { ...config.metadata, [META.config]: configHash(config) };
  return config;
}

export interface FlyRoute {
  url: string;
  headers: Record<string, string>;
}

/**
 * Where the gateway sends a deployment's MCP traffic: Fly Proxy at `<app>.<appDomain>`, pinned to
 * the Machine by `fly-force-instance-id` (sessions stay on their Machine), authenticated to the
 * runner with the bridge secret.
 */
export function route(
  placed: { app: string; machineId: string },
  bridgeSecret: string,
  s: Pick<FlySettings, "appDomain" | "appScheme">,
): FlyRoute {
  return {
    url: `${s.appScheme}://${placed.app}.${s.appDomain}${MCP_PATH}`,
    headers: { "fly-force-instance-id": placed.machineId, authorization: `Bearer ${bridgeSecret}` },
  };
}
