/**
 * The Fly runtime end to end: a real Catwalk server places deployments through the fake Machines
 * API; every Machine runs a real `catwalk bridge` process (from source) with the real
 * `@modelcontextprotocol/server-everything` from the npm registry, and the gateway reaches it
 * through the fake Fly Proxy. Needs the public npm registry (like local-npm.e2e.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { MachineConfig } from "../../src/runtime/fly/types.ts";
import { cli } from "../helpers/cli.ts";
import { bootProcesses, type FlyWorld, startFlyWorld } from "../helpers/fly.ts";
import { connectLegacy, type Deployed } from "../helpers/mcp.ts";
import { alive, procState } from "../helpers/proc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const PACKAGE = "npm:@modelcontextprotocol/server-everything";

let world: FlyWorld;
let srv: TestServer;

beforeAll(async () => {
  world = await startFlyWorld();
  srv = await startTestServer({ env: world.env });
}, 30_000);

afterAll(async () => {
  await srv?.close();
  // Stopping the fake stops every Machine's runner the way Fly does (SIGTERM): no process may stay.
  expect(await world?.close()).toEqual([]);
}, 30_000);

interface Info {
  id: string;
  slug: string;
  state: string;
  desiredState: string;
  stateReason: string | null;
  url: string;
}

async function info(s: TestServer, id: string): Promise<Info> {
  return (await (await s.api(`/api/deployments/${id}`)).json()) as Info;
}

/** Waits until the deployment is in `state` (or, with `settled`, in any final state). */
async function until(
  s: TestServer,
  id: string,
  want: (i: Info) => boolean,
  timeoutMs = 90_000,
): Promise<Info> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = await info(s, id);
    if (want(i)) return i;
    if (Date.now() > deadline) throw new Error(`deployment ${i.slug} stuck in ${i.state}: ${i.stateReason}`);
    await Bun.sleep(100);
  }
}

const settled = (i: Info) => i.state === "running" || i.state === "failed";

