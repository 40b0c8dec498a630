import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { FakeFlyMachines } from "../../../test/fakes/fly-machines.ts";
import { type Clock, TokenBuckets } from "../../util/buckets.ts";
import {
  authorizationHeader,
  FlyApiError,
  FlyClient,
  type FlyClientOptions,
  FlyUnreachableError,
  isInsufficientCapacity,
  isLeaseConflict,
  isNameTaken,
} from "./client.ts";

let fake: FakeFlyMachines;

beforeAll(async () => {
  fake = await FakeFlyMachines.start({ transitionMs: 5 });
});
afterAll(() => fake.close());
afterEach(() => {
  fake.requests.length = 0;
});

/** A stopped clock that never really sleeps and records every delay asked for. */
function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  const t0 = Date.now();
  return { sleeps, now: () => t0, sleep: async (ms) => void sleeps.push(ms) };
}

function client(opts: Partial<FlyClientOptions> = {}): FlyClient {
  return new FlyClient({
    apiUrl: fake.url,
    logsApiUrl: fake.url,
    token: fake.token,
    backoffMs: { base: 1, max: 5 },
    rates: false,
    ...opts,
  });
}

let n = 0;
async function app(c: FlyClient): Promise<string> {
  const name = `client-test-${++n}`;
  await c.createApp({ app_name: name, org_slug: "personal" });
  return name;
}

