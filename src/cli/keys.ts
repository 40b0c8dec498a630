import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openApp } from "../app/app.ts";
import { restoreBackup } from "../backup/restore.ts";
import { rotateKeys } from "../keys/rotate.ts";
import { silent } from "../log/log.ts";
import { SERVER_FILE } from "../server/server.ts";
import { generateKey } from "../vault/fernet.ts";
import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson } from "./output.ts";
import { configFromFlags } from "./serve.ts";

interface Rotation {
  fingerprint: string;
  previous: string[];
  reencrypted: number;
  source: "env" | "file";
}

function serverRunning(dataDir: string): boolean {
  const file = join(dataDir, SERVER_FILE);
  if (!existsSync(file)) return false;
  try {
    const { pid } = JSON.parse(readFileSync(file, "utf8")) as { pid: number };
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const keys: Command = {
  name: "keys",
  summary: "Rotate the master key that encrypts stored credentials, or generate a key",
  usage:
    "catwalk keys rotate [--offline] [--json] | catwalk keys rotate-signing [--json] | catwalk keys generate",
  description: [
    "rotate re-encrypts every credential and secret under a new master key, in one transaction; interrupted at any point, the old or the new key still opens everything.",
    "It runs in the server (over the API) so the running server switches keys too; --offline rotates a stopped server's data dir directly.",
    "With CATWALK_MASTER_KEY: generate a key, set CATWALK_MASTER_KEY=<new>,<old>, restart, then rotate; remove <old> afterwards.",
  ].join("\n"),
  subcommands: [
    { usage: "rotate", summary: "Re-encrypt everything under a new master key" },
    {
      usage: "rotate-signing",
      summary: "Sign OAuth access tokens with a new key (issued tokens stay valid until they expire)",
    },
    { usage: "generate", summary: "Print a new random Fernet key" },
  ],
  options: {
    offline: { type: "boolean", description: "Rotate the data dir directly (the server must be stopped)" },
    config: { type: "string", value: "FILE", description: "Config file (with --offline)" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    const sub = ctx.args.positionals[0];
    if (sub === "generate") {
      ctx.io.out(generateKey());
      return EXIT.ok;
    }
    if (sub === "rotate-signing") {
      const rotated = await ctx.client().post<{ kid: string }>("/api/oauth/signing-keys/rotate");
      if (ctx.bool("json")) printJson(ctx.io, rotated);
      else
        ctx.io.out(
          `OAuth tokens are now signed with key ${rotated.kid}; tokens signed before stay valid until they expire`,
        );
      return EXIT.ok;
    }
    if (sub !== "rotate") {
      throw new UsageError(`Unknown keys command ${JSON.stringify(sub)}.`, {
        hint: "Use keys rotate, keys rotate-signing or keys generate.",
      });
    }
    let result: Rotation;
    if (ctx.bool("offline")) {
      const loaded = configFromFlags(ctx);
      if (serverRunning(loaded.config.dataDir)) {
        throw new UsageError("A server is running on this data dir.", {
          hint: "Run `catwalk keys rotate` without --offline to rotate through it.",
        });
      }
      const app = await openApp(loaded, { log: silent });
      try {
        result = await rotateKeys(app);
      } finally {
        await app.close();
      }
    } else {
      result = await ctx.client().post<Rotation>("/api/keys/rotate");
    }
    if (ctx.bool("json")) printJson(ctx.io, result);
    else {
      ctx.io.out(
        `master key rotated: now ${result.fingerprint} (was ${result.previous.join(", ")}); ${result.reencrypted} values re-encrypted`,
      );
      if (result.source === "env")
        ctx.io.err("Remove the old key from CATWALK_MASTER_KEY and restart the server.");
      else ctx.io.err("Back up the new master.key: backups taken before this rotation need the old key.");
    }
    return EXIT.ok;
  },
};

export const backup: Command = {
  name: "backup",
  summary: "Write a consistent snapshot of the store to a file while the server runs",
  usage: "catwalk backup <file> [--force] [--json]",
  description:
    "The snapshot holds credentials encrypted; restoring it needs the master key (master.key or CATWALK_MASTER_KEY), which is not in it. Keep them apart.",
  options: {
    force: { type: "boolean", description: "Overwrite an existing file" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    const file = ctx.args.positionals[0] as string;
    if (existsSync(file) && !ctx.bool("force")) {
      throw new UsageError(`${file} exists.`, {
        hint: "Choose another file or pass --force to overwrite it.",
      });
    }
    const res = await ctx.client().raw("GET", "/api/backup");
    if (!res.ok) await ctx.client().parse(res);
    const bytes = new Uint8Array(await res.arrayBuffer());
    writeFileSync(file, bytes, { mode: 0o600 });
    if (ctx.bool("json")) printJson(ctx.io, { file, bytes: bytes.byteLength });
    else
      ctx.io.out(
        `wrote ${file} (${(bytes.byteLength / 1024).toFixed(0)} KiB); restore it with the master key of this server`,
      );
    return EXIT.ok;
  },
};

export const restore: Command = {
  name: "restore",
  summary: "Replace a stopped server's database with a backup, after checking the backup",
  usage: "catwalk restore <file> [--data-dir DIR] [--config FILE] [--json]",
  description: [
    "Stop the server first. The backup is checked on a copy: it must be a Catwalk database (an older one is migrated) and the data dir's master key (master.key or CATWALK_MASTER_KEY) must open its secrets; otherwise nothing changes.",
    "The database it replaces is kept as catwalk.db.before-restore-<time>. The data dir's admin token keeps working.",
  ].join("\n"),
  options: {
    config: { type: "string", value: "FILE", description: "Config file (env CATWALK_CONFIG)" },
    ...JSON_OPTION,
    "data-dir": { type: "string", value: "DIR", description: "Data dir (default $XDG_DATA_HOME/catwalk)" },
  },
  positionals: [1, 1],
  async run(ctx) {
    const file = ctx.args.positionals[0] as string;
    const { config } = configFromFlags(ctx);
    if (config.databaseUrl && !config.databaseUrl.startsWith("file:")) {
      throw new UsageError("This server uses a remote libsql database; restore it on the database server.", {
        hint: "For Turso use its point-in-time restore; for sqld restore its data directory.",
      });
    }
    if (config.databaseUrl) {
      throw new UsageError(
        "restore puts the backup at <data-dir>/catwalk.db, but CATWALK_DATABASE_URL names another file.",
        {
          hint: `Stop the server and copy the backup to ${config.databaseUrl.slice("file:".length)} yourself, or unset CATWALK_DATABASE_URL.`,
        },
      );
    }
    if (serverRunning(config.dataDir)) {
      throw new UsageError(`A server is running on ${config.dataDir}.`, {
        hint: "Stop it (e.g. systemctl stop catwalk), restore, then start it again.",
      });
    }
    const done = await restoreBackup({ file, dataDir: config.dataDir, masterKey: config.masterKey });
    if (ctx.bool("json")) {
      printJson(ctx.io, { file, dataDir: config.dataDir, ...done });
      return EXIT.ok;
    }
    ctx.io.out(
      `restored ${file} into ${config.dataDir} (${done.deployments} deployment${done.deployments === 1 ? "" : "s"})`,
    );
    if (done.migrated.length > 0) ctx.io.err(`migrated the backup: ${done.migrated.join(", ")}`);
    if (done.previous) ctx.io.err(`the replaced database is kept at ${done.previous}`);
    if (done.adminToken === "backup")
      ctx.io.err(
        "no admin-token file here: the backup's admin token is in force (`catwalk admin token --rotate` makes a new one)",
      );
    ctx.io.err("start the server; running deployments start again");
    return EXIT.ok;
  },
};
