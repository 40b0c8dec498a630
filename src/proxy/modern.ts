import { MODERN_VERSIONS } from "../mcp/handshake.ts";
import {
  ErrorCode,
  failure,
  isRequest,
  isResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  kindOf,
  notification,
  type Params,
  success,
} from "../mcp/jsonrpc.ts";
import type { InitializeResult } from "../runtime/types.ts";
import type { Gateway, GatewayTarget } from "./gateway.ts";
import { jsonResponse, rpcError } from "./http.ts";
import type { Downstream, Mux } from "./mux.ts";
import { Leg, type ParkedOwner, requestDigest } from "./rounds.ts";
import { SseConnection } from "./stream.ts";

/**
 * The stateless 2026-07-28 revision on the same endpoint: every request carries its protocol
 * version and client capabilities in `_meta` and mirrors method and name in headers. It is served
 * by the deployment's shared upstream (a 2025-era server behind a stdio pipe has no notion of
 * sessions for these clients to lose). Server-to-client requests (sampling, elicitation, roots)
 * reach the client as `input_required` rounds (`ModernCall`).
 */
const VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
const CAPS_KEY = "io.modelcontextprotocol/clientCapabilities";
const SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo";
const SUBSCRIPTION_KEY = "io.modelcontextprotocol/subscriptionId";
const FIRST_MODERN = "2026-07-28";

/** Methods the stateless revision removed; a modern request naming them is "method not found". */
const REMOVED = new Set([
  "initialize",
  "ping",
  "logging/setLevel",
  "resources/subscribe",
  "resources/unsubscribe",
]);
/** Results that carry cache hints (`ttlMs`, `cacheScope`) in 2026-07-28. */
const CACHEABLE = new Set([
  "tools/list",
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "resources/read",
]);
const NAMED: Record<string, "name" | "uri"> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

function meta(body: unknown): Params | undefined {
  const params = (body as { params?: unknown })?.params;
  if (typeof params !== "object" || params === null) return undefined;
  const m = (params as { _meta?: unknown })._meta;
  return typeof m === "object" && m !== null && !Array.isArray(m) ? (m as Params) : undefined;
}

/** Body-primary classification: a `_meta` protocol-version claim, or a modern version header. */
export function isModern(request: Request, body: unknown): boolean {
  if (Array.isArray(body)) return body.some((m) => meta(m)?.[VERSION_KEY] !== undefined);
  if (meta(body)?.[VERSION_KEY] !== undefined) return true;
  const header = request.headers.get("mcp-protocol-version")?.trim();
  return header !== undefined && header >= FIRST_MODERN;
}

function headerMismatch(message: string, id: JsonRpcId | null): Response {
  return rpcError(400, ErrorCode.headerMismatch, `Header mismatch: ${message}`, { id });
}

/** Decodes `=?base64?…?=` header values; undefined when the sentinel is malformed. */
export function decodeHeaderValue(value: string): string | undefined {
  if (!(value.startsWith("=?base64?") && value.endsWith("?="))) return value;
  const b64 = value.slice(9, -2);
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(b64, "base64"));
  } catch {
    return undefined;
  }
}

/**
 * The checks of 2026-07-28 in the reference order: shape, envelope claim, header/body agreement
 * (-32020), supported version (-32022), standard headers, capabilities envelope (-32602). Every
 * error after the body parsed carries the request's id.
 */
