import { CatwalkError } from "../util/error.ts";

/**
 * Exit codes are a contract with scripts:
 * 0 success · 1 unexpected failure · 2 invalid usage, input or config · 3 not found ·
 * 4 unauthorized or forbidden · 5 conflict (already exists, wrong state) ·
 * 6 server unreachable · 7 the operation ran and failed (deployment failed, upstream error).
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  conflict: 5,
  unreachable: 6,
  failed: 7,
} as const;

export function exitCodeFor(e: unknown): number {
  if (!(e instanceof CatwalkError)) return EXIT.failure;
  if (e.code === "client.unreachable") return EXIT.unreachable;
  const s = e.status;
  if (s === 400 || s === 413 || s === 415 || s === 422) return EXIT.usage;
  if (s === 401 || s === 403) return EXIT.auth;
  if (s === 404) return EXIT.notFound;
  if (s === 409) return EXIT.conflict;
  if (s >= 500) return EXIT.failed;
  return EXIT.failure;
}

export class UsageError extends CatwalkError {
  readonly code = "cli.usage";
  readonly status = 400;
}
