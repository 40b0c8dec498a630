/**
 * Every failure Catwalk reports on purpose is a `CatwalkError`: a named class with a stable
 * machine code, an HTTP status, a message that says what went wrong and, where the user can act,
 * a hint that says how to fix it. The HTTP layer turns it into `{error: {code, message, hint}}`,
 * the CLI prints message and hint and exits with a code derived from the status.
 *
 * Anything that is not a `CatwalkError` is a bug: it is logged with its stack and reaches clients
 * only as an opaque `internal` error.
 */
export abstract class CatwalkError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  readonly hint: string | undefined;

  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.hint = opts.hint;
    this.name = new.target.name;
  }

  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message };
    if (this.hint) error.hint = this.hint;
    return { error };
  }
}

export interface ErrorBody {
  error: { code: string; message: string; hint?: string; details?: unknown };
}

export class InvalidInputError extends CatwalkError {
  readonly code: string = "invalid_input";
  readonly status: number = 422;
}

export class BadRequestError extends CatwalkError {
  readonly code: string = "bad_request";
  readonly status: number = 400;
}

export class UnauthorizedError extends CatwalkError {
  readonly code: string = "unauthorized";
  readonly status: number = 401;
}

export class ForbiddenError extends CatwalkError {
  readonly code: string = "forbidden";
  readonly status: number = 403;
}

export class NotFoundError extends CatwalkError {
  readonly code: string = "not_found";
  readonly status: number = 404;
}

export class ConflictError extends CatwalkError {
  readonly code: string = "conflict";
  readonly status: number = 409;
}

export class PayloadTooLargeError extends CatwalkError {
  readonly code: string = "payload_too_large";
  readonly status: number = 413;
}

export class UnavailableError extends CatwalkError {
  readonly code: string = "unavailable";
  readonly status: number = 503;
}

export function isCatwalkError(e: unknown): e is CatwalkError {
  return e instanceof CatwalkError;
}

/** The message of any thrown value, for logs; never shown to API clients for non-Catwalk errors. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
