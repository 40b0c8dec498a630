import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readAdminTokenFile } from "../admin/admin-token.ts";
import { defaultDataDir } from "../config/config.ts";
import type { EnvVars } from "../config/env.ts";
import { CatwalkError, type ErrorBody } from "../util/error.ts";

/** An error answered by the Catwalk API, rebuilt on the client with the server's code and hint. */
export class ApiError extends CatwalkError {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  constructor(status: number, body: ErrorBody["error"]) {
    super(body.message, body.hint ? { hint: body.hint } : {});
    this.code = body.code;
    this.status = status;
    this.details = body.details;
  }
}

export class ServerUnreachableError extends CatwalkError {
  readonly code = "client.unreachable";
  readonly status = 503;
}

export interface Target {
  url: string;
  token: string | undefined;
  /** How the URL was found, for error hints. */
  via: string;
}

export interface TargetOptions {
  server?: string | undefined;
  token?: string | undefined;
  dataDir?: string | undefined;
  env: EnvVars;
}

/**
 * Where CLI and TUI commands send requests: `--server`/`--token`, then `CATWALK_SERVER`/
 * `CATWALK_TOKEN`, then the local server recorded in `<data-dir>/server.json` with the token in
 * `<data-dir>/admin-token`, then http://127.0.0.1:7400.
 */
export function resolveTarget(opts: TargetOptions): Target {
  const dataDir = opts.dataDir ?? opts.env.CATWALK_DATA_DIR ?? defaultDataDir(opts.env);
  const token = opts.token ?? opts.env.CATWALK_TOKEN ?? readAdminTokenFile(dataDir);
  if (opts.server) return { url: trim(opts.server), token, via: "--server" };
  if (opts.env.CATWALK_SERVER) return { url: trim(opts.env.CATWALK_SERVER), token, via: "CATWALK_SERVER" };
  const file = join(dataDir, "server.json");
  if (existsSync(file)) {
    try {
      const info = JSON.parse(readFileSync(file, "utf8")) as { url?: unknown };
      if (typeof info.url === "string") return { url: trim(info.url), token, via: file };
    } catch {
      // A torn or stale file: fall back to the default address.
    }
  }
  return { url: "http://127.0.0.1:7400", token, via: "the default address" };
}

function trim(url: string): string {
  return url.replace(/\/+$/, "");
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** A small typed client for the Catwalk HTTP API; every failure is an `ApiError` or `ServerUnreachableError`. */
export class Client {
  constructor(readonly target: Target) {}

  url(path: string, query?: RequestOptions["query"]): string {
    const u = new URL(this.target.url + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
    if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    try {
      return await fetch(this.url(path, opts.query), {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal ?? null,
      });
    } catch (e) {
      if ((e as Error).name === "AbortError") throw e;
      throw new ServerUnreachableError(
        `Cannot reach the Catwalk server at ${this.target.url} (from ${this.target.via}).`,
        {
          hint: "Start it with `catwalk serve`, or point --server / CATWALK_SERVER at the right address.",
          cause: e,
        },
      );
    }
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.parse<T>(await this.raw(method, path, opts));
  }

  /** The JSON body of a successful response; any other response becomes an `ApiError`. */
  async parse<T>(res: Response): Promise<T> {
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.ok) return body as T;
    const error = (body as Partial<ErrorBody> | undefined)?.error;
    if (error && typeof error.message === "string")
      throw new ApiError(res.status, { ...error, code: error.code ?? "error" });
    throw new ApiError(res.status, {
      code: `http_${res.status}`,
      message: `The server answered ${res.status} ${res.statusText}.`,
    });
  }

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>("GET", path, opts);
  }

  post<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>("POST", path, { ...opts, body });
  }

  patch<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>("PATCH", path, { ...opts, body });
  }

  put<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>("PUT", path, { ...opts, body });
  }

  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>("DELETE", path, opts);
  }
}
