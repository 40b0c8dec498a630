import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cli } from "../../test/helpers/cli.ts";
import { startTestServer, tempDir } from "../../test/helpers/server.ts";
import { VERSION } from "../version.ts";
import { COMMANDS } from "./commands.ts";

describe("cli", () => {
  test("--version and version print the version and exit 0", async () => {
    for (const arg of ["--version", "version", "-v"]) {
      const res = await cli([arg]);
      expect(res.code).toBe(0);
      expect(res.out).toStartWith(`catwalk ${VERSION}`);
    }
  });

  test("no arguments prints the overview and exits 2; --help exits 0", async () => {
    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.out).toContain("Commands:");
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.out).toContain(c.name);
  });

  test("help <command> shows usage and every option of each command", async () => {
    for (const c of COMMANDS) {
      const res = await cli(["help", c.name]);
      expect(res.code).toBe(0);
      expect(res.out).toContain(`Usage: ${c.usage}`);
      for (const name of Object.keys(c.options)) expect(res.out).toContain(`--${name}`);
    }
  });

  test("an unknown command exits 2 with a suggestion", async () => {
    const res = await cli(["serv"]);
    expect(res.code).toBe(2);
    expect(res.err).toContain('Unknown command "serv"');
    expect(res.err).toContain("serve");
  });

  test("an unknown flag exits 2 and points at the command's help", async () => {
    const res = await cli(["serve", "--prot", "1"]);
    expect(res.code).toBe(2);
    expect(res.err).toContain("--prot");
    expect(res.err).toContain("catwalk help serve");
  });

  test("admin token prints the token of a data dir, and --rotate replaces it for a running server", async () => {
    const srv = await startTestServer();
    try {
      const shown = await cli(["admin", "token", "--data-dir", srv.dataDir]);
      expect(shown.code).toBe(0);
      expect(shown.out).toBe(srv.token);
      const rotated = await cli(["admin", "token", "--rotate", "--data-dir", srv.dataDir]);
      expect(rotated.code).toBe(0);
      expect(rotated.out).not.toBe(srv.token);
      expect(rotated.out).toStartWith("cwadm_");
      expect(readFileSync(join(srv.dataDir, "admin-token"), "utf8").trim()).toBe(rotated.out);
      const old = await fetch(`${srv.url}/api/openapi.json`, {
        headers: { authorization: `Bearer ${srv.token}` },
      });
      expect(old.status).toBe(401);
      const fresh = await fetch(`${srv.url}/api/openapi.json`, {
        headers: { authorization: `Bearer ${rotated.out}` },
      });
      expect(fresh.status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  test("admin token on a data dir that never started explains how to create one", async () => {
    const res = await cli(["admin", "token", "--data-dir", tempDir()]);
    expect(res.code).toBe(2);
    expect(res.err).toContain("No admin token");
    expect(res.err).toContain("catwalk serve");
  });

  test("config schema lists every key with its env variable", async () => {
    const res = await cli(["config", "schema", "--json"]);
    expect(res.code).toBe(0);
    const rows = JSON.parse(res.out) as { key: string; env: string; default: string }[];
    expect(rows.find((r) => r.key === "port")).toMatchObject({ env: "CATWALK_PORT", default: "7400" });
  });

  test("config show hides secrets and names each value's source", async () => {
    const res = await cli(["config", "show", "--json", "--data-dir", tempDir()], {
      CATWALK_GITHUB_TOKEN: "ghp_SHOULD_NOT_PRINT_123",
      CATWALK_PORT: "7411",
    });
    expect(res.code).toBe(0);
    expect(res.out).not.toContain("ghp_SHOULD_NOT_PRINT_123");
    const body = JSON.parse(res.out) as { values: { key: string; value: string; source: string }[] };
    expect(body.values.find((v) => v.key === "github.token")?.value).toBe("[redacted]");
    expect(body.values.find((v) => v.key === "port")).toMatchObject({
      value: "7411",
      source: "env CATWALK_PORT",
    });
  });
});
