import { CatwalkError } from "../../util/error.ts";

/** What a failed call was doing, for messages and support requests. */
export interface FlyOperation {
  action: string;
  method: string;
  app?: string | undefined;
  machineId?: string | undefined;
}

export interface FlyApiErrorInit {
  operation: FlyOperation;
  /** Fly's HTTP status (not ours: every Fly failure is a 502 of the Catwalk API). */
  httpStatus: number;
  /** Fly's machine-readable code: the body's `status` (`insufficient_capacity`, `name_taken`), else
   * its `code`, else the prefix of the message (`failed_precondition`, `deadline_exceeded`). */
  flyCode: string | undefined;
  flyMessage: string;
  requestId: string | undefined;
  /** Seconds from `Retry-After`, when the response had one. */
  retryAfter?: number | undefined;
}

const HINTS: Record<number, string> = {
  401: "Check CATWALK_FLY_API_TOKEN: create an org token with `fly tokens create org -o <org>`.",
  403: "The token cannot reach this app or organization; use an org token of CATWALK_FLY_ORG.",
  408: "The Machine did not reach the state in time; it may still be booting. Retry the operation.",
  409: "Another client holds a lease on the Machine; retry after it expires.",
  412: "The Machine is in a state that does not allow this; wait for it to settle and retry.",
  429: "Fly rate-limited the request; retry in a few seconds.",
};

function hintFor(init: FlyApiErrorInit): string | undefined {
  if (init.flyCode === "insufficient_capacity") {
    return "The region has no capacity; add regions to fly.fallbackRegions (CATWALK_FLY_FALLBACK_REGIONS).";
  }
  if (init.flyCode === "name_taken") return "Fly app names are global; set another fly.appPrefix.";
  if (init.httpStatus >= 500) return "Fly had a server error; retry, and check https://status.flyio.net.";
  return HINTS[init.httpStatus];
}

function describe(op: FlyOperation): string {
  const target = [op.app, op.machineId].filter(Boolean).join("/");
  return target ? `${op.action} ${target}` : op.action;
}

/** A non-2xx answer of the Fly API, with everything needed to report it to Fly support. */
export class FlyApiError extends CatwalkError {
  readonly code = "fly.api";
  readonly status = 502;
  readonly operation: FlyOperation;
  readonly httpStatus: number;
  readonly flyCode: string | undefined;
  readonly flyMessage: string;
  readonly requestId: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(init: FlyApiErrorInit) {
    const rid = init.requestId ? ` (fly-request-id ${init.requestId})` : "";
    super(`Fly API ${describe(init.operation)} failed: ${init.httpStatus} ${init.flyMessage}${rid}.`, {
      hint: hintFor(init),
    });
    this.operation = init.operation;
    this.httpStatus = init.httpStatus;
    this.flyCode = init.flyCode;
    this.flyMessage = init.flyMessage;
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
  }
}

/** The Fly API could not be reached at all (DNS, TLS, connection reset, timeout). */
export class FlyUnreachableError extends CatwalkError {
  readonly code = "fly.unreachable";
  readonly status = 502;
}

export class FlyNotConfiguredError extends CatwalkError {
  readonly code = "fly.not_configured";
  readonly status = 422;
}

/** Every region tried answered `insufficient_capacity`. */
export class FlyCapacityError extends CatwalkError {
  readonly code = "fly.no_capacity";
  readonly status = 503;
}

/** The app name belongs to someone else (Fly app names are one global namespace). */
export class FlyAppNameTakenError extends CatwalkError {
  readonly code = "fly.app_name_taken";
  readonly status = 409;
}

/** The Machine exited, failed or vanished instead of reaching the wanted state. */
export class FlyMachineFailedError extends CatwalkError {
  readonly code = "fly.machine_failed";
  readonly status = 502;
}

/** The Machine runs, but the MCP server in it does not (the runner's health check says so). */
export class FlyRunnerFailedError extends CatwalkError {
  readonly code = "fly.runner_failed";
  readonly status = 502;
}

/** The Machine did not reach the wanted state within the configured time. */
export class FlyTimeoutError extends CatwalkError {
  readonly code = "fly.timeout";
  readonly status = 504;
}

/** Fly refused an action in the Machine's current state (412), also after waiting for it to settle. */
export class FlyStateError extends CatwalkError {
  readonly code = "fly.wrong_state";
  readonly status = 409;
}

/** The deployment cannot be placed on Fly as given (remote upstream, reserved variable names). */
export class FlyUnsupportedError extends CatwalkError {
  readonly code = "fly.unsupported";
  readonly status = 422;
}

function api(e: unknown): FlyApiError | undefined {
  return e instanceof FlyApiError ? e : undefined;
}

export function isInsufficientCapacity(e: unknown): boolean {
  return api(e)?.flyCode === "insufficient_capacity";
}

export function isNameTaken(e: unknown): boolean {
  const err = api(e);
  if (!err) return false;
  return (
    err.flyCode === "name_taken" || (err.httpStatus === 422 && /already been taken/i.test(err.flyMessage))
  );
}

export function isNotFound(e: unknown): boolean {
  return api(e)?.httpStatus === 404;
}

export function isForbidden(e: unknown): boolean {
  return api(e)?.httpStatus === 403;
}

export function isLeaseConflict(e: unknown): boolean {
  return api(e)?.httpStatus === 409;
}

export function isFailedPrecondition(e: unknown): boolean {
  return api(e)?.httpStatus === 412;
}

export function isWaitTimeout(e: unknown): boolean {
  return api(e)?.httpStatus === 408;
}

export function isRateLimited(e: unknown): boolean {
  return api(e)?.httpStatus === 429;
}