async function create(s: TestServer, body: Record<string, unknown>): Promise<Deployed> {
  const res = await s.api("/api/deployments", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ source: PACKAGE, args: ["stdio"], runtime: "fly", ...body }),
  });
  const created = (await res.json()) as Deployed;
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(created)}`);
  return created;
}

async function deployFly(s: TestServer, body: Record<string, unknown> = {}): Promise<Deployed> {
  const created = await create(s, body);
  const done = await until(s, created.id, settled);
  if (done.state !== "running") throw new Error(`deployment failed: ${done.stateReason}`);
  return created;
}

function appOf(id: string): string {
  const app = world.fake
    .appNames()
    .find((a) => world.fake.machines(a).some((m) => m.config.metadata?.catwalk_deployment === id));
  if (!app) throw new Error(`no Fly app for ${id}`);
  return app;
}

function machineOf(id: string) {
  const app = appOf(id);
  const m = world.fake.machines(app).find((x) => x.state !== "destroyed");
  if (!m) throw new Error(`no live Machine in ${app}`);
  return { app, machine: m };
}

async function machineState(app: string, id: string, want: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (world.fake.machine(app, id)?.state !== want) {
    if (Date.now() > deadline)
      throw new Error(`Machine ${id} is ${world.fake.machine(app, id)?.state}, not ${want}`);
    await Bun.sleep(20);
  }
}

const text = (r: unknown) =>
  (r as { content: { type: string; text?: string }[] }).content
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");

async function echo(dep: Pick<Deployed, "url" | "token">, message: string): Promise<string> {
  const c = await connectLegacy(dep);
  try {
    return text(await c.client.callTool({ name: "echo", arguments: { message } }));
  } finally {
    await c.close();
  }
}

async function envOf(dep: Pick<Deployed, "url" | "token">): Promise<Record<string, string>> {
  const c = await connectLegacy(dep);
  try {
    return JSON.parse(text(await c.client.callTool({ name: "get-env", arguments: {} })));
  } finally {
    await c.close();
  }
}

async function remove(s: TestServer, id: string): Promise<void> {
  const res = await s.api(`/api/deployments/${id}`, { method: "DELETE" });
  expect(res.status).toBe(200);
}

async function logLines(s: TestServer, id: string): Promise<{ stream: string; line: string }[]> {
  const res = await s.api(`/api/deployments/${id}/logs?tail=1000`);
  return ((await res.json()) as { lines: { stream: string; line: string }[] }).lines;
}

/** Waits until a line containing `text` is in the deployment's log. */
async function logged(s: TestServer, id: string, text: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await logLines(s, id)).some((l) => l.line.includes(text))) {
    if (Date.now() > deadline) {
      const lines = (await logLines(s, id)).map((l) => `${l.stream}: ${l.line}`).join("\n");
      throw new Error(`no log line with ${JSON.stringify(text)}:\n${lines}`);
    }
    await Bun.sleep(100);
  }
}

function injectAndCount(since: number, action: string): number[] {
  return world.fake.requests
    .slice(since)
    .filter((r) => r.action === action)
    .map((r) => r.status);
}

describe("Fly runtime end to end", () => {
  test("deploy, call tools through /mcp/<slug>, wake a suspended Machine, rotate credentials, destroy", async () => {
    const dep = await deployFly(srv, { name: "everything", env: { DEMO_API_KEY: "sk-first-secret-value" } });
    const { app, machine } = machineOf(dep.id);
    const bridge = world.bridges.get(machine.id);
    if (!bridge) throw new Error("no bridge process for the Machine");

    // Placement: own network, app secrets, shared IPv4 + IPv6, one Machine with the package pinned.
    const config = machine.config as MachineConfig;
    expect(config.init?.cmd?.[0]).toBe("--package");
    expect(config.init?.cmd?.[1]).toMatch(/^npm:@modelcontextprotocol\/server-everything@\d+\.\d+\.\d+$/);
    expect(config.services?.[0]).toMatchObject({ autostart: true, autostop: "suspend" });
    expect(Object.keys(world.fake.secretValues(app)).sort()).toEqual([
      "CATWALK_BRIDGE_SECRET",
      "DEMO_API_KEY",
    ]);
    expect(
      world.fake
        .ips(app)
        .map((ip) => (ip.shared ? "shared_v4" : "v6"))
        .sort(),
    ).toEqual(["shared_v4", "v6"]);

    // Tools through the gateway, as an SDK client sees them; the server gets the app secrets.
    const c = await connectLegacy(dep);
    const tools = (await c.client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain("echo");
    expect(text(await c.client.callTool({ name: "echo", arguments: { message: "hello fly" } }))).toContain(
      "hello fly",
    );
    const env = JSON.parse(text(await c.client.callTool({ name: "get-env", arguments: {} })));
    expect(env.DEMO_API_KEY).toBe("sk-first-secret-value");
    expect(Object.keys(env).filter((k) => k.startsWith("CATWALK_"))).toEqual([]);
    await c.close();

    // Every request went to this Machine (fly-force-instance-id).
    const proxied = world.proxy.requests.filter((r) => r.app === app);
    expect(proxied.length).toBeGreaterThan(0);
    expect(proxied.every((r) => r.machineId === machine.id)).toBe(true);

    // The child's stderr reaches the deployment's log through Fly's log API.
    await logged(srv, dep.id, "Starting default (STDIO) server");

    // Suspend (what Fly Proxy does when idle): the runner is frozen, memory kept.
    world.fake.autostop(app, machine.id);
    await machineState(app, machine.id, "suspended");
    const frozen = Date.now() + 5_000;
    while (procState(bridge.pid) !== "T" && Date.now() < frozen) await Bun.sleep(10);
    expect(procState(bridge.pid)).toBe("T"); // stopped by SIGSTOP, memory kept
    const before = world.proxy.requests.length;
    expect(await echo(dep, "after suspend")).toContain("after suspend");
    expect(world.proxy.requests.slice(before).some((r) => r.woke)).toBe(true);
    expect(world.fake.machine(app, machine.id)?.state).toBe("started");
    expect(world.bridges.get(machine.id)?.pid).toBe(bridge.pid); // resumed, not booted again

    // Rotate credentials: a new secrets version and a Machine update that requires it.
    const res = await srv.api(`/api/deployments/${dep.id}/env`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ set: { DEMO_API_KEY: "sk-second-secret-value" } }),
    });
    expect(res.status).toBe(200);
    await until(srv, dep.id, settled);
    expect((await info(srv, dep.id)).state).toBe("running");
    const versions = world.fake.recorded("secrets_update").filter((r) => r.path.includes(app));
    const lastVersion = versions.length;
    expect(lastVersion).toBeGreaterThanOrEqual(2);
    const update = world.fake
      .recorded("machine_update")
      .filter((r) => r.path.includes(app))
      .at(-1);
    expect(JSON.parse(update?.body ?? "{}").min_secrets_version).toBeGreaterThanOrEqual(2);
    expect(world.fake.secretValues(app).DEMO_API_KEY).toBe("sk-second-secret-value");
    expect((await envOf(dep)).DEMO_API_KEY).toBe("sk-second-secret-value");
    expect(machineOf(dep.id).machine.id).toBe(machine.id);

    // No secret ever travelled in a Machine config.
    const secrets = [
      "sk-first-secret-value",
      "sk-second-secret-value",
      world.fake.secretValues(app).CATWALK_BRIDGE_SECRET,
    ];
    const configs = world.fake.requests.filter(
      (r) => r.action === "machine_create" || r.action === "machine_update",
    );
    expect(configs.length).toBeGreaterThanOrEqual(2);
    for (const r of configs) for (const s of secrets) expect(r.body).not.toContain(s as string);
    for (const s of secrets) expect(JSON.stringify(world.fake.machines(app))).not.toContain(s as string);

    // Destroy: the app goes with everything in it, and the runner and its servers with it.
    const running = () => world.all.filter((b) => b.app === app).flatMap((b) => bootProcesses(b.boot));
    expect(running().length).toBeGreaterThan(1); // the runner and its MCP server child(ren)
    await remove(srv, dep.id);
    expect(world.fake.hasApp(app)).toBe(false);
    expect(running()).toEqual([]);
    expect(world.orphans).toEqual([]);
  }, 180_000);

  test("429, insufficient capacity and 408 on wait end in a running deployment in the fallback region", async () => {
    const since = world.fake.requests.length;
    world.fake.inject({ kind: "rate_limit", action: "app_create", times: 1, retryAfter: 0 });
    world.fake.inject({ kind: "rate_limit", action: "machine_create", times: 1, retryAfter: 0 });
    world.fake.inject({ kind: "capacity", region: "iad", times: 1 });
    world.fake.inject({ kind: "wait_timeout", times: 2 });
    const dep = await deployFly(srv, { name: "faults" });
    expect(injectAndCount(since, "app_create")).toEqual([429, 201]);
    expect(injectAndCount(since, "machine_create")).toEqual([429, 503, 200]);
    expect(injectAndCount(since, "machine_wait").slice(0, 2)).toEqual([408, 408]);
    const { machine } = machineOf(dep.id);
    expect(machine.region).toBe("ams");
    expect(await echo(dep, "despite faults")).toContain("despite faults");
    await remove(srv, dep.id);
  }, 120_000);

  test("412 on stop and start: the Machine is looked at, the action retried, the deployment stops and starts", async () => {
    const dep = await deployFly(srv, { name: "states" });
    const { app, machine } = machineOf(dep.id);
    world.fake.inject({ kind: "wrong_state", action: "machine_stop", times: 1 });
    let since = world.fake.requests.length;
    const stopped = (await (
      await srv.api(`/api/deployments/${dep.id}/stop`, { method: "POST" })
    ).json()) as Info;
    expect(stopped.state).toBe("stopped");
    expect(injectAndCount(since, "machine_stop")).toEqual([412, 200]);
    expect(stopped.stateReason).toBeNull();
    expect(world.fake.machine(app, machine.id)?.state).toBe("stopped");
    expect(alive(world.bridges.get(machine.id)?.pid ?? 0)).toBe(false);
    // A stopped deployment refuses sessions at the gateway, whatever Fly would do.
    await expect(echo(dep, "while stopped")).rejects.toThrow();

    world.fake.inject({ kind: "wrong_state", action: "machine_start", times: 1 });
    since = world.fake.requests.length;
    const res = await srv.api(`/api/deployments/${dep.id}/start`, { method: "POST" });
    expect(res.status).toBe(200);
    await until(srv, dep.id, settled);
    expect((await info(srv, dep.id)).state).toBe("running");
    expect(injectAndCount(since, "machine_start")).toEqual([412, 200]);
    await machineState(app, machine.id, "started");
    expect(await echo(dep, "started again")).toContain("started again");
    await remove(srv, dep.id);
  }, 120_000);

  test("an operator restart stops and starts the Machine, so the server inside it starts afresh", async () => {
    const dep = await deployFly(srv, { name: "afresh" });
    const { app, machine } = machineOf(dep.id);
    expect(await echo(dep, "before")).toContain("before");
    const before = world.bridges.get(machine.id)?.pid ?? 0;
    expect(alive(before)).toBe(true);
    const since = world.fake.requests.length;
    const res = await srv.api(`/api/deployments/${dep.id}/restart`, { method: "POST" });
    expect(res.status).toBe(200);
    await until(srv, dep.id, settled);
    expect((await info(srv, dep.id)).state).toBe("running");
    expect(injectAndCount(since, "machine_stop")).toEqual([200]);
    expect(injectAndCount(since, "machine_start")).toEqual([200]);
    await machineState(app, machine.id, "started");
    expect(alive(before)).toBe(false);
    const after = world.bridges.get(machine.id)?.pid ?? 0;
    expect(after).not.toBe(before);
    expect(await echo(dep, "after")).toContain("after");
    // The same Machine: a restart is not a new placement.
    expect(machineOf(dep.id).machine.id).toBe(machine.id);
    await remove(srv, dep.id);
  }, 120_000);

  test("a Machine that dies or disappears is found by the reconciler and placed again", async () => {
    const dep = await deployFly(srv, { name: "phoenix" });
    const { app, machine } = machineOf(dep.id);
    const bridge = world.bridges.get(machine.id);
    if (!bridge) throw new Error("no bridge");

    // The runner dies; with no restarts left the Machine stays stopped.
    process.kill(bridge.pid, "SIGKILL");
    await machineState(app, machine.id, "stopped");
    await srv.running.services.manager.reconcile();
    await until(
      srv,
      dep.id,
      (i) => i.state === "running" && world.fake.machine(app, machine.id)?.state === "started",
    );
    const lines = (await logLines(srv, dep.id)).map((l) => l.line);
    expect(lines.some((l) => l.includes("exited with code 137") && l.includes("placing it again"))).toBe(
      true,
    );
    expect(await echo(dep, "back from the dead")).toContain("back from the dead");

    // Someone destroys the Machine behind Catwalk's back: a new one is created.
    const del = await fetch(`${world.fake.url}/v1/apps/${app}/machines/${machine.id}?force=true`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${world.fake.token}` },
    });
    expect(del.status).toBe(200);
    await machineState(app, machine.id, "destroyed");
    await srv.running.services.manager.reconcile();
    const deadline = Date.now() + 30_000;
    let replacement: string | undefined;
    while (!replacement || world.fake.machine(app, replacement)?.state !== "started") {
      if (Date.now() > deadline) throw new Error("no replacement Machine");
      replacement = world.fake.machines(app).find((m) => m.state !== "destroyed")?.id;
      await Bun.sleep(50);
    }
    expect(replacement).not.toBe(machine.id);
    await until(srv, dep.id, (i) => i.state === "running");
    expect(await echo(dep, "replaced")).toContain("replaced");
    await remove(srv, dep.id);
  }, 120_000);

  test("failures that retries cannot fix end as a clear error on the deployment", async () => {
    world.fake.inject({ kind: "capacity", region: "iad", times: 1 });
    world.fake.inject({ kind: "capacity", region: "ams", times: 1 });
    const full = await create(srv, { name: "no-room" });
    const failed = await until(srv, full.id, settled);
    expect(failed.state).toBe("failed");
    expect(failed.stateReason).toContain("No Fly region has capacity");
    await remove(srv, full.id);

    world.fake.inject({ kind: "crash_on_start", times: 1, exitCode: 3 });
    const crashing = await create(srv, { name: "crashing" });
    const dead = await until(srv, crashing.id, settled);
    expect(dead.state).toBe("failed");
    expect(dead.stateReason).toContain("exited with code 3");
    await remove(srv, crashing.id);

    // The Machine runs, but the MCP server in it cannot start: the runner's health check says so.
    const broken = await create(srv, { name: "broken", args: ["no-such-transport"] });
    const gaveUp = await until(srv, broken.id, settled);
    expect(gaveUp.state).toBe("failed");
    expect(gaveUp.stateReason).toContain("could not start");
    await logged(srv, broken.id, "Unknown transport: no-such-transport");
    await remove(srv, broken.id);
  }, 120_000);

  test("catwalk fly gc lists orphaned apps and deletes them only with --yes", async () => {
    const dep = await deployFly(srv, { name: "kept" });
    const stray = "catwalk-stray-000000";
    const made = await fetch(`${world.fake.url}/v1/apps`, {
      method: "POST",
      headers: { authorization: `Bearer ${world.fake.token}`, "content-type": "application/json" },
      body: JSON.stringify({ app_name: stray, org_slug: "personal" }),
    });
    expect(made.status).toBe(201);
    const args = ["--server", srv.url, "--token", srv.token];

    const listed = await cli(["fly", "gc", "--json", ...args]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toEqual({ orphaned: [stray], deleted: [] });
    expect(world.fake.hasApp(stray)).toBe(true);

    const deleted = await cli(["fly", "gc", "--yes", ...args]);
    expect(deleted.code).toBe(0);
    expect(deleted.out).toContain(`${stray}  deleted`);
    expect(world.fake.hasApp(stray)).toBe(false);
    expect(world.fake.hasApp(appOf(dep.id))).toBe(true);
    await remove(srv, dep.id);
    expect(world.fake.appNames()).toEqual([]);
  }, 120_000);
});

