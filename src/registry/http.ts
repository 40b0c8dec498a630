import { readCapped, TooLargeError } from "../util/body.ts";
import { CatwalkError } from "../util/error.ts";

/**
 * The one HTTP GET used for external services (GitHub, npm, PyPI, the MCP registry): a hard
 * timeout, a cap on the body size read, and failures turned into named errors whose code starts
 * with the service (`github.timeout`, `npm.unreachable`). No retries here: callers decide.
 */
export type Service = "github" | "npm" | "pypi" | "mcp_registry";

export const SERVICE_NAMES: Record<Service, string> = {
  github: "GitHub",
  npm: "the npm registry",
  pypi: "PyPI",
  mcp_registry: "the MCP registry",
};

abstract class ServiceError extends CatwalkError {
  readonly code: string;
  constructor(
    readonly service: Service,
    what: string,
    message: string,
    opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, opts);
    this.code = `${service}.${what}`;
  }
}

export class ServiceUnreachableError extends ServiceError {
  readonly status = 502;
}

export class ServiceTimeoutError extends ServiceError {
  readonly status = 504;
}

export class ServiceRateLimitedError extends ServiceError {
  readonly status = 429;
  constructor(
    service: Service,
    message: string,
    readonly resetAt: Date | undefined,
    opts: { hint?: string } = {},
  ) {
    super(service, "rate_limited", message, opts);
  }
}

/** The service answered, but not with what the protocol promises (bad JSON, 5xx, too large). */
export class ServiceResponseError extends ServiceError {
  readonly status = 502;
}

export class ServiceNotFoundError extends ServiceError {
  readonly status = 404;
}

export interface GetOptions {
  service: Service;
  timeoutMs: number;
  maxBytes: number;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

export interface GetResult {
  status: number;
  headers: Headers;
  text: string;
}

const USER_AGENT = "catwalk (+https://github.com/catwalk)";

async function readLimited(res: Response, max: number, service: Service, url: string): Promise<string> {
  try {
    return await readCapped(res.body, max, res.headers.get("content-length"));
  } catch (e) {
    if (e instanceof TooLargeError) throw tooLarge(service, url, max);
    throw e;
  }
}

function tooLarge(service: Service, url: string, max: number): ServiceResponseError {
  return new ServiceResponseError(
    service,
    "too_large",
    `${SERVICE_NAMES[service]} answered ${redactUrl(url)} with more than ${max} bytes.`,
    { hint: "The response exceeds Catwalk's size limit; the resource is too large to analyse." },
  );
}

/** URLs in messages never carry credentials or query strings. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

export async function httpGet(url: string, opts: GetOptions): Promise<GetResult> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const name = SERVICE_NAMES[opts.service];
  try {
    const res = await fetch(url, {
      headers: { "user-agent": USER_AGENT, accept: "application/json", ...opts.headers },
      signal,
      redirect: "follow",
    });
    const text = await readLimited(res, opts.maxBytes, opts.service, url);
    return { status: res.status, headers: res.headers, text };
  } catch (e) {
    if (e instanceof CatwalkError) throw e;
    if (timeout.aborted) {
      throw new ServiceTimeoutError(
        opts.service,
        "timeout",
        `${name} did not answer ${redactUrl(url)} within ${opts.timeoutMs} ms.`,
        { hint: "Try again later, or check the network and the configured base URL." },
      );
    }
    if (opts.signal?.aborted) throw e;
    throw new ServiceUnreachableError(
      opts.service,
      "unreachable",
      `Cannot reach ${name} at ${redactUrl(url)}.`,
      {
        hint: "Check the network and the configured base URL.",
        cause: e,
      },
    );
  }
}

/** Parses a JSON body or throws a `ServiceResponseError` naming the service. */
export function parseJson(text: string, service: Service, url: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ServiceResponseError(
      service,
      "bad_response",
      `${SERVICE_NAMES[service]} answered ${redactUrl(url)} with invalid JSON.`,
    );
  }
}

/** A 5xx or other unexpected status. */
export function unexpectedStatus(service: Service, url: string, status: number): ServiceResponseError {
  return new ServiceResponseError(
    service,
    "bad_response",
    `${SERVICE_NAMES[service]} answered ${redactUrl(url)} with HTTP ${status}.`,
    { hint: status >= 500 ? "The service has a problem; try again later." : undefined },
  );
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}
