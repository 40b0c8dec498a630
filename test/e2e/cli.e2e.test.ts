/**
 * Every deployment command of the CLI against a real server over HTTP (the CLI runs in-process
 * with its own environment; the server is real, with fixture MCP servers as upstreams).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { cli } from "../helpers/cli.ts";
import { startFakeRemote } from "../helpers/fake-remote.ts";
import { connectLegacy, type Deployed } from "../helpers/mcp.ts";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.ts";
import { fixtureSpec } from "../helpers/upstream.ts";

let srv: TestServer;
let env: Record<string, string>;
const echo = fixtureSpec("echo-server.ts");
const echoCommand = echo.kind === "command" ? [echo.command, ...echo.args] : [];

beforeAll(async () => {
  srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
  env = { CATWALK_SERVER: srv.url, CATWALK_TOKEN: srv.token };
}, 30_000);
afterAll(() => srv.close());

/** Creates a command deployment through the API (the CLI's deploy takes sources, not commands). */
async function create(name: string, extra: Record<string, unknown> = {}) {
  const res = await srv.api("/api/deployments", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ command: echoCommand, name, ...extra }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; slug: string; url: string; token: string };
}

async function waitState(slug: string, state: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await cli(["show", slug, "--json"], env);
    if ((JSON.parse(res.out) as { state: string }).state === state) return;
    if (Date.now() > deadline) throw new Error(`${slug} never reached ${state}: ${res.out}`);
    await Bun.sleep(100);
  }
}

