import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { FAST_TIMING, type TestPool, type TestRuntime, testRuntime } from "../../../test/helpers/local.ts";
import { fixtureSpec, rpc, toolText } from "../../../test/helpers/upstream.ts";
import { CapacityError, UpstreamUnavailableError } from "../errors.ts";
import type { Upstream } from "../types.ts";
import { isRunning } from "./proc.ts";

let rt: TestRuntime;
const pools: TestPool[] = [];

beforeAll(() => {
  rt = testRuntime({ "local.startTimeoutMs": 10_000 });
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});
afterAll(() => rt.close());

function pool(...args: Parameters<TestRuntime["pool"]>): TestPool {
  const p = rt.pool(...args);
  pools.push(p);
  return p;
}

async function pidOf(up: Upstream, client = rpc(up.channel)): Promise<number> {
  return Number(toolText(await client.call("tools/call", { name: "pid", arguments: {} })));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe("local pool", () => {
  test("start() reaches running with a warm child that acquire() hands over without a new spawn", async () => {
    const p = pool(fixtureSpec("echo-server.ts"));
    p.start();
    await p.until(() => p.state().state === "running", 10_000, "running");
    const warmPid = p.spawned()[0];
    expect(p.spawned()).toHaveLength(1);

    const up = await p.acquire();
    expect(up.init.serverInfo.name).toBe("echo-fixture");
    expect(await pidOf(up)).toBe(warmPid as number);
    // The taken warm child is replaced in the background for the next session.
    await p.until(
      () => p.spawned().length === 2 && p.lifecycle().filter((l) => l.startsWith("ready")).length === 2,
    );
    await up.release();
  });

  test("an upstream answers tools/list and tools/call over its channel", async () => {
    const p = pool(fixtureSpec("echo-server.ts"), { warm: false });
    p.start();
    const up = await p.acquire();
    const client = rpc(up.channel);
    const list = await client.call("tools/list");
    const names = ("result" in list ? (list.result.tools as { name: string }[]) : []).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["echo", "env", "pid", "sleep", "exit"]));
    expect(toolText(await client.call("tools/call", { name: "echo", arguments: { text: "hi" } }))).toBe("hi");
    await up.release();
  });

  test("a child sees its deployment's env and minimal PATH/HOME, never the server's environment", async () => {
    process.env.CATWALK_MASTER_KEY = "server-master-key-must-not-leak";
    process.env.CATWALK_TEST_HOST_ONLY = "host-only";
    try {
      const p = pool(fixtureSpec("echo-server.ts"), {
        env: { FIXTURE_TOKEN: "tok-123" },
        deploymentId: "dep_env",
      });
      p.start();
      const up = await p.acquire();
      const client = rpc(up.channel);
      const env = async (name: string) =>
        toolText(await client.call("tools/call", { name: "env", arguments: { name } }));
      expect(await env("FIXTURE_TOKEN")).toBe("tok-123");
      expect(await env("CATWALK_MASTER_KEY")).toBe("<unset>");
      expect(await env("CATWALK_TEST_HOST_ONLY")).toBe("<unset>");
      expect(await env("HOME")).toBe(join(rt.dataDir, "homes", "dep_env"));
      expect(await env("LANG")).toBe("C.UTF-8");
      expect((await env("PATH")).split(":")).toEqual(expect.arrayContaining(["/usr/bin", "/bin"]));
      await up.release();
    } finally {
      delete process.env.CATWALK_MASTER_KEY;
      delete process.env.CATWALK_TEST_HOST_ONLY;
    }
  });

  test("a crash loop ends failed with the child's stderr as reason and stops spawning", async () => {
    const p = pool(fixtureSpec("crash-server.ts"));
    p.start();
    await p.until(() => p.state().state === "failed", 10_000, "failed");
    const state = p.state();
    expect(state.reason).toContain("fatal: FIXTURE_API_KEY is not set");
    expect(p.spawned()).toHaveLength(FAST_TIMING.maxFailures);
    expect(p.states.map((s) => s.state)).toContain("crashed");

    // No CPU burn: nothing is spawned while failed, well past the longest backoff.
    await Bun.sleep(FAST_TIMING.backoffMaxMs * 2);
    expect(p.spawned()).toHaveLength(FAST_TIMING.maxFailures);
    expect(p.state().children).toBe(0);

    const err = await rejection(p.acquire());
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect((err as UpstreamUnavailableError).state).toBe("failed");
    expect((err as UpstreamUnavailableError).status).toBe(503);
    expect((err as UpstreamUnavailableError).message).toContain("FIXTURE_API_KEY");
    expect(await rejection(p.shared())).toBeInstanceOf(UpstreamUnavailableError);

    // start() tries again from a clean slate.
    p.start();
    await p.until(() => p.spawned().length > FAST_TIMING.maxFailures, 5000, "a new spawn");
    await p.until(() => p.state().state === "failed", 10_000, "failed again");
  });

  test("a failed first start makes acquire fail fast with the reason instead of waiting", async () => {
    const p = pool(fixtureSpec("crash-server.ts", "missing SOMETHING_ELSE"));
    p.start();
    const err = await rejection(p.acquire());
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect((err as UpstreamUnavailableError).reason).toContain("fatal: missing SOMETHING_ELSE");
  });

  test("a killed shared child is restarted and re-initialized, and shared() returns the new upstream", async () => {
    const p = pool(fixtureSpec("echo-server.ts"), { warm: false });
    p.start();
    const first = await p.shared();
    expect(await p.shared()).toBe(first);
    const client = rpc(first.channel);
    const oldPid = await pidOf(first, client);

    process.kill(oldPid, "SIGKILL");
    const reason = await client.closed;
    expect(reason.signal).toBe("SIGKILL");
    await p.until(() => p.states.some((s) => s.state === "crashed"), 5000, "crashed");
    await p.until(() => p.state().state === "running" && p.state().restarts === 1, 10_000, "restarted");

    const second = await p.shared();
    expect(second).not.toBe(first);
    const newPid = await pidOf(second);
    expect(newPid).not.toBe(oldPid);
    expect(isRunning(oldPid)).toBe(false);
    expect(p.lifecycle().filter((l) => l.startsWith("ready pid"))).toHaveLength(2);
    expect(p.lifecycle().some((l) => l.startsWith(`exited pid ${oldPid}`))).toBe(true);
  });

  test("shared() adopts the warm child instead of starting a cold one", async () => {
    const p = pool(fixtureSpec("echo-server.ts"));
    p.start();
    await p.until(() => p.state().state === "running");
    const warmPid = p.spawned()[0];
    const shared = await p.shared();
    expect(await pidOf(shared)).toBe(warmPid as number);
  });

  test("a server that never answers initialize fails its handshake within the start timeout", async () => {
    const local = testRuntime({ "local.startTimeoutMs": 300 });
    try {
      const p = local.pool(fixtureSpec("silent-server.ts"));
      p.start();
      const err = await rejection(p.acquire());
      expect(err).toBeInstanceOf(UpstreamUnavailableError);
      const { reason } = err as UpstreamUnavailableError;
      expect(reason).toContain("did not answer initialize within 300 ms");
      expect(reason).toContain("silent-fixture up, ignoring stdin");
      const pid = p.spawned()[0] as number;
      await p.stop();
      expect(isRunning(pid)).toBe(false);
    } finally {
      await local.close();
    }
  });

  test("more children than maxChildren is a CapacityError until one is released", async () => {
    const p = pool(fixtureSpec("echo-server.ts"), { maxChildren: 2 });
    p.start();
    const a = await p.acquire();
    const b = await p.acquire();
    expect(p.state().children).toBe(2);
    const err = await rejection(p.acquire());
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as CapacityError).status).toBe(503);
    expect((err as CapacityError).hint).toContain("local.maxChildren");

    await a.release();
    const c = await p.acquire();
    expect(p.state().children).toBeLessThanOrEqual(2);
    await Promise.all([b.release(), c.release()]);
  });

  test("release() of a dedicated upstream ends its child, the pool keeps running", async () => {
    const p = pool(fixtureSpec("echo-server.ts"), { warm: false });
    p.start();
    const up = await p.acquire();
    const pid = await pidOf(up);
    await up.release();
    expect(isRunning(pid)).toBe(false);
    expect(p.state()).toMatchObject({ state: "running", children: 0 });
    expect(p.lifecycle().some((l) => l.startsWith(`stopped pid ${pid}`))).toBe(true);
  });

  test("stop() leaves no process behind, grandchildren included, and is idempotent", async () => {
    const p = pool(fixtureSpec("grandchild-server.ts"));
    p.start();
    const dedicated = await p.acquire();
    await p.shared();
    await p.until(() => p.state().children === 3, 10_000, "three children");
    await p.until(() => p.stderr().filter((l) => l.startsWith("grandchild pid")).length === 3);
    const pids = p.spawned();
    const grandchildren = p
      .stderr()
      .flatMap((l) => (l.startsWith("grandchild pid") ? [Number(l.slice(15))] : []));
    expect([...pids, ...grandchildren].every(isRunning)).toBe(true);

    await p.stop();
    expect(pids.filter(isRunning)).toEqual([]);
    expect(grandchildren.filter(isRunning)).toEqual([]);
    expect(p.state()).toMatchObject({ state: "stopped", children: 0 });
    expect(dedicated.channel.closed).toBe(true);
    await p.stop();
    const err = await rejection(p.acquire());
    expect((err as UpstreamUnavailableError).state).toBe("stopped");
  });

  test("non-JSON lines on stdout are skipped and noted, the server still works", async () => {
    const p = pool(fixtureSpec("garbage-server.ts"), { warm: false });
    p.start();
    const up = await p.acquire();
    expect(
      toolText(await rpc(up.channel).call("tools/call", { name: "echo", arguments: { text: "ok" } })),
    ).toBe("ok");
    const notes = p.lifecycle().filter((l) => l.startsWith("skipped a stdout line"));
    expect(notes).toHaveLength(3);
    expect(notes[0]).toContain("Starting garbage-fixture");
    await up.release();
  });

  test("a command that does not exist fails the pool with a reason naming it", async () => {
    const p = pool({ kind: "command", command: "catwalk-no-such-command-xyz", args: [] });
    p.start();
    await p.until(() => p.state().state === "failed");
    expect(p.state().reason).toContain("catwalk-no-such-command-xyz was not found");
    expect(p.spawned()).toHaveLength(0);
  });

  test("a child dying mid-session is reported to the session and counted as a crash", async () => {
    const p = pool(fixtureSpec("echo-server.ts"), { warm: false });
    p.start();
    const up = await p.acquire();
    const client = rpc(up.channel);
    client.call("tools/call", { name: "exit", arguments: { code: 7 } }).catch(() => {});
    const reason = await client.closed;
    expect(reason).toMatchObject({ kind: "exited", code: 7 });
    await p.until(() => p.states.some((s) => s.state === "crashed"), 5000, "crashed");
    expect(p.state().reason ?? p.states.find((s) => s.state === "crashed")?.reason).toContain(
      "exited with code 7",
    );
    // After the backoff a new session gets a fresh child.
    const next = await p.acquire();
    expect(await pidOf(next)).toBeGreaterThan(0);
    await next.release();
  });
});

