import type { Logger } from "../log/log.ts";
import { rootMessage, storeFailure } from "../store/errors.ts";
import { CatwalkError, type ErrorBody } from "../util/error.ts";

export function errorResponse(
  status: number,
  body: ErrorBody,
  headers: Record<string, string> = {},
): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}

export function envelope(code: string, message: string, hint?: string, details?: unknown): ErrorBody {
  const error: ErrorBody["error"] = { code, message };
  if (hint) error.hint = hint;
  if (details !== undefined) error.details = details;
  return { error };
}

interface Issue {
  path?: readonly (string | number | symbol)[] | string;
  message?: string;
  summary?: string;
}

/** Elysia's validation error carries the validator's issues; we keep only path and message. */
function issuesOf(error: unknown): { path: string; message: string }[] {
  const all = (error as { all?: unknown }).all;
  if (!Array.isArray(all)) return [];
  return all.slice(0, 20).map((raw: Issue) => {
    const path = Array.isArray(raw.path)
      ? raw.path.map(String).join(".")
      : String(raw.path ?? "")
          .replace(/^\//, "")
          .replaceAll("/", ".");
    return { path, message: String(raw.message ?? raw.summary ?? "invalid") };
  });
}

/**
 * The one place where failures become HTTP responses. Known errors keep their status, code and
 * hint; anything else is logged with its stack and answered with an opaque 500 that carries the
 * request id, so nothing internal reaches the client.
 */
export function toErrorResponse(
  code: string | number,
  error: unknown,
  log: Logger,
  requestId: string,
  where: string,
): Response {
  if (error instanceof CatwalkError) return errorResponse(error.status, error.toBody());
  // A named error thrown by a parse hook arrives wrapped in Elysia's ParseError.
  const cause = code === "PARSE" ? (error as { cause?: unknown }).cause : undefined;
  if (cause instanceof CatwalkError) return errorResponse(cause.status, cause.toBody());
  if (code === "VALIDATION") {
    const issues = issuesOf(error);
    const first = issues[0];
    const message = first
      ? `${first.path || "body"}: ${first.message}`
      : "The request does not match the schema.";
    return errorResponse(
      422,
      envelope("invalid_input", message, "Fix the listed fields; GET /api/openapi.json has every schema.", {
        issues,
      }),
    );
  }
  if (code === "PARSE") {
    return errorResponse(
      400,
      envelope(
        "malformed_body",
        "The request body is not valid JSON.",
        "Send a JSON object with Content-Type: application/json.",
      ),
    );
  }
  if (code === "NOT_FOUND")
    return errorResponse(
      404,
      envelope("not_found", `No route for ${where}.`, "GET /api/openapi.json lists every route."),
    );
  if (code === "INVALID_COOKIE_SIGNATURE" || code === "INVALID_FILE_TYPE") {
    return errorResponse(400, envelope("bad_request", "The request is malformed."));
  }
  const store = storeFailure(error);
  if (store) {
    log.warn("database write failed", { requestId, where, error: rootMessage(error) });
    return errorResponse(store.status, store.toBody(), store.status === 503 ? { "retry-after": "2" } : {});
  }
  log.error("unhandled error", {
    requestId,
    where,
    error,
    stack: error instanceof Error ? error.stack : undefined,
  });
  return errorResponse(
    500,
    envelope(
      "internal",
      `Internal error (request ${requestId}).`,
      "The server log has the details under this request id.",
    ),
  );
}
