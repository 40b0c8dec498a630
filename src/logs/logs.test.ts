import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { tempDir } from "../../test/helpers/server.ts";
import { createLogger } from "../log/log.ts";
import { Redactor } from "../log/redact.ts";
import { openStore } from "../store/db.ts";
import { LogStore } from "./logs.ts";

describe("deployment log store when the database refuses writes", () => {
  test("lines refused for a lock are kept and written later; lines refused for good are dropped and counted", async () => {
    const dataDir = tempDir();
    const store = await openStore({ dataDir, busyTimeoutMs: 50 });
    const console: string[] = [];
    const logs = new LogStore(store.db, new Redactor(), createLogger({ write: (l) => console.push(l) }), {
      flushMs: 60_000,
    });
    const locker = createClient({ url: `file:${join(dataDir, "catwalk.db")}`, timeout: 5000 });
    try {
      const tx = await locker.transaction("write");
      logs.append("dep_1", "lifecycle", "during the lock");
      await logs.flush();
      await logs.flush();
      await tx.rollback();
      expect(logs.dropped).toBe(0);
      expect((await logs.read("dep_1", 10)).map((l) => l.line)).toEqual(["during the lock"]);
      expect(console.filter((l) => l.includes("retrying with backoff"))).toHaveLength(1);
      expect(console.filter((l) => l.includes("stored again"))).toHaveLength(1);

      await store.client.execute("drop table log_lines");
      logs.append("dep_1", "lifecycle", "nowhere to go");
      await logs.flush();
      await logs.flush();
      expect(logs.dropped).toBe(1);
      const dropped = console.filter((l) => l.includes("deployment log lines not stored count=1"));
      expect(dropped).toHaveLength(1);
      expect(dropped[0]).toContain("no such table: log_lines");
    } finally {
      await logs.close();
      locker.close();
      store.close();
    }
  });
});