function validate(request: Request, body: unknown): Response | JsonRpcRequest | "notification" {
  if (Array.isArray(body))
    return rpcError(400, ErrorCode.invalidRequest, "Batches are not part of protocol 2026-07-28.");
  const kind = kindOf(body);
  const rawId = (body as { id?: unknown } | null)?.id;
  const id: JsonRpcId | null = typeof rawId === "string" || typeof rawId === "number" ? rawId : null;
  if (kind === "invalid")
    return rpcError(400, ErrorCode.invalidRequest, "Invalid Request: not a JSON-RPC 2.0 message.", { id });
  if (kind === "response")
    return rpcError(400, ErrorCode.invalidRequest, "Clients do not send responses in protocol 2026-07-28.", {
      id,
    });
  const msg = body as JsonRpcRequest;
  const m = meta(body);
  const header = request.headers.get("mcp-protocol-version")?.trim();
  const claimed = m?.[VERSION_KEY];
  if (claimed === undefined || typeof claimed !== "string") {
    return rpcError(400, ErrorCode.invalidParams, `Invalid params: _meta["${VERSION_KEY}"] is required.`, {
      id,
      data: { envelope: { missing: [VERSION_KEY] } },
    });
  }
  if (header !== undefined && header !== claimed)
    return headerMismatch(`MCP-Protocol-Version ${header} but _meta names ${claimed}.`, id);
  const method = request.headers.get("mcp-method")?.trim();
  if (method !== undefined && method !== msg.method)
    return headerMismatch(`Mcp-Method ${method} but the body names ${msg.method}.`, id);
  if (!(MODERN_VERSIONS as readonly string[]).includes(claimed)) {
    return rpcError(400, ErrorCode.unsupportedVersion, `Unsupported protocol version ${claimed}.`, {
      id,
      data: { supported: [...MODERN_VERSIONS], requested: claimed },
    });
  }
  if (kind === "notification") return "notification";
  if (header === undefined) return headerMismatch("the MCP-Protocol-Version header is required.", id);
  if (method === undefined) return headerMismatch("the Mcp-Method header is required.", id);
  const field = NAMED[msg.method];
  if (field) {
    const bodyValue = msg.params?.[field];
    const raw = request.headers.get("mcp-name")?.trim();
    if (raw === undefined) {
      if (typeof bodyValue === "string")
        return headerMismatch(`the Mcp-Name header is required for ${msg.method}.`, id);
    } else {
      const decoded = decodeHeaderValue(raw);
      if (decoded === undefined)
        return headerMismatch("the Mcp-Name header carries an invalid base64 sentinel.", id);
      if (typeof bodyValue === "string" && decoded !== bodyValue) {
        return headerMismatch(
          `Mcp-Name ${JSON.stringify(decoded)} but params.${field} is ${JSON.stringify(bodyValue)}.`,
          id,
        );
      }
    }
  }
  const caps = m?.[CAPS_KEY];
  if (typeof caps !== "object" || caps === null || Array.isArray(caps)) {
    return rpcError(400, ErrorCode.invalidParams, `Invalid params: _meta["${CAPS_KEY}"] is required.`, {
      id,
      data: { envelope: { missing: [CAPS_KEY] } },
    });
  }
  return msg;
}

/** The upstream's own handshake, restated as a 2026-07-28 `server/discover` result. */
export function discoverResult(init: InitializeResult): Record<string, unknown> {
  const result: Record<string, unknown> = {
    supportedVersions: [...MODERN_VERSIONS],
    capabilities: init.capabilities,
    resultType: "complete",
    ttlMs: 0,
    cacheScope: "private",
    _meta: { [SERVER_INFO_KEY]: init.serverInfo },
  };
  if (init.instructions) result.instructions = init.instructions;
  return result;
}

/** Strips the per-request envelope before a 2025-era upstream sees the request. */
function legacyParams(params: Params | undefined): Params | undefined {
  const m = params?._meta as Params | undefined;
  if (!m) return params;
  const rest: Params = {};
  for (const [k, v] of Object.entries(m)) if (!k.startsWith("io.modelcontextprotocol/")) rest[k] = v;
  const { _meta: _ignored, ...others } = params as Params;
  return Object.keys(rest).length ? { ...others, _meta: rest } : others;
}

/** Adds what 2026-07-28 requires on results and maps error codes the revision retired. */
function modernize(m: JsonRpcMessage, request: JsonRpcRequest, init: InitializeResult): JsonRpcMessage {
  if (!isResponse(m)) return m;
  const method = request.method;
  if ("error" in m) {
    // -32002 is retired; a missing resource is -32602 carrying the URI (SEP-2164).
    const notFound =
      m.error.code === -32002 || (method === "resources/read" && m.error.code === ErrorCode.invalidParams);
    if (!notFound) return m;
    const uri = request.params?.uri;
    const data = (m.error.data as Params | undefined) ?? {};
    return {
      ...m,
      error: {
        ...m.error,
        code: ErrorCode.invalidParams,
        data: typeof uri === "string" && data.uri === undefined ? { ...data, uri } : data,
      },
    };
  }
  const result: Record<string, unknown> = { ...m.result, resultType: "complete" };
  const resultMeta = (m.result._meta as Params | undefined) ?? {};
  result._meta = { ...resultMeta, [SERVER_INFO_KEY]: init.serverInfo };
  if (CACHEABLE.has(method)) {
    if (result.ttlMs === undefined) result.ttlMs = 0;
    if (result.cacheScope === undefined) result.cacheScope = "private";
  }
  return { ...m, result };
}

