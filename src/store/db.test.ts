import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { tempDir } from "../../test/helpers/server.ts";
import { migrationTags, openStore, StoreCorruptError, StoreForeignError, StoreTooNewError } from "./db.ts";
import { getMeta, setMeta } from "./meta.ts";

describe("store", () => {
  test("a fresh data dir gets every embedded migration, and a second open applies none", async () => {
    const dataDir = tempDir();
    const first = await openStore({ dataDir });
    expect(first.applied).toEqual(migrationTags());
    expect(first.embedded).toBe(true);
    first.close();
    const second = await openStore({ dataDir });
    expect(second.applied).toEqual([]);
    second.close();
  });

  test("the embedded file uses WAL and is readable only by its owner", async () => {
    const dataDir = tempDir();
    const store = await openStore({ dataDir });
    const mode = await store.client.execute("pragma journal_mode");
    expect(String(mode.rows[0]?.journal_mode)).toBe("wal");
    const stat = Bun.file(join(dataDir, "catwalk.db"));
    expect(((await stat.stat()).mode & 0o777).toString(8)).toBe("600");
    store.close();
  });

  test("values written survive a close and reopen", async () => {
    const dataDir = tempDir();
    const a = await openStore({ dataDir });
    await setMeta(a.db, "k", "v1");
    await setMeta(a.db, "k", "v2");
    a.close();
    const b = await openStore({ dataDir });
    expect(await getMeta(b.db, "k")).toBe("v2");
    b.close();
  });

  test("a file that is not SQLite is reported as corrupt with a recovery hint", async () => {
    const dataDir = tempDir();
    writeFileSync(
      join(dataDir, "catwalk.db"),
      "this is not a database, just some text that is long enough ".repeat(200),
    );
    const error = await openStore({ dataDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreCorruptError);
    expect((error as StoreCorruptError).hint).toContain("backup");
  });

  test("a SQLite database of another program is refused rather than migrated", async () => {
    const dataDir = tempDir();
    const foreign = createClient({ url: `file:${join(dataDir, "catwalk.db")}` });
    await foreign.execute("create table customers (id integer primary key, name text)");
    foreign.close();
    const error = await openStore({ dataDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreForeignError);
    expect((error as StoreForeignError).message).toContain("customers");
  });

  test("a database migrated by a newer catwalk is refused with an upgrade hint", async () => {
    const dataDir = tempDir();
    const store = await openStore({ dataDir });
    await store.client.execute({
      sql: "insert into __drizzle_migrations (hash, created_at) values (?, ?)",
      args: ["f".repeat(64), 9_999_999_999_999],
    });
    store.close();
    const error = await openStore({ dataDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreTooNewError);
  });
});