describe("deployment commands", () => {
  test("deploy --json prints exactly {id, slug, url, token, state} and waits until it runs", async () => {
    const remote = await create("origin");
    await waitState("origin", "running");
    const res = await cli(
      [
        "deploy",
        remote.url,
        "--name",
        "via-remote",
        "--header",
        `Authorization: Bearer ${remote.token}`,
        "--json",
      ],
      env,
    );
    expect(res.err).toBe("");
    expect(res.code).toBe(0);
    const out = JSON.parse(res.out) as Record<string, string>;
    expect(Object.keys(out).sort()).toEqual(["id", "slug", "state", "token", "url"]);
    expect(out).toMatchObject({ slug: "via-remote", state: "running", url: `${srv.url}/mcp/via-remote` });
    expect(out.token).toStartWith("cwdep_");
    const c = await connectLegacy({ url: out.url as string, token: out.token as string });
    const r = (await c.client.callTool({ name: "echo", arguments: { text: "through two gateways" } }))
      .content as { text: string }[];
    expect(r[0]?.text).toBe("through two gateways");
    await c.close();
    expect(res.out).not.toContain(remote.token);
  });

  test("deploy with a bad source exits 2 and names what is accepted", async () => {
    const res = await cli(["deploy", "ftp://nowhere", "--json"], env);
    expect(res.code).toBe(2);
    expect(res.err).toContain("Accepted sources");
  });

  test("deploy --env KEY without a value takes it from the shell, or fails when unset", async () => {
    const missing = await cli(["deploy", "npm:whatever", "--env", "NOT_IN_SHELL"], env);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("NOT_IN_SHELL is not set in this shell");
  });

  test("ls --json lists each deployment's slug, state, runtime and url", async () => {
    await create("listed");
    const res = await cli(["ls", "--json"], env);
    expect(res.code).toBe(0);
    const all = JSON.parse(res.out) as { slug: string; state: string; runtime: string; url: string }[];
    const listed = all.find((d) => d.slug === "listed");
    expect(listed).toMatchObject({ runtime: "local", url: `${srv.url}/mcp/listed` });
    expect(typeof listed?.state).toBe("string");
    const table = await cli(["ls"], env);
    expect(table.out.split("\n")[0]).toMatch(/^SLUG\s+STATE\s+RUNTIME/);
  });

  test("show, stop, start and restart move the deployment and say where it is", async () => {
    await create("cycled");
    await waitState("cycled", "running");
    const shown = await cli(["show", "cycled"], env);
    expect(shown.out).toContain("endpoint");
    expect(shown.out).toContain(`${srv.url}/mcp/cycled`);
    const stopped = JSON.parse((await cli(["stop", "cycled", "--json"], env)).out) as {
      state: string;
      desiredState: string;
    };
    expect(stopped).toMatchObject({ state: "stopped", desiredState: "stopped" });
    const started = await cli(["start", "cycled"], env);
    expect(started.code).toBe(0);
    await waitState("cycled", "running");
    expect((await cli(["restart", "cycled"], env)).code).toBe(0);
    await waitState("cycled", "running");
  });

  test("update --session-mode changes the mode and restarts it", async () => {
    await create("switched");
    const res = await cli(["update", "switched", "--session-mode", "shared", "--json"], env);
    expect(res.code).toBe(0);
    expect((JSON.parse(res.out) as { sessionMode: string }).sessionMode).toBe("shared");
    expect((await cli(["update", "switched"], env)).code).toBe(2);
  });

  test("env set stores values write-only and restarts; env ls shows names only", async () => {
    const dep = await create("configured");
    const secret = "sk-CLI-SECRET-6b1f0c";
    const set = await cli(["env", "set", "configured", `API_KEY=${secret}`, "--json"], env);
    expect(set.code).toBe(0);
    expect(set.out).not.toContain(secret);
    const ls = await cli(["env", "ls", "configured", "--json"], env);
    expect(JSON.parse(ls.out)).toEqual([{ name: "API_KEY", secret: true }]);
    await waitState("configured", "running");
    const c = await connectLegacy(dep);
    const got = (await c.client.callTool({ name: "env", arguments: { name: "API_KEY" } })).content as {
      text: string;
    }[];
    expect(got[0]?.text).toBe(secret);
    await c.close();
    const typo = await cli(["env", "set", "configured", "--unset", "API_KEYS"], env);
    expect([typo.code, typo.err]).toEqual([2, expect.stringContaining("API_KEYS is not set on configured")]);
    expect(typo.err).toContain("Set on configured: API_KEY.");
    const unset = await cli(["env", "set", "configured", "--unset", "API_KEY"], env);
    expect(unset.code).toBe(0);
    expect(JSON.parse((await cli(["env", "ls", "configured", "--json"], env)).out)).toEqual([]);
    const reserved = await cli(["env", "set", "configured", "PATH=/tmp"], env);
    expect(reserved.code).toBe(2);
  });

  test("env set --header changes the headers a remote deployment sends upstream; values never show", async () => {
    const remote = startFakeRemote();
    try {
      const made = await cli(
        ["deploy", remote.url, "--name", "remote-keyed", "--header", "X-Api-Key: k-one-7f3a", "--json"],
        env,
      );
      expect(made.code).toBe(0);
      const dep = JSON.parse(made.out) as Deployed;
      const initializeWith = async (): Promise<Record<string, string>> => {
        await waitState("remote-keyed", "running");
        const c = await connectLegacy(dep);
        await c.close();
        return remote.lastInitializeHeaders();
      };
      expect((await initializeWith())["x-api-key"]).toBe("k-one-7f3a");
      // Another spelling of the same name replaces it (header names are case-insensitive).
      const rotated = await cli(["env", "set", "remote-keyed", "--header", "x-api-key: k-two-91cd"], env);
      expect(rotated.code).toBe(0);
      expect(rotated.out).toContain("remote-keyed: set header x-api-key");
      expect(rotated.out).not.toContain("k-two-91cd");
      expect((await initializeWith())["x-api-key"]).toBe("k-two-91cd");
      const ls = await cli(["env", "ls", "remote-keyed"], env);
      expect(ls.out).toContain("x-api-key (header)");
      expect(ls.out).not.toContain("X-Api-Key");
      const shown = await cli(["show", "remote-keyed"], env);
      expect(shown.out).toMatch(/headers\s+x-api-key/);
      expect(shown.out).not.toContain("k-two");
      const absent = await cli(["env", "set", "remote-keyed", "--unset-header", "Authorization"], env);
      expect([absent.code, absent.err]).toEqual([
        2,
        expect.stringContaining("Header Authorization is not set on remote-keyed"),
      ]);
      expect(absent.err).toContain("Headers of remote-keyed: x-api-key.");
      expect((await cli(["env", "set", "remote-keyed", "--unset-header", "X-API-KEY"], env)).code).toBe(0);
      expect((await initializeWith())["x-api-key"]).toBeUndefined();
      // Local servers take variables, not headers.
      await create("local-one");
      const wrong = await cli(["env", "set", "local-one", "--header", "X-Api-Key: nope"], env);
      expect([wrong.code, wrong.err]).toEqual([
        2,
        expect.stringContaining("local-one is not a remote deployment"),
      ]);
    } finally {
      await remote.stop();
    }
  });

  test("token create, rotate and revoke: new tokens work at once, old ones stop", async () => {
    const dep = await create("guarded");
    await waitState("guarded", "running");
    const made = JSON.parse(
      (await cli(["token", "create", "guarded", "--name", "laptop", "--json"], env)).out,
    ) as { token: string; name: string; id: string };
    expect(made.name).toBe("laptop");
    const laptop = await connectLegacy({ url: dep.url, token: made.token });
    await laptop.close();
    const rotated = JSON.parse((await cli(["token", "rotate", "guarded", "laptop", "--json"], env)).out) as {
      token: string;
      name: string;
    };
    expect(rotated.name).toBe("laptop");
    await expect(connectLegacy({ url: dep.url, token: made.token })).rejects.toThrow();
    const fresh = await connectLegacy({ url: dep.url, token: rotated.token });
    await fresh.close();
    expect((await cli(["token", "revoke", "guarded", "laptop"], env)).code).toBe(0);
    await expect(connectLegacy({ url: dep.url, token: rotated.token })).rejects.toThrow();
    const listed = JSON.parse((await cli(["token", "ls", "guarded", "--json"], env)).out) as {
      name: string;
      revokedAt: string | null;
    }[];
    expect(listed.filter((t) => t.name === "laptop").every((t) => t.revokedAt !== null)).toBe(true);
    expect((await cli(["token", "revoke", "guarded", "no-such-token"], env)).code).toBe(3);
  });

  test("connect prints Claude Desktop, Claude Code and curl snippets; --new-token fills a working token", async () => {
    const dep = await create("pasted");
    await waitState("pasted", "running");
    const placeholder = await cli(["connect", "pasted"], env);
    expect(placeholder.out).toContain("mcp-remote");
    expect(placeholder.out).toContain("claude mcp add --transport http pasted");
    expect(placeholder.out).toContain("<TOKEN>");
    const filled = JSON.parse((await cli(["connect", "pasted", "--new-token", "--json"], env)).out) as {
      token: string;
      claudeCode: string;
    };
    expect(filled.token).toStartWith("cwdep_");
    expect(filled.claudeCode).toContain(`Authorization: Bearer ${filled.token}`);
    const c = await connectLegacy({ url: dep.url, token: filled.token });
    await c.close();
  });

  test("logs shows lifecycle lines; events shows the deployment's history", async () => {
    await create("chatty");
    await waitState("chatty", "running");
    const logs = await cli(["logs", "chatty", "--tail", "50"], env);
    expect(logs.code).toBe(0);
    expect(logs.out).toContain("state starting -> running");
    const events = await cli(["events", "--deployment", "chatty", "--json"], env);
    const types = (JSON.parse(events.out) as { type: string }[]).map((e) => e.type);
    expect(types).toContain("deployment.created");
    expect(types).toContain("deployment.state");
    const filtered = await cli(
      ["events", "--deployment", "chatty", "--types", "deployment.created,token.created", "--json"],
      env,
    );
    expect(filtered.code).toBe(0);
    expect(new Set((JSON.parse(filtered.out) as { type: string }[]).map((e) => e.type))).toEqual(
      new Set(["deployment.created", "token.created"]),
    );
  });

  test("logs -f follows new lines until interrupted", async () => {
    await create("followed");
    await waitState("followed", "running");
    const run = cli(["logs", "followed", "-f", "--tail", "1"], env);
    await Bun.sleep(300);
    await cli(["restart", "followed"], env);
    await waitState("followed", "running");
    await Bun.sleep(300);
    process.emit("SIGINT");
    const res = await run;
    expect(res.code).toBe(0);
    expect(res.out).toContain("restarting");
  });

  test("rm at a terminal removes only after the slug is typed; --yes and scripts are not asked", async () => {
    await create("asked");
    const wrong = await cli(["rm", "asked"], env, ["aksed"]);
    expect([wrong.code, wrong.asked.length, wrong.err]).toEqual([2, 1, 'not removed: "aksed" is not asked']);
    expect((await cli(["show", "asked"], env)).code).toBe(0);
    const typed = await cli(["rm", "asked"], env, [" asked "]);
    expect([typed.code, typed.asked[0]]).toEqual([0, expect.stringContaining("Type its slug to confirm")]);
    expect((await cli(["show", "asked"], env)).code).toBe(3);
    await create("unasked");
    const yes = await cli(["rm", "unasked", "--yes"], env, []);
    expect([yes.code, yes.asked]).toEqual([0, []]);
  });

  test("rm removes the deployment; later commands on it exit 3", async () => {
    const dep = await create("doomed");
    const res = await cli(["rm", "doomed", "--json"], env);
    expect(JSON.parse(res.out)).toMatchObject({ slug: "doomed", removed: true });
    expect((await cli(["show", "doomed"], env)).code).toBe(3);
    const gone = await fetch(dep.url, { method: "POST", headers: { authorization: `Bearer ${dep.token}` } });
    expect(gone.status).toBe(404);
  });

  test("backup writes a consistent SQLite snapshot (0600) that holds the deployments", async () => {
    await create("saved");
    const file = join(tempDir(), "catwalk.bak");
    const res = await cli(["backup", file], env);
    expect(res.code).toBe(0);
    expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
    const copy = createClient({ url: `file:${file}` });
    const rows = await copy.execute("select slug from deployments");
    copy.close();
    expect(rows.rows.map((r) => r.slug)).toContain("saved");
    expect((await cli(["backup", file], env)).code).toBe(2);
  });

  test("keys rotate re-encrypts every credential under a new key the server uses at once", async () => {
    const dep = await create("keyed", { env: { KEYED_SECRET: "keyed-value-01" } });
    await waitState("keyed", "running");
    const before = readFileSync(join(srv.dataDir, "master.key"), "utf8");
    const res = await cli(["keys", "rotate", "--json"], env);
    expect(res.code).toBe(0);
    const result = JSON.parse(res.out) as { reencrypted: number; fingerprint: string };
    expect(result.reencrypted).toBeGreaterThan(0);
    const after = readFileSync(join(srv.dataDir, "master.key"), "utf8");
    expect(after).not.toBe(before);
    expect(after.trim().split("\n")).toHaveLength(1);
    await cli(["restart", "keyed"], env);
    await waitState("keyed", "running");
    const c = await connectLegacy(dep);
    const got = (await c.client.callTool({ name: "env", arguments: { name: "KEYED_SECRET" } })).content as {
      text: string;
    }[];
    expect(got[0]?.text).toBe("keyed-value-01");
    await c.close();
    expect((await cli(["keys", "generate"], env)).out).toMatch(/^[A-Za-z0-9_-]{43}=$/);
  });

  test("exit codes: unreachable server 6, bad token 4, unknown deployment 3", async () => {
    expect((await cli(["ls"], { CATWALK_SERVER: "http://127.0.0.1:1", CATWALK_TOKEN: "x" })).code).toBe(6);
    expect((await cli(["ls"], { CATWALK_SERVER: srv.url, CATWALK_TOKEN: "cwadm_nope" })).code).toBe(4);
    expect((await cli(["show", "never-was"], env)).code).toBe(3);
  });

  test("keys rotate --offline refuses while the server runs on that data dir", async () => {
    const res = await cli(["keys", "rotate", "--offline", "--data-dir", srv.dataDir], {});
    expect(res.code).toBe(2);
    expect(res.err).toContain("A server is running");
    expect(existsSync(join(srv.dataDir, "master.key"))).toBe(true);
  });
});