export async function handleModern(
  gateway: Gateway,
  request: Request,
  target: GatewayTarget,
  body: unknown,
  tokenId: string | undefined,
): Promise<Response> {
  const checked = validate(request, body);
  if (checked instanceof Response) return checked;
  if (checked === "notification") return new Response(null, { status: 202 });
  const msg = checked;
  if (REMOVED.has(msg.method)) {
    return rpcError(
      404,
      ErrorCode.methodNotFound,
      `Method not found: ${msg.method} is not part of protocol 2026-07-28.`,
      { id: msg.id },
    );
  }
  const upstream = await target.pool.shared();
  if (msg.method === "server/discover") return jsonResponse(success(msg.id, discoverResult(upstream.init)));
  const mux = gateway.muxFor(upstream);
  if (msg.method === "subscriptions/listen") return listen(gateway, request, mux, msg);
  return forward(gateway, request, target, mux, msg, tokenId);
}

/** One stateless request, or one listen stream, as a short-lived party of the shared upstream. */
function party(
  label: string,
  onClosed: () => void,
  unsolicited: (m: JsonRpcMessage) => void = () => {},
  capabilities: Record<string, unknown> = {},
  refused?: (method: string, capability: string) => void,
  quiet?: () => boolean,
): Downstream {
  return {
    label,
    capabilities,
    unsolicited,
    upstreamClosed: onClosed,
    transient: true,
    ...(refused ? { refused } : {}),
    ...(quiet ? { quiet } : {}),
  };
}

/** The only requests 2026-07-28 lets answer with `input_required`. */
const INPUT_METHODS = new Set(["tools/call", "prompts/get", "resources/read"]);
/** How long an upstream answer that came while nobody was asking is kept for the retry. */
const FINAL_KEEP_MS = 60_000;
/**
 * After a call is parked, how long a new server request may still be one of its own (questions
 * the server sent together but that arrived in separate reads); later ones go to other calls.
 */
const SETTLE_MS = 250;
/** How long a parked call waits for its client when requests have no timeout. */
const PARKED_MAX_MS = 30 * 60_000;
/** How long the first question of a round waits for the ones the server sends with it. */
const BATCH_MS = 10;

function progressTokenOf(msg: JsonRpcRequest): string | number | undefined {
  const token = meta(msg)?.progressToken;
  return typeof token === "string" || typeof token === "number" ? token : undefined;
}

/**
 * One stateless call on the shared upstream, over one or more rounds. When the upstream asks the
 * client something (sampling, elicitation, roots) during a `tools/call`, `prompts/get` or
 * `resources/read`, the upstream call is parked: the client gets `input_required` with the
 * questions and a `requestState`, and its retry (a new request id, the same params plus
 * `inputResponses` and the state) answers the upstream's pending requests and receives the rest of
 * the call. Progress goes to whichever round is listening; nothing is re-executed.
 */
export class ModernCall {
  readonly owner: ParkedOwner;
  private leg: Leg | undefined;
  private readonly d: Downstream;
  private readonly questions = new Map<string, JsonRpcRequest>();
  private asked = 0;
  private askQueued = false;
  /** When the call was last parked (undefined while a round listens). */
  private parkedAt: number | undefined;
  private state: string | undefined;
  private final: JsonRpcMessage | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;

  constructor(
    private readonly gateway: Gateway,
    private readonly target: GatewayTarget,
    private readonly mux: Mux,
    private readonly first: JsonRpcRequest,
    tokenId: string | undefined,
  ) {
    this.owner = { deploymentId: target.id, tokenId, digest: requestDigest(first) };
    const declared = (meta(first)?.[CAPS_KEY] as Record<string, unknown> | undefined) ?? {};
    this.d = party(
      `request ${String(first.id)}`,
      () => {},
      () => {},
      declared,
      (method, capability) =>
        this.fail(
          ErrorCode.missingCapability,
          `Missing required client capability: ${capability} (the server asked for ${method}).`,
          { requiredCapabilities: { [capability]: {} } },
        ),
      () => this.parkedAt !== undefined && performance.now() - this.parkedAt > SETTLE_MS,
    );
  }

