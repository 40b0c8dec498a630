/**
 * Issue 5's promises under stress: secrets never leak, kill -9 loses nothing, crash loops end
 * in `failed`, revocation cuts open sessions, and clients survive a server restart.
 */

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startFakeNpm } from "../fakes/npm-registry.ts";
import { cli } from "../helpers/cli.ts";
import { connectLegacy, deploy } from "../helpers/mcp.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process-server.ts";
import { startTestServer, tempDir } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

const ALLOW = { CATWALK_LOCAL_ALLOW_COMMANDS: "true" };
const argv = (name: string) => {
  return fixtureArgv(name);
};
const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0] as { text: string }).text;

/** Every file under a directory, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

describe("secrets", () => {
  test("a secret env var reaches the child but appears nowhere in the store, logs, API or CLI output", async () => {
    const secret = "sk-live-PLAINTEXT-9f3a7c21e5";
    const srv = await startTestServer({ env: ALLOW });
    let captured = "";
    try {
      const dep = await deploy(srv, {
        command: argv("echo-server.ts"),
        name: "vault",
        env: { SERVICE_API_KEY: secret },
      });
      const c = await connectLegacy(dep);
      expect(text(await c.client.callTool({ name: "env", arguments: { name: "SERVICE_API_KEY" } }))).toBe(
        secret,
      );
      await c.client.callTool({ name: "stderr", arguments: { name: "SERVICE_API_KEY" } });
      await c.close();
      const logs = await waitFor("the stderr line", async () => {
        const body = await (await srv.api(`/api/deployments/${dep.id}/logs?tail=500`)).text();
        return body.includes("SERVICE_API_KEY=") ? body : undefined;
      });
      expect(logs).toContain("SERVICE_API_KEY=[redacted]");
      const env = { CATWALK_SERVER: srv.url, CATWALK_TOKEN: srv.token };
      const outputs = [logs];
      for (const path of [
        "/api/deployments",
        `/api/deployments/${dep.id}`,
        "/api/events?limit=1000",
        `/api/deployments/${dep.id}/connect`,
        `/api/deployments/${dep.id}/stats`,
        "/metrics",
      ]) {
        outputs.push(await (await srv.api(path)).text());
      }
      for (const args of [
        ["ls", "--json"],
        ["show", "vault", "--json"],
        ["env", "ls", "vault"],
        ["logs", "vault"],
        ["events", "--json", "--limit", "500"],
        ["connect", "vault"],
      ]) {
        const r = await cli(args, env);
        outputs.push(r.out, r.err);
      }
      captured = outputs.join("\n");
      expect(captured).not.toContain(secret);
    } finally {
      await srv.close();
    }
    for (const file of files(srv.dataDir)) {
      expect({ file, leaked: readFileSync(file).includes(Buffer.from(secret)) }).toEqual({
        file,
        leaked: false,
      });
    }
    expect(captured.length).toBeGreaterThan(1000);
  }, 60_000);
});

describe("kill -9", () => {
  test("killed mid-deploy (while installing), the restarted server brings the deployment to running", async () => {
    const registry = await startFakeNpm([{ name: "@fixture/slow-server", versions: [{ version: "1.0.0" }] }]);
    const env = {
      CATWALK_LOCAL_NPM_REGISTRY_URL: registry.url,
      CATWALK_LOCAL_PACKAGE_CACHE_DIR: join(tempDir(), "cache"),
    };
    registry.hangTarballs(true);
    let server = await startServerProcess({ env });
    try {
      const res = await server.api("/api/deployments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          source: "npm:@fixture/slow-server",
          env: { TOKEN_FOR_UPSTREAM: "survives-kill-9" },
        }),
      });
      expect(res.status).toBe(201);
      const dep = (await res.json()) as { id: string; url: string; token: string };
      await waitFor("installing", async () => {
        const info = (await (await server.api(`/api/deployments/${dep.id}`)).json()) as { state: string };
        return info.state === "installing" ? true : undefined;
      });
      expect(await server.kill("SIGKILL")).not.toBe(0);
      registry.hangTarballs(false);
      server = await server.restart();
      const info = await waitFor(
        "running after restart",
        async () => {
          const d = (await (await server.api(`/api/deployments/${dep.id}`)).json()) as {
            state: string;
            env: { name: string }[];
          };
          return d.state === "running" ? d : undefined;
        },
        60_000,
      );
      expect(info.env.map((e) => e.name)).toEqual(["TOKEN_FOR_UPSTREAM"]);
      const c = await connectLegacy(dep);
      expect((await c.client.listTools()).tools.map((t) => t.name)).toEqual(["hello"]);
      await c.close();
    } finally {
      await server.kill("SIGTERM");
      await registry.stop();
    }
  }, 120_000);

  test("killed at random points of key rotations, the server restarts and every credential decrypts", async () => {
    let server = await startServerProcess({ env: ALLOW });
    const values: Record<string, string> = {};
    for (let i = 0; i < 1500; i++) values[`SECRET_${i}`] = `value-${i}-${"x".repeat(24)}`;
    try {
      const res = await server.api("/api/deployments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ command: argv("echo-server.ts"), name: "many", env: values }),
      });
      expect(res.status).toBe(201);
      const dep = (await res.json()) as { id: string; url: string; token: string };
      const seen: number[] = [];
      for (const delay of [0, 5, 15, 40, 80]) {
        const rotation = server.api("/api/keys/rotate", { method: "POST" }).catch(() => undefined);
        await Bun.sleep(delay);
        await server.kill("SIGKILL");
        await rotation;
        seen.push(readFileSync(join(server.dataDir, "master.key"), "utf8").trim().split("\n").length);
        server = await server.restart();
        // Starting on an interrupted rotation finishes it: one key again.
        expect(readFileSync(join(server.dataDir, "master.key"), "utf8").trim().split("\n")).toHaveLength(1);
        await waitFor("running after restart", async () => {
          const d = (await (await server.api(`/api/deployments/${dep.id}`)).json()) as { state: string };
          return d.state === "running" ? true : undefined;
        });
        const c = await connectLegacy(dep);
        for (const i of [0, 749, 1499]) {
          expect(text(await c.client.callTool({ name: "env", arguments: { name: `SECRET_${i}` } }))).toBe(
            values[`SECRET_${i}`] as string,
          );
        }
        await c.close();
      }
      // The kills landed inside rotations (the key file held the new and the old key) at least once.
      expect(seen).toContain(2);
      // A complete rotation decrypts every value; it fails loudly if any one is unreadable.
      const full = await server.api("/api/keys/rotate", { method: "POST" });
      expect(full.status).toBe(200);
      expect(((await full.json()) as { reencrypted: number }).reencrypted).toBeGreaterThanOrEqual(1500);
      const keyFile = readFileSync(join(server.dataDir, "master.key"), "utf8").trim().split("\n");
      expect(keyFile).toHaveLength(1);
      expect((statSync(join(server.dataDir, "master.key")).mode & 0o777).toString(8)).toBe("600");
    } finally {
      await server.kill("SIGTERM");
    }
  }, 180_000);
});

describe("crash loops, revocation and restarts", () => {
  test("a server that exits at once ends failed with its stderr as the reason, and stops being restarted", async () => {
    const srv = await startTestServer({ env: ALLOW });
    try {
      const res = await srv.api("/api/deployments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ command: argv("crash-server.ts"), name: "crashy" }),
      });
      const dep = (await res.json()) as { id: string };
      const failed = await waitFor(
        "failed",
        async () => {
          const d = (await (await srv.api(`/api/deployments/${dep.id}`)).json()) as {
            state: string;
            stateReason: string | null;
          };
          return d.state === "failed" ? d : undefined;
        },
        60_000,
      );
      expect(failed.stateReason).toContain("fatal: FIXTURE_API_KEY is not set");
      const spawnsAt = async () => {
        const { lines } = (await (await srv.api(`/api/deployments/${dep.id}/logs?tail=10000`)).json()) as {
          lines: { line: string }[];
        };
        return lines.filter((l) => /started pid/.test(l.line)).length;
      };
      const before = await spawnsAt();
      await Bun.sleep(3000);
      expect(await spawnsAt()).toBe(before);
      expect(before).toBeLessThanOrEqual(6);
    } finally {
      await srv.close();
    }
  }, 90_000);

  test("revoking a token cuts its open session at the next request; other tokens keep working", async () => {
    const srv = await startTestServer({ env: ALLOW });
    try {
      const dep = await deploy(srv, { command: argv("echo-server.ts"), name: "cut" });
      const other = (await (
        await srv.api(`/api/deployments/${dep.id}/tokens`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "other" }),
        })
      ).json()) as { token: string };
      const c = await connectLegacy(dep);
      const d = await connectLegacy({ url: dep.url, token: other.token });
      expect(text(await c.client.callTool({ name: "echo", arguments: { text: "before" } }))).toBe("before");
      const tokens = (await (await srv.api(`/api/deployments/${dep.id}/tokens`)).json()) as {
        tokens: { id: string; name: string }[];
      };
      const first = tokens.tokens.find((t) => t.name === "default") as { id: string };
      expect(
        (await srv.api(`/api/deployments/${dep.id}/tokens/${first.id}`, { method: "DELETE" })).status,
      ).toBe(200);
      const error = await c.client.callTool({ name: "echo", arguments: { text: "after" } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StreamableHTTPError);
      expect((error as StreamableHTTPError).code).toBe(401);
      expect(text(await d.client.callTool({ name: "echo", arguments: { text: "unaffected" } }))).toBe(
        "unaffected",
      );
      await d.close();
      await c.client.close();
    } finally {
      await srv.close();
    }
  }, 60_000);

  test("after a server restart, an open session gets 404 and the SDK client re-initializes cleanly", async () => {
    let server = await startServerProcess({ env: ALLOW });
    try {
      const res = await server.api("/api/deployments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ command: argv("echo-server.ts"), name: "survivor" }),
      });
      const dep = (await res.json()) as { id: string; url: string; token: string };
      await waitFor("running", async () => {
        const d = (await (await server.api(`/api/deployments/${dep.id}`)).json()) as { state: string };
        return d.state === "running" ? true : undefined;
      });
      const c = await connectLegacy(dep);
      expect(text(await c.client.callTool({ name: "echo", arguments: { text: "one" } }))).toBe("one");
      await server.kill("SIGTERM");
      server = await server.restart();
      await waitFor("running after restart", async () => {
        const d = (await (await server.api(`/api/deployments/${dep.id}`)).json()) as { state: string };
        return d.state === "running" ? true : undefined;
      });
      const error = await c.client.callTool({ name: "echo", arguments: { text: "two" } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as StreamableHTTPError).code).toBe(404);
      await c.client.close();
      const again = await connectLegacy(dep);
      expect(text(await again.client.callTool({ name: "echo", arguments: { text: "three" } }))).toBe("three");
      await again.close();
    } finally {
      await server.kill("SIGTERM");
    }
  }, 90_000);
});

describe("backup and restore", () => {
  const post = (server: ServerProcess, path: string, body: unknown) =>
    server.api(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const running = (server: ServerProcess, id: string) =>
    waitFor(`${id} running`, async () => {
      const info = (await (await server.api(`/api/deployments/${id}`)).json()) as { state: string };
      return info.state === "running" ? true : undefined;
    });

  test("a backup restored into the stopped server brings back what was removed, secrets and tokens included", async () => {
    let server = await startServerProcess({ env: ALLOW });
    const target = { CATWALK_SERVER: server.url, CATWALK_TOKEN: server.token };
    const dir = tempDir();
    try {
      const res = await post(server, "/api/deployments", {
        command: argv("echo-server.ts"),
        name: "precious",
        env: { PRECIOUS_KEY: "restored-secret-42" },
      });
      const dep = (await res.json()) as { id: string; url: string; token: string };
      await running(server, dep.id);
      expect((await cli(["backup", join(dir, "snap.db")], target)).code).toBe(0);
      expect((await cli(["rm", "precious"], target)).code).toBe(0);

      const busy = await cli(["restore", join(dir, "snap.db"), "--data-dir", server.dataDir]);
      expect([busy.code, busy.err]).toEqual([2, expect.stringContaining("A server is running")]);

      await server.kill("SIGTERM");
      const done = await cli(["restore", join(dir, "snap.db"), "--data-dir", server.dataDir, "--json"]);
      expect(done.code).toBe(0);
      const result = JSON.parse(done.out) as { deployments: number; previous: string; adminToken: string };
      expect([result.deployments, result.adminToken]).toEqual([1, "kept"]);
      expect(readdirSync(server.dataDir)).toContain(result.previous.split("/").pop() as string);

      server = await server.restart();
      await running(server, dep.id);
      const c = await connectLegacy(dep);
      expect(text(await c.client.callTool({ name: "env", arguments: { name: "PRECIOUS_KEY" } }))).toBe(
        "restored-secret-42",
      );
      await c.close();
    } finally {
      await server.kill("SIGTERM");
    }
  }, 90_000);

  test("a backup the data dir's key cannot open, or a file that is no backup, changes nothing", async () => {
    const first = await startServerProcess({ env: ALLOW });
    const other = await startServerProcess({ env: ALLOW });
    const dir = tempDir();
    try {
      await post(first, "/api/deployments", {
        command: argv("echo-server.ts"),
        name: "keyed",
        env: { SOME_KEY: "v" },
      });
      const snap = join(dir, "first.db");
      expect(
        (await cli(["backup", snap], { CATWALK_SERVER: first.url, CATWALK_TOKEN: first.token })).code,
      ).toBe(0);
      await other.kill("SIGTERM");
      const before = readdirSync(other.dataDir).sort();

      const wrongKey = await cli(["restore", snap, "--data-dir", other.dataDir]);
      expect(wrongKey.code).toBe(2);
      expect(wrongKey.err).toContain("does not open the secrets");
      expect(wrongKey.err).toContain("CATWALK_MASTER_KEY");

      const textFile = join(dir, "notes.txt");
      await Bun.write(textFile, "not a database at all, just some words\n".repeat(200));
      const garbage = await cli(["restore", textFile, "--data-dir", other.dataDir]);
      expect([garbage.code, garbage.err]).toEqual([2, expect.stringContaining("cannot be restored")]);

      const empty = join(dir, "empty.db");
      await Bun.write(empty, "");
      const none = await cli(["restore", empty, "--data-dir", other.dataDir]);
      expect([none.code, none.err]).toEqual([2, expect.stringContaining("is not a Catwalk backup")]);

      const missing = await cli(["restore", join(dir, "nope.db"), "--data-dir", other.dataDir]);
      expect(missing.code).toBe(3);

      expect(readdirSync(other.dataDir).sort()).toEqual(before);
      const again = await other.restart();
      expect((await again.api("/api/deployments")).status).toBe(200);
      await again.kill("SIGTERM");
    } finally {
      await first.kill("SIGTERM");
    }
  }, 90_000);
});