function thrown(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("authorization header", () => {
  const cases: [string, string][] = [
    ["fm2_abc", "FlyV1 fm2_abc"],
    ["FlyV1 fm2_abc", "FlyV1 fm2_abc"],
    ["Bearer FlyV1 fm2_abc", "FlyV1 fm2_abc"],
    ["  fm1r_abc ", "FlyV1 fm1r_abc"],
    ["fm1a_abc,fm2_def", "FlyV1 fm1a_abc,fm2_def"],
    ["FlyV1 fm2_abc, fm2_def", "FlyV1 fm2_abc,fm2_def"],
    ["legacy-personal-token", "Bearer legacy-personal-token"],
    ["Bearer legacy-personal-token", "Bearer legacy-personal-token"],
  ];
  for (const [token, header] of cases) {
    test(`${JSON.stringify(token)} is sent as ${JSON.stringify(header)}`, () => {
      expect(authorizationHeader(token)).toBe(header);
    });
  }

  test("a macaroon token reaches the API with the FlyV1 scheme and a prefixed one is not doubled", async () => {
    await client({ token: `FlyV1 ${fake.token}` }).listApps("personal");
    expect(fake.recorded("app_list")[0]?.authorization).toBe(`FlyV1 ${fake.token}`);
  });

  test("a wrong token is a 401 error whose hint says how to make a token", async () => {
    const e = await thrown(client({ token: "fm2_wrong" }).getApp("x"));
    expect(e).toBeInstanceOf(FlyApiError);
    const err = e as FlyApiError;
    expect(err.httpStatus).toBe(401);
    expect(err.hint).toContain("fly tokens create org");
    expect(err.message).not.toContain("fm2_wrong");
  });
});

describe("errors", () => {
  test("keep Fly's status, code, message, request id and the operation", async () => {
    const c = client();
    const name = await app(c);
    fake.inject({ kind: "capacity", region: "iad" });
    const e = (await thrown(
      c.createMachine(name, { region: "iad", config: { image: "nginx" } }),
    )) as FlyApiError;
    expect(e.httpStatus).toBe(503);
    expect(e.flyCode).toBe("insufficient_capacity");
    expect(isInsufficientCapacity(e)).toBe(true);
    expect(e.requestId).toBe(fake.recorded("machine_create")[0]?.requestId as string);
    expect(e.operation).toEqual({
      action: "machine_create",
      method: "POST",
      app: name,
      machineId: undefined,
    });
    expect(e.message).toContain(e.requestId as string);
    expect(e.hint).toContain("fallbackRegions");
    expect(e.status).toBe(502);
  });

  test("a taken app name is recognised by its code", async () => {
    const c = client();
    const name = await app(c);
    const e = await thrown(c.createApp({ app_name: name, org_slug: "personal" }));
    expect(isNameTaken(e)).toBe(true);
    expect((e as FlyApiError).httpStatus).toBe(422);
  });

  test("the code of a message-only error comes from its prefix", async () => {
    const c = client();
    const name = await app(c);
    const m = await c.createMachine(name, { config: { image: "nginx" } });
    await c.waitMachine(name, m.id, { states: ["started"], timeoutSec: 5 });
    const e = (await thrown(c.deleteMachine(name, m.id))) as FlyApiError;
    expect(e.httpStatus).toBe(412);
    expect(e.flyCode).toBe("failed_precondition");
  });

  test("a lease conflict keeps the envelope's message and code", async () => {
    const c = client();
    const name = await app(c);
    const m = await c.createMachine(name, { config: { image: "nginx" } });
    await c.acquireLease(name, m.id, { ttlSec: 30 });
    const e = (await thrown(c.acquireLease(name, m.id))) as FlyApiError;
    expect(isLeaseConflict(e)).toBe(true);
    expect(e.flyCode).toBe("invalid");
    expect(e.flyMessage).toContain("lease currently held by");
  });
});

describe("retry policy", () => {
  test("a GET is retried on 503 until it succeeds", async () => {
    const c = client();
    const name = await app(c);
    fake.inject({ kind: "server_error", action: "app_get", status: 503, times: 2 });
    expect((await c.getApp(name)).name).toBe(name);
    expect(fake.recorded("app_get").map((r) => r.status)).toEqual([503, 503, 200]);
  });

  test("a Machine create is not repeated after a 503", async () => {
    const c = client();
    const name = await app(c);
    fake.inject({ kind: "server_error", action: "machine_create", status: 503 });
    const e = (await thrown(c.createMachine(name, { config: { image: "nginx" } }))) as FlyApiError;
    expect(e.httpStatus).toBe(503);
    expect(fake.recorded("machine_create")).toHaveLength(1);
  });

  test("a bulk secrets update, safe by construction, is repeated after a 502", async () => {
    const c = client();
    const name = await app(c);
    fake.inject({ kind: "server_error", action: "secrets_update", status: 502 });
    const res = await c.setSecrets(name, { TOKEN_A: "value-a" });
    expect(res.version).toBe(1);
    expect(fake.recorded("secrets_update").map((r) => r.status)).toEqual([502, 200]);
  });

  test("a 429 is retried even for a create, waiting as long as Retry-After says", async () => {
    const clock = recordingClock();
    const c = client({ clock });
    const name = await app(c);
    fake.inject({ kind: "rate_limit", action: "machine_create", retryAfter: 2 });
    await c.createMachine(name, { config: { image: "nginx" } });
    expect(fake.recorded("machine_create").map((r) => r.status)).toEqual([429, 200]);
    expect(clock.sleeps).toEqual([2000]);
  });

  test("backoff grows exponentially with jitter when no Retry-After is given", async () => {
    const clock = recordingClock();
    const c = client({ clock, backoffMs: { base: 100, max: 10_000 } });
    fake.inject({ kind: "server_error", action: "app_list", status: 500, times: 3 });
    await c.listApps("personal");
    expect(clock.sleeps).toHaveLength(3);
    clock.sleeps.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(50 * 2 ** i);
      expect(ms).toBeLessThanOrEqual(100 * 2 ** i);
    });
  });

  test("retries stop after the configured attempts with the last error", async () => {
    const c = client({ attempts: 3 });
    fake.inject({ kind: "server_error", action: "app_list", status: 503, times: 5 });
    const e = (await thrown(c.listApps("personal"))) as FlyApiError;
    expect(e.httpStatus).toBe(503);
    expect(fake.recorded("app_list")).toHaveLength(3);
  });

  test("insufficient capacity is never retried in the same region", async () => {
    const c = client();
    const name = await app(c);
    fake.inject({ kind: "capacity", region: "iad", times: 3 });
    await thrown(c.createMachine(name, { region: "iad", config: { image: "nginx" } }));
    expect(fake.recorded("machine_create")).toHaveLength(1);
  });

  test("an unreachable API is retried for a GET and reported once for a POST", async () => {
    const retries: string[] = [];
    const dead = Bun.serve({ port: 0, fetch: () => new Response("") });
    const url = `http://127.0.0.1:${dead.port}`;
    dead.stop(true);
    const c = client({ apiUrl: url, attempts: 3, onRetry: (i) => retries.push(i.operation.action) });
    expect(await thrown(c.getApp("x"))).toBeInstanceOf(FlyUnreachableError);
    expect(retries).toEqual(["app_get", "app_get"]);
    retries.length = 0;
    expect(await thrown(c.createApp({ app_name: "x", org_slug: "personal" }))).toBeInstanceOf(
      FlyUnreachableError,
    );
    expect(retries).toEqual([]);
  });
});

describe("rate limits", () => {
  test("each action on one Machine gets a burst of 3, then one per second", () => {
    let now = 0;
    const limiter = new TokenBuckets({ now: () => now, sleep: async () => undefined });
    const rate = { perSecond: 1, burst: 3 };
    const delays = [0, 1, 2, 3, 4].map(() => limiter.reserve("machine_start:m1", rate));
    expect(delays).toEqual([0, 0, 0, 1000, 2000]);
    expect(limiter.reserve("machine_start:m2", rate)).toBe(0);
    expect(limiter.reserve("machine_stop:m1", rate)).toBe(0);
    now = 5000;
    expect(limiter.reserve("machine_start:m1", rate)).toBe(0);
  });

  test("the client spaces calls per action and Machine, Get Machine at 5/s after a burst of 10", async () => {
    const clock = recordingClock();
    const c = client({ clock, rates: undefined });
    const name = await app(c);
    const m = await c.createMachine(name, { config: { image: "nginx" } });
    for (let i = 0; i < 11; i++) await c.getMachine(name, m.id);
    expect(clock.sleeps).toEqual([200]);
    clock.sleeps.length = 0;
    for (let i = 0; i < 4; i++) await c.getMetadata(name, m.id);
    expect(clock.sleeps).toEqual([1000]);
  });
});

