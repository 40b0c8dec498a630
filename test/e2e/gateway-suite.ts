/**
 * The gateway acceptance suite, run once per upstream kind (a local stdio child, a remote
 * Streamable HTTP server): real SDK clients against `@modelcontextprotocol/server-everything`
 * through `/mcp/<slug>`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import {
  connectLegacy,
  type Deployed,
  deploy,
  initializeBody,
  modernClient,
  rawPost,
  readMessage,
} from "../helpers/mcp.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

export interface UpstreamKind {
  name: string;
  /** Env for the test server (e.g. to allow command deployments). */
  env?: Record<string, string>;
  /** The deployment body for a session mode. */
  body(mode: "isolated" | "shared"): Promise<Record<string, unknown>>;
  teardown?(): Promise<void>;
}

/** All text blocks of a tool result, joined. */
const text = (r: unknown) =>
  (r as { content: { type: string; text?: string }[] }).content
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");

export function gatewaySuite(kind: UpstreamKind): void {
  describe(`gateway over ${kind.name}`, () => {
    let srv: TestServer;
    let isolated: Deployed;
    let shared: Deployed;

    beforeAll(async () => {
      srv = await startTestServer({ env: kind.env ?? {} });
      isolated = await deploy(srv, { ...(await kind.body("isolated")), name: "iso" });
      shared = await deploy(srv, { ...(await kind.body("shared")), name: "shared" });
    }, 120_000);
    afterAll(async () => {
      await srv.close();
      await kind.teardown?.();
    }, 30_000);

    for (const mode of ["isolated", "shared"] as const) {
      const dep = () => (mode === "isolated" ? isolated : shared);

      test(`${mode}: initialize, list and call tools, resources and prompts`, async () => {
        const c = await connectLegacy(dep());
        try {
          expect(c.client.getServerVersion()?.name).toBe("mcp-servers/everything");
          const tools = await c.client.listTools();
          expect(tools.tools.map((t) => t.name)).toContain("echo");
          expect(
            text(await c.client.callTool({ name: "echo", arguments: { message: `hello ${mode}` } })),
          ).toBe(`Echo: hello ${mode}`);
          expect(text(await c.client.callTool({ name: "get-sum", arguments: { a: 2, b: 40 } }))).toContain(
            "42",
          );
          const resources = await c.client.listResources();
          expect(resources.resources.length).toBeGreaterThan(0);
          const first = resources.resources[0] as { uri: string };
          const read = await c.client.readResource({ uri: first.uri });
          expect(read.contents[0]?.uri).toBe(first.uri);
          const prompts = await c.client.listPrompts();
          const simple = prompts.prompts.find((p) => p.name === "simple-prompt");
          expect(simple).toBeDefined();
          const got = await c.client.getPrompt({ name: "simple-prompt" });
          expect(got.messages.length).toBeGreaterThan(0);
        } finally {
          await c.close();
        }
      });

      test(`${mode}: progress notifications arrive while a long tool runs`, async () => {
        const c = await connectLegacy(dep());
        try {
          const seen: number[] = [];
          const result = await c.client.callTool(
            { name: "trigger-long-running-operation", arguments: { duration: 1.5, steps: 3 } },
            undefined,
            { onprogress: (p) => seen.push(p.progress) },
          );
          expect(text(result)).toContain("Long running operation completed");
          expect(seen).toEqual([1, 2, 3]);
        } finally {
          await c.close();
        }
      });

      test(`${mode}: sampling and elicitation requests reach the client and the answers get back`, async () => {
        const c = await connectLegacy(dep(), { sampling: {}, elicitation: {} });
        try {
          c.client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
            const content = req.params.messages[0]?.content as { text?: string } | undefined;
            const asked = content?.text ?? "";
            return {
              role: "assistant",
              model: "test-model",
              content: { type: "text", text: `sampled: ${asked}` },
            };
          });
          c.client.setRequestHandler(ElicitRequestSchema, async () => ({
            action: "accept",
            content: { name: "Ada Lovelace", check: true, email: "ada@example.com" },
          }));
          const sampled = text(
            await c.client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "ping" } }),
          );
          expect(sampled).toContain("sampled: Resource trigger-sampling-request context: ping");
          const elicited = text(
            await c.client.callTool({ name: "trigger-elicitation-request", arguments: {} }),
          );
          expect(elicited).toContain("Ada Lovelace");
        } finally {
          await c.close();
        }
      });

      test(`${mode}: 20 concurrent sessions x 50 calls are all answered with their own results`, async () => {
        const settled = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => connectLegacy(dep(), {}, `load-${i}`)),
        );
        const clients = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
        try {
          expect(
            settled
              .filter((s) => s.status === "rejected")
              .map((s) => String((s as PromiseRejectedResult).reason)),
          ).toEqual([]);
          const results = await Promise.all(
            clients.map(async (c, i) => {
              const answers: string[] = [];
              for (let j = 0; j < 50; j++)
                answers.push(
                  text(await c.client.callTool({ name: "echo", arguments: { message: `${i}/${j}` } })),
                );
              return answers;
            }),
          );
          results.forEach((answers, i) => {
            expect(answers).toEqual(Array.from({ length: 50 }, (_, j) => `Echo: ${i}/${j}`));
          });
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
      }, 120_000);
    }

    test("server notifications arrive on the GET stream", async () => {
      const c = await connectLegacy(isolated);
      try {
        const logs: string[] = [];
        c.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
          logs.push(String(n.params.level));
        });
        await c.client.setLoggingLevel("debug");
        await c.client.callTool({ name: "toggle-simulated-logging", arguments: {} });
        const deadline = Date.now() + 12_000;
        while (logs.length === 0 && Date.now() < deadline) await Bun.sleep(100);
        expect(logs.length).toBeGreaterThan(0);
        await c.client.callTool({ name: "toggle-simulated-logging", arguments: {} });
      } finally {
        await c.close();
      }
    }, 20_000);

    test("roots requested by the server are answered by the client", async () => {
      const c = await connectLegacy(isolated, { roots: { listChanged: true } });
      try {
        c.client.setRequestHandler(ListRootsRequestSchema, async () => ({
          roots: [{ uri: "file:///work", name: "work" }],
        }));
        const result = text(await c.client.callTool({ name: "get-roots-list", arguments: {} }));
        expect(result).toContain("file:///work");
      } finally {
        await c.close();
      }
    });

    test("DELETE ends the session and later requests get 404 with a JSON-RPC error", async () => {
      const c = await connectLegacy(isolated);
      const session = c.transport.sessionId as string;
      await c.transport.terminateSession();
      await c.client.close();
      const res = await rawPost(
        isolated.url,
        JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/list" }),
        {
          authorization: `Bearer ${isolated.token}`,
          "mcp-session-id": session,
          "mcp-protocol-version": "2025-11-25",
        },
      );
      expect(res.status).toBe(404);
      const body = await readMessage(res);
      expect(body.jsonrpc).toBe("2.0");
      expect((body.error as { code: number }).code).toBe(-32001);
    });

    test("a client reconnects to its session with the same session id", async () => {
      const first = await connectLegacy(isolated);
      const session = first.transport.sessionId as string;
      await first.client.close(); // closes the HTTP streams, not the session
      const transport = new StreamableHTTPClientTransport(new URL(isolated.url), {
        sessionId: session,
        requestInit: { headers: { authorization: `Bearer ${isolated.token}` } },
      });
      const again = new Client({ name: "reconnect", version: "1" });
      await again.connect(transport);
      transport.setProtocolVersion("2025-11-25");
      try {
        expect(transport.sessionId).toBe(session);
        expect(text(await again.callTool({ name: "echo", arguments: { message: "back" } }))).toBe(
          "Echo: back",
        );
      } finally {
        await transport.terminateSession();
        await again.close();
      }
    });

    test("missing or wrong tokens get 401 with WWW-Authenticate on POST, GET and DELETE", async () => {
      for (const auth of [undefined, "Bearer cwdep_wrong", `Bearer ${shared.token}`]) {
        const headers: Record<string, string> = auth ? { authorization: auth } : {};
        const post = await rawPost(isolated.url, initializeBody(), headers);
        const get = await fetch(isolated.url, {
          headers: { ...headers, accept: "text/event-stream", "mcp-session-id": "x" },
        });
        const del = await fetch(isolated.url, {
          method: "DELETE",
          headers: { ...headers, "mcp-session-id": "x" },
        });
        for (const res of [post, get, del]) {
          expect(res.status).toBe(401);
          expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
          expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
            "Unauthorized",
          );
        }
      }
    });

    test("1 MiB and 3 MiB payloads pass, and bodies over the limit get 413", async () => {
      const c = await connectLegacy(isolated);
      try {
        for (const size of [1024 * 1024, 3 * 1024 * 1024]) {
          const message = "x".repeat(size);
          const echoed = text(await c.client.callTool({ name: "echo", arguments: { message } }));
          expect(echoed.length).toBe(size + "Echo: ".length);
        }
      } finally {
        await c.close();
      }
      const huge = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { pad: "y".repeat(5 * 1024 * 1024) },
      });
      const res = await rawPost(isolated.url, huge, { authorization: `Bearer ${isolated.token}` });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32600);
    }, 60_000);

    test("bad input gets spec-correct statuses and the server keeps serving", async () => {
      const auth = { authorization: `Bearer ${isolated.token}` };
      const malformed = await rawPost(isolated.url, "{not json", auth);
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as { error: { code: number } }).error.code).toBe(-32700);

      const wrongType = await fetch(isolated.url, {
        method: "POST",
        headers: { ...auth, "content-type": "text/plain", accept: "application/json, text/event-stream" },
        body: initializeBody(),
      });
      expect(wrongType.status).toBe(415);

      const wrongAccept = await rawPost(isolated.url, initializeBody(), { ...auth, accept: "text/html" });
      expect(wrongAccept.status).toBe(406);

      const notRpc = await rawPost(isolated.url, JSON.stringify({ hello: "world" }), auth);
      expect(notRpc.status).toBe(400);
      expect(((await notRpc.json()) as { error: { code: number } }).error.code).toBe(-32600);

      const init = await rawPost(isolated.url, initializeBody(1, "2025-11-25"), auth);
      const session = init.headers.get("mcp-session-id") as string;
      const batch = await rawPost(
        isolated.url,
        JSON.stringify([
          { jsonrpc: "2.0", id: 2, method: "tools/list" },
          { jsonrpc: "2.0", id: 3, method: "ping" },
        ]),
        { ...auth, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" },
      );
      expect(batch.status).toBe(400);

      const noSession = await rawPost(
        isolated.url,
        JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/list" }),
        auth,
      );
      expect(noSession.status).toBe(400);

      const badVersion = await rawPost(
        isolated.url,
        JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/list" }),
        {
          ...auth,
          "mcp-session-id": session,
          "mcp-protocol-version": "1999-01-01",
        },
      );
      expect(badVersion.status).toBe(400);

      const unknownSlug = await rawPost(`${srv.url}/mcp/no-such-deployment`, initializeBody(), auth);
      expect(unknownSlug.status).toBe(404);
      expect(((await unknownSlug.json()) as { jsonrpc: string }).jsonrpc).toBe("2.0");

      const hugeHeaders = await fetch(isolated.url, {
        method: "POST",
        headers: {
          ...auth,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "x-pad": "z".repeat(64 * 1024),
        },
        body: initializeBody(),
      }).catch(() => undefined);
      if (hugeHeaders) expect(hugeHeaders.status).toBeGreaterThanOrEqual(400);

      const foreignOrigin = await rawPost(isolated.url, initializeBody(), {
        ...auth,
        origin: "https://attacker.example",
      });
      expect(foreignOrigin.status).toBe(403);

      const wrongMethod = await fetch(isolated.url, { method: "PUT", headers: auth });
      expect(wrongMethod.status).toBe(405);

      const c = await connectLegacy(isolated);
      expect(text(await c.client.callTool({ name: "echo", arguments: { message: "still here" } }))).toBe(
        "Echo: still here",
      );
      await c.close();
    });

    test("2026-07-28 clients (SDK 2.x) are served statelessly on the same URL", async () => {
      for (const mode of ["auto", { pin: "2026-07-28" }] as const) {
        const transport = new ModernTransport(new URL(isolated.url), {
          requestInit: { headers: { authorization: `Bearer ${isolated.token}` } },
        });
        const client = new ModernClient({ name: "modern", version: "2" }, { versionNegotiation: { mode } });
        await client.connect(transport);
        try {
          expect(client.getProtocolEra()).toBe("modern");
          expect(client.getServerVersion()?.name).toBe("mcp-servers/everything");
          const tools = await client.listTools();
          expect(tools.tools.length).toBeGreaterThan(5);
          const echoed = await client.callTool({ name: "echo", arguments: { message: "stateless" } });
          expect(text(echoed)).toBe("Echo: stateless");
          const seen: number[] = [];
          await client.callTool(
            { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 2 } },
            { onprogress: (p: { progress: number }) => seen.push(p.progress) },
          );
          expect(seen).toEqual([1, 2]);
        } finally {
          await client.close();
        }
      }
    });

    test("2026-07-28 clients (SDK 2.x) answer sampling and elicitation through input_required rounds", async () => {
      const { client, connect } = modernClient(isolated, "modern-mrtr", { sampling: {}, elicitation: {} });
      const asked: string[] = [];
      client.setRequestHandler("sampling/createMessage", async (req) => {
        const content = req.params.messages[0]?.content as { text?: string } | undefined;
        asked.push("sampling");
        return {
          role: "assistant",
          model: "test-model",
          content: { type: "text", text: `sampled: ${content?.text ?? ""}` },
        };
      });
      client.setRequestHandler("elicitation/create", async () => {
        asked.push("elicitation");
        return { action: "accept", content: { name: "Ada Lovelace", check: true, email: "ada@example.com" } };
      });
      await connect();
      try {
        expect(client.getProtocolEra()).toBe("modern");
        const sampled = text(
          await client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "modern" } }),
        );
        expect(sampled).toContain("sampled: Resource trigger-sampling-request context: modern");
        const elicited = text(await client.callTool({ name: "trigger-elicitation-request", arguments: {} }));
        expect(elicited).toContain("Ada Lovelace");
        expect(asked).toEqual(["sampling", "elicitation"]);
        // Plain calls still answer in one round, and nothing stays parked.
        expect(text(await client.callTool({ name: "echo", arguments: { message: "after" } }))).toBe(
          "Echo: after",
        );
      } finally {
        await client.close();
      }
    });

    test("2026-07-28 requests are checked against their headers and envelope", async () => {
      const auth = { authorization: `Bearer ${isolated.token}` };
      const meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
      };
      const call = (headers: Record<string, string>, body: Record<string, unknown>) =>
        rawPost(isolated.url, JSON.stringify({ jsonrpc: "2.0", id: 9, ...body }), { ...auth, ...headers });
      const good = { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo" };
      const params = { name: "echo", arguments: { message: "m" }, _meta: meta };

      const ok = await call(good, { method: "tools/call", params });
      expect(ok.status).toBe(200);
      const okBody = await readMessage(ok);
      expect((okBody.result as { resultType: string }).resultType).toBe("complete");

      const mismatch = await call({ ...good, "mcp-name": "other" }, { method: "tools/call", params });
      expect(mismatch.status).toBe(400);
      expect(((await mismatch.json()) as { error: { code: number } }).error.code).toBe(-32020);

      const noMethod = await call({ "mcp-protocol-version": "2026-07-28" }, { method: "tools/call", params });
      expect(noMethod.status).toBe(400);

      const base64Name = await call(
        { ...good, "mcp-name": `=?base64?${Buffer.from("echo").toString("base64")}?=` },
        { method: "tools/call", params },
      );
      expect(base64Name.status).toBe(200);

      const future = await call(
        { ...good, "mcp-protocol-version": "2099-01-01" },
        {
          method: "tools/call",
          params: { ...params, _meta: { ...meta, "io.modelcontextprotocol/protocolVersion": "2099-01-01" } },
        },
      );
      expect(future.status).toBe(400);
      const futureBody = (await future.json()) as { error: { code: number; data: { supported: string[] } } };
      expect(futureBody.error.code).toBe(-32022);
      expect(futureBody.error.data.supported).toEqual(["2026-07-28"]);

      const noCaps = await call(good, {
        method: "tools/call",
        params: { ...params, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
      });
      expect(noCaps.status).toBe(400);
      expect(((await noCaps.json()) as { error: { code: number } }).error.code).toBe(-32602);

      const removed = await call(
        { "mcp-protocol-version": "2026-07-28", "mcp-method": "ping" },
        { method: "ping", params: { _meta: meta } },
      );
      expect(removed.status).toBe(404);
      expect(((await removed.json()) as { error: { code: number } }).error.code).toBe(-32601);

      const discover = await call(
        { "mcp-protocol-version": "2026-07-28", "mcp-method": "server/discover" },
        { method: "server/discover", params: { _meta: meta } },
      );
      expect(discover.status).toBe(200);
      const result = (await discover.json()) as {
        result: {
          supportedVersions: string[];
          capabilities: object;
          _meta: Record<string, { name: string }>;
        };
      };
      expect(result.result.supportedVersions).toEqual(["2026-07-28"]);
      expect(result.result._meta["io.modelcontextprotocol/serverInfo"]?.name).toBe("mcp-servers/everything");

      // Errors carry the request id; a header/body version disagreement is a header mismatch.
      const versionMismatch = await call(
        { ...good, "mcp-protocol-version": "2026-07-28" },
        {
          method: "tools/call",
          params: { ...params, _meta: { ...meta, "io.modelcontextprotocol/protocolVersion": "2099-01-01" } },
        },
      );
      expect(versionMismatch.status).toBe(400);
      const mismatchBody = (await versionMismatch.json()) as { id: number; error: { code: number } };
      expect(mismatchBody).toMatchObject({ id: 9, error: { code: -32020 } });

      // The upstream asks for sampling during the call: without the capability declared that is
      // -32021 (400); declared, the client gets input_required, and its retry with the answer
      // (a new id, the same params) gets the tool's result.
      const sampling = { ...good, "mcp-name": "trigger-sampling-request" };
      const samplingParams = { name: "trigger-sampling-request", arguments: { prompt: "hi" } };
      const undeclared = await call(sampling, {
        method: "tools/call",
        params: { ...samplingParams, _meta: meta },
      });
      expect(undeclared.status).toBe(400);
      expect((await undeclared.json()) as { id: number; error: { code: number } }).toMatchObject({
        id: 9,
        error: { code: -32021 },
      });
      const withSampling = { ...meta, "io.modelcontextprotocol/clientCapabilities": { sampling: {} } };
      const declared = await call(sampling, {
        method: "tools/call",
        params: { ...samplingParams, _meta: withSampling },
      });
      const round = (await readMessage(declared)).result as {
        resultType: string;
        inputRequests: Record<string, { method: string; params: { messages: unknown[] } }>;
        requestState: string;
      };
      expect(round.resultType).toBe("input_required");
      const [key, question] = Object.entries(round.inputRequests)[0] ?? [];
      expect(question?.method).toBe("sampling/createMessage");
      expect(round.requestState).toMatch(/^cwrs_/);
      const answer = { role: "assistant", model: "m", content: { type: "text", text: "raw answer" } };
      const retry = (extra: Record<string, unknown>, id = 10) =>
        rawPost(
          isolated.url,
          JSON.stringify({
            jsonrpc: "2.0",
            id,
            method: "tools/call",
            params: { ...samplingParams, _meta: withSampling, ...extra },
          }),
          { ...auth, ...sampling },
        );
      // A retry that changes the params, or names a state nobody holds, is refused; the call
      // stays parked for the real retry.
      const changed = await rawPost(
        isolated.url,
        JSON.stringify({
          jsonrpc: "2.0",
          id: 11,
          method: "tools/call",
          params: {
            name: "trigger-sampling-request",
            arguments: { prompt: "other" },
            _meta: withSampling,
            requestState: round.requestState,
            inputResponses: { [key as string]: answer },
          },
        }),
        { ...auth, ...sampling },
      );
      expect(changed.status).toBe(400);
      expect(((await changed.json()) as { error: { message: string } }).error.message).toContain(
        "belongs to another request",
      );
      const unknown = await retry({ requestState: "cwrs_nobody", inputResponses: {} }, 12);
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as { id: number; error: { code: number } }).error.code).toBe(-32602);
      const final = await readMessage(
        await retry({ requestState: round.requestState, inputResponses: { [key as string]: answer } }),
      );
      expect(final.id).toBe(10);
      expect(JSON.stringify(final.result)).toContain("raw answer");
      // The state was for one round only.
      const replay = await retry({ requestState: round.requestState, inputResponses: {} }, 13);
      expect(replay.status).toBe(400);

      const batch = await rawPost(
        isolated.url,
        JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: meta } }]),
        {
          ...auth,
          "mcp-protocol-version": "2026-07-28",
        },
      );
      expect(batch.status).toBe(400);
    });
  });
}
