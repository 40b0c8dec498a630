/**
 * Hostile input against a running server: property-based bodies, framing, headers and slugs
 * (fast-check), traversal and shell syntax in every name that reaches a command line, a URL or a
 * path, and oversized or deeply nested JSON. Every answer must be a clear 4xx (never a 5xx), and
 * the server must keep serving afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import {
  connectLegacy,
  type Deployed,
  deploy,
  initializeBody,
  rawPost,
  readMessage,
} from "../helpers/mcp.ts";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

/** Shell syntax, traversal, option injection and control characters. */
const HOSTILE = [
  "../../etc/passwd",
  "..",
  "a/../../b",
  "..%2f..%2fetc",
  "foo;rm -rf /",
  "$(id)",
  "`id`",
  "a|b",
  "a&&b",
  "a\nb",
  "a\u0000b",
  "-rf",
  "--registry=http://127.0.0.1:1/",
  "foo bar",
  "a'b",
  'a"b',
  "C:\\Windows\\system32",
  "~root",
  "@scope/../x",
  "@../x",
  "x>y",
  "$" + "{HOME}",
  "é\u202eexe.txt",
];

/** A stand-in for npm, PyPI, GitHub and the MCP registry that knows nothing and records every path. */
function startNowhere(): { url: string; paths: string[]; stop(): void } {
  const paths: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      paths.push(decodeURIComponent(new URL(req.url).pathname));
      return Response.json({ message: "Not Found" }, { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, paths, stop: () => server.stop(true) };
}

function postJson(srv: TestServer, path: string, body: string, method = "POST"): Promise<Response> {
  return srv.api(path, { method, headers: { "content-type": "application/json" }, body });
}

/** A 4xx in the API envelope, or a success; what must never happen is a 5xx or a bare error. */
async function expectClearAnswer(res: Response, ok: number[] = [200, 201]): Promise<void> {
  if (ok.includes(res.status)) return;
  const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
  if (res.status >= 500 || res.status < 400 || typeof body.error?.code !== "string") {
    throw new Error(`answer ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  expect(typeof body.error?.message).toBe("string");
}

/** RFC 9110 token characters, the only ones an HTTP header name may have. */
const TCHAR = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const PRINTABLE = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 80,
});

let nowhere: ReturnType<typeof startNowhere>;
let remote: FakeRemote;
/** No command deployments: random bodies must never start a program. */
let api: TestServer;
let dep: Deployed;

beforeAll(async () => {
  nowhere = startNowhere();
  remote = startFakeRemote();
  api = await startTestServer({
    env: {
      CATWALK_LOCAL_NPM_REGISTRY_URL: nowhere.url,
      CATWALK_PYPI_URL: nowhere.url,
      CATWALK_GITHUB_API_URL: nowhere.url,
      CATWALK_MCP_REGISTRY_URL: nowhere.url,
      CATWALK_GATEWAY_REQUEST_TIMEOUT_MS: "5000",
    },
  });
  dep = await deploy(api, { source: remote.url, name: "target", sessionMode: "shared" });
});

afterAll(async () => {
  await api.close();
  await remote.stop();
  nowhere.stop();
});

/** Text that is not a JSON document. */
const notJson = fc.string({ minLength: 1 }).filter((s) => {
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
});

describe("API bodies", () => {
  const createLike = fc.record(
    {
      source: fc.oneof(
        fc.string(),
        fc.constantFrom(...HOSTILE).map((h) => `npm:${h}`),
      ),
      analysis: fc.string(),
      name: fc.oneof(fc.string(), fc.constantFrom(...HOSTILE)),
      env: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom(...HOSTILE)), fc.string()),
      args: fc.array(fc.string()),
      headers: fc.dictionary(fc.string(), fc.string()),
      sessionMode: fc.oneof(fc.constantFrom("isolated", "shared"), fc.string()),
      runtime: fc.oneof(fc.constantFrom("local", "fly"), fc.string()),
      command: fc.array(fc.string(), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  );

  test("any JSON body to create a deployment gets a 4xx envelope (or 201), never a 5xx, and nothing runs", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), createLike), async (body) => {
        const res = await postJson(api, "/api/deployments", JSON.stringify(body));
        if (res.status === 201) {
          const created = (await res.json()) as { id: string; upstream: { kind: string } };
          expect(created.upstream.kind).not.toBe("command");
          await api.api(`/api/deployments/${created.id}`, { method: "DELETE" });
          return;
        }
        await expectClearAnswer(res);
      }),
      { numRuns: 150 },
    );
    expect((await fetch(`${api.url}/api/health`)).status).toBe(200);
  }, 60_000);

  test("any JSON body to update, set credentials or create a token gets a 4xx envelope or success, never a 5xx", async () => {
    const paths = [
      ["PATCH", `/api/deployments/${dep.id}`],
      ["POST", `/api/deployments/${dep.id}/env`],
      ["POST", `/api/deployments/${dep.id}/tokens`],
      ["POST", "/api/analyses"],
      ["POST", "/api/deployments/nope/restart"],
    ] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.jsonValue(), async ([method, path], body) => {
        const res = await postJson(api, path, JSON.stringify(body), method);
        await expectClearAnswer(res, [200, 201, 202]);
      }),
      { numRuns: 150 },
    );
    expect((await fetch(`${api.url}/api/health`)).status).toBe(200);
  }, 60_000);

  test("bytes that are not JSON are 400 malformed_body", async () => {
    await fc.assert(
      fc.asyncProperty(notJson, async (text) => {
        const res = await postJson(api, "/api/deployments", text);
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("malformed_body");
      }),
      { numRuns: 100 },
    );
  });

  test("JSON nested deeper than 32 levels is 400 bad_request on every API route, at any depth", async () => {
    for (const depth of [33, 1000, 200_000]) {
      const nested = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
      for (const [path, body] of [
        ["/api/deployments", `{"name":"x","env":${nested}}`],
        [`/api/deployments/${dep.id}/tokens`, `{"name":${nested}}`],
        ["/api/deployments", `${"[".repeat(depth)}${"]".repeat(depth)}`],
      ] as const) {
        const res = await postJson(api, path, body);
        expect(res.status).toBe(400);
        const error = ((await res.json()) as { error: { code: string; message: string } }).error;
        expect(error).toMatchObject({
          code: "bad_request",
          message: "The JSON body nests deeper than 32 levels.",
        });
      }
    }
  });

  test("a body over the server's hard limit is refused with 413 and the server keeps serving", async () => {
    const res = await postJson(
      api,
      "/api/deployments",
      JSON.stringify({ source: "x".repeat(20 * 1024 * 1024) }),
    );
    expect(res.status).toBe(413);
    const long = await postJson(
      api,
      "/api/deployments",
      JSON.stringify({ name: "n".repeat(100_000), source: "npm:x" }),
    );
    expect(long.status).toBe(422);
    expect((await fetch(`${api.url}/api/health`)).status).toBe(200);
  });
});

describe("names that reach registries, command lines and paths", () => {
  test("traversal and shell syntax in package names, versions, slugs, variables and headers are refused before any lookup", async () => {
    const before = nowhere.paths.length;
    const bodies = HOSTILE.flatMap((h) => [
      { source: `npm:${h}` },
      { source: `npm:${h}@1.0.0` },
      { source: `npm:ok-name@${h}` },
      { source: `pypi:${h}` },
      { source: `pypi:ok-name==${h}` },
      { source: "npm:ok-name", name: h },
      { source: "npm:ok-name", env: { [h]: "value" } },
      // Header names may use every RFC 9110 token character (`|`, `'`, `` ` ``…): only others are refused.
      ...(TCHAR.test(h) ? [] : [{ source: remote.url, headers: { [h]: "value" } }]),
    ]);
    for (const body of bodies) {
      const res = await postJson(api, "/api/deployments", JSON.stringify(body));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      if (res.status !== 422) throw new Error(`${JSON.stringify(body)} answered ${res.status}`);
    }
    for (const h of [...HOSTILE, ".", "..."]) {
      // Token names are labels (letters, digits, . _ - @), never paths: `.`/`..` would be resolved
      // away in a /tokens/<name> URL and address the deployment itself.
      const token = await postJson(api, `/api/deployments/${dep.id}/tokens`, JSON.stringify({ name: h }));
      expect(token.status).toBe(/^(?!\.+$)[\w.@-]+$/.test(h) ? 201 : 422);
      const env = await postJson(
        api,
        `/api/deployments/${dep.id}/env`,
        JSON.stringify({ set: { [h]: "v" } }),
      );
      expect(env.status).toBe(422);
    }
    // Nothing hostile reached the registries: every one was refused by validation.
    expect(nowhere.paths.slice(before)).toEqual([]);
  });

  test("any npm or PyPI source either fails validation without a lookup, or looks up exactly one safe path", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("npm:", "pypi:"),
        fc.string({ maxLength: 40 }),
        async (prefix, name) => {
          const before = nowhere.paths.length;
          const res = await postJson(api, "/api/deployments", JSON.stringify({ source: `${prefix}${name}` }));
          await expectClearAnswer(res);
          for (const path of nowhere.paths.slice(before)) {
            expect(path).not.toContain("..");
            expect(path).toMatch(/^\/[A-Za-z0-9@/._~+=-]*$/);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test("GitHub sources with traversal never leave the repository's API paths", async () => {
    const before = nowhere.paths.length;
    for (const h of HOSTILE) {
      const res = await postJson(
        api,
        "/api/deployments",
        JSON.stringify({ source: `https://github.com/${encodeURIComponent(h)}/repo` }),
      );
      await expectClearAnswer(res);
    }
    for (const path of nowhere.paths.slice(before)) expect(path.split("/")).not.toContain("..");
  });
});

describe("shell syntax in a command deployment's arguments and credentials", () => {
  test("reaches the server literally, as argv and environment, and never a shell", async () => {
    const srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
    const canary = join(tempDir("catwalk-canary-"), "pwned");
    const payload = `$(touch ${canary}); \`touch ${canary}\` | touch ${canary} && echo "'x'" > ${canary}`;
    try {
      const argv = fixtureArgv("echo-server.ts", payload);
      const meta = await deploy(srv, {
        command: argv,
        name: "meta",
        env: { PAYLOAD: payload },
      });
      const init = await rawPost(meta.url, initializeBody(), { authorization: `Bearer ${meta.token}` });
      const result = (await readMessage(init)).result as { serverInfo: { name: string } };
      expect(result.serverInfo.name).toBe(payload);
      const c = await connectLegacy(meta);
      const got = await c.client.callTool({ name: "env", arguments: { name: "PAYLOAD" } });
      expect((got.content as { text: string }[])[0]?.text).toBe(payload);
      await c.close();
      expect(existsSync(canary)).toBe(false);
    } finally {
      await srv.close();
    }
  });
});

describe("JSON-RPC framing on /mcp", () => {
  const id = fc.oneof(
    fc.integer(),
    fc.string({ maxLength: 10 }),
    fc.constant(null),
    fc.boolean(),
    fc.object(),
  );
  const method = fc.oneof(
    fc.constantFrom(
      "tools/list",
      "tools/call",
      "ping",
      "initialize",
      "resources/read",
      "resources/subscribe",
      "logging/setLevel",
      "completion/complete",
      "notifications/cancelled",
      "notifications/initialized",
    ),
    fc.string({ maxLength: 20 }),
  );
  const message = fc.record(
    {
      jsonrpc: fc.oneof(fc.constant("2.0"), fc.constantFrom("1.0", 2, null)),
      id,
      method,
      params: fc.oneof(fc.object(), fc.jsonValue()),
      result: fc.jsonValue(),
      error: fc.oneof(fc.record({ code: fc.integer(), message: fc.string() }), fc.jsonValue()),
    },
    { requiredKeys: [] },
  );

  test("any body on a live session gets a JSON-RPC answer or 202, never a 5xx, and the session keeps working", async () => {
    const init = await rawPost(dep.url, initializeBody(1, "2025-03-26"), {
      authorization: `Bearer ${dep.token}`,
    });
    const session = init.headers.get("mcp-session-id") as string;
    await init.text();
    const headers = {
      authorization: `Bearer ${dep.token}`,
      "mcp-session-id": session,
      "mcp-protocol-version": "2025-03-26",
    };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(message, fc.array(message, { maxLength: 4 }), fc.jsonValue()),
        async (body) => {
          const res = await rawPost(dep.url, JSON.stringify(body), headers);
          expect([200, 202, 400, 404, 413]).toContain(res.status);
          const text = await res.text();
          if (res.status === 202) return;
          const type = res.headers.get("content-type") ?? "";
          if (type.startsWith("text/event-stream")) {
            expect(text).toContain("data: ");
            return;
          }
          const parsed = JSON.parse(text) as { jsonrpc?: string } | { jsonrpc?: string }[];
          for (const m of Array.isArray(parsed) ? parsed : [parsed]) expect(m.jsonrpc).toBe("2.0");
        },
      ),
      { numRuns: 200 },
    );
    const alive = await rawPost(
      dep.url,
      JSON.stringify({
        jsonrpc: "2.0",
        id: "alive",
        method: "tools/call",
        params: { name: "echo", arguments: { text: "ok" } },
      }),
      headers,
    );
    expect(alive.status).toBe(200);
    expect(((await readMessage(alive)).result as { content: { text: string }[] }).content[0]?.text).toBe(
      "ok",
    );
  }, 60_000);

  test("deeply nested params are refused with 400 and do not take down the shared upstream for other sessions", async () => {
    const bystander = await connectLegacy(dep);
    const victim = await connectLegacy(dep);
    try {
      for (const depth of [129, 10_000, 100_000]) {
        const deep = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
        const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","deep":${deep}}}}`;
        const res = await rawPost(dep.url, body, {
          authorization: `Bearer ${dep.token}`,
          "mcp-session-id": victim.transport.sessionId as string,
          "mcp-protocol-version": "2025-11-25",
        });
        expect(res.status).toBe(400);
        const error = ((await res.json()) as { error: { code: number; message: string } }).error;
        expect(error).toEqual({
          code: -32600,
          message: "Invalid Request: JSON nested deeper than 128 levels.",
        });
      }
      const shallow = JSON.parse(`${'{"a":'.repeat(100)}1${"}".repeat(100)}`) as Record<string, unknown>;
      const ok = await victim.client.callTool({
        name: "echo",
        arguments: { text: "shallow", deep: shallow },
      });
      expect((ok.content as { text: string }[])[0]?.text).toBe("shallow");
      const other = await bystander.client.callTool({ name: "echo", arguments: { text: "still here" } });
      expect((other.content as { text: string }[])[0]?.text).toBe("still here");
    } finally {
      await victim.close();
      await bystander.close();
    }
  });

  test("bytes that are not JSON are a -32700 parse error", async () => {
    await fc.assert(
      fc.asyncProperty(notJson, async (text) => {
        const res = await rawPost(dep.url, text, { authorization: `Bearer ${dep.token}` });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32700);
      }),
      { numRuns: 100 },
    );
  });
});