  /** Sends the call upstream; its answers go to `leg`. */
  start(leg: Leg): void {
    this.leg = leg;
    this.mux.attach(this.d);
    const sink = this.gateway.observed(this.target, undefined, this.first, {
      message: (m) => this.fromUpstream(m),
      end: () => this.end(),
    });
    const timeout = this.gateway.deps.config.requestTimeoutMs;
    this.mux.request(this.d, { ...this.first, params: legacyParams(this.first.params) }, sink, timeout);
  }

  /** A retry with answers: they go to the upstream's pending requests, and `leg` listens from now on. */
  resume(retry: JsonRpcRequest, leg: Leg): void {
    this.clearTimer();
    this.state = undefined;
    this.parkedAt = undefined;
    if (this.final) {
      leg.deliver(withId(this.final, leg.id));
      this.end();
      return;
    }
    const answers = retry.params?.inputResponses;
    const given = answers && typeof answers === "object" && !Array.isArray(answers) ? answers : {};
    for (const [key, question] of this.questions) {
      const answer = (given as Record<string, unknown>)[key];
      if (!answer || typeof answer !== "object" || Array.isArray(answer)) continue;
      this.questions.delete(key);
      this.mux.respond(this.d, success(question.id, answer as Params));
    }
    this.leg = leg;
    // A question left unanswered (or asked meanwhile) is asked again in a new round.
    if (this.questions.size > 0) this.ask();
  }

  /** The client went away while a round was listening: the whole call ends upstream. */
  cancel(why: string): void {
    if (this.ended) return;
    this.mux.cancel(this.d, this.first.id, why);
    this.end();
  }

  private fromUpstream(m: JsonRpcMessage): void {
    if (isRequest(m)) {
      this.question(m);
      return;
    }
    const out = modernize(m, this.first, this.mux.init);
    const leg = this.leg;
    if (!isResponse(out)) {
      if (leg) leg.deliver(retoken(out, leg.progressToken));
      return;
    }
    if (leg) {
      leg.deliver(withId(out, leg.id));
      this.end();
      return;
    }
    // The call ended between rounds (a timeout, the server gave up): the retry gets the answer.
    this.final = out;
    this.mux.detach(this.d);
    this.armTimer(FINAL_KEEP_MS);
  }

  /** The upstream asks the client something during this call. */
  private question(m: JsonRpcRequest): void {
    if (!INPUT_METHODS.has(this.first.method)) {
      this.mux.respond(
        this.d,
        failure(m.id, ErrorCode.methodNotFound, `${m.method} cannot reach a 2026-07-28 client here.`),
      );
      this.fail(
        ErrorCode.internalError,
        `The server asked for ${m.method} during ${this.first.method}; protocol 2026-07-28 carries client input only for tools/call, prompts/get and resources/read.`,
      );
      return;
    }
    this.questions.set(`q${++this.asked}`, m);
    // Questions the server sends together (written back to back) go out in one round.
    if (this.leg && !this.askQueued) {
      this.askQueued = true;
      setTimeout(() => {
        this.askQueued = false;
        this.ask();
      }, BATCH_MS);
    }
  }

  /** Ends the listening round with `input_required` for every open question and parks the call. */
  private ask(): void {
    const leg = this.leg;
    if (!leg) return;
    this.leg = undefined;
    this.parkedAt = performance.now();
    this.state = this.gateway.parked.park(this, this.state);
    const inputRequests: Record<string, unknown> = {};
    for (const [key, q] of this.questions) {
      inputRequests[key] =
        q.params === undefined ? { method: q.method } : { method: q.method, params: q.params };
    }
    leg.deliver(
      success(leg.id, {
        resultType: "input_required",
        inputRequests,
        requestState: this.state,
        _meta: { [SERVER_INFO_KEY]: this.mux.init.serverInfo },
      }),
    );
    // The upstream's own request timeout ends a call nobody answers; this only cleans up after it
    // (without a request timeout, a call nobody comes back for ends after PARKED_MAX_MS).
    const timeout = this.gateway.deps.config.requestTimeoutMs;
    this.armTimer(timeout > 0 ? timeout + FINAL_KEEP_MS : PARKED_MAX_MS);
  }

