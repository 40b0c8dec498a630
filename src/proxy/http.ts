import { failure, type JsonRpcId } from "../mcp/jsonrpc.ts";

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

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/** Reads the body as text, refusing more than `limit` bytes without buffering past it. */
export async function readBody(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(limit);
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return new TextDecoder().decode(chunks[0]);
  return new TextDecoder().decode(Buffer.concat(chunks));
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
