import { ParseError } from "elysia";
import { BadRequestError } from "../util/error.ts";
import { jsonDepth } from "../util/json.ts";

/** Deepest JSON nesting the API accepts; its bodies are a few levels deep. */
export const MAX_API_JSON_DEPTH = 32;

/**
 * Elysia parse hook for `/api` JSON bodies: the same parse as Elysia's, plus a nesting limit.
 * Without it a deeply nested body reaches the validator, whose error path recurses over the value
 * and overflows the stack (an opaque 500 instead of a 400). Only `/api` paths are parsed here (MCP
 * and OAuth routes read their own bodies); an empty body stays Elysia's (undefined).
 * Elysia wraps what a parse hook throws in its ParseError; `toErrorResponse` unwraps ours.
 */
export async function parseApiJson(ctx: { request: Request; contentType: string }): Promise<unknown> {
  if (ctx.contentType !== "application/json") return undefined;
  if (!new URL(ctx.request.url).pathname.startsWith("/api/")) return undefined;
  const text = await ctx.request.clone().text();
  if (text === "") return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ParseError();
  }
  if (jsonDepth(body, MAX_API_JSON_DEPTH) > MAX_API_JSON_DEPTH) {
    throw new BadRequestError(`The JSON body nests deeper than ${MAX_API_JSON_DEPTH} levels.`, {
      hint: "Send the flat objects the API documents (GET /api/openapi.json).",
    });
  }
  return body;
}