describe("verbs", () => {
  test("secrets are listed by name and digest, never by value", async () => {
    const c = client();
    const name = await app(c);
    await c.setSecrets(name, { API_KEY: "sk-very-secret-value", OTHER: "x-other-secret" });
    const raw = await fetch(`${fake.url}/v1/apps/${name}/secrets?show_secrets=true`, {
      headers: { authorization: `FlyV1 ${fake.token}` },
    });
    expect(await raw.text()).not.toContain("very-secret");
    const list = await c.listSecrets(name);
    expect(list.map((s) => s.name).sort()).toEqual(["API_KEY", "OTHER"]);
    expect((await c.setSecrets(name, { OTHER: null })).version).toBe(2);
    expect(await c.unsetSecret(name, "API_KEY")).toBe(3);
    expect(await c.listSecrets(name)).toEqual([]);
  });

  test("metadata set, read and filtered in the Machine list", async () => {
    const c = client();
    const name = await app(c);
    const a = await c.createMachine(name, { config: { image: "nginx", metadata: { team: "a" } } });
    await c.createMachine(name, { config: { image: "nginx", metadata: { team: "b" } } });
    await c.setMetadata(name, a.id, "extra", "1");
    expect(await c.getMetadata(name, a.id)).toEqual({ team: "a", extra: "1" });
    const found = await c.listMachines(name, { metadata: { team: "a" } });
    expect(found.map((m) => m.id)).toEqual([a.id]);
  });

  test("a lease gives a nonce that mutations carry, and is released afterwards", async () => {
    const c = client();
    const name = await app(c);
    const m = await c.createMachine(name, { config: { image: "nginx" } });
    await c.waitMachine(name, m.id, { states: ["started"], timeoutSec: 5 });
    await c.withLease(name, m.id, (nonce) => c.stopMachine(name, m.id, { nonce }));
    const stop = fake.recorded("machine_stop")[0];
    const lease = fake.recorded("lease_acquire")[0];
    expect(stop?.status).toBe(200);
    expect(stop?.headers["fly-machine-lease-nonce"]).toBeString();
    expect(fake.recorded("lease_release")[0]?.headers["fly-machine-lease-nonce"]).toBe(
      stop?.headers["fly-machine-lease-nonce"] as string,
    );
    expect(lease?.status).toBe(201);
    await c.waitMachine(name, m.id, { states: ["stopped"], timeoutSec: 5, instanceId: m.instance_id });
    expect((await c.getMachine(name, m.id)).state).toBe("stopped");
  });

  test("a mutation without the nonce of a held lease is refused", async () => {
    const c = client();
    const name = await app(c);
    const m = await c.createMachine(name, { config: { image: "nginx" } });
    await c.waitMachine(name, m.id, { states: ["started"], timeoutSec: 5 });
    await c.acquireLease(name, m.id, { ttlSec: 30 });
    expect(isLeaseConflict(await thrown(c.suspendMachine(name, m.id)))).toBe(true);
  });

  test("wait sends repeated states, the timeout and the instance id", async () => {
    const c = client();
    const name = await app(c);
    const m = await c.createMachine(name, { config: { image: "nginx" } });
    await c.waitMachine(name, m.id, {
      states: ["started", "stopped"],
      timeoutSec: 90,
      instanceId: m.instance_id,
    });
    const q = new URLSearchParams(fake.recorded("machine_wait")[0]?.query);
    expect(q.getAll("state")).toEqual(["started", "stopped"]);
    expect(q.get("timeout")).toBe("60");
    expect(q.get("instance_id")).toBe(m.instance_id);
  });

  test("IPs are assigned and listed", async () => {
    const c = client();
    const name = await app(c);
    await c.assignIp(name, { type: "v6" });
    await c.assignIp(name, { type: "shared_v4" });
    const ips = await c.listIps(name);
    expect(ips.map((ip) => ip.shared).sort()).toEqual([false, true]);
    await c.deleteIp(name, ips[0]?.ip as string);
    expect(await c.listIps(name)).toHaveLength(1);
  });

  test("logs are paged with next_token and filtered by instance", async () => {
    const c = client();
    const name = await app(c);
    const m = await c.createMachine(name, { config: { image: "nginx" } });
    fake.log(name, m.id, "first line");
    fake.log(name, "other", "someone else");
    const page = await c.appLogs(name, { instance: m.id });
    expect(page.entries.map((e) => e.message)).toContain("first line");
    expect(page.entries.map((e) => e.message)).not.toContain("someone else");
    fake.log(name, m.id, "second line");
    const next = await c.appLogs(name, { instance: m.id, nextToken: page.nextToken });
    expect(next.entries.map((e) => e.message)).toEqual(["second line"]);
    expect((await c.appLogs(name, { instance: m.id, nextToken: next.nextToken })).entries).toEqual([]);
  });
});
