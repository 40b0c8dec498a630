import { type Clock, type Rate, realClock, TokenBuckets } from "../../util/buckets.ts";
import {
  FlyApiError,
  type FlyOperation,
  FlyUnreachableError,
  isLeaseConflict,
  isRateLimited,
} from "./errors.ts";
import type {
  AppListItem,
  AppSecret,
  AssignIpRequest,
  CreateAppRequest,
  CreateMachineRequest,
  FlyApp,
  FlyLogEntry,
  IpAssignment,
  LeaseData,
  LeaseEnvelope,
  LogsPage,
  Machine,
  MachineEvent,
  SecretsUpdateResponse,
  StartMachineResponse,
  UpdateMachineRequest,
  WaitState,
} from "./types.ts";

export * from "./errors.ts";

/**
 * The Fly Machines API client: one transport (`call`) and one method per verb Catwalk uses.
 *
 * Retry policy. A 429 is retried for every call, on its own budget (`rateLimitRetries`): Fly
 * rejected the request before doing anything. 5xx (except `insufficient_capacity`, which is bound
 * to a region the caller must change), 408 and network failures are retried only for calls that
 * are safe to repeat: GET, DELETE, and the POSTs that are idempotent by construction, namely bulk
 * secrets (same values, same result), metadata set, and start/stop/suspend (they converge on a
 * target state; a 412 after a retry means "already there", which placement checks by looking at
 * the state). App and Machine create, Machine update, IP assignment and lease acquisition are never
 * repeated by the transport: placement converges on them by looking before it acts. The 408 of
 * `wait` is an answer, handed to the caller at once. Delays: `Retry-After` when given (capped),
 * otherwise exponential backoff with jitter.
 */

export const MACAROON_PREFIXES = ["fm1r_", "fm1a_", "fm2_"] as const;

/** `FlyV1 <macaroons>` for macaroon tokens (what `fly tokens create` prints), `Bearer` otherwise. */
export function authorizationHeader(token: string): string {
  let t = token.trim();
  for (;;) {
    const stripped = t.replace(/^(Bearer|FlyV1)\s+/i, "");
    if (stripped === t) break;
    t = stripped;
  }
  const parts = t
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  const macaroons = parts.filter((p) => MACAROON_PREFIXES.some((prefix) => p.startsWith(prefix)));
  if (macaroons.length > 0) return `FlyV1 ${macaroons.join(",")}`;
  return `Bearer ${t}`;
}

export const LEASE_NONCE_HEADER = "fly-machine-lease-nonce";
export const REQUEST_ID_HEADER = "fly-request-id";

export interface FlyClientOptions {
  /** Machines API base, without `/v1` (it is added; a trailing `/v1` is tolerated). */
  apiUrl: string;
  /** Base of Fly's log API (`https://api.fly.io`). */
  logsApiUrl?: string;
  token: string;
  userAgent?: string;
  /** Tries of a retryable call, the first included. */
  attempts?: number;
  /** Retries after 429s, counted apart from `attempts`: a rate-limited request was not processed. */
  rateLimitRetries?: number;
  backoffMs?: { base: number; max: number };
  /** Longest `Retry-After` honoured; longer ones are capped. */
  maxRetryAfterMs?: number;
  /** Limit of one request (a `wait` gets its own timeout on top). */
  timeoutMs?: number;
  /** Client-side rate limits; `false` turns them off. */
  rates?: { action: Rate; getMachine: Rate } | false;
  clock?: Clock;
  /** Called before each retry, for logs. */
  onRetry?: (info: { operation: FlyOperation; attempt: number; delayMs: number; reason: string }) => void;
}

type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface FlyCall {
  action: string;
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  app?: string;
  machineId?: string;
  /** Safe to repeat after 408/5xx/network failures (see the policy above). */
  retry: boolean;
  /** A 408 is an answer, not a failure: handed to the caller at once (`wait`). */
  timeoutIsAnswer?: boolean;
  /** Which client-side limit applies; default `action`. */
  rate?: "action" | "getMachine" | false;
  timeoutMs?: number;
  /** `logs` calls go to the log API, outside `/v1`. */
  base?: "machines" | "logs";
  /** Ends the call early (the caller lost interest); the abort reaches the caller unchanged. */
  signal?: AbortSignal | undefined;
}

export const DEFAULT_RATES = {
  action: { perSecond: 1, burst: 3 },
  getMachine: { perSecond: 5, burst: 10 },
} as const;