describe("Fly runtime and the server's life", () => {
  test("a server restart leaves the Machines alone and serves them again", async () => {
    const first = await startTestServer({ env: world.env });
    const dataDir = first.dataDir;
    const dep = await deployFly(first, { name: "survivor" });
    const { app, machine } = machineOf(dep.id);
    const pid = world.bridges.get(machine.id)?.pid ?? 0;
    await first.close();
    const since = world.fake.requests.length;
    const second = await startTestServer({ env: world.env, dataDir });
    try {
      await until(second, dep.id, settled);
      expect((await info(second, dep.id)).state).toBe("running");
      const mutations = world.fake.requests.slice(since).filter((r) => r.method !== "GET");
      expect(mutations.map((r) => r.action)).toEqual([]);
      expect(world.fake.requests.slice(since).length).toBeGreaterThan(0); // it did look
      expect(world.fake.machine(app, machine.id)?.state).toBe("started");
      expect(world.bridges.get(machine.id)?.pid).toBe(pid);
      const url = `${second.url}/mcp/${dep.slug}`;
      expect(await echo({ url, token: dep.token }, "still here")).toContain("still here");
      await remove(second, dep.id);
      expect(world.fake.hasApp(app)).toBe(false);
    } finally {
      await second.close();
    }
  }, 120_000);

  test("a placement that failed for want of capacity is tried again by the reconciler once its wait is over; one that needs a fix is not", async () => {
    const s = await startTestServer({ env: { ...world.env, CATWALK_FLY_PLACEMENT_RETRY_MS: "1000" } });
    try {
      world.fake.inject({ kind: "capacity", region: "iad", times: 1 });
      world.fake.inject({ kind: "capacity", region: "ams", times: 1 });
      const dep = await create(s, { name: "later" });
      const failed = await until(s, dep.id, settled);
      expect(failed.state).toBe("failed");
      expect(failed.stateReason).toContain("No Fly region has capacity");
      expect(failed.stateReason).toContain("Catwalk tries again in 1 s.");
      // Not due yet: the reconciler leaves it.
      await s.running.services.manager.reconcile();
      expect((await info(s, dep.id)).state).toBe("failed");
      await Bun.sleep(1100);
      await s.running.services.manager.reconcile();
      const back = await until(s, dep.id, (i) => i.state === "running", 60_000);
      expect(back.stateReason).toBeNull();
      await logged(s, dep.id, "placing it again after: No Fly region has capacity");
      expect(await echo({ url: `${s.url}/mcp/${dep.slug}`, token: dep.token }, "second round")).toContain(
        "second round",
      );
      await remove(s, dep.id);

      world.fake.inject({ kind: "crash_on_start", times: 1, exitCode: 3 });
      const crashing = await create(s, { name: "needs-a-fix" });
      const dead = await until(s, crashing.id, settled);
      expect(dead.state).toBe("failed");
      expect(dead.stateReason).not.toContain("tries again");
      await Bun.sleep(1100);
      await s.running.services.manager.reconcile();
      expect((await info(s, crashing.id)).state).toBe("failed");
      await remove(s, crashing.id);
    } finally {
      await s.close();
    }
  }, 120_000);

  test("--runtime fly without a Fly token is refused when the deployment is created", async () => {
    const bare = await startTestServer({});
    try {
      const res = await bare.api("/api/deployments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ source: PACKAGE, runtime: "fly" }),
      });
      expect(res.status).toBe(422);
      const body = (await res.json()) as { error: { code: string; hint: string } };
      expect(body.error.code).toBe("fly.not_configured");
      expect(body.error.hint).toContain("CATWALK_FLY_API_TOKEN");
      const list = (await (await bare.api("/api/deployments")).json()) as { deployments: unknown[] };
      expect(list.deployments).toEqual([]);
    } finally {
      await bare.close();
    }
  }, 60_000);
});
