import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { FakeFlyMachines, type Fault } from "../../../test/fakes/fly-machines.ts";
import { FakeFlyProxy } from "../../../test/fakes/fly-proxy.ts";
import type { UpstreamSpec } from "../types.ts";
import {
  FlyAppNameTakenError,
  FlyCapacityError,
  FlyClient,
  FlyMachineFailedError,
  FlyNotConfiguredError,
  FlyStateError,
  FlyUnsupportedError,
} from "./client.ts";
import { appNameFor, type FlyDeploymentRef, type FlySettings, runnerCommand } from "./machine-config.ts";
import { createFlyClient, FlyPlacer, type PlaceInput, type Placement } from "./placement.ts";
import type { FlyLogEntry, MachineConfig } from "./types.ts";

let fake: FakeFlyMachines;
let proxy: FakeFlyProxy;
let settings: FlySettings;
let client: FlyClient;
let fly: FlyPlacer;

const SPEC: UpstreamSpec = {
  kind: "npm",
  package: "@acme/mcp-notes",
  version: "1.4.2",
  args: ["--readonly"],
};
let seq = 0;

function dep(slug = "notes"): FlyDeploymentRef {
  return { id: `dep_01TESTPLACEMENT${String(++seq).padStart(11, "0")}`, slug };
}

function input(d: FlyDeploymentRef, overrides: Partial<PlaceInput> = {}): PlaceInput {
  return {
    deployment: d,
    spec: SPEC,
    env: { NOTES_API_KEY: `sk-notes-${d.id}-secret`, NOTES_USER: `user-${d.id}-secret` },
    bridgeSecret: `cwbrg_bridge-${d.id}-secret`,
    ...overrides,
  };
}

function placer(overrides: Partial<FlySettings> = {}): FlyPlacer {
  return new FlyPlacer({
    client,
    settings: { ...settings, ...overrides },
    version: "9.9.9",
    waitSliceSec: 1,
  });
}

