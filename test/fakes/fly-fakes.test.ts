import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FakeFlyMachines } from "./fly-machines.ts";
import { FakeFlyProxy } from "./fly-proxy.ts";

/**
 * The fakes speak Fly's wire protocol to code other than ours too: raw requests in the forms fly-go
 * and flyctl send, answered with Fly's documented status codes and bodies.
 */

let fake: FakeFlyMachines;
let proxy: FakeFlyProxy;

beforeAll(async () => {
  fake = await FakeFlyMachines.start({ transitionMs: 5 });
  proxy = FakeFlyProxy.start({ machines: fake, wakeDelayMs: 5, idleStopMs: 30 });
});
afterAll(async () => {
  proxy.close();
  await fake.close();
});

function api(path: string, init: RequestInit & { auth?: string | null } = {}) {
  const { auth, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (auth !== null) headers.set("authorization", auth ?? `FlyV1 ${fake.token}`);
  if (rest.body) headers.set("content-type", "application/json");
  return fetch(`${fake.url}${path}`, { ...rest, headers });
}

async function machine(app: string, config: Record<string, unknown>): Promise<string> {
  await api("/v1/apps", { method: "POST", body: JSON.stringify({ name: app, org_slug: "personal" }) });
  const res = await api(`/v1/apps/${app}/machines`, { method: "POST", body: JSON.stringify({ config }) });
  const { id } = (await res.json()) as { id: string };
  await api(`/v1/apps/${app}/machines/${id}/wait?state=started&timeout=5`);
  return id;
}

describe("fake Machines API", () => {
  test("accepts Bearer, FlyV1 and Bearer FlyV1 and refuses a missing or wrong token", async () => {
    for (const auth of [`Bearer ${fake.token}`, `FlyV1 ${fake.token}`, `Bearer FlyV1 ${fake.token}`]) {
      expect((await api("/v1/apps?org_slug=personal", { auth })).status).toBe(200);
    }
    const missing = await api("/v1/apps?org_slug=personal", { auth: null });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: "verify: invalid token: no tokens found in header" });
    expect((await api("/v1/apps?org_slug=personal", { auth: "Bearer nope" })).status).toBe(401);
    expect(missing.headers.get("fly-request-id")).toBeString();
  });

  test("creates apps from flyctl's `name` and the docs' `app_name`, refusing invalid and taken names", async () => {
    const a = await api("/v1/apps", {
      method: "POST",
      body: JSON.stringify({ name: "fake-a", org_slug: "personal" }),
    });
    expect(a.status).toBe(201);
    const b = await api("/v1/apps", {
      method: "POST",
      body: JSON.stringify({ app_name: "fake-b", org_slug: "personal" }),
    });
    expect(b.status).toBe(201);
    const taken = await api("/v1/apps", {
      method: "POST",
      body: JSON.stringify({ app_name: "fake-b", org_slug: "personal" }),
    });
    expect(taken.status).toBe(422);
    expect(await taken.json()).toEqual({
      error: "Validation failed: Name has already been taken",
      status: "name_taken",
    });
    const bad = await api("/v1/apps", {
      method: "POST",
      body: JSON.stringify({ app_name: "Bad_Name", org_slug: "personal" }),
    });
    expect(bad.status).toBe(422);
    const missing = await api("/v1/apps/no-such-app");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "Could not find App" });
  });

  test("refuses to destroy a running Machine without force and to wait longer than 60 s", async () => {
    const id = await machine("fake-c", { image: "nginx" });
    const del = await api(`/v1/apps/fake-c/machines/${id}`, { method: "DELETE" });
    expect(del.status).toBe(412);
    expect(((await del.json()) as { error: string }).error).toStartWith("failed_precondition:");
    expect((await api(`/v1/apps/fake-c/machines/${id}/wait?state=started&timeout=61`)).status).toBe(400);
    const timeout = await api(`/v1/apps/fake-c/machines/${id}/wait?state=stopped&timeout=1`);
    expect(timeout.status).toBe(408);
    expect(((await timeout.json()) as { error: string }).error).toStartWith("deadline_exceeded:");
    expect((await api(`/v1/apps/fake-c/machines/${id}?force=true`, { method: "DELETE" })).status).toBe(200);
  });

  test("reports Docker Hub short names with their registry, as Fly does", async () => {
    const id = await machine("fake-d", { image: "nginx:1.27" });
    const m = (await (await api(`/v1/apps/fake-d/machines/${id}`)).json()) as {
      image_ref: Record<string, string>;
    };
    expect(m.image_ref).toMatchObject({
      registry: "registry-1.docker.io",
      repository: "library/nginx",
      tag: "1.27",
    });
  });
});

describe("fake Fly Proxy", () => {
  test("suspends an idle Machine per its autostop and wakes it on the next request", async () => {
    const services = [
      { protocol: "tcp", internal_port: 8080, autostart: true, autostop: "suspend", ports: [] },
    ];
    const id = await machine("fake-e", {
      image: "x",
      services,
      env: { CATWALK_BRIDGE_SECRET: "s3cr3t-value" },
    });
    const call = async () => {
      const res = await fetch(`http://fake-e.${proxy.appDomain}/mcp`, {
        headers: { authorization: "Bearer s3cr3t-value", "fly-force-instance-id": id },
      });
      await res.text();
      return res;
    };
    expect((await call()).status).toBe(200);
    const suspended = await api(`/v1/apps/fake-e/machines/${id}/wait?state=suspended&timeout=5`);
    expect(suspended.status).toBe(200);
    const woke = await call();
    expect(woke.status).toBe(200);
    expect(proxy.requests.at(-1)).toMatchObject({ app: "fake-e", machineId: id, woke: true });
  });

  test("does not start a Machine without autostart, and knows only its apps", async () => {
    const services = [{ protocol: "tcp", internal_port: 8080, autostart: false, ports: [] }];
    const id = await machine("fake-f", { image: "x", services });
    await api(`/v1/apps/fake-f/machines/${id}/stop`, { method: "POST" });
    await api(`/v1/apps/fake-f/machines/${id}/wait?state=stopped&timeout=5`);
    expect((await fetch(`http://fake-f.${proxy.appDomain}/mcp`)).status).toBe(503);
    expect((await fetch(`http://nobody.${proxy.appDomain}/mcp`)).status).toBe(404);
    expect((await fetch(`${proxy.url}/mcp`, { headers: { host: `fake-f.${proxy.appDomain}` } })).status).toBe(
      503,
    );
  });
});