describe("headers and slugs", () => {
  test("random session, version, accept, content-type and event-id headers never cause a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            "mcp-session-id": PRINTABLE,
            "mcp-protocol-version": fc.oneof(
              PRINTABLE,
              fc.constantFrom("2025-11-25", "2026-07-28", "1999-01-01"),
            ),
            accept: fc.oneof(
              PRINTABLE,
              fc.constantFrom("application/json, text/event-stream", "*/*", "text/*"),
            ),
            "content-type": fc.oneof(
              PRINTABLE,
              fc.constantFrom("application/json", "application/json; charset=x"),
            ),
            "last-event-id": PRINTABLE,
            origin: fc.oneof(PRINTABLE, fc.constant("http://evil.example")),
          },
          { requiredKeys: [] },
        ),
        fc.constantFrom("GET", "POST", "DELETE", "PUT"),
        async (headers, method) => {
          const res = await fetch(dep.url, {
            method,
            headers: { ...headers, authorization: `Bearer ${dep.token}` },
            ...(method === "POST" ? { body: initializeBody() } : {}),
          });
          await res.body?.cancel();
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("no Authorization value other than the deployment's token opens a session", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          PRINTABLE,
          PRINTABLE.map((t) => `Bearer ${t}`),
          PRINTABLE.map((t) => `Bearer cwdep_${t}`),
        ),
        async (authorization) => {
          const res = await rawPost(dep.url, initializeBody(), { authorization });
          await res.text();
          expect(res.status).toBe(401);
          expect(res.headers.get("mcp-session-id")).toBeNull();
        },
      ),
      { numRuns: 150 },
    );
  });

  test("any slug under /mcp and /api/deployments is a 404 (never a 5xx, never another deployment)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ minLength: 1 }), fc.constantFrom(...HOSTILE)), async (slug) => {
        // `.` and `..` are resolved by the client before sending (they address other routes, which
        // is why no name may consist of dots); everything else must arrive and be a 404.
        fc.pre(slug !== dep.slug && slug !== dep.id && !/^\.+$/.test(slug));
        const segment = encodeURIComponent(slug);
        const mcp = await rawPost(`${api.url}/mcp/${segment}`, initializeBody(), {
          authorization: `Bearer ${dep.token}`,
        });
        await mcp.text();
        expect(mcp.status).toBe(404);
        const info = await api.api(`/api/deployments/${segment}`);
        expect(info.status).toBe(404);
        expect(((await info.json()) as { error: { code: string } }).error.code).toBe("deployment.not_found");
      }),
      { numRuns: 150 },
    );
  });
});