  /** Answers the client with an error and ends the call upstream. */
  private fail(code: number, message: string, data?: unknown): void {
    const leg = this.leg;
    if (this.ended) return;
    this.mux.cancel(this.d, this.first.id, "the request needs client input the gateway cannot relay");
    if (leg) leg.deliver(failure(leg.id, code, message, data));
    this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.leg = undefined;
    this.clearTimer();
    this.gateway.parked.drop(this.state);
    this.mux.detach(this.d);
  }

  private armTimer(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => this.cancel("the client did not come back for the call"), ms);
    this.timer.unref?.();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function withId(m: JsonRpcMessage, id: JsonRpcId): JsonRpcMessage {
  return isResponse(m) ? { ...m, id } : m;
}

/** Progress of a later round carries that round's own token. */
function retoken(m: JsonRpcMessage, token: string | number | undefined): JsonRpcMessage {
  const n = m as JsonRpcNotification;
  if (n.method !== "notifications/progress" || token === undefined) return m;
  return { ...n, params: { ...n.params, progressToken: token } };
}

async function forward(
  gateway: Gateway,
  request: Request,
  target: GatewayTarget,
  mux: Mux,
  msg: JsonRpcRequest,
  tokenId: string | undefined,
): Promise<Response> {
  const leg = new Leg(msg.id, progressTokenOf(msg));
  const state = msg.params?.requestState;
  let call: ModernCall;
  if (state !== undefined) {
    const found =
      typeof state === "string"
        ? gateway.parked.take(state, { deploymentId: target.id, tokenId, digest: requestDigest(msg) })
        : "requestState must be the string the server sent.";
    if (typeof found === "string") {
      return rpcError(400, ErrorCode.invalidParams, `Invalid params: ${found}`, { id: msg.id });
    }
    call = found;
    call.resume(msg, leg);
  } else {
    call = new ModernCall(gateway, target, mux, msg, tokenId);
    call.start(leg);
  }
  return leg.response(request, gateway.deps.config.keepAliveMs, (why) => call.cancel(why));
}

const LIST_CHANGED: Record<string, string> = {
  toolsListChanged: "notifications/tools/list_changed",
  promptsListChanged: "notifications/prompts/list_changed",
  resourcesListChanged: "notifications/resources/list_changed",
};

/** `subscriptions/listen`: acknowledge what is honoured, then fan out matching change notifications. */
function listen(gateway: Gateway, request: Request, mux: Mux, msg: JsonRpcRequest): Response {
  const filter = (msg.params?.filter ?? msg.params ?? {}) as Record<string, unknown>;
  const wanted = new Set(
    Object.entries(LIST_CHANGED)
      .filter(([k]) => filter[k] === true)
      .map(([, v]) => v),
  );
  const uris = Array.isArray(filter.resourceSubscriptions) ? filter.resourceSubscriptions.map(String) : [];
  const subscriptionId = msg.id;
  const stamp = (m: JsonRpcMessage): JsonRpcMessage => {
    const n = m as JsonRpcNotification;
    const params: Params = {
      ...n.params,
      _meta: { ...(n.params?._meta as Params | undefined), [SUBSCRIPTION_KEY]: subscriptionId },
    };
    return { jsonrpc: "2.0", method: n.method, params };
  };
  let conn: SseConnection | undefined;
  const d = party(
    `listen ${String(msg.id)}`,
    () => conn?.close(),
    (m) => {
      const method = (m as { method?: string }).method ?? "";
      const uri = String((m as { params?: Params }).params?.uri ?? "");
      const relevant =
        wanted.has(method) || (method === "notifications/resources/updated" && uris.includes(uri));
      if (relevant) conn?.event(undefined, JSON.stringify(stamp(m)));
    },
  );
  conn = new SseConnection({
    keepAliveMs: gateway.deps.config.keepAliveMs,
    headers: {},
    signal: request.signal,
    onClose: () => mux.detach(d),
  });
  mux.attach(d, uris);
  const honoured: Record<string, unknown> = {};
  for (const k of Object.keys(LIST_CHANGED)) if (filter[k] === true) honoured[k] = true;
  if (uris.length) honoured.resourceSubscriptions = uris;
  conn.event(
    undefined,
    JSON.stringify(stamp(notification("notifications/subscriptions/acknowledged", { filter: honoured }))),
  );
  return conn.response;
}
