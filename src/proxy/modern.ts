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
import { SseConnection } from "./stream.ts";

/**
 * The stateless 2026-07-28 revision on the same endpoint: every request carries its protocol
 * version and client capabilities in `_meta` and mirrors method and name in headers. It is served
 * by the deployment's shared upstream (a 2025-era server behind a stdio pipe has no notion of
 * sessions for these clients to lose). Server-to-client requests (sampling, elicitation, roots)
 * would need `input_required` translation, which is not implemented: the upstream gets an error.
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
  return forward(gateway, request, target, mux, msg);
}

/** One stateless request as a short-lived party of the shared upstream. */
/** One stateless request, or one listen stream, as a short-lived party of the shared upstream. */
function party(
  label: string,
  onClosed: () => void,
  unsolicited: (m: JsonRpcMessage) => void = () => {},
  capabilities: Record<string, unknown> = {},
  refused?: (method: string, capability: string) => void,
): Downstream {
  return {
    label,
    capabilities,
    unsolicited,
    upstreamClosed: onClosed,
    transient: true,
    ...(refused ? { refused } : {}),
  };
}

async function forward(
  gateway: Gateway,
  request: Request,
  target: GatewayTarget,
  mux: Mux,
  msg: JsonRpcRequest,
): Promise<Response> {
  const init = mux.init;
  const queue: JsonRpcMessage[] = [];
  let wake: (() => void) | undefined;
  let conn: SseConnection | undefined;
  let finished = false;
  const declared = (meta(msg)?.[CAPS_KEY] as Record<string, unknown> | undefined) ?? {};
  // The gateway answers the client itself (and cancels the upstream call) when the upstream needs
  // something from the client that this revision cannot carry without input_required translation.
  const answer = (error: JsonRpcMessage) => {
    if (finished) return;
    mux.cancel(d, msg.id, "the request needs client input the gateway cannot relay");
    push(error);
  };
  const d = party(
    `request ${String(msg.id)}`,
    () => {},
    () => {},
    declared,
    (method, capability) =>
      answer(
        failure(
          msg.id,
          ErrorCode.missingCapability,
          `Missing required client capability: ${capability} (the server asked for ${method}).`,
          {
            requiredCapabilities: { [capability]: {} },
          },
        ),
      ),
  );
  const done = () => {
    finished = true;
    mux.detach(d);
  };
  const push = (m: JsonRpcMessage): void => {
    if (isRequest(m)) {
      // A declared capability, but relaying it needs input_required (multi-round-trip) translation.
      mux.respond(
        d,
        failure(
          m.id,
          ErrorCode.methodNotFound,
          `${m.method} cannot reach a 2026-07-28 client through this gateway.`,
        ),
      );
      answer(
        failure(
          msg.id,
          ErrorCode.internalError,
          `This request needs ${m.method} from the client, which the gateway does not relay over protocol 2026-07-28 yet (input_required); use a 2025-era session for it.`,
        ),
      );
      return;
    }
    const out = modernize(m, msg, init);
    if (isResponse(out)) done();
    if (conn) {
      conn.event(undefined, JSON.stringify(out));
      if (isResponse(out)) conn.close();
    } else queue.push(out);
    wake?.();
  };
  mux.attach(d);
  const sink = gateway.observed(target, undefined, msg, { message: push, end: () => done() });
  mux.request(d, { ...msg, params: legacyParams(msg.params) }, sink, gateway.deps.config.requestTimeoutMs);

  if (queue.length === 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
      request.signal.addEventListener("abort", () => wake?.(), { once: true });
    });
    wake = undefined;
  }
  const first = queue[0];
  if (first && isResponse(first) && queue.length === 1) {
    const code = "error" in first ? first.error.code : undefined;
    const status = code === ErrorCode.methodNotFound ? 404 : code === ErrorCode.missingCapability ? 400 : 200;
    return jsonResponse(first, {}, status);
  }
  if (request.signal.aborted && !finished) {
    mux.cancel(d, msg.id, "the client closed the request");
    done();
  }
  conn = new SseConnection({
    keepAliveMs: gateway.deps.config.keepAliveMs,
    headers: {},
    signal: request.signal,
    onClose: () => {
      // Closing the response stream is how a 2026-07-28 client cancels.
      if (finished) return;
      mux.cancel(d, msg.id, "the client closed the stream");
      done();
    },
  });
  for (const m of queue.splice(0)) {
    conn.event(undefined, JSON.stringify(m));
    if (isResponse(m)) conn.close();
  }
  return conn.response;
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
