import { failure, type JsonRpcId } from "../mcp/jsonrpc.ts";
import { readCapped } from "../util/body.ts";

/**
 * HTTP-level answers of the gateway. Every error carries a JSON-RPC error body (id null unless the
 * request's id is known), because MCP clients show that message to the user.
 */
export function rpcError(
  status: number,
  code: number,
  message: string,
  opts: { id?: JsonRpcId | null; data?: unknown; headers?: Record<string, string> } = {},
): Response {
  return new Response(JSON.stringify(failure(opts.id ?? null, code, message, opts.data)), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...opts.headers },
  });
}

export function jsonResponse(body: unknown, headers: Record<string, string> = {}, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

export { TooLargeError as BodyTooLargeError } from "../util/body.ts";

/** Reads the body as text, refusing more than `limit` bytes without buffering past it. */
export function readBody(request: Request, limit: number): Promise<string> {
  return readCapped(request.body, limit, request.headers.get("content-length"));
}

/** Whether an Accept header allows a media type (wildcards included, parameters ignored). */
export function accepts(header: string | null, type: string): boolean {
  if (header === null) return false;
  const [major] = type.split("/");
  return header.split(",").some((part) => {
    const media = (part.split(";")[0] ?? "").trim().toLowerCase();
    return media === type || media === "*/*" || media === `${major}/*`;
  });
}

export function isJsonContentType(header: string | null): boolean {
  if (!header) return false;
  return (header.split(";")[0] ?? "").trim().toLowerCase() === "application/json";
}
