/**
 * 2026-07-28 multi-round-trip requests (`input_required`) through the gateway, against the echo
 * fixture's `interview` tool: a 2025-era stdio server that asks the client two questions at once,
 * then a third. Raw HTTP checks the wire (one round per batch of questions, a fresh requestState
 * per round, unanswered questions asked again, who may resume); the SDK 2.x client checks that a
 * real client completes it on its own.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Deployed, deploy, modernClient, rawPost } from "../helpers/mcp.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

let srv: TestServer;
let dep: Deployed;

beforeAll(async () => {
  srv = await startTestServer({ env: { CATWALK_LOCAL_ALLOW_COMMANDS: "true" } });
  const argv = fixtureArgv("echo-server.ts");
  dep = await deploy(srv, { command: argv, name: "interview" });
}, 60_000);
afterAll(() => srv.close());

const META = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": { sampling: {}, elicitation: {} },
};
const HEADERS = { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "interview" };

interface Round {
  resultType: string;
  inputRequests?: Record<string, { method: string; params: { message?: string } }>;
  requestState?: string;
  content?: { text: string }[];
}

async function interview(id: number, extra: Record<string, unknown> = {}, token = dep.token) {
  const res = await rawPost(
    dep.url,
    JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "interview", arguments: {}, _meta: META, ...extra },
    }),
    { authorization: `Bearer ${token}`, ...HEADERS },
  );
  const body = (await res.json()) as {
    id: number;
    result?: Round;
    error?: { code: number; message: string };
  };
  return { status: res.status, ...body };
}

const elicited = (field: string, value: string) => ({
  action: "accept" as const,
  content: { [field]: value },
});

/** Answers every round of a parked interview until it completes (nothing stays parked). */
async function finish(first: Round | undefined, id = 100): Promise<string | undefined> {
  let round = first;
  for (let i = 0; round?.resultType === "input_required" && i < 5; i++) {
    const answers: Record<string, unknown> = {};
    for (const [key, q] of Object.entries(round.inputRequests ?? {})) {
      answers[key] =
        q.method === "sampling/createMessage"
          ? sampled("fine")
          : elicited(q.params.message?.includes("name") ? "name" : "colour", "x");
    }
    round = (await interview(id + i, { requestState: round.requestState, inputResponses: answers })).result;
  }
  return round?.content?.[0]?.text;
}
const sampled = (text: string) => ({ role: "assistant", model: "m", content: { type: "text", text } });

describe("input_required rounds for 2026-07-28 clients", () => {
  test("questions asked together come in one round; an unanswered one is asked again; each round has its own state; the last retry gets the result", async () => {
    const r1 = await interview(1);
    expect(r1.status).toBe(200);
    expect(r1.id).toBe(1);
    expect(r1.result?.resultType).toBe("input_required");
    const q1 = r1.result?.inputRequests ?? {};
    const methods = Object.values(q1)
      .map((q) => q.method)
      .sort();
    expect(methods).toEqual(["elicitation/create", "sampling/createMessage"]);
    const nameKey = Object.keys(q1).find((k) => q1[k]?.method === "elicitation/create") as string;
    const sayKey = Object.keys(q1).find((k) => q1[k]?.method === "sampling/createMessage") as string;

    // Only the sampling answer: the name is asked again, under a new state.
    const r2 = await interview(2, {
      requestState: r1.result?.requestState,
      inputResponses: { [sayKey]: sampled("hello") },
    });
    expect(r2.id).toBe(2);
    expect(r2.result?.resultType).toBe("input_required");
    expect(Object.keys(r2.result?.inputRequests ?? {})).toEqual([nameKey]);
    expect(r2.result?.requestState).not.toBe(r1.result?.requestState);

    // The name: the server goes on to its next question.
    const r3 = await interview(3, {
      requestState: r2.result?.requestState,
      inputResponses: { [nameKey]: elicited("name", "Ada") },
    });
    expect(r3.result?.resultType).toBe("input_required");
    const [colourKey, colourQ] = Object.entries(r3.result?.inputRequests ?? {})[0] ?? [];
    expect(colourQ?.params.message).toBe("Your favourite colour?");

    const done = await interview(4, {
      requestState: r3.result?.requestState,
      inputResponses: { [colourKey as string]: elicited("colour", "teal") },
    });
    expect(done.id).toBe(4);
    expect(done.result?.resultType).toBe("complete");
    expect(done.result?.content?.[0]?.text).toBe('Ada said "hello" and likes teal');

    // Every state was for one round; none works again.
    for (const old of [r1, r2, r3]) {
      const again = await interview(5, { requestState: old.result?.requestState, inputResponses: {} });
      expect(again.status).toBe(400);
      expect(again.error?.message).toContain("Unknown or expired requestState");
    }
  });

  test("a parked call can be resumed only with the same token and the same request", async () => {
    const r1 = await interview(1);
    const state = r1.result?.requestState;
    const res = await srv.api(`/api/deployments/${dep.id}/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "other" }),
    });
    const other = ((await res.json()) as { token: string }).token;
    const stranger = await interview(2, { requestState: state, inputResponses: {} }, other);
    expect(stranger.status).toBe(400);
    expect(stranger.error?.code).toBe(-32602);
    expect(stranger.error?.message).toContain("belongs to another request");
    expect(stranger.error?.message).not.toContain(other);
    // The owner can still go on: the refusal did not use the state up.
    const owner = await interview(3, { requestState: state, inputResponses: {} });
    expect(owner.result?.resultType).toBe("input_required");
    expect(Object.keys(owner.result?.inputRequests ?? {})).toHaveLength(2);
    expect(await finish(owner.result)).toBe('x said "fine" and likes x');
  });

  test("a call its client abandoned between rounds does not take the questions of later calls", async () => {
    const abandoned = await interview(1);
    expect(abandoned.result?.resultType).toBe("input_required");
    await Bun.sleep(400);
    const next = await interview(2);
    expect(next.result?.resultType).toBe("input_required");
    expect(Object.keys(next.result?.inputRequests ?? {})).toHaveLength(2);
    expect(next.result?.requestState).not.toBe(abandoned.result?.requestState);
    expect(await finish(next.result)).toBe('x said "fine" and likes x');
  });

  test("the SDK 2.x client fulfils every round with its own handlers and gets the result", async () => {
    const { client, connect } = modernClient(dep, "rounds", { sampling: {}, elicitation: {} });
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", async (req) => {
      const message = (req.params as { message?: string }).message ?? "";
      asked.push(message);
      return message.includes("name") ? elicited("name", "Grace") : elicited("colour", "green");
    });
    client.setRequestHandler("sampling/createMessage", async () => {
      asked.push("sampling");
      return { role: "assistant", model: "m", content: { type: "text", text: "hi there" } };
    });
    await connect();
    try {
      const result = await client.callTool({ name: "interview", arguments: {} });
      const text = (result.content as { text: string }[])[0]?.text;
      expect(text).toBe('Grace said "hi there" and likes green');
      expect(asked.sort()).toEqual(["Your favourite colour?", "Your name?", "sampling"]);
    } finally {
      await client.close();
    }
  });
});
