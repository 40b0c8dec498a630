/**
 * Storage faults against the compiled server: the database write-locked by another process, and
 * the log file on a full disk. Serving MCP must go on; what cannot be written says so clearly and
 * catches up afterwards.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { connectLegacy, deploy } from "../helpers/mcp.ts";
import { startServerProcess } from "../helpers/process-server.ts";
import { tempDir } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

// The log lines these tests count are info-level JSON.
const ENV = { CATWALK_LOCAL_ALLOW_COMMANDS: "true", CATWALK_LOG_LEVEL: "info", CATWALK_LOG_FORMAT: "json" };
const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text;

function echoCommand(): string[] {
  return fixtureArgv("echo-server.ts");
}

function createToken(api: (path: string, init?: RequestInit) => Promise<Response>, id: string, name: string) {
  return api(`/api/deployments/${id}/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
}

/** Lines of the server's stderr (JSON format) whose message is `msg`. */
function logged(stderr: string, msg: string): Record<string, unknown>[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

describe("database write-locked by another process", () => {
  test("MCP calls keep being answered, a blocked API write fails with 503 store.busy, and nothing recorded meanwhile is lost", async () => {
    const dataDir = tempDir("catwalk-locked-");
    const srv = await startServerProcess({
      dataDir,
      env: { ...ENV, CATWALK_DATABASE_BUSY_TIMEOUT_MS: "2000" },
    });
    const locker = createClient({ url: `file:${join(dataDir, "catwalk.db")}`, timeout: 10_000 });
    try {
      const dep = await deploy(srv, { command: echoCommand(), name: "locked", sessionMode: "shared" });
      const c = await connectLegacy(dep);
      expect(text(await c.client.callTool({ name: "echo", arguments: { text: "before" } }))).toBe("before");

      const tx = await locker.transaction("write");
      let released = false;
      try {
        // Serving needs only reads: calls, a new session and health keep working under the lock.
        for (let i = 0; i < 20; i++) {
          expect(text(await c.client.callTool({ name: "echo", arguments: { text: `locked ${i}` } }))).toBe(
            `locked ${i}`,
          );
        }
        const other = await connectLegacy(dep);
        expect(text(await other.client.callTool({ name: "echo", arguments: { text: "new session" } }))).toBe(
          "new session",
        );
        await other.close();
        expect((await fetch(`${srv.url}/api/health`)).status).toBe(200);

        // A write waits the busy timeout (2 s here), then answers with the named error, not a 500.
        const refused = await createToken(srv.api, dep.id, "during-lock");
        expect(refused.status).toBe(503);
        expect(refused.headers.get("retry-after")).toBe("2");
        const body = (await refused.json()) as { error: { code: string; message: string; hint: string } };
        expect(body.error.code).toBe("store.busy");
        expect(body.error.message).not.toContain("insert");
        expect(body.error.hint).toContain("another program");

        // A write that is waiting when the lock goes away succeeds.
        const waiting = createToken(srv.api, dep.id, "after-release");
        await Bun.sleep(300); // let it reach the database; the assertion below holds either way
        await tx.rollback();
        released = true;
        expect((await waiting).status).toBe(201);
      } finally {
        if (!released) await tx.rollback();
      }

      // Events of the calls made under the lock were kept and written after it.
      const events = (await (
        await srv.api(`/api/events?deployment=${dep.id}&types=mcp.call&limit=1000`)
      ).json()) as { events: { data: { name: string } }[] };
      expect(events.events.length).toBeGreaterThanOrEqual(22);
      const tokens = (await (await srv.api(`/api/deployments/${dep.id}/tokens`)).json()) as {
        tokens: { name: string }[];
      };
      expect(tokens.tokens.map((t) => t.name).sort()).toEqual(["after-release", "default"]);
      const metrics = await (await srv.api("/metrics")).text();
      expect(metrics).toContain("catwalk_events_dropped_total 0");
      await c.close();

      // One warning for the outage (not one per attempt), one line when it ended; no query dump.
      const warned = logged(srv.stderr(), "events not recorded; retrying with backoff");
      expect(warned).toHaveLength(1);
      expect(warned[0]?.error).toBe("database is locked");
      expect(logged(srv.stderr(), "events recorded again")).toHaveLength(1);
      expect(logged(srv.stderr(), "database write failed")[0]?.error).toBe("database is locked");
    } finally {
      locker.close();
      expect(await srv.kill("SIGTERM")).toBe(0);
    }
  }, 90_000);
});

describe("log file on a full disk", () => {
  test("the server warns once on stderr and keeps deploying and serving", async () => {
    const dataDir = tempDir("catwalk-full-log-");
    mkdirSync(join(dataDir, "logs"), { recursive: true, mode: 0o700 });
    symlinkSync("/dev/full", join(dataDir, "logs", "catwalk.log"));
    const srv = await startServerProcess({ dataDir, env: ENV });
    try {
      const dep = await deploy(srv, { command: echoCommand(), name: "full-disk" });
      const c = await connectLegacy(dep);
      for (let i = 0; i < 5; i++) {
        expect(text(await c.client.callTool({ name: "echo", arguments: { text: `full ${i}` } }))).toBe(
          `full ${i}`,
        );
      }
      await c.close();
      const warnings = srv
        .stderr()
        .split("\n")
        .filter((l) => l.includes("is not writable"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain("ENOSPC");
      expect(warnings[0]).toContain("logging to the console only");
      // The console got the lines the file could not take.
      expect(logged(srv.stderr(), "server started")).toHaveLength(1);
    } finally {
      expect(await srv.kill("SIGTERM")).toBe(0);
    }
  }, 60_000);
});
