/**
 * JSON-RPC 2.0 message shapes as MCP uses them. Messages are validated structurally (cheap checks
 * on the hot path), never with a schema library: the gateway forwards what it does not need to
 * understand untouched.
 */
export type JsonRpcId = string | number;
export type Params = Record<string, unknown>;

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: JsonRpcId;
  method: string;
  params?: Params;
}

export interface JsonRpcNotification {
  jsonrpc: "2.0";
  method: string;
  params?: Params;
}

export interface JsonRpcSuccess {
  jsonrpc: "2.0";
  id: JsonRpcId;
  result: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcFailure {
  jsonrpc: "2.0";
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export type Kind = "request" | "notification" | "response" | "invalid";

function isId(v: unknown): v is JsonRpcId {
  return typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What a parsed value is, checking only what routing depends on. */
export function kindOf(msg: unknown): Kind {
  if (!isObject(msg) || msg.jsonrpc !== "2.0") return "invalid";
  if (msg.params !== undefined && !isObject(msg.params)) return "invalid";
  if (typeof msg.method === "string") {
    if (!("id" in msg)) return "notification";
    return isId(msg.id) ? "request" : "invalid";
  }
  if (!("id" in msg) || !(isId(msg.id) || msg.id === null)) return "invalid";
  const hasResult = "result" in msg && isObject(msg.result);
  const hasError =
    "error" in msg && isObject(msg.error) && typeof (msg.error as { code?: unknown }).code === "number";
  return hasResult !== hasError ? "response" : "invalid";
}

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return "method" in m && "id" in m;
}

export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return "method" in m && !("id" in m);
}

export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !("method" in m);
}

export function isFailure(m: JsonRpcMessage): m is JsonRpcFailure {
  return "error" in m;
}

/** Standard and MCP error codes the gateway emits. */
export const ErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Implementation-defined server errors, 2025 era. */
  server: -32000,
  /** SDK convention for an unknown or ended session (paired with HTTP 404). */
  sessionNotFound: -32001,
  requestTimeout: -32001,
  /** 2026-07-28 reserved codes. */
  headerMismatch: -32020,
  missingCapability: -32021,
  unsupportedVersion: -32022,
} as const;

export function failure(id: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcFailure {
  const error: JsonRpcErrorObject = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: "2.0", id, error };
}

export function success(id: JsonRpcId, result: Record<string, unknown>): JsonRpcSuccess {
  return { jsonrpc: "2.0", id, result };
}

export function request(id: JsonRpcId, method: string, params?: Params): JsonRpcRequest {
  return params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params };
}

export function notification(method: string, params?: Params): JsonRpcNotification {
  return params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params };
}
