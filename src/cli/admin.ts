import { adminTokenPath, readAdminTokenFile, rotateAdminToken } from "../admin/admin-token.ts";
import { openStore } from "../store/db.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { configFromFlags } from "./serve.ts";

export const admin: Command = {
  name: "admin",
  summary: "Manage the admin token of a local data dir",
  usage: "catwalk admin token [--rotate] [--data-dir DIR]",
  description:
    "Works on the data dir directly, so it also recovers a lost token while the server is down. A running server accepts a rotated token at once and refuses the old one.",
  subcommands: [
    { usage: "token", summary: "Print the admin token" },
    { usage: "token --rotate", summary: "Replace the admin token and print the new one" },
  ],
  options: {
    rotate: { type: "boolean", description: "Make a new token; the old one stops working" },
    "data-dir": { type: "string", value: "DIR", description: "Data dir (default $XDG_DATA_HOME/catwalk)" },
    config: { type: "string", value: "FILE", description: "Config file (env CATWALK_CONFIG)" },
  },
  positionals: [1, 1],
  async run(ctx) {
    if (ctx.args.positionals[0] !== "token") {
      throw new UsageError(`Unknown admin command ${JSON.stringify(ctx.args.positionals[0])}.`, {
        hint: "Usage: catwalk admin token [--rotate]",
      });
    }
    const { config } = configFromFlags(ctx);
    if (!ctx.bool("rotate")) {
      const token = readAdminTokenFile(config.dataDir);
      if (!token) {
        throw new UsageError(`No admin token at ${adminTokenPath(config.dataDir)}.`, {
          hint: "Start the server once (`catwalk serve`) to create it, or run `catwalk admin token --rotate` to make a new one.",
        });
      }
      ctx.io.out(token);
      return EXIT.ok;
    }
    const store = await openStore({
      dataDir: config.dataDir,
      url: config.databaseUrl,
      authToken: config.databaseAuthToken,
    });
    try {
      ctx.io.out(await rotateAdminToken(store.db, config.dataDir));
      ctx.io.err(`admin token rotated; written to ${adminTokenPath(config.dataDir)}`);
    } finally {
      store.close();
    }
    return EXIT.ok;
  },
};
