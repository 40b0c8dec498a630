/**
 * Several hosts on one remote database (a real sqld): first-start races and caches of state that
 * another host may change.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/helpers/server.ts";
import { SQLD_MISSING, type Sqld, startSqld } from "../../test/helpers/sqld.ts";
import { AdminTokens, ensureAdminToken, readAdminTokenFile, rotateAdminToken } from "../admin/admin-token.ts";
import { insertDeployment, revokeToken } from "../deployment/deployment.ts";
import { AccessTokens } from "../deployment/tokens.ts";
import { newId } from "../util/ids.ts";
import { generateKey } from "../vault/fernet.ts";
import {
  MASTER_KEY_FILE,
  makeVault,
  openVault,
  VaultKeyMismatchError,
  VaultKeyMissingError,
} from "../vault/vault.ts";
import { migrationTags, openStore, type Store } from "./db.ts";

if (SQLD_MISSING) test.skip(`shared-store tests skipped: ${SQLD_MISSING}`, () => {});

describe.skipIf(SQLD_MISSING !== undefined)("hosts sharing one sqld database", () => {
  let sqld: Sqld;
  const stores: Store[] = [];
  const open = async () => {
    const store = await openStore({ dataDir: tempDir(), url: sqld.url });
    stores.push(store);
    return store;
  };
  beforeAll(async () => {
    sqld = await startSqld();
  });
  afterAll(async () => {
    for (const s of stores) s.close();
    await sqld?.stop();
  });

  test("hosts opening a new database at once all succeed, and each migration is applied once", async () => {
    const opened = await Promise.all([open(), open(), open()]);
    expect(opened.flatMap((s) => s.applied).sort()).toEqual([...migrationTags()].sort());
    expect(await sqld.query("select count(*), count(distinct hash) from __drizzle_migrations")).toEqual([
      [String(migrationTags().length), String(migrationTags().length)],
    ]);
  });

  test("of hosts starting at once with different master keys, one wins and the others are refused", async () => {
    await sqld.query("delete from meta where key = 'vault.check'");
    const dirs = [tempDir(), tempDir(), tempDir()];
    const dbs = await Promise.all(dirs.map(() => open()));
    const results = await Promise.allSettled(
      dirs.map((dataDir, i) => openVault({ db: dbs[i]?.db as Store["db"], dataDir })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const [i, r] of results.entries()) {
      if (r.status === "fulfilled") continue;
      // Mismatch when it made a key before the winner's check value landed, missing when after.
      expect(r.reason instanceof VaultKeyMismatchError || r.reason instanceof VaultKeyMissingError).toBe(
        true,
      );
      expect((r.reason as Error & { hint: string }).hint).toMatch(
        /same CATWALK_MASTER_KEY|the other hosts use/,
      );
      // The key the loser generated opens nothing; it is not left behind to confuse the next start.
      expect(existsSync(join(dirs[i] as string, MASTER_KEY_FILE))).toBe(false);
    }
  });

  test("of hosts creating the admin token at once, exactly one writes a token file, and it is the valid one", async () => {
    await sqld.query("delete from meta where key = 'admin.token_hash'");
    const dirs = [tempDir(), tempDir(), tempDir()];
    const dbs = await Promise.all(dirs.map(() => open()));
    const made = await Promise.all(dirs.map((dir, i) => ensureAdminToken((dbs[i] as Store).db, dir)));
    const tokens = made.filter((t) => t !== undefined);
    expect(tokens).toHaveLength(1);
    expect(dirs.filter((d) => readAdminTokenFile(d) !== undefined)).toHaveLength(1);
    expect(await new AdminTokens((dbs[0] as Store).db).verify(tokens[0] as string)).toBe(true);
  });

  test("an admin token rotated on another host is refused here once the cached hash is older than recheckMs", async () => {
    const [a, b] = [await open(), await open()];
    const old = await rotateAdminToken(a.db, tempDir());
    const here = new AdminTokens(b.db, 0);
    const forever = new AdminTokens(b.db);
    expect(await here.verify(old)).toBe(true);
    expect(await forever.verify(old)).toBe(true);
    const fresh = await rotateAdminToken(a.db, tempDir());
    await Bun.sleep(5);
    expect(await here.verify(old)).toBe(false);
    expect(await here.verify(fresh)).toBe(true);
    // Without recheckMs (one host on an embedded store) the cache trusts what it read.
    expect(await forever.verify(old)).toBe(true);
  });

  test("an access token revoked on another host is refused here once its cache entry is older than recheckMs", async () => {
    const [a, b] = [await open(), await open()];
    const id = newId("dep");
    const { token } = await insertDeployment(a.db, makeVault([generateKey()], "env"), {
      row: {
        id,
        slug: `shared-${id.slice(-6).toLowerCase()}`,
        name: "shared",
        source: "command:x",
        runtime: "local",
        upstream: { kind: "command", command: "x", args: [] },
        sessionMode: "isolated",
        desiredState: "stopped",
        state: "stopped",
      },
      credentials: {},
    });
    const here = new AccessTokens(b.db, 0);
    const tokenId = await here.verify(token, id);
    expect(tokenId).toStartWith("tok_");
    await revokeToken(a.db, tokenId as string);
    await Bun.sleep(5);
    expect(await here.verify(token, id)).toBeUndefined();
  });
});