interface ErrorBody {
  error?: unknown;
  message?: unknown;
  status?: unknown;
  code?: unknown;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function flyCodeOf(body: ErrorBody, message: string): string | undefined {
  const status = str(body.status);
  if (status && status !== "error") return status;
  return str(body.code) ?? /^([a-z_]+):\s/.exec(message)?.[1];
}

function retryAfterSeconds(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const n = Number(header);
  if (header.trim() !== "" && Number.isFinite(n)) return Math.max(0, n);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

export class FlyClient {
  readonly apiUrl: string;
  readonly logsApiUrl: string;
  private readonly auth: string;
  private readonly limiter: TokenBuckets;
  private readonly clock: Clock;
  private readonly attempts: number;
  private readonly rateLimitRetries: number;
  private readonly backoff: { base: number; max: number };
  private readonly maxRetryAfterMs: number;
  private readonly timeoutMs: number;
  private readonly rates: { action: Rate; getMachine: Rate } | false;

  constructor(private readonly opts: FlyClientOptions) {
    this.apiUrl = opts.apiUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.logsApiUrl = (opts.logsApiUrl ?? "https://api.fly.io").replace(/\/+$/, "");
    this.auth = authorizationHeader(opts.token);
    this.clock = opts.clock ?? realClock;
    this.limiter = new TokenBuckets(this.clock);
    this.attempts = Math.max(1, opts.attempts ?? 5);
    this.rateLimitRetries = Math.max(0, opts.rateLimitRetries ?? 10);
    this.backoff = opts.backoffMs ?? { base: 250, max: 8_000 };
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.rates = opts.rates ?? DEFAULT_RATES;
  }

  /** The transport: rate limit, send, decode, map errors, retry per the policy above. */
  async call<T>(c: FlyCall): Promise<T> {
    const operation: FlyOperation = {
      action: c.action,
      method: c.method,
      app: c.app,
      machineId: c.machineId,
    };
    let failures = 0;
    let limited = 0;
    for (;;) {
      await this.throttle(c);
      let res: Response;
      try {
        res = await fetch(this.url(c), this.init(c));
      } catch (e) {
        if (c.signal?.aborted) throw c.signal.reason;
        failures++;
        if (!c.retry || failures >= this.attempts) throw this.unreachable(operation, e);
        await this.pause(operation, failures, this.backoffDelay(failures), "network error");
        continue;
      }
      if (res.ok) return (await this.decode(res)) as T;
      const err = await this.toError(res, operation);
      let n: number;
      if (isRateLimited(err)) {
        n = ++limited;
        if (n > this.rateLimitRetries) throw err;
      } else {
        n = ++failures;
        if (!this.retryable(c, err) || n >= this.attempts) throw err;
      }
      const delay =
        err.retryAfter === undefined
          ? this.backoffDelay(n)
          : Math.min(err.retryAfter * 1000, this.maxRetryAfterMs);
      await this.pause(operation, n, delay, `${err.httpStatus} ${err.flyCode ?? ""}`.trim());
    }
  }

  private async throttle(c: FlyCall): Promise<void> {
    const rates = this.rates;
    if (rates === false || c.rate === false) return;
    const rate = c.rate === "getMachine" ? rates.getMachine : rates.action;
    await this.limiter.take(`${c.action}:${c.machineId ?? c.app ?? "-"}`, rate);
  }

  private url(c: FlyCall): string {
    const base = c.base === "logs" ? this.logsApiUrl : `${this.apiUrl}/v1`;
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(c.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v) qs.append(k, item);
      else qs.set(k, String(v));
    }
    const q = qs.toString();
    return `${base}${c.path}${q ? `?${q}` : ""}`;
  }

  private init(c: FlyCall): RequestInit {
    const headers: Record<string, string> = {
      authorization: this.auth,
      accept: "application/json",
      "user-agent": this.opts.userAgent ?? "catwalk",
      ...c.headers,
    };
    if (c.body !== undefined) headers["content-type"] = "application/json";
    return {
      method: c.method,
      headers,
      body: c.body === undefined ? null : JSON.stringify(c.body),
      signal: c.signal
        ? AbortSignal.any([c.signal, AbortSignal.timeout(c.timeoutMs ?? this.timeoutMs)])
        : AbortSignal.timeout(c.timeoutMs ?? this.timeoutMs),
    };
  }

  private async decode(res: Response): Promise<unknown> {
    const text = await res.text();
    if (text.trim() === "") return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  private async toError(res: Response, operation: FlyOperation): Promise<FlyApiError> {
    const text = await res.text().catch(() => "");
    let body: ErrorBody = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object") body = parsed as ErrorBody;
    } catch {
      // not JSON: keep the text as the message
    }
    const message = str(body.message) ?? str(body.error) ?? (text.trim().slice(0, 300) || res.statusText);
    return new FlyApiError({
      operation,
      httpStatus: res.status,
      flyCode: flyCodeOf(body, message),
      flyMessage: message,
      requestId: res.headers.get(REQUEST_ID_HEADER) ?? undefined,
      retryAfter: retryAfterSeconds(res.headers.get("retry-after"), this.clock.now()),
    });
  }

  private retryable(c: FlyCall, err: FlyApiError): boolean {
    if (!c.retry) return false;
    if (err.flyCode === "insufficient_capacity") return false;
    if (err.httpStatus === 408) return c.timeoutIsAnswer !== true;
    return err.httpStatus >= 500;
  }

  private backoffDelay(attempt: number): number {
    const d = Math.min(this.backoff.max, this.backoff.base * 2 ** (attempt - 1));
    return Math.round(d / 2 + (Math.random() * d) / 2);
  }

  private async pause(operation: FlyOperation, attempt: number, delayMs: number, reason: string) {
    this.opts.onRetry?.({ operation, attempt, delayMs, reason });
    if (delayMs > 0) await this.clock.sleep(delayMs);
  }

  private unreachable(operation: FlyOperation, e: unknown): FlyUnreachableError {
    const why = e instanceof Error ? e.message : String(e);
    return new FlyUnreachableError(`Fly API ${operation.action} could not be reached: ${why}.`, {
      hint: "Check the network and fly.apiUrl (CATWALK_FLY_API_URL).",
      cause: e,
    });
  }

  // ---- apps ----

  createApp(req: CreateAppRequest): Promise<FlyApp | undefined> {
    return this.call({
      action: "app_create",
      method: "POST",
      path: "/apps",
      body: req,
      app: req.app_name,
      retry: false,
    });
  }

  getApp(app: string): Promise<FlyApp> {
    return this.call({ action: "app_get", method: "GET", path: `/apps/${enc(app)}`, app, retry: true });
  }

  async listApps(org: string): Promise<AppListItem[]> {
    const res = await this.call<{ apps?: AppListItem[] }>({
      action: "app_list",
      method: "GET",
      path: "/apps",
      query: { org_slug: org },
      app: org,
      retry: true,
    });
    return res?.apps ?? [];
  }

  async deleteApp(app: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.call({
      action: "app_delete",
      method: "DELETE",
      path: `/apps/${enc(app)}`,
      query: { force: opts.force ? "true" : undefined },
      app,
      retry: true,
    });
  }

  // ---- secrets (REST, as `fly secrets set` uses them) ----

  /** Sets and (with `null`) unsets app secrets in one new secrets version. */
  setSecrets(app: string, values: Record<string, string | null>): Promise<SecretsUpdateResponse> {
    return this.call({
      action: "secrets_update",
      method: "POST",
      path: `/apps/${enc(app)}/secrets`,
      body: { values },
      app,
      retry: true,
    });
  }

  async listSecrets(app: string): Promise<AppSecret[]> {
    const res = await this.call<{ secrets?: AppSecret[] }>({
      action: "secrets_list",
      method: "GET",
      path: `/apps/${enc(app)}/secrets`,
      app,
      retry: true,
    });
    return res?.secrets ?? [];
  }

  async unsetSecret(app: string, name: string): Promise<number | undefined> {
    const res = await this.call<{ version?: number }>({
      action: "secret_delete",
      method: "DELETE",
      path: `/apps/${enc(app)}/secrets/${enc(name)}`,
      app,
      retry: true,
    });
    return res?.version;
  }

  // ---- public IPs ----

  async listIps(app: string): Promise<IpAssignment[]> {
    const res = await this.call<{ ips?: IpAssignment[] }>({
      action: "ip_list",
      method: "GET",
      path: `/apps/${enc(app)}/ip_assignments`,
      app,
      retry: true,
    });
    return res?.ips ?? [];
  }

  assignIp(app: string, req: AssignIpRequest): Promise<IpAssignment> {
    return this.call({
      action: "ip_assign",
      method: "POST",
      path: `/apps/${enc(app)}/ip_assignments`,
      body: req,
      app,
      retry: false,
    });
  }

  async deleteIp(app: string, ip: string): Promise<void> {
    await this.call({
      action: "ip_delete",
      method: "DELETE",
      path: `/apps/${enc(app)}/ip_assignments/${enc(ip)}`,
      app,
      retry: true,
    });
  }

  // ---- machines ----

  createMachine(app: string, req: CreateMachineRequest): Promise<Machine> {
    return this.call({
      action: "machine_create",
      method: "POST",
      path: `/apps/${enc(app)}/machines`,
      body: req,
      app,
      retry: false,
    });
  }

  getMachine(app: string, id: string): Promise<Machine> {
    return this.call({
      action: "machine_get",
      method: "GET",
      path: this.machinePath(app, id),
      app,
      machineId: id,
      retry: true,
      rate: "getMachine",
    });
  }

  /** Machines of an app; `metadata` filters server-side (`metadata.<key>=<value>`). */
  async listMachines(
    app: string,
    opts: { metadata?: Record<string, string>; includeDeleted?: boolean; region?: string } = {},
  ): Promise<Machine[]> {
    const query: Query = { include_deleted: opts.includeDeleted ? "true" : undefined, region: opts.region };
    for (const [k, v] of Object.entries(opts.metadata ?? {})) query[`metadata.${k}`] = v;
    const res = await this.call<Machine[] | undefined>({
      action: "machine_list",
      method: "GET",
      path: `/apps/${enc(app)}/machines`,
      query,
      app,
      retry: true,
    });
    return res ?? [];
  }

  updateMachine(app: string, id: string, req: UpdateMachineRequest, nonce?: string): Promise<Machine> {
    return this.call({
      action: "machine_update",
      method: "POST",
      path: this.machinePath(app, id),
      body: req,
      headers: this.nonce(nonce),
      app,
      machineId: id,
      retry: false,
    });
  }

  startMachine(app: string, id: string, nonce?: string): Promise<StartMachineResponse> {
    return this.machineAction("machine_start", "start", app, id, nonce);
  }

  async stopMachine(
    app: string,
    id: string,
    opts: { signal?: string; timeout?: string; nonce?: string } = {},
  ): Promise<void> {
    const body = opts.signal || opts.timeout ? { signal: opts.signal, timeout: opts.timeout } : undefined;
    await this.machineAction("machine_stop", "stop", app, id, opts.nonce, body);
  }

  async suspendMachine(app: string, id: string, nonce?: string): Promise<void> {
    await this.machineAction("machine_suspend", "suspend", app, id, nonce);
  }

  async deleteMachine(
    app: string,
    id: string,
    opts: { force?: boolean; nonce?: string } = {},
  ): Promise<void> {
    await this.call({
      action: "machine_delete",
      method: "DELETE",
      path: this.machinePath(app, id),
      query: { force: opts.force ? "true" : undefined },
      headers: this.nonce(opts.nonce),
      app,
      machineId: id,
      retry: true,
    });
  }

  /**
   * Blocks until the Machine is in one of `states`. Fly answers 408 after `timeoutSec` (at most 60);
   * that 408 reaches the caller at once, who looks at the Machine and decides whether to wait on
   * (placement does). `instanceId` names the Machine version the wait is about.
   */
  async waitMachine(
    app: string,
    id: string,
    opts: { states: readonly WaitState[]; timeoutSec?: number; instanceId?: string; signal?: AbortSignal },
  ): Promise<void> {
    const timeoutSec = Math.min(60, Math.max(1, Math.round(opts.timeoutSec ?? 60)));
    await this.call({
      signal: opts.signal,
      action: "machine_wait",
      method: "GET",
      path: `${this.machinePath(app, id)}/wait`,
      query: { state: opts.states, timeout: timeoutSec, instance_id: opts.instanceId },
      app,
      machineId: id,
      retry: true,
      timeoutIsAnswer: true,
      timeoutMs: timeoutSec * 1000 + 15_000,
    });
  }

  async machineEvents(app: string, id: string): Promise<MachineEvent[]> {
    const res = await this.call<MachineEvent[] | undefined>({
      action: "machine_events",
      method: "GET",
      path: `${this.machinePath(app, id)}/events`,
      app,
      machineId: id,
      retry: true,
    });
    return res ?? [];
  }

  async getMetadata(app: string, id: string): Promise<Record<string, string>> {
    const res = await this.call<Record<string, string> | undefined>({
      action: "metadata_get",
      method: "GET",
      path: `${this.machinePath(app, id)}/metadata`,
      app,
      machineId: id,
      retry: true,
    });
    return res ?? {};
  }

  async setMetadata(app: string, id: string, key: string, value: string): Promise<void> {
    await this.call({
      action: "metadata_set",
      method: "POST",
      path: `${this.machinePath(app, id)}/metadata/${enc(key)}`,
      body: { value },
      app,
      machineId: id,
      retry: true,
    });
  }

  // ---- leases ----

  async acquireLease(app: string, id: string, opts: { ttlSec?: number; description?: string } = {}) {
    const ttl = opts.ttlSec ?? 60;
    const res = await this.call<LeaseEnvelope>({
      action: "lease_acquire",
      method: "POST",
      path: `${this.machinePath(app, id)}/lease`,
      query: { ttl },
      body: { ttl, description: opts.description ?? "catwalk" },
      app,
      machineId: id,
      retry: false,
    });
    if (!res?.data?.nonce) {
      throw new FlyApiError({
        operation: { action: "lease_acquire", method: "POST", app, machineId: id },
        httpStatus: 200,
        flyCode: res?.code,
        flyMessage: res?.message ?? "lease response without a nonce",
        requestId: undefined,
      });
    }
    return res.data as LeaseData;
  }

  async releaseLease(app: string, id: string, nonce: string): Promise<void> {
    await this.call({
      action: "lease_release",
      method: "DELETE",
      path: `${this.machinePath(app, id)}/lease`,
      headers: this.nonce(nonce),
      app,
      machineId: id,
      retry: true,
    });
  }

  /**
   * Runs `fn` holding a lease on the Machine, so that no other client mutates it meanwhile. A lease
   * held by someone else (409) is waited for, up to `waitMs`; a crashed holder's lease expires by
   * its TTL. The lease is released afterwards, best effort (it expires anyway).
   */
  async withLease<T>(
    app: string,
    id: string,
    fn: (nonce: string) => Promise<T>,
    opts: { ttlSec?: number; waitMs?: number } = {},
  ): Promise<T> {
    const deadline = this.clock.now() + (opts.waitMs ?? 30_000);
    let lease: LeaseData;
    for (let attempt = 1; ; attempt++) {
      try {
        lease = await this.acquireLease(app, id, { ttlSec: opts.ttlSec ?? 60 });
        break;
      } catch (e) {
        if (!isLeaseConflict(e) || this.clock.now() >= deadline) throw e;
        await this.clock.sleep(this.backoffDelay(attempt));
      }
    }
    try {
      return await fn(lease.nonce);
    } finally {
      await this.releaseLease(app, id, lease.nonce).catch(() => undefined);
    }
  }

  // ---- logs (api.fly.io, not the Machines API) ----

  /** One page of an app's logs; without `nextToken` the most recent lines (Fly: 100, last 24 h). */
  async appLogs(app: string, opts: { nextToken?: string; instance?: string; region?: string } = {}) {
    const res = await this.call<{
      data?: { id?: string; attributes?: FlyLogEntry }[];
      meta?: { next_token?: string };
    }>({
      action: "logs",
      method: "GET",
      base: "logs",
      path: `/api/v1/apps/${enc(app)}/logs`,
      query: { next_token: opts.nextToken ?? "", instance: opts.instance, region: opts.region },
      app,
      retry: true,
    });
    const entries = (res?.data ?? []).flatMap((d) => (d.attributes ? [d.attributes] : []));
    const page: LogsPage = { entries, nextToken: res?.meta?.next_token || opts.nextToken || "" };
    return page;
  }

  // ---- helpers ----

  private machinePath(app: string, id: string): string {
    return `/apps/${enc(app)}/machines/${enc(id)}`;
  }

  private nonce(nonce: string | undefined): Record<string, string> | undefined {
    return nonce ? { [LEASE_NONCE_HEADER]: nonce } : undefined;
  }

  private machineAction<T>(
    action: string,
    verb: string,
    app: string,
    id: string,
    nonce: string | undefined,
    body?: unknown,
  ): Promise<T> {
    return this.call({
      action,
      method: "POST",
      path: `${this.machinePath(app, id)}/${verb}`,
      body,
      headers: this.nonce(nonce),
      app,
      machineId: id,
      retry: true,
    });
  }
}
