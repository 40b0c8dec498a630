import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Migration {
  tag: string;
  /** drizzle-kit's journal timestamp; also what `__drizzle_migrations.created_at` records. */
  when: number;
  hash: string;
  statements: string[];
}

/**
 * Runs at bundle time (imported `with { type: "macro" }`): reads drizzle-kit's journal and SQL
 * files so that the compiled binary carries its migrations and needs no `drizzle/` folder.
 * The hash is the same as drizzle-kit's (sha256 of the file), so a database migrated by
 * `drizzle-kit migrate` and one migrated by the binary are interchangeable.
 */
export function embeddedMigrations(): Migration[] {
  const dir = join(import.meta.dir, "..", "..", "drizzle");
  const journal = JSON.parse(readFileSync(join(dir, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  return journal.entries.map((entry) => {
    const sql = readFileSync(join(dir, `${entry.tag}.sql`), "utf8");
    return {
      tag: entry.tag,
      when: entry.when,
      hash: createHash("sha256").update(sql).digest("hex"),
      statements: sql
        .split("--> statement-breakpoint")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
    };
  });
}
