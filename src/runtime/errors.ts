import { CatwalkError } from "../util/error.ts";
import type { PoolStateName } from "./types.ts";

/**
 * The deployment cannot serve right now: not started, stopped, failed, or its upstream crashed
 * while the caller waited. `state` and `reason` say which, for the gateway's JSON-RPC error.
 */
export class UpstreamUnavailableError extends CatwalkError {
  readonly code = "upstream.unavailable";
  readonly status = 503;

  constructor(
    readonly state: PoolStateName,
    readonly reason: string | undefined,
    message: string,
    opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, opts);
  }
}

/** Every allowed upstream connection of the deployment is in use. */
export class CapacityError extends CatwalkError {
  readonly code = "upstream.capacity";
  readonly status = 503;
}
