import { rmSync } from "node:fs";
import { join } from "node:path";
import { Elysia } from "elysia";
import { z } from "zod";
import type { Services } from "../../app/services.ts";
import { rotateKeys } from "../../keys/rotate.ts";
import { prometheus } from "../../stats/metrics.ts";
import { CatwalkError } from "../../util/error.ts";
import { VERSION } from "../../version.ts";

class BackupUnsupportedError extends CatwalkError {
  readonly code = "backup.unsupported";
  readonly status = 422;
}

/** Operator endpoints: Prometheus metrics, master key rotation, consistent backups. */
export function adminRoutes(services: Services) {
  const { app } = services;
  return new Elysia({ name: "routes.admin" })
    .get(
      "/metrics",
      async () =>
        new Response(
          prometheus(await services.manager.list(), services.stats, {
            droppedEvents: services.recorder.droppedCount,
            droppedLogLines: services.logs.dropped,
          }),
          { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } },
        ),
      {
        detail: { operationId: "metrics.get", summary: "Prometheus metrics (admin token)", tags: ["admin"] },
      },
    )
    .get(
      "/api/server",
      () => ({
        version: VERSION,
        database: { location: app.store.location, embedded: app.store.embedded },
        masterKey: { source: app.vault.source, fingerprint: app.vault.fingerprints[0] ?? "" },
      }),
      {
        response: {
          200: z.object({
            version: z.string(),
            database: z.object({
              location: z.string().describe("file path or server URL, without credentials"),
              embedded: z.boolean().describe("false for a remote libsql server (sqld, Turso)"),
            }),
            masterKey: z.object({ source: z.enum(["env", "file"]), fingerprint: z.string() }),
          }),
        },
        detail: {
          operationId: "server.get",
          summary: "This server's version, database location and master key fingerprint",
          tags: ["admin"],
        },
      },
    )
    .post(
      "/api/keys/rotate",
      async () => {
        const result = await rotateKeys(app);
        services.bus.publish("keys.rotated", null, {
          fingerprint: result.fingerprint,
          reencrypted: result.reencrypted,
        });
        return result;
      },
      {
        response: {
          200: z.object({
            fingerprint: z.string().describe("fingerprint of the key now encrypting"),
            previous: z.array(z.string()),
            reencrypted: z.number().int(),
            source: z.enum(["env", "file"]),
          }),
        },
        detail: {
          operationId: "keys.rotate",
          summary: "Re-encrypt every credential under a new master key",
          tags: ["admin"],
        },
      },
    )
    .get(
      "/api/backup",
      async () => {
        if (!app.store.embedded) {
          throw new BackupUnsupportedError(
            "This server uses a remote libsql database; back it up on the database server.",
            {
              hint: "For Turso use its point-in-time restore; for sqld copy its data directory.",
            },
          );
        }
        await services.logs.flush();
        await services.recorder.flush();
        const path = join(app.config.dataDir, `backup-${process.pid}-${Date.now()}.db`);
        await app.store.client.execute({ sql: "vacuum into ?", args: [path] });
        const file = Bun.file(path);
        const body = await file.arrayBuffer();
        rmSync(path, { force: true });
        return new Response(body, {
          headers: {
            "content-type": "application/vnd.sqlite3",
            "content-disposition": `attachment; filename="catwalk-${new Date().toISOString().slice(0, 10)}.db"`,
          },
        });
      },
      {
        detail: {
          operationId: "backup.get",
          summary: "A consistent snapshot of the database (SQLite file)",
          tags: ["admin"],
        },
      },
    );
}
