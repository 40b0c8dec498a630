/**
 * `local.sandbox = "bwrap"`: a deployed server runs inside bubblewrap and cannot read catwalk's
 * data dir (master key, database, admin token, other deployments' homes), see catwalk's or other
 * servers' processes, while it still gets its credentials, its own writable
 * home, and works through the gateway. bubblewrap comes from Debian's package (`.ci/run`
 * installs it); without it these tests are skipped, saying so.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testRuntime } from "../helpers/local.ts";
import { connectLegacy, type Deployed, deploy } from "../helpers/mcp.ts";
import { alive, until } from "../helpers/proc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { fixtureArgv, rpc } from "../helpers/upstream.ts";

// Given to the server explicitly, so the tests run whatever PATH the test process has.
const found = Bun.which("bwrap") ?? ["/usr/bin/bwrap", "/usr/local/bin/bwrap"].find((p) => existsSync(p));
// Installed is not enough: a container may forbid the namespaces bubblewrap needs.
const works =
  found !== undefined &&
  Bun.spawnSync([found, "--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "true"]).exitCode === 0;
const bwrap = works ? found : undefined;
if (!found) console.warn("sandbox tests skipped: bubblewrap is not installed (apt-get install bubblewrap)");
else if (!works) console.warn(`sandbox tests skipped: ${found} cannot create namespaces on this host`);

/** Live processes whose environment has HOME=`home` (bubblewrap and the server inside it). */
function withHome(home: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        const env = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
        return alive(pid) && env.includes(`HOME=${home}`);
      } catch {
        return false;
      }
    });
}

const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text ?? "";

function echoCommand(): string[] {
  return fixtureArgv("echo-server.ts");
}

describe.skipIf(!bwrap)("local.sandbox bwrap", () => {
  let srv: TestServer;
  let boxed: Deployed;
  let other: Deployed;

  beforeAll(async () => {
    srv = await startTestServer({
      env: {
        CATWALK_LOCAL_ALLOW_COMMANDS: "true",
        CATWALK_LOCAL_SANDBOX: "bwrap",
        CATWALK_LOCAL_BWRAP_PATH: bwrap ?? "bwrap",
      },
    });
    boxed = await deploy(srv, { command: echoCommand(), name: "boxed", env: { SERVICE_TOKEN: "tok-123" } });
    other = await deploy(srv, { command: echoCommand(), name: "neighbour" });
  }, 60_000);
  afterAll(async () => {
    await srv?.close();
  });

  test("the server gets its credentials and works, but catwalk's data dir and other homes are out of its sight", async () => {
    const c = await connectLegacy(boxed);
    try {
      const call = async (name: string, args: Record<string, unknown>) =>
        text(await c.client.callTool({ name, arguments: args }));
      expect(await call("echo", { text: "inside" })).toBe("inside");
      expect(await call("env", { name: "SERVICE_TOKEN" })).toBe("tok-123");
      for (const secret of ["master.key", "admin-token", "catwalk.db"]) {
        expect(existsSync(join(srv.dataDir, secret))).toBe(true);
        expect(await call("read", { path: join(srv.dataDir, secret) })).toBe("error: ENOENT");
      }
      const homes = readdirSync(join(srv.dataDir, "homes"));
      expect(homes.length).toBeGreaterThanOrEqual(2);
      const neighbourHome = join(srv.dataDir, "homes", other.id);
      writeFileSync(join(neighbourHome, "private.txt"), "neighbour's");
      expect(await call("read", { path: join(neighbourHome, "private.txt") })).toBe("error: ENOENT");
      // Its own home is there and writable; what it writes is on the host.
      const ownHome = join(srv.dataDir, "homes", boxed.id);
      expect(await call("write", { path: join(ownHome, "note.txt"), text: "kept" })).toBe("ok");
      expect(await call("read", { path: join(ownHome, "note.txt") })).toBe("kept");
      // The rest of the host is readable as before.
      expect(await call("read", { path: "/etc/hostname" })).not.toStartWith("error:");
    } finally {
      await c.close();
    }
  });

  test("it has its own process namespace: it cannot see catwalk's process or read its environment", async () => {
    const c = await connectLegacy(boxed);
    try {
      const pid = Number(text(await c.client.callTool({ name: "pid", arguments: {} })));
      expect(pid).toBeLessThan(10);
      const environ = text(
        await c.client.callTool({ name: "read", arguments: { path: `/proc/${process.pid}/environ` } }),
      );
      expect(environ).toBe("error: ENOENT");
    } finally {
      await c.close();
    }
  });

  test("stopping the server leaves no sandbox or server process behind", async () => {
    const home = join(srv.dataDir, "homes", boxed.id);
    expect(withHome(home).length).toBeGreaterThanOrEqual(2); // bwrap and the server inside
    const res = await srv.api(`/api/deployments/${boxed.id}/stop`, { method: "POST" });
    expect(res.status).toBe(200);
    await res.text();
    await until(
      () => withHome(home).length === 0,
      15_000,
      "the sandboxed processes of the stopped deployment to be gone",
    );
  });
});

describe.skipIf(!bwrap)("local.sandbox bwrap without bubblewrap", () => {
  test("a deployment fails at once with the fix, instead of running unsandboxed", async () => {
    const srv = await startTestServer({
      env: {
        CATWALK_LOCAL_ALLOW_COMMANDS: "true",
        CATWALK_LOCAL_SANDBOX: "bwrap",
        CATWALK_LOCAL_BWRAP_PATH: "/nonexistent/bwrap",
      },
    });
    try {
      const res = await srv.api("/api/deployments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ command: echoCommand(), name: "unboxed" }),
      });
      const created = (await res.json()) as { id: string };
      let info: { state: string; stateReason: string | null } = { state: "", stateReason: null };
      await until(
        async () => {
          info = (await (await srv.api(`/api/deployments/${created.id}`)).json()) as typeof info;
          return info.state === "failed";
        },
        10_000,
        "the deployment to fail",
      );
      expect(info.stateReason).toContain(
        "bwrap was not found (looked in local.bwrapPath /nonexistent/bwrap)",
      );
      expect(info.stateReason).toContain("apt-get install bubblewrap");
    } finally {
      await srv.close();
    }
  });
});

describe.skipIf(!bwrap)("local.sandbox bwrap with a real npm package", () => {
  test("server-everything from the npm registry installs into the cache and runs inside the sandbox", async () => {
    const rt = testRuntime({
      "local.sandbox": "bwrap",
      "local.bwrapPath": bwrap,
      "local.startTimeoutMs": 30_000,
    });
    try {
      const { spec } = await rt.runtime.resolve("npm:@modelcontextprotocol/server-everything", {
        args: ["stdio"],
      });
      const p = rt.pool(spec, { warm: false });
      p.start();
      const up = await p.acquire();
      expect(up.init.serverInfo.name).toContain("everything");
      const list = await rpc(up.channel).call("tools/list", {}, 20_000);
      const tools = "result" in list ? (list.result.tools as { name: string }[]).map((t) => t.name) : [];
      expect(tools).toContain("echo");
      expect(up.channel.description).toMatch(/^pid \d+/);
      const pid = Number(/pid (\d+)/.exec(up.channel.description)?.[1]);
      expect(readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0")[0]).toEndWith("bwrap");
      await up.release();
      await p.stop();
    } finally {
      await rt.close();
    }
  }, 120_000);
});
