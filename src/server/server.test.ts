import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../../test/helpers/server.ts";
import { rotateAdminToken } from "../admin/admin-token.ts";
import { getMeta, setMeta } from "../store/meta.ts";
import { VERSION } from "../version.ts";

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv.close());

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe("HTTP API skeleton", () => {
  test("health answers without a token with status and version only", async () => {
    const res = await fetch(`${srv.url}/api/health`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: "ok", version: VERSION });
  });

  const scenarios: { name: string; path: string; auth?: string; status: number; code: string }[] = [
    {
      name: "unknown API path without token is 401, not 404",
      path: "/api/deployments",
      status: 401,
      code: "unauthorized",
    },
    {
      name: "wrong token is 401",
      path: "/api/deployments",
      auth: "Bearer cwadm_wrong",
      status: 401,
      code: "unauthorized",
    },
    {
      name: "non-bearer scheme is 401",
      path: "/api/openapi.json",
      auth: "Basic YTpi",
      status: 401,
      code: "unauthorized",
    },
    {
      name: "a deployment token on the admin API is 403",
      path: "/api/deployments",
      auth: "Bearer cwdep_abcdefghijklmnopqrstuvwxyz",
      status: 403,
      code: "forbidden",
    },
  ];
  for (const s of scenarios) {
    test(s.name, async () => {
      const res = await fetch(srv.url + s.path, { headers: s.auth ? { authorization: s.auth } : {} });
      expect(res.status).toBe(s.status);
      const body = (await json(res)) as { error: { code: string; message: string; hint?: string } };
      expect(body.error.code).toBe(s.code);
      expect(body.error.message.length).toBeGreaterThan(0);
      if (s.status === 401) expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
    });
  }

  test("with the admin token an unknown route is 404 in the envelope", async () => {
    const res = await srv.api("/api/no-such-thing");
    expect(res.status).toBe(404);
    expect(((await json(res)) as { error: { code: string } }).error.code).toBe("not_found");
  });

  test("the OpenAPI document needs the token and describes the health route", async () => {
    expect((await fetch(`${srv.url}/api/openapi.json`)).status).toBe(401);
    const res = await srv.api("/api/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      info: { version: string };
    };
    expect(doc.openapi).toStartWith("3.");
    expect(doc.info.version).toBe(VERSION);
    expect(Object.keys(doc.paths)).toContain("/api/health");
  });

  test("a browser request from a foreign Origin is 403", async () => {
    const res = await srv.api("/api/health", { headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(((await json(res)) as { error: { code: string } }).error.code).toBe("forbidden_origin");
    const own = await srv.api("/api/health", { headers: { origin: srv.url } });
    expect(own.status).toBe(200);
  });

  test("every response carries a request id, and a sane client id is echoed", async () => {
    const res = await fetch(`${srv.url}/api/health`, { headers: { "x-request-id": "trace-123" } });
    expect(res.headers.get("x-request-id")).toBe("trace-123");
    const other = await fetch(`${srv.url}/api/health`, {
      headers: { "x-request-id": "bad id with spaces;drop" },
    });
    expect(other.headers.get("x-request-id")).toMatch(/^[0-9A-Z]{26}$/);
  });

  test("a rotated admin token works at once and the old one is refused", async () => {
    const dedicated = await startTestServer();
    try {
      const old = dedicated.token;
      const fresh = await rotateAdminToken(dedicated.app.store.db, dedicated.dataDir);
      const withOld = await fetch(`${dedicated.url}/api/openapi.json`, {
        headers: { authorization: `Bearer ${old}` },
      });
      expect(withOld.status).toBe(401);
      const withNew = await fetch(`${dedicated.url}/api/openapi.json`, {
        headers: { authorization: `Bearer ${fresh}` },
      });
      expect(withNew.status).toBe(200);
      expect(readFileSync(join(dedicated.dataDir, "admin-token"), "utf8").trim()).toBe(fresh);
    } finally {
      await dedicated.close();
    }
  });
});

describe("restart on the same data dir", () => {
  test("keeps the admin token, the master key and stored values", async () => {
    const first = await startTestServer();
    const token = first.token;
    const sealed = first.app.vault.encrypt("survives restarts");
    await setMeta(first.app.store.db, "test.sealed", sealed);
    await first.close();
    const second = await startTestServer({ dataDir: first.dataDir });
    try {
      expect(second.token).toBe(token);
      expect(second.app.createdAdminToken).toBeUndefined();
      const stored = await getMeta(second.app.store.db, "test.sealed");
      expect(second.app.vault.decrypt(stored ?? "")).toBe("survives restarts");
      expect((await second.api("/api/openapi.json")).status).toBe(200);
    } finally {
      await second.close();
    }
  });
});

describe("logging", () => {
  test("secrets never reach the log file or the console", async () => {
    const dedicated = await startTestServer({
      env: { CATWALK_ANTHROPIC_API_KEY: "sk-ant-LOGLEAK-0123456789" },
    });
    try {
      const log = dedicated.app.log;
      log.info("request with headers", { authorization: `Bearer ${dedicated.token}`, path: "/api/x" });
      log.warn(`upstream said: key is sk-ant-LOGLEAK-0123456789 and token ${dedicated.token}`);
      log.error("credential echo", {
        env: { API_TOKEN: "plain-visible-value-1" },
        note: dedicated.app.vault.keys[0],
      });
      // The admin token is written to disk on first start; it is registered for redaction too.
      const file = readFileSync(join(dedicated.dataDir, "logs", "catwalk.log"), "utf8");
      const console = dedicated.lines.join("\n");
      for (const text of [file, console]) {
        expect(text).not.toContain("sk-ant-LOGLEAK-0123456789");
        expect(text).not.toContain(dedicated.token);
        expect(text).not.toContain("plain-visible-value-1");
        expect(text).not.toContain(dedicated.app.vault.keys[0] as string);
        expect(text).toContain("[redacted]");
        expect(text).toContain("upstream said");
      }
    } finally {
      await dedicated.close();
    }
  });
});
