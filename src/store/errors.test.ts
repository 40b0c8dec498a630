import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { tempDir } from "../../test/helpers/server.ts";
import { openStore } from "./db.ts";
import { rootMessage, StoreBusyError, StoreFullError, storeFailure } from "./errors.ts";
import { MetaTable } from "./meta.sql.ts";

/** The error a real driver call throws, for the mapping to see what production sees. */
async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to fail");
}

describe("database failures operators can act on", () => {
  test("a write lock held by another connection past the busy timeout is store.busy (503), even through drizzle", async () => {
    const dataDir = tempDir();
    const locker = createClient({ url: `file:${join(dataDir, "catwalk.db")}`, timeout: 5000 });
    const store = await openStore({ dataDir });
    const impatient = createClient({ url: `file:${join(dataDir, "catwalk.db")}`, timeout: 50 });
    const tx = await locker.transaction("write");
    try {
      const e = await thrown(() =>
        drizzle(impatient).insert(MetaTable).values({ key: "k", value: "v" }).run(),
      );
      expect((e as Error).message).toStartWith("Failed query: insert into");
      const mapped = storeFailure(e);
      expect(mapped).toBeInstanceOf(StoreBusyError);
      expect(mapped?.status).toBe(503);
      expect(mapped?.hint).toContain("Retry");
      expect(rootMessage(e)).toBe("database is locked");
    } finally {
      await tx.rollback();
      impatient.close();
      locker.close();
      store.close();
    }
  });

  test("a write refused for a lock leaves no stale statement: the next write is committed and visible elsewhere", async () => {
    const dataDir = tempDir();
    const store = await openStore({ dataDir, busyTimeoutMs: 100 });
    const other = createClient({ url: `file:${join(dataDir, "catwalk.db")}`, timeout: 5000 });
    const tx = await other.transaction("write");
    const refused = await thrown(() =>
      store.db.insert(MetaTable).values({ key: "during", value: "x" }).run(),
    );
    await tx.rollback();
    expect(storeFailure(refused)).toBeInstanceOf(StoreBusyError);
    try {
      await store.db.insert(MetaTable).values({ key: "after", value: "y" }).run();
      const seen = await other.execute("select key from meta where key in ('during', 'after')");
      expect(seen.rows.map((r) => r.key)).toEqual(["after"]);
      // The store's own write lock is free again: another connection can write at once.
      await other.execute(
        "insert into meta (key, value, created_at, updated_at) values ('other', 'z', 0, 0)",
      );
    } finally {
      other.close();
      store.close();
    }
  });

  test("every pooled connection of the store waits for a lock instead of failing at once", async () => {
    const dataDir = tempDir();
    const store = await openStore({ dataDir });
    // A transaction holds one pooled connection, so the next statement runs on another one.
    const tx = await store.client.transaction("read");
    try {
      const timeout = await store.client.execute("pragma busy_timeout");
      expect(Number(Object.values(timeout.rows[0] ?? {})[0])).toBe(5000);
    } finally {
      await tx.commit();
      store.close();
    }
  });

  test("a database at its size limit is store.full (507); other errors are not mapped", async () => {
    const dataDir = tempDir();
    const client = createClient({ url: `file:${join(dataDir, "small.db")}`, concurrency: 1 });
    try {
      await client.execute("create table t (v blob)");
      await client.execute("pragma max_page_count = 8");
      const e = await thrown(async () => {
        for (let i = 0; i < 100; i++) await client.execute("insert into t values (randomblob(4096))");
      });
      expect(storeFailure(e)).toBeInstanceOf(StoreFullError);
      expect(storeFailure(e)?.status).toBe(507);
      const other = await thrown(() => client.execute("select * from no_such_table"));
      expect(storeFailure(other)).toBeUndefined();
      expect(storeFailure(new Error("boom"))).toBeUndefined();
    } finally {
      client.close();
    }
  });
});
