import { randomBytes } from "node:crypto";
import { type Fake, json, startFake } from "./http.ts";

/**
 * A fake Anthropic Messages API that `@anthropic-ai/sdk` talks to unmodified (`baseURL`):
 * `POST /v1/messages` checks the key, sent as `x-api-key` (the documented header) or as
 * `Authorization: Bearer` (what SDK 1.12 sends); otherwise 401 `authentication_error`; it checks
 * `anthropic-version` (400), validates the body like the API does (model, max_tokens, messages,
 * tool_choice naming a declared tool), and answers scripted turns:
 *
 *   const claude = await startFakeAnthropic({ apiKey: "sk-ant-test" });
 *   claude.script(
 *     { toolUse: { ...input } },                                   // content [{type:"tool_use", id, name, input}], stop_reason "tool_use"
 *     { text: "I think…" },                                        // a text-only answer, stop_reason "end_turn"
 *     { error: 429, retryAfter: 1 },                               // {type:"error", error:{type:"rate_limit_error", …}} + retry-after
 *     { error: 500 }, { error: 529 },                              // api_error, overloaded_error
 *     { delayMs: 3000, answer: { toolUse: {...} } },                 // slow answer (client timeouts)
 *   );
 *   claude.respond((req) => ({ toolUse: … }));                      // answer when the script is empty
 *   claude.bodies                                                   // parsed request bodies
 */
export type Turn =
  | { toolUse: unknown; name?: string }
  | { text: string }
  | { error: 400 | 401 | 403 | 404 | 413 | 429 | 500 | 529; message?: string; retryAfter?: number }
  | { delayMs: number; answer: Turn };

export interface MessagesRequest {
  model: string;
  max_tokens: number;
  system?: string | { type: string; text: string }[];
  messages: { role: "user" | "assistant"; content: unknown }[];
  tools?: { name: string; description?: string; input_schema: unknown }[];
  tool_choice?: { type: string; name?: string };
}

export interface FakeAnthropic extends Fake {
  script(...turns: Turn[]): void;
  respond(fn: (req: MessagesRequest) => Turn): void;
  readonly bodies: MessagesRequest[];
}

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

function apiError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return json({ type: "error", error: { type: ERROR_TYPES[status] ?? "api_error", message } }, status, {
    "request-id": `req_${randomBytes(12).toString("hex")}`,
    ...headers,
  });
}

function invalid(body: unknown): string | undefined {
  const b = body as Partial<MessagesRequest> | undefined;
  if (!b || typeof b !== "object") return "body: not a JSON object";
  if (typeof b.model !== "string") return "model: Field required";
  if (typeof b.max_tokens !== "number") return "max_tokens: Field required";
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    return "messages: at least one message is required";
  if (b.messages[0]?.role !== "user") return 'messages: first message must use the "user" role';
  const tc = b.tool_choice;
  if (tc?.type === "tool" && !(b.tools ?? []).some((t) => t.name === tc.name))
    return `tool_choice: tool '${tc.name}' not found in tools`;
  return undefined;
}

async function answer(turn: Turn, req: MessagesRequest): Promise<Response> {
  if ("delayMs" in turn) {
    await Bun.sleep(turn.delayMs);
    return answer(turn.answer, req);
  }
  if ("error" in turn) {
    const headers: Record<string, string> =
      turn.retryAfter !== undefined ? { "retry-after": String(turn.retryAfter) } : {};
    const message =
      turn.message ??
      (turn.error === 429
        ? "Number of request tokens has exceeded your per-minute rate limit"
        : turn.error === 529
          ? "Overloaded"
          : "Internal server error");
    return apiError(turn.error, message, headers);
  }
  const content =
    "toolUse" in turn
      ? [
          {
            type: "tool_use",
            id: `toolu_${randomBytes(12).toString("hex")}`,
            name: turn.name ?? req.tool_choice?.name ?? req.tools?.[0]?.name ?? "tool",
            input: turn.toolUse,
          },
        ]
      : [{ type: "text", text: turn.text }];
  return json(
    {
      id: `msg_${randomBytes(12).toString("hex")}`,
      type: "message",
      role: "assistant",
      model: req.model,
      content,
      stop_reason: "toolUse" in turn ? "tool_use" : "end_turn",
      stop_sequence: null,
      usage: {
        input_tokens: Math.ceil(JSON.stringify(req).length / 4),
        output_tokens: Math.ceil(JSON.stringify(content).length / 4),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    },
    200,
    { "request-id": `req_${randomBytes(12).toString("hex")}`, "anthropic-organization-id": "org_fake" },
  );
}

export async function startFakeAnthropic(opts: { apiKey: string }): Promise<FakeAnthropic> {
  const queue: Turn[] = [];
  const bodies: MessagesRequest[] = [];
  let fallback: ((req: MessagesRequest) => Turn) | undefined;
  const fake = await startFake("anthropic", async (req, url, raw) => {
    if (req.method !== "POST" || url.pathname !== "/v1/messages")
      return apiError(404, `Not found: ${req.method} ${url.pathname}`);
    const given =
      req.headers.get("x-api-key") ?? /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
    if (given !== opts.apiKey) return apiError(401, "invalid x-api-key");
    if (!req.headers.get("anthropic-version")) return apiError(400, "anthropic-version: header is required");
    let body: MessagesRequest;
    try {
      body = JSON.parse(raw) as MessagesRequest;
    } catch {
      return apiError(400, "There was an issue with your request body: invalid JSON");
    }
    const problem = invalid(body);
    if (problem) return apiError(400, problem);
    bodies.push(body);
    const turn = queue.shift() ?? fallback?.(body);
    if (!turn) return apiError(500, "fake: no scripted answer left");
    return answer(turn, body);
  });
  return {
    ...fake,
    bodies,
    script: (...turns) => queue.push(...turns),
    respond: (fn) => {
      fallback = fn;
    },
  };
}