async function thrown(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

/** Calls the deployment's MCP URL through the fake Fly Proxy, as the gateway will. */
async function callMcp(p: Pick<Placement, "url" | "headers">, headers: Record<string, string> = {}) {
  const res = await fetch(p.url, { method: "POST", headers: { ...p.headers, ...headers }, body: "{}" });
  return {
    status: res.status,
    body: (await res.json().catch(() => null)) as { machine?: string; boot?: string },
  };
}

beforeAll(async () => {
  fake = await FakeFlyMachines.start({ transitionMs: 10 });
  proxy = FakeFlyProxy.start({ machines: fake, wakeDelayMs: 20 });
  settings = {
    org: "personal",
    region: "iad",
    fallbackRegions: ["ams", "fra"],
    appDomain: proxy.appDomain,
    appScheme: "http",
    appPrefix: "catwalk-",
    internalPort: 8080,
    guestCpuKind: "shared",
    guestCpus: 1,
    guestMemoryMb: 512,
    autostop: "suspend",
    maxRestarts: 2,
    startTimeoutMs: 10_000,
  };
  client = new FlyClient({
    apiUrl: fake.url,
    logsApiUrl: fake.url,
    token: `FlyV1 ${fake.token}`,
    backoffMs: { base: 5, max: 20 },
    rates: { action: { perSecond: 100, burst: 20 }, getMachine: { perSecond: 100, burst: 20 } },
  });
  fly = placer();
});
afterAll(async () => {
  proxy.close();
  await fake.close();
});
beforeEach(() => {
  fake.requests.length = 0;
});

describe("place", () => {
  test("creates the app, secrets, IPs and a started Machine configured for the deployment", async () => {
    const d = dep();
    const placed = await fly.place(input(d));
    const app = appNameFor("catwalk-", d);
    expect(placed.app).toBe(app);
    expect(placed.state).toBe("started");

    const created = JSON.parse(fake.recorded("app_create")[0]?.body ?? "{}") as Record<string, string>;
    expect(created).toEqual({ app_name: app, org_slug: "personal", network: app });
    expect(fake.secretValues(app)).toEqual({ ...input(d).env, CATWALK_BRIDGE_SECRET: input(d).bridgeSecret });
    expect(
      fake
        .ips(app)
        .map((ip) => (ip.shared ? "shared_v4" : "v6"))
        .sort(),
    ).toEqual(["shared_v4", "v6"]);

    const [m] = fake.machines(app);
    expect(m?.id).toBe(placed.machineId);
    expect(m?.region).toBe("iad");
    const config = m?.config as MachineConfig;
    expect(config.image).toBe("ghcr.io/catwalk-mcp/catwalk-runner:9.9.9");
    expect(config.init?.cmd).toEqual(["--package", "npm:@acme/mcp-notes@1.4.2", "--", "--readonly"]);
    expect(config.guest).toEqual({ cpu_kind: "shared", cpus: 1, memory_mb: 512 });
    expect(config.restart).toEqual({ policy: "on-failure", max_retries: 2 });
    expect(config.env).toEqual({ CATWALK_HOST: "0.0.0.0", CATWALK_PORT: "8080", CATWALK_DEPLOYMENT: d.id });
    const [service] = config.services ?? [];
    expect(service).toMatchObject({
      internal_port: 8080,
      autostart: true,
      autostop: "suspend",
      min_machines_running: 0,
      checks: [{ type: "http", port: 8080, method: "GET", path: "/healthz" }],
    });
    expect(service?.ports.map((p) => p.port)).toEqual([443, 80]);
    expect(config.metadata).toMatchObject({ catwalk_deployment: d.id, catwalk_slug: "notes" });
    const create = JSON.parse(fake.recorded("machine_create")[0]?.body ?? "{}") as {
      min_secrets_version?: number;
    };
    expect(create.min_secrets_version).toBe(1);
    expect(m?.checks).toEqual([{ name: "servicecheck-00-http", status: "passing", output: "200 OK" }]);
  });

  test("never sends a credential or the bridge secret anywhere but the app secrets call", async () => {
    const d = dep();
    const inp = input(d);
    const placed = await fly.place(inp);
    await fly.stop(placed);
    await fly.rotateSecrets({ ...inp, env: { NOTES_API_KEY: `sk-rotated-${d.id}-secret` } });
    const secrets = [...Object.values(inp.env), inp.bridgeSecret, `sk-rotated-${d.id}-secret`];
    const leaks = fake.requests.filter(
      (r) => r.action !== "secrets_update" && secrets.some((s) => r.body.includes(s) || r.query.includes(s)),
    );
    expect(leaks).toEqual([]);
    const configs = fake.requests.filter(
      (r) => r.action === "machine_create" || r.action === "machine_update",
    );
    expect(configs.length).toBe(2);
    const shown = JSON.stringify(await client.getMachine(placed.app, placed.machineId));
    for (const s of secrets) expect(shown).not.toContain(s);
    expect(fake.recorded("secrets_update").some((r) => r.body.includes(inp.bridgeSecret))).toBe(true);
  });

  test("routes MCP traffic through Fly Proxy to the pinned Machine with the bridge secret", async () => {
    const placed = await fly.place(input(dep()));
    expect(placed.url).toBe(`http://${placed.app}.${proxy.appDomain}/mcp`);
    expect(placed.headers["fly-force-instance-id"]).toBe(placed.machineId);
    const ok = await callMcp(placed);
    expect(ok.status).toBe(200);
    expect(ok.body.machine).toBe(placed.machineId);
    expect((await callMcp(placed, { authorization: "Bearer cwbrg_wrong" })).status).toBe(401);
    expect((await callMcp(placed, { "fly-force-instance-id": "0000000000dead" })).status).toBe(503);
  });

  test("placing an unchanged deployment again only looks", async () => {
    const d = dep();
    const first = await fly.place(input(d));
    fake.requests.length = 0;
    const again = await fly.place(input(d));
    expect(again.machineId).toBe(first.machineId);
    expect(again.instanceId).toBe(first.instanceId);
    const writes = fake.requests.filter((r) => r.method !== "GET").map((r) => r.action);
    expect(writes).toEqual([]);
  });

  const crashes: { step: string; fault: Fault }[] = [
    {
      step: "the app create's response is lost",
      fault: { kind: "server_error", action: "app_create", afterHandling: true },
    },
    { step: "setting secrets fails", fault: { kind: "server_error", action: "secrets_update", times: 5 } },
    {
      step: "the first IP was assigned",
      fault: { kind: "server_error", action: "ip_assign", afterHandling: true },
    },
    {
      step: "the Machine create's response is lost",
      fault: { kind: "server_error", action: "machine_create", afterHandling: true },
    },
    {
      step: "waiting for the Machine fails",
      fault: { kind: "server_error", action: "machine_wait", times: 5 },
    },
  ];
  for (const c of crashes) {
    test(`a placement interrupted when ${c.step} converges when run again`, async () => {
      const d = dep();
      fake.inject(c.fault);
      await thrown(fly.place(input(d)));
      const placed = await fly.place(input(d));
      const app = placed.app;
      expect(fake.appNames().filter((n) => n === app)).toHaveLength(1);
      expect(fake.machines(app).filter((m) => m.state !== "destroyed")).toHaveLength(1);
      expect(fake.ips(app)).toHaveLength(2);
      expect(Object.keys(fake.secretValues(app)).sort()).toEqual([
        "CATWALK_BRIDGE_SECRET",
        "NOTES_API_KEY",
        "NOTES_USER",
      ]);
      expect((await callMcp(placed)).status).toBe(200);
    });
  }

  test("a duplicate Machine left by a lost create response is destroyed", async () => {
    const d = dep();
    const placed = await fly.place(input(d));
    // What a retried create after a lost response would leave behind: a second Machine with our metadata.
    const m = await client.getMachine(placed.app, placed.machineId);
    await client.createMachine(placed.app, { region: "iad", config: m.config, min_secrets_version: 1 });
    const again = await fly.place(input(d));
    const live = fake.machines(placed.app).filter((x) => x.state !== "destroyed" && x.state !== "destroying");
    expect(live.map((x) => x.id)).toEqual([again.machineId]);
  });

  test("insufficient capacity in the primary region places the Machine in a fallback region", async () => {
    fake.inject({ kind: "capacity", region: "iad" });
    fake.inject({ kind: "capacity", region: "ams" });
    const placed = await fly.place(input(dep()));
    expect(placed.region).toBe("fra");
    expect(fake.recorded("machine_create").map((r) => JSON.parse(r.body).region)).toEqual([
      "iad",
      "ams",
      "fra",
    ]);
  });

  test("no capacity anywhere is a clear error, and a later placement succeeds", async () => {
    const d = dep();
    for (const region of ["iad", "ams", "fra"]) fake.inject({ kind: "capacity", region });
    const e = await thrown(fly.place(input(d)));
    expect(e).toBeInstanceOf(FlyCapacityError);
    expect((e as FlyCapacityError).message).toContain("iad, ams, fra");
    expect((e as FlyCapacityError).hint).toContain("fallbackRegions");
    expect((await fly.place(input(d))).state).toBe("started");
  });

  test("a storm of 429s ends in a placement", async () => {
    fake.inject({ kind: "rate_limit", times: 8, retryAfter: 0 });
    const placed = await fly.place(input(dep()));
    expect(placed.state).toBe("started");
    expect(fake.requests.filter((r) => r.status === 429)).toHaveLength(8);
  });

  test("a 408 on wait is waited out", async () => {
    fake.inject({ kind: "wait_timeout", times: 2 });
    const placed = await fly.place(input(dep()));
    expect(placed.state).toBe("started");
    expect(fake.recorded("machine_wait").map((r) => r.status)).toContain(408);
  });

  test("a runner that keeps crashing fails the placement with its exit code; a fixed one is placed", async () => {
    const d = dep();
    fake.inject({ kind: "crash_on_start", times: 3, exitCode: 3 });
    const e = await thrown(fly.place(input(d)));
    expect(e).toBeInstanceOf(FlyMachineFailedError);
    expect((e as Error).message).toContain("exited with code 3 after 2 restarts");
    const [m] = fake.machines(appNameFor("catwalk-", d));
    expect(m?.state).toBe("stopped");
    expect((await fly.place(input(d))).state).toBe("started");
  });

  test("a changed package version updates the Machine under a lease", async () => {
    const d = dep();
    const first = await fly.place(input(d));
    const placed = await fly.place(input(d, { spec: { ...SPEC, version: "1.5.0" } }));
    expect(placed.machineId).toBe(first.machineId);
    expect(placed.instanceId).not.toBe(first.instanceId);
    const update = fake.recorded("machine_update")[0];
    const lease = fake.recorded("lease_acquire")[0];
    expect(update?.headers["fly-machine-lease-nonce"]).toBeString();
    expect(lease?.status).toBe(201);
    const config = fake.machine(placed.app, placed.machineId)?.config as MachineConfig;
    expect(config.init?.cmd).toContain("npm:@acme/mcp-notes@1.5.0");
  });

  test("rotating secrets sets a new version, unsets stale ones and updates the Machine", async () => {
    const d = dep();
    const first = await fly.place(input(d));
    const rotated = input(d, {
      env: { NOTES_API_KEY: "sk-new-key-value" },
      bridgeSecret: "cwbrg_new-bridge-secret",
    });
    const placed = await fly.rotateSecrets(rotated);
    expect(fake.secretValues(placed.app)).toEqual({
      NOTES_API_KEY: "sk-new-key-value",
      CATWALK_BRIDGE_SECRET: "cwbrg_new-bridge-secret",
    });
    const update = JSON.parse(fake.recorded("machine_update")[0]?.body ?? "{}") as {
      min_secrets_version?: number;
    };
    expect(update.min_secrets_version).toBe(2);
    expect((await callMcp(first)).status).toBe(401);
    expect((await callMcp(placed)).status).toBe(200);
  });

  test("an app name owned by another organization is a clear error", async () => {
    const d = dep("taken");
    const own = await FakeFlyMachines.start({ foreignApps: [appNameFor("catwalk-", d)] });
    try {
      const c = new FlyClient({
        apiUrl: own.url,
        token: own.token,
        rates: false,
        backoffMs: { base: 1, max: 2 },
      });
      const e = await thrown(new FlyPlacer({ client: c, settings, version: "1" }).place(input(d)));
      expect(e).toBeInstanceOf(FlyAppNameTakenError);
      expect((e as FlyAppNameTakenError).hint).toContain("appPrefix");
    } finally {
      await own.close();
    }
  });

  test("remote upstreams and reserved credential names are refused before any request", async () => {
    const d = dep();
    const remote = await thrown(
      fly.place(input(d, { spec: { kind: "remote", url: "https://x", headers: {} } })),
    );
    expect(remote).toBeInstanceOf(FlyUnsupportedError);
    for (const name of ["CATWALK_BRIDGE_SECRET", "FLY_API_TOKEN", "1BAD", "a-b"]) {
      expect(await thrown(fly.place(input(d, { env: { [name]: "value-xyz" } })))).toBeInstanceOf(
        FlyUnsupportedError,
      );
    }
    expect(fake.requests).toEqual([]);
  });

  test("without a token the Fly runtime is not configured", () => {
    expect(() => createFlyClient({ apiUrl: fake.url, logsApiUrl: fake.url, apiToken: undefined })).toThrow(
      FlyNotConfiguredError,
    );
  });
});

describe("lifecycle", () => {
  test("stop, start and suspend map to the API; Fly Proxy wakes a sleeping Machine", async () => {
    const placed = await fly.place(input(dep()));
    const boot = (await callMcp(placed)).body.boot;

    expect((await fly.suspend(placed)).state).toBe("suspended");
    const resumed = await callMcp(placed);
    expect(resumed.status).toBe(200);
    expect(resumed.body.boot).toBe(boot);
    expect(proxy.requests.at(-1)?.woke).toBe(true);

    expect((await fly.stop(placed)).state).toBe("stopped");
    const restarted = await callMcp(placed);
    expect(restarted.status).toBe(200);
    expect(restarted.body.boot).not.toBe(boot);

    await fly.stop(placed);
    expect((await fly.start(placed)).state).toBe("started");
    expect(fake.recorded("machine_start").every((r) => r.headers["fly-machine-lease-nonce"])).toBe(true);
  });

  test("a 412 on start is looked into and the start is tried again", async () => {
    const placed = await fly.place(input(dep()));
    await fly.stop(placed);
    fake.inject({ kind: "wrong_state", action: "machine_start" });
    expect((await fly.start(placed)).state).toBe("started");
    expect(fake.recorded("machine_start").map((r) => r.status)).toEqual([412, 200]);
  });

  test("a start refused again after looking is a clear error, not a stuck state", async () => {
    const placed = await fly.place(input(dep()));
    await fly.stop(placed);
    fake.inject({ kind: "wrong_state", action: "machine_start", times: 2 });
    const e = await thrown(fly.start(placed));
    expect(e).toBeInstanceOf(FlyStateError);
    expect((e as FlyStateError).message).toContain("it is stopped");
    expect((await fly.start(placed)).state).toBe("started");
  });

  test("starting a started Machine or stopping a stopped one succeeds", async () => {
    const placed = await fly.place(input(dep()));
    expect((await fly.start(placed)).state).toBe("started");
    await fly.stop(placed);
    expect((await fly.stop(placed)).state).toBe("stopped");
  });

  test("a lease held by another client is waited for", async () => {
    const placed = await fly.place(input(dep()));
    await client.acquireLease(placed.app, placed.machineId, { ttlSec: 1 });
    expect((await fly.stop(placed)).state).toBe("stopped");
    expect(fake.recorded("lease_acquire").map((r) => r.status)).toContain(409);
  });

  test("a Machine that dies is restarted by its policy and served again", async () => {
    const placed = await fly.place(input(dep()));
    fake.kill(placed.app, placed.machineId, 137);
    const wait = await fetch(
      `${fake.url}/v1/apps/${placed.app}/machines/${placed.machineId}/wait?state=started&timeout=5`,
      {
        headers: { authorization: `FlyV1 ${fake.token}` },
      },
    );
    expect(wait.status).toBe(200);
    const m = await client.getMachine(placed.app, placed.machineId);
    expect(m.events?.find((e) => e.type === "exit")?.request?.exit_event?.exit_code).toBe(137);
    expect((await callMcp(placed)).status).toBe(200);
  });

  test("destroy removes the app with everything in it, and again is a no-op", async () => {
    const d = dep();
    const placed = await fly.place(input(d));
    const process = fake.processUrl(placed.app, placed.machineId) as string;
    await fly.destroy(d);
    expect(fake.hasApp(placed.app)).toBe(false);
    expect(await fetch(process).catch(() => "gone")).toBe("gone");
    await fly.destroy(d);
    expect((await fetch(placed.url, { headers: placed.headers })).status).toBe(404);
  });
});

describe("driver verbs: find, wake, halt, health, abort", () => {
  test("find locates the Machine by metadata; halt stops it, wake starts it without waiting", async () => {
    const d = dep();
    expect(await fly.find(d)).toBeUndefined();
    expect(await fly.wake(d)).toBe(false);
    expect(await fly.halt(d)).toBeUndefined();
    const placed = await fly.place(input(d));
    expect((await fly.find(d))?.machineId).toBe(placed.machineId);
    expect((await fly.halt(d))?.state).toBe("stopped");
    expect((await fly.halt(d))?.state).toBe("stopped"); // again: nothing to do
    expect(await fly.wake(d)).toBe(true);
    expect(fake.recorded("machine_start")).toHaveLength(1);
    expect((await fly.place(input(d))).state).toBe("started"); // placement waits it out
  });

  test("health tells a sleeping Machine from a dead or missing one", async () => {
    const d = dep();
    const placed = await fly.place(input(d));
    expect(await fly.health(d)).toMatchObject({ state: "started", dead: false });
    await fly.suspend(placed);
    expect(await fly.health(d)).toMatchObject({ state: "suspended", dead: false });
    await fly.halt(d);
    expect(await fly.health(d)).toMatchObject({ state: "stopped", dead: false }); // stopped on request
    await fly.start(placed);
    fake.inject({ kind: "crash_on_start", times: 3, exitCode: 4 });
    fake.kill(placed.app, placed.machineId, 1);
    const deadline = Date.now() + 5_000;
    while (fake.machine(placed.app, placed.machineId)?.state !== "stopped" && Date.now() < deadline) {
      await Bun.sleep(10);
    }
    const dead = await fly.health(d, { app: placed.app, machineId: placed.machineId });
    expect(dead.dead).toBe(true);
    expect(dead.reason).toContain("exited with code 4 after 2 restarts");
    await client.deleteMachine(placed.app, placed.machineId, { force: true });
    await Bun.sleep(50);
    expect(await fly.health(d)).toMatchObject({ state: "missing", dead: true });
  });

  test("a Machine that exits while placement waits ends the wait at once, not after a wait slice", async () => {
    const d = dep();
    fake.inject({ kind: "crash_on_start", times: 1, exitCode: 5 });
    const slice = new FlyPlacer({
      client,
      settings: { ...settings, maxRestarts: 0 },
      version: "9.9.9",
      waitSliceSec: 60,
    });
    const e = await thrown(slice.place(input(d)));
    expect(e).toBeInstanceOf(FlyMachineFailedError);
    const wait = fake.recorded("machine_wait").at(-1);
    expect(new URLSearchParams(wait?.query).getAll("state")).toEqual(["started", "stopped"]);
    expect(wait?.status).toBe(200);
  });

  test("an aborted placement stops before its next step and creates nothing more", async () => {
    const before = new AbortController();
    before.abort();
    const d = dep();
    expect(((await thrown(fly.place(input(d, { signal: before.signal })))) as Error).name).toBe("AbortError");
    expect(fake.hasApp(appNameFor("catwalk-", d))).toBe(false);

    const during = new AbortController();
    const e = dep();
    const steps: string[] = [];
    const placing = fly.place(
      input(e, {
        signal: during.signal,
        onProgress: (phase) => {
          steps.push(phase);
          if (phase === "booting") during.abort();
        },
      }),
    );
    expect(((await thrown(placing)) as Error).name).toBe("AbortError");
    expect(steps).toEqual(["preparing", "booting"]);
    expect(fake.recorded("machine_create")).toHaveLength(1);
    expect(fake.recorded("machine_wait")).toHaveLength(0);
  });
});

describe("truth: observe, drift and gc", () => {
  test("drift names missing Machines and orphaned apps; gc deletes orphans only with yes", async () => {
    const own = await FakeFlyMachines.start({ transitionMs: 5 });
    try {
      const c = new FlyClient({
        apiUrl: own.url,
        token: own.token,
        rates: false,
        backoffMs: { base: 1, max: 2 },
      });
      const f = new FlyPlacer({ client: c, settings, version: "1", waitSliceSec: 1 });
      const [a, b, gone] = [dep("alpha"), dep("beta"), dep("gone")];
      const pa = await f.place(input(a));
      const pb = await f.place(input(b));
      await f.place(input(gone));
      await c.createApp({ app_name: "someone-elses-app", org_slug: "personal" });
      await c.deleteMachine(pb.app, pb.machineId, { force: true });

      const drift = await f.drift([a, b]);
      expect(drift.deployments).toEqual([
        { deploymentId: a.id, app: pa.app, machineId: pa.machineId, region: "iad", state: "started" },
        { deploymentId: b.id, app: pb.app, machineId: undefined, region: undefined, state: "missing" },
      ]);
      expect(drift.missing).toEqual([b.id]);
      expect(drift.orphaned).toEqual([appNameFor("catwalk-", gone)]);

      expect(await f.gc([a, b], { yes: false })).toEqual({ orphaned: drift.orphaned, deleted: [] });
      expect(own.hasApp(appNameFor("catwalk-", gone))).toBe(true);
      expect(await f.gc([a, b], { yes: true })).toEqual({
        orphaned: drift.orphaned,
        deleted: drift.orphaned,
      });
      expect(own.appNames().sort()).toEqual([pa.app, pb.app, "someone-elses-app"].sort());

      const replaced = await f.place(input(b));
      expect((await f.drift([a, b])).missing).toEqual([]);
      expect(replaced.machineId).not.toBe(pb.machineId);
    } finally {
      await own.close();
    }
  });
});

describe("logs", () => {
  test("fetchLogs pages the Machine's lines; followLogs hands new ones to the pipeline", async () => {
    const placed = await fly.place(input(dep()));
    const page = await fly.fetchLogs(placed.app, { machineId: placed.machineId });
    expect(page.entries.map((e) => e.message)).toContain("Machine started");
    await callMcp(placed);
    const next = await fly.fetchLogs(placed.app, { machineId: placed.machineId, nextToken: page.nextToken });
    expect(next.entries.map((e) => e.message)).toEqual(["placeholder served POST /mcp"]);

    const seen: FlyLogEntry[] = [];
    const stop = new AbortController();
    const following = fly.followLogs({
      app: placed.app,
      machineId: placed.machineId,
      intervalMs: 10,
      signal: stop.signal,
      onEntry: (e) => {
        seen.push(e);
        if (e.message === "marker line") stop.abort();
      },
    });
    fake.log(placed.app, placed.machineId, "marker line");
    await Promise.race([following, Bun.sleep(5_000)]);
    stop.abort();
    expect(seen.map((e) => e.message)).toContain("marker line");
    expect(seen.every((e) => e.instance === placed.machineId)).toBe(true);
  });
});

describe("machine config", () => {
  test("the runner command pins the exact version for npm, PyPI and commands", () => {
    expect(
      runnerCommand({ kind: "npm", package: "pkg", version: "1.0.0", bin: "pkg-server", args: ["-v"] }),
    ).toEqual(["--package", "npm:pkg@1.0.0", "--bin", "pkg-server", "--", "-v"]);
    expect(runnerCommand({ kind: "pypi", package: "mcp-time", version: "2.1", args: [] })).toEqual([
      "--package",
      "pypi:mcp-time==2.1",
      "--",
    ]);
    expect(runnerCommand({ kind: "command", command: "node", args: ["server.js"] })).toEqual([
      "--",
      "node",
      "server.js",
    ]);
  });

  test("app names are valid Fly names, stable per deployment and distinct for equal slugs", () => {
    const a = { id: "dep_01AAAAAAAAAAAAAAAAAAAAAAAA", slug: "My Notes!! Server" };
    const b = { id: "dep_01BBBBBBBBBBBBBBBBBBBBBBBB", slug: "My Notes!! Server" };
    expect(appNameFor("catwalk-", a)).toMatch(/^catwalk-my-notes-server-[0-9a-f]{6}$/);
    expect(appNameFor("catwalk-", a)).toBe(appNameFor("catwalk-", a));
    expect(appNameFor("catwalk-", a)).not.toBe(appNameFor("catwalk-", b));
    const long = appNameFor("catwalk-", { id: a.id, slug: "x".repeat(200) });
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z][a-z0-9-]*[a-z0-9]$/);
  });
});
