import { existsSync } from "node:fs";
import { adminTokenPath } from "../admin/admin-token.ts";
import { type App, openApp } from "../app/app.ts";
import { isLoopbackHost, loadConfig } from "../config/config.ts";
import { hostEnv } from "../config/env.ts";
import { findExecutable } from "../runtime/local/exec.ts";
import { startServer } from "../server/server.ts";
import { VERSION } from "../version.ts";
import type { Command, Context } from "./command.ts";
import { EXIT } from "./exit.ts";

export function numberFlag(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** Builds the configuration from flags shared by commands that open the data dir. */
export function configFromFlags(ctx: Context, extra: Record<string, unknown> = {}) {
  return loadConfig({
    env: ctx.env,
    file: ctx.str("config"),
    flags: { dataDir: ctx.str("data-dir"), ...extra },
  });
}

/** What this host can run, so a missing tool shows at start rather than at the first deploy. */
function runtimes(app: App): string[] {
  const path = hostEnv().path ?? "";
  const node = app.config.local.nodePath ?? findExecutable("node", path);
  const uvx = app.config.local.uvxPath ?? findExecutable("uvx", path);
  return [
    `npm via ${node ? `node (${node})` : "the embedded Bun (no node on PATH)"}`,
    uvx ? `PyPI via uvx (${uvx})` : "PyPI unavailable (install uv for uvx)",
    app.config.fly.apiToken
      ? `fly (org ${app.config.fly.org})`
      : "fly not configured (CATWALK_FLY_API_TOKEN)",
  ];
}

function banner(app: App, url: string): string[] {
  const { config } = app;
  const lines = [
    `catwalk ${VERSION} listening on ${url}`,
    `  data dir     ${config.dataDir}`,
    `  database     ${app.store.location}${app.store.embedded ? " (embedded, WAL)" : " (remote libsql)"}`,
    `  master key   ${app.vault.source === "env" ? "CATWALK_MASTER_KEY" : `${config.dataDir}/master.key`} (fingerprint ${app.vault.fingerprints[0]})`,
    existsSync(adminTokenPath(config.dataDir))
      ? `  admin token  ${app.createdAdminToken ? "created; " : ""}in ${adminTokenPath(config.dataDir)} — print it with \`catwalk admin token\``
      : `  admin token  made by another host sharing this database: copy its admin-token file to ${adminTokenPath(config.dataDir)}`,
    `  MCP          ${config.publicUrl ?? url}/mcp/<slug>`,
    `  runtimes     ${runtimes(app).join("; ")}`,
  ];
  if (!isLoopbackHost(config.host)) {
    lines.push(
      `  warning      bound to ${config.host}: the API and gateway are reachable from the network; put TLS in front and set publicUrl`,
    );
  }
  return lines;
}

export const serve: Command = {
  name: "serve",
  summary: "Run the Catwalk server (HTTP API, MCP gateway, runtimes)",
  usage: "catwalk serve [--host 127.0.0.1] [--port 7400] [--data-dir DIR] [--config FILE]",
  description:
    "Binds 127.0.0.1 unless --host says otherwise. The first start creates the data dir, the master key and the admin token.",
  options: {
    host: {
      type: "string",
      value: "HOST",
      description: "Interface to bind (default 127.0.0.1; 0.0.0.0 exposes it)",
    },
    port: { type: "string", value: "PORT", description: "TCP port (default 7400; 0 picks a free one)" },
    "data-dir": { type: "string", value: "DIR", description: "Data dir (default $XDG_DATA_HOME/catwalk)" },
    config: { type: "string", value: "FILE", description: "Config file, JSON or TOML (env CATWALK_CONFIG)" },
  },
  async run(ctx) {
    const loaded = configFromFlags(ctx, { host: ctx.str("host"), port: numberFlag(ctx.str("port")) });
    const app = await openApp(loaded);
    let running: Awaited<ReturnType<typeof startServer>>;
    try {
      running = await startServer(app);
    } catch (e) {
      await app.close();
      throw e;
    }
    for (const line of banner(app, running.url)) ctx.io.out(line);
    app.log.info("server started", { url: running.url, dataDir: app.config.dataDir, version: VERSION });
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(EXIT.failure);
        stopping = true;
        app.log.info("shutting down", { signal });
        app.close().finally(resolve);
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
    return EXIT.ok;
  },
};
