import { bridgeSecret, bridgeSpec, childEnv, startBridge } from "../bridge/bridge.ts";
import { hostEnv } from "../config/env.ts";
import { createLogger } from "../log/log.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit.ts";
import { configFromFlags, numberFlag } from "./serve.ts";

function describe(spec: ReturnType<typeof bridgeSpec>): string {
  if (spec.kind === "npm") return `npm:${spec.package}@${spec.version}`;
  if (spec.kind === "pypi") return `pypi:${spec.package}==${spec.version}`;
  if (spec.kind === "command") return spec.command;
  return spec.url;
}

export const bridge: Command = {
  name: "bridge",
  summary: "Serve one stdio MCP server as Streamable HTTP at /mcp (the Fly Machine runner)",
  usage:
    "catwalk bridge [--host H] [--port P] (--package npm:<name>@<x.y.z> | --package pypi:<name>==<v>) [--bin B] [-- args…] | catwalk bridge [options] -- <command> [args…]",
  description: [
    "Runs the MCP server with Catwalk's local runtime (a package is installed once into the package cache, its version pinned) and serves it through Catwalk's gateway at /mcp, one child per session.",
    "/mcp requires `Authorization: Bearer $CATWALK_BRIDGE_SECRET`; GET /healthz is open and answers 503 until the server runs.",
    "The server gets this process's environment except CATWALK_*, PATH, HOME, TMPDIR and LANG. Listens on CATWALK_HOST:CATWALK_PORT (flags win). Stops its children on SIGTERM/SIGINT.",
  ].join("\n"),
  options: {
    host: { type: "string", value: "HOST", description: "Interface to bind (env CATWALK_HOST)" },
    port: { type: "string", value: "PORT", description: "TCP port (env CATWALK_PORT; 0 picks one)" },
    package: {
      type: "string",
      value: "SPEC",
      description: "npm:<name>@<x.y.z> or pypi:<name>==<version> to install and run",
    },
    bin: { type: "string", value: "NAME", description: "The package's executable, when it has several" },
    "data-dir": { type: "string", value: "DIR", description: "Data dir for the package cache" },
    config: { type: "string", value: "FILE", description: "Config file, JSON or TOML (env CATWALK_CONFIG)" },
  },
  positionals: [0, 256],
  async run(ctx) {
    const secret = bridgeSecret(ctx.env);
    const spec = bridgeSpec(ctx.str("package"), ctx.str("bin"), ctx.args.positionals);
    const { config } = configFromFlags(ctx, { host: ctx.str("host"), port: numberFlag(ctx.str("port")) });
    const log = createLogger({ level: config.logLevel, format: config.logFormat });
    const name = ctx.env.CATWALK_DEPLOYMENT;
    const running = startBridge({
      config,
      secret,
      spec,
      env: childEnv(ctx.env),
      hostPath: hostEnv(ctx.env).path,
      log,
      name,
      // The child's stderr goes to ours unchanged: on Fly it becomes the app's log, which Catwalk reads.
      output: (stream, line) => ctx.io.err(stream === "stderr" ? line : `catwalk-bridge: ${line}`),
    });
    ctx.io.err(`catwalk-bridge: serving ${describe(spec)} at ${running.url}/mcp`);
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(EXIT.failure);
        stopping = true;
        ctx.io.err(`catwalk-bridge: ${signal}, stopping`);
        running.stop().finally(resolve);
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
    return EXIT.ok;
  },
};