describe("runtime shutdown", () => {
  test("closing the runtime stops every pool it made, leaving no process", async () => {
    const local = testRuntime();
    const a = local.pool(fixtureSpec("echo-server.ts"));
    const b = local.pool(fixtureSpec("grandchild-server.ts"), { warm: false });
    a.start();
    b.start();
    const up = await b.acquire();
    await a.until(() => a.state().state === "running");
    const pids = [...a.spawned(), ...b.spawned()];
    expect(pids.length).toBeGreaterThanOrEqual(2);
    await local.close();
    expect(pids.filter(isRunning)).toEqual([]);
    expect([a.state().state, b.state().state]).toEqual(["stopped", "stopped"]);
    expect(up.channel.closed).toBe(true);
  });
});

describe("crash accounting", () => {
  test("sustained uptime resets the crash count, so the next crash backs off from the start again", async () => {
    const local = testRuntime({}, { sustainedUptimeMs: 400 });
    try {
      const p = local.pool(fixtureSpec("echo-server.ts"), { warm: false });
      p.start();
      const crash = async () => {
        const up = await p.acquire();
        const client = rpc(up.channel);
        client.call("tools/call", { name: "exit", arguments: { code: 1 } }).catch(() => {});
        await client.closed;
      };
      await crash();
      await p.until(() => p.lifecycle().includes("restarting in 50ms (crash 1 of 4)"), 5000, "first crash");
      await crash();
      await p.until(() => p.lifecycle().includes("restarting in 100ms (crash 2 of 4)"), 5000, "second crash");
      const survivor = await p.acquire();
      await p.until(() => p.lifecycle().some((l) => l.endsWith("crash count reset")), 5000, "reset");
      await survivor.release();
      await crash();
      await p.until(
        () => p.lifecycle().filter((l) => l.includes("(crash 1 of 4)")).length === 2,
        5000,
        "reset crash",
      );
      expect(p.state().state).not.toBe("failed");
    } finally {
      await local.close();
    }
  });
});

describe("the real server-everything through a command spec", () => {
  test("handshakes and lists its tools", async () => {
    const bin = join(
      import.meta.dir,
      "../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js",
    );
    const node = Bun.which("node") ?? process.execPath;
    const p = pool({ kind: "command", command: node, args: [bin, "stdio"] }, { warm: false });
    p.start();
    const up = await p.acquire();
    expect(up.init.serverInfo.name).toContain("everything");
    const list = await rpc(up.channel).call("tools/list");
    const names = ("result" in list ? (list.result.tools as { name: string }[]) : []).map((t) => t.name);
    expect(names).toContain("echo");
    expect(names.length).toBeGreaterThan(3);
    await up.release();
  });
});
