import { createHash, randomBytes } from "node:crypto";
import type { Server } from "bun";

/**
 * A wire-faithful fake of the Fly Machines API (`/v1/...`) and of Fly's log API
 * (`/api/v1/apps/{app}/logs`), on a real port, for the real client code. Shapes, status codes and
 * error bodies follow Fly's docs and fly-go (see /work/shared/research/fly.md); where Fly's
 * behaviour is undocumented the choice is marked "fake:" below.
 *
 * Each started Machine runs a "process" from `onMachineStart` (default: a small HTTP server that
 * answers `/healthz` and checks the bridge secret on everything else). The process gets the
 * Machine's `config.env` plus the app secrets as they were when the Machine was created or last
 * updated, as Fly injects them at boot. Suspend freezes the process (kept in memory), stop kills it.
 *
 * Faults are injected with `inject()`; every request is recorded in `requests`.
 */

export type Action =
  | "app_create"
  | "app_list"
  | "app_get"
  | "app_delete"
  | "secrets_list"
  | "secrets_update"
  | "secret_set"
  | "secret_delete"
  | "ip_list"
  | "ip_assign"
  | "ip_delete"
  | "machine_list"
  | "machine_create"
  | "machine_get"
  | "machine_update"
  | "machine_delete"
  | "machine_start"
  | "machine_stop"
  | "machine_suspend"
  | "machine_wait"
  | "machine_events"
  | "lease_get"
  | "lease_acquire"
  | "lease_release"
  | "metadata_get"
  | "metadata_set"
  | "metadata_delete"
  | "logs";

export type Fault =
  /** 429 with `Retry-After: <retryAfter>` (seconds; omitted when undefined). */
  | { kind: "rate_limit"; action?: Action; times?: number; retryAfter?: number }
  /** 503 `insufficient_capacity` for Machine creates in `region`. */
  | { kind: "capacity"; region: string; times?: number }
  /** 408 `deadline_exceeded` on `wait`, at once. */
  | { kind: "wait_timeout"; times?: number }
  /** 412 `failed_precondition` for `action`. */
  | { kind: "wrong_state"; action: Action; times?: number }
  /** A 5xx; with `afterHandling` the action is performed first (a lost response). */
  | { kind: "server_error"; action?: Action; status?: number; times?: number; afterHandling?: boolean }
  /** The next Machine launches exit with `exitCode` right after starting. */
  | { kind: "crash_on_start"; times?: number; exitCode?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  action: Action | "unknown";
  authorization: string | null;
  headers: Record<string, string>;
  body: string;
  status: number;
  /** The `fly-request-id` the response carried. */
  requestId: string;
}

export interface MachineView {
  id: string;
  name: string;
  state: string;
  region: string;
  instance_id: string;
  version: string;
  private_ip: string;
  created_at: string;
  updated_at: string;
  config: Record<string, unknown> & { metadata?: Record<string, string>; env?: Record<string, string> };
  events: Record<string, unknown>[];
  checks: { name: string; status: string; output: string }[];
  image_ref: Record<string, string>;
  host_status: "ok";
  cordoned: boolean;
}

/** A running Machine's process, as started by `onMachineStart`. */
export interface MachineProcess {
  url: string;
  /** Ends the process (stop, destroy, crash). */
  stop(): Promise<void>;
  /** Suspend: keep memory, stop serving. Without it, suspend stops and resume starts anew. */
  freeze?(): Promise<void>;
  thaw?(): Promise<void>;
}

export interface StartContext {
  app: string;
  /** Environment as Fly gives it: config.env, app secrets, FLY_* variables. */
  env: Record<string, string>;
  /** Writes a line to the app's logs (what the process prints). */
  log(line: string): void;
}

export type OnMachineStart = (machine: MachineView, ctx: StartContext) => Promise<MachineProcess>;

export interface FakeFlyOptions {
  /** Accepted tokens (without scheme); default `["fm2_fake-org-token"]`. */
  tokens?: string[];
  org?: string;
  /** App names that exist in someone else's organization. */
  foreignApps?: string[];
  /** Duration of each transient state (starting, stopping, ...). */
  transitionMs?: number;
  onMachineStart?: OnMachineStart;
}

interface Secret {
  value: string;
  digest: string;
  created_at: string;
  updated_at: string;
}

interface Ip {
  ip: string;
  region: string;
  service_name: string;
  shared: boolean;
  created_at: string;
}

interface LogLine {
  ns: bigint;
  timestamp: string;
  message: string;
  level: string;
  instance: string;
  region: string;
}

interface AppRec {
  id: string;
  name: string;
  org: string;
  network: string;
  createdAt: number;
  secrets: Map<string, Secret>;
  secretsVersion: number;
  ips: Ip[];
  machines: Map<string, MachineRec>;
  logs: LogLine[];
}

interface Lease {
  nonce: string;
  expiresAt: number;
  owner: string;
  description: string;
}

interface MachineRec {
  app: AppRec;
  id: string;
  name: string;
  region: string;
  state: string;
  instanceId: string;
  privateIp: string;
  createdAt: string;
  updatedAt: string;
  config: MachineView["config"];
  events: Record<string, unknown>[];
  checks: MachineView["checks"];
  lease: Lease | undefined;
  secretEnv: Record<string, string>;
  process: MachineProcess | undefined;
  frozen: boolean;
  restarts: number;
  /** Bumped by every command; pending transitions of an older generation are dropped. */
  gen: number;
}

interface Waiter {
  machine: MachineRec;
  states: string[];
  resolve(ok: boolean): void;
}

type Handler = (req: Request, m: RegExpExecArray, url: URL) => Promise<Response> | Response;

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers });
const err = (status: number, error: string, extra: Record<string, unknown> = {}) =>
  json({ error, ...extra }, status);

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const iso = (ms = Date.now()) => new Date(ms).toISOString();

let ulidCounter = 0;
function fakeUlid(): string {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let out = "";
  let t = Date.now();
  for (let i = 0; i < 10; i++) {
    out = alphabet[t % 32] + out;
    t = Math.floor(t / 32);
  }
  ulidCounter++;
  for (const b of randomBytes(16)) out += alphabet[(b + ulidCounter) % 32];
  return out.slice(0, 26);
}

function stripScheme(header: string): string {
  let t = header.trim();
  for (;;) {
    const next = t.replace(/^(Bearer|FlyV1)\s+/i, "");
    if (next === t) return t;
    t = next;
  }
}

/** Docker Hub short names become `registry-1.docker.io/library/...`, as Fly reports them. */
function imageRef(image: string): Record<string, string> {
  const [nameTag = image, digest = ""] = image.split("@");
  const slash = nameTag.indexOf("/");
  const first = slash === -1 ? "" : nameTag.slice(0, slash);
  const hasRegistry = first.includes(".") || first.includes(":") || first === "localhost";
  const registry = hasRegistry ? first : "registry-1.docker.io";
  let repo = hasRegistry ? nameTag.slice(slash + 1) : nameTag;
  let tag = "latest";
  const colon = repo.lastIndexOf(":");
  if (colon !== -1) {
    tag = repo.slice(colon + 1);
    repo = repo.slice(0, colon);
  }
  if (!hasRegistry && !repo.includes("/")) repo = `library/${repo}`;
  return { registry, repository: repo, tag, digest };
}

const DEFAULT_TOKEN = "fm2_fake-org-token";

export class FakeFlyMachines {
  readonly requests: RecordedRequest[] = [];
  private readonly apps = new Map<string, AppRec>();
  private readonly faults: (Fault & { left: number })[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly tokens: Set<string>;
  private readonly org: string;
  private readonly foreign: Set<string>;
  private readonly transitionMs: number;
  private readonly onStart: OnMachineStart;
  private readonly routes: [string, RegExp, Action, Handler][];
  private server!: Server<undefined>;
  private logSeq = 0n;
  private closed = false;

  private constructor(opts: FakeFlyOptions) {
    this.tokens = new Set(opts.tokens ?? [DEFAULT_TOKEN]);
    this.org = opts.org ?? "personal";
    this.foreign = new Set(opts.foreignApps ?? []);
    this.transitionMs = opts.transitionMs ?? 15;
    this.onStart = opts.onMachineStart ?? placeholderProcess;
    this.routes = this.table();
  }

  static async start(opts: FakeFlyOptions = {}): Promise<FakeFlyMachines> {
    const fake = new FakeFlyMachines(opts);
    fake.server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      idleTimeout: 0,
      fetch: (req) => fake.handle(req),
    });
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  get token(): string {
    return [...this.tokens][0] ?? DEFAULT_TOKEN;
  }

  inject(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** Requests of one action, in order. */
  recorded(action: Action): RecordedRequest[] {
    return this.requests.filter((r) => r.action === action);
  }

  appNames(): string[] {
    return [...this.apps.keys()];
  }

  hasApp(name: string): boolean {
    return this.apps.has(name);
  }

  /** Machines of an app as the API shows them (destroyed ones included). */
  machines(app: string): MachineView[] {
    return [...(this.apps.get(app)?.machines.values() ?? [])].map((m) => this.view(m));
  }

  machine(app: string, id: string): MachineView | undefined {
    const m = this.apps.get(app)?.machines.get(id);
    return m ? this.view(m) : undefined;
  }

  secretValues(app: string): Record<string, string> {
    return Object.fromEntries([...(this.apps.get(app)?.secrets ?? [])].map(([k, s]) => [k, s.value]));
  }

  ips(app: string): Ip[] {
    return [...(this.apps.get(app)?.ips ?? [])];
  }

  /** The process URL of a started Machine (what Fly Proxy forwards to). */
  processUrl(app: string, id: string): string | undefined {
    const m = this.apps.get(app)?.machines.get(id);
    return m?.state === "started" && !m.frozen ? m.process?.url : undefined;
  }

  /** Appends a line to the app's logs, as the Machine's process would. */
  log(app: string, machineId: string, message: string, level = "info"): void {
    const a = this.apps.get(app);
    const m = a?.machines.get(machineId);
    if (!a) return;
    this.logSeq++;
    const ns = BigInt(Date.now()) * 1_000_000n + (this.logSeq % 1_000_000n);
    a.logs.push({
      ns,
      timestamp: iso(),
      message,
      level,
      instance: machineId,
      region: m?.region ?? "iad",
    });
  }

  /** The Machine's process dies with `exitCode`; the restart policy decides what follows. */
  kill(app: string, id: string, exitCode = 1): void {
    const m = this.apps.get(app)?.machines.get(id);
    if (m?.state === "started") void this.exited(m, exitCode, false);
  }

  /** Fly Proxy's autostart: resolves true once the Machine is started. */
  async wake(app: string, id: string, timeoutMs = 30_000): Promise<boolean> {
    const m = this.apps.get(app)?.machines.get(id);
    if (!m) return false;
    if (m.state === "stopping" || m.state === "suspending") {
      await this.waitFor(m, ["stopped", "suspended"], timeoutMs);
    }
    if (["stopped", "suspended", "created"].includes(m.state))
      this.launch(m, "flyd", m.state === "suspended");
    return this.waitFor(m, ["started"], timeoutMs);
  }

  /** Fly Proxy's autostop of an idle Machine, per its service's `autostop`. */
  autostop(app: string, id: string): void {
    const m = this.apps.get(app)?.machines.get(id);
    if (m?.state !== "started") return;
    const services = (m.config.services ?? []) as { autostop?: unknown }[];
    const mode = services[0]?.autostop;
    if (mode === "suspend") this.halt(m, "suspend", "flyd");
    else if (mode === "stop" || mode === true) this.halt(m, "stop", "flyd");
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const w of this.waiters) w.resolve(false);
    const stops: Promise<void>[] = [];
    for (const a of this.apps.values()) {
      for (const m of a.machines.values()) if (m.process) stops.push(m.process.stop().catch(() => undefined));
    }
    await Promise.all(stops);
    this.server.stop(true);
  }

  // ---- request handling ----

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
    const rec: RecordedRequest = {
      method: req.method,
      path: url.pathname,
      query: url.search,
      action: "unknown",
      authorization: req.headers.get("authorization"),
      headers: Object.fromEntries(req.headers),
      body,
      status: 0,
      requestId: `${fakeUlid()}-fake`,
    };
    this.requests.push(rec);
    const res = await this.dispatch(req, url, body, rec);
    rec.status = res.status;
    res.headers.set("fly-request-id", rec.requestId);
    return res;
  }

  private async dispatch(req: Request, url: URL, body: string, rec: RecordedRequest): Promise<Response> {
    const auth = req.headers.get("authorization");
    if (!auth) return err(401, "verify: invalid token: no tokens found in header");
    const presented = stripScheme(auth)
      .split(",")
      .map((t) => t.trim());
    if (!presented.some((t) => this.tokens.has(t))) return err(401, "unauthorized");
    for (const [method, pattern, action, handler] of this.routes) {
      if (req.method !== method) continue;
      const m = pattern.exec(url.pathname);
      if (!m) continue;
      rec.action = action;
      const injected = this.fault(action, body);
      if (injected && !injected.after) return injected.res;
      const bodyReq = new Request(req.url, { method: req.method, headers: req.headers, body: body || null });
      const res = await handler(bodyReq, m, url);
      return injected?.after ? injected.res : res;
    }
    return err(404, "not found");
  }

  private fault(action: Action, body: string): { res: Response; after: boolean } | undefined {
    for (const f of this.faults) {
      if (f.left <= 0 || !this.matches(f, action, body)) continue;
      f.left--;
      switch (f.kind) {
        case "rate_limit": {
          const headers: Record<string, string> =
            f.retryAfter === undefined ? {} : { "retry-after": String(f.retryAfter) };
          return { res: json({ error: "rate limit exceeded" }, 429, headers), after: false };
        }
        case "capacity":
          return {
            res: err(503, `insufficient resources to create new machine in region ${f.region}`, {
              status: "insufficient_capacity",
            }),
            after: false,
          };
        case "wait_timeout":
          return {
            res: err(
              408,
              "deadline_exceeded: machine failed to reach desired state, started, currently starting",
            ),
            after: false,
          };
        case "wrong_state":
          return {
            res: err(412, "failed_precondition: machine still active, refusing to start"),
            after: false,
          };
        case "server_error":
          return { res: err(f.status ?? 503, "internal error"), after: f.afterHandling === true };
        case "crash_on_start":
          continue; // never matched per request: consumed at launch
      }
    }
    return undefined;
  }

  private matches(f: Fault, action: Action, body: string): boolean {
    switch (f.kind) {
      case "rate_limit":
      case "server_error":
        return f.action === undefined || f.action === action;
      case "capacity":
        if (action !== "machine_create") return false;
        try {
          return (JSON.parse(body) as { region?: string }).region === f.region;
        } catch {
          return false;
        }
      case "wait_timeout":
        return action === "machine_wait";
      case "wrong_state":
        return f.action === action;
      case "crash_on_start":
        return false;
    }
  }

  private table(): [string, RegExp, Action, Handler][] {
    const A = "/v1/apps/([^/]+)";
    const M = `${A}/machines/([^/]+)`;
    const r = (s: string) => new RegExp(`^${s}$`);
    return [
      ["POST", r("/v1/apps"), "app_create", (q) => this.createApp(q)],
      ["GET", r("/v1/apps"), "app_list", (_q, _m, u) => this.listApps(u)],
      ["GET", r(A), "app_get", (_q, m) => this.getApp(m)],
      ["DELETE", r(A), "app_delete", (_q, m, u) => this.deleteApp(m, u)],
      ["GET", r(`${A}/secrets`), "secrets_list", (_q, m) => this.withApp(m, (a) => this.listSecrets(a))],
      [
        "POST",
        r(`${A}/secrets`),
        "secrets_update",
        (q, m) => this.withApp(m, (a) => this.updateSecrets(a, q)),
      ],
      [
        "POST",
        r(`${A}/secrets/([^/]+)`),
        "secret_set",
        (q, m) => this.withApp(m, (a) => this.setSecret(a, m, q)),
      ],
      [
        "DELETE",
        r(`${A}/secrets/([^/]+)`),
        "secret_delete",
        (_q, m) => this.withApp(m, (a) => this.unsetSecret(a, m)),
      ],
      ["GET", r(`${A}/ip_assignments`), "ip_list", (_q, m) => this.withApp(m, (a) => json({ ips: a.ips }))],
      ["POST", r(`${A}/ip_assignments`), "ip_assign", (q, m) => this.withApp(m, (a) => this.assignIp(a, q))],
      [
        "DELETE",
        r(`${A}/ip_assignments/([^/]+)`),
        "ip_delete",
        (_q, m) => this.withApp(m, (a) => this.deleteIp(a, m)),
      ],
      [
        "GET",
        r(`${A}/machines`),
        "machine_list",
        (_q, m, u) => this.withApp(m, (a) => this.listMachines(a, u)),
      ],
      [
        "POST",
        r(`${A}/machines`),
        "machine_create",
        (q, m) => this.withApp(m, (a) => this.createMachine(a, q)),
      ],
      ["GET", r(M), "machine_get", (_q, m) => this.withMachine(m, (x) => json(this.view(x)))],
      ["POST", r(M), "machine_update", (q, m) => this.withMachine(m, (x) => this.updateMachine(x, q))],
      [
        "DELETE",
        r(M),
        "machine_delete",
        (q, m, u) => this.withMachine(m, (x) => this.deleteMachine(x, q, u)),
      ],
      [
        "POST",
        r(`${M}/start`),
        "machine_start",
        (q, m) => this.withMachine(m, (x) => this.startMachine(x, q)),
      ],
      ["POST", r(`${M}/stop`), "machine_stop", (q, m) => this.withMachine(m, (x) => this.stopMachine(x, q))],
      [
        "POST",
        r(`${M}/suspend`),
        "machine_suspend",
        (q, m) => this.withMachine(m, (x) => this.suspendMachine(x, q)),
      ],
      ["GET", r(`${M}/wait`), "machine_wait", (_q, m, u) => this.withMachine(m, (x) => this.wait(x, u))],
      ["GET", r(`${M}/events`), "machine_events", (_q, m) => this.withMachine(m, (x) => json(x.events))],
      ["GET", r(`${M}/lease`), "lease_get", (_q, m) => this.withMachine(m, (x) => this.getLease(x))],
      [
        "POST",
        r(`${M}/lease`),
        "lease_acquire",
        (q, m, u) => this.withMachine(m, (x) => this.acquireLease(x, q, u)),
      ],
      [
        "DELETE",
        r(`${M}/lease`),
        "lease_release",
        (q, m) => this.withMachine(m, (x) => this.releaseLease(x, q)),
      ],
      [
        "GET",
        r(`${M}/metadata`),
        "metadata_get",
        (_q, m) => this.withMachine(m, (x) => json(x.config.metadata ?? {})),
      ],
      [
        "POST",
        r(`${M}/metadata/([^/]+)`),
        "metadata_set",
        (q, m) => this.withMachine(m, (x) => this.setMeta(x, m, q)),
      ],
      [
        "DELETE",
        r(`${M}/metadata/([^/]+)`),
        "metadata_delete",
        (q, m) => this.withMachine(m, (x) => this.deleteMeta(x, m, q)),
      ],
      ["GET", r("/api/v1/apps/([^/]+)/logs"), "logs", (_q, m, u) => this.withApp(m, (a) => this.logs(a, u))],
    ];
  }

  private withApp(m: RegExpExecArray, fn: (a: AppRec) => Promise<Response> | Response) {
    const name = decodeURIComponent(m[1] ?? "");
    if (this.foreign.has(name)) return err(403, "Not authorized to access this App");
    const a = this.apps.get(name);
    return a ? fn(a) : err(404, "Could not find App");
  }

  private withMachine(m: RegExpExecArray, fn: (x: MachineRec) => Promise<Response> | Response) {
    return this.withApp(m, (a) => {
      const x = a.machines.get(decodeURIComponent(m[2] ?? ""));
      return x ? fn(x) : err(404, "machine not found");
    });
  }

  // ---- apps ----

  private async createApp(req: Request): Promise<Response> {
    const b = (await req.json().catch(() => ({}))) as {
      app_name?: string;
      name?: string;
      org_slug?: string;
      network?: string;
    };
    const name = b.app_name ?? b.name ?? "";
    if (!b.org_slug) return err(400, "org_slug is required");
    if (b.org_slug !== this.org) return err(404, `Could not find Organization ${b.org_slug}`);
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) {
      return err(422, "Validation failed: Name under 63 chars using numbers, lowercase letters and dashes");
    }
    if (this.apps.has(name) || this.foreign.has(name)) {
      return err(422, "Validation failed: Name has already been taken", { status: "name_taken" });
    }
    const a: AppRec = {
      id: hex(8),
      name,
      org: this.org,
      network: b.network ?? "default",
      createdAt: Date.now(),
      secrets: new Map(),
      secretsVersion: 0,
      ips: [],
      machines: new Map(),
      logs: [],
    };
    this.apps.set(name, a);
    return json({ ...this.appView(a), created_at: a.createdAt }, 201);
  }

  private appView(a: AppRec) {
    const live = [...a.machines.values()].filter((m) => m.state !== "destroyed");
    return {
      id: a.id,
      name: a.name,
      status: live.length ? "deployed" : "pending",
      organization: { name: a.org, slug: a.org },
      network: a.network,
      machine_count: live.length,
      volume_count: 0,
    };
  }

  private listApps(url: URL): Response {
    const org = url.searchParams.get("org_slug");
    if (!org) return err(400, "org_slug is required");
    const apps = [...this.apps.values()]
      .filter((a) => a.org === org)
      .map((a) => {
        const { id, name, machine_count, volume_count, network } = this.appView(a);
        return { id, name, machine_count, volume_count, network };
      });
    return json({ total_apps: apps.length, apps });
  }

  private getApp(m: RegExpExecArray): Response {
    return this.withApp(m, (a) => json(this.appView(a))) as Response;
  }

  private async deleteApp(m: RegExpExecArray, url: URL): Promise<Response> {
    return this.withApp(m, async (a) => {
      const force = url.searchParams.get("force") === "true";
      const running = [...a.machines.values()].some((x) => x.state === "started" || x.state === "starting");
      // fake: the docs say to stop Machines first or pass force=true; the refusal is a 412 here.
      if (running && !force)
        return err(412, "failed_precondition: app has started machines; stop them or use force");
      this.apps.delete(a.name);
      await Promise.all([...a.machines.values()].map((x) => this.destroyNow(x)));
      return new Response(null, { status: 202 });
    });
  }

  // ---- secrets: values are write-only, never in a response ----

  private secretList(a: AppRec) {
    return [...a.secrets].map(([name, s]) => ({
      name,
      digest: s.digest,
      created_at: s.created_at,
      updated_at: s.updated_at,
    }));
  }

  private listSecrets(a: AppRec): Response {
    return json({ secrets: this.secretList(a) });
  }

  private putSecret(a: AppRec, name: string, value: string): void {
    const now = iso();
    const prev = a.secrets.get(name);
    a.secrets.set(name, {
      value,
      digest: createHash("sha256").update(value).digest("hex").slice(0, 16),
      created_at: prev?.created_at ?? now,
      updated_at: now,
    });
  }

  private async updateSecrets(a: AppRec, req: Request): Promise<Response> {
    const b = (await req.json().catch(() => null)) as { values?: Record<string, string | null> } | null;
    if (!b?.values || typeof b.values !== "object") return err(400, "values is required");
    for (const name of Object.keys(b.values)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return err(400, `invalid secret name ${name}`);
    }
    for (const [name, value] of Object.entries(b.values)) {
      if (value === null) a.secrets.delete(name);
      else this.putSecret(a, name, value);
    }
    a.secretsVersion++;
    return json({ secrets: this.secretList(a), version: a.secretsVersion });
  }

  private async setSecret(a: AppRec, m: RegExpExecArray, req: Request): Promise<Response> {
    const name = decodeURIComponent(m[2] ?? "");
    const b = (await req.json().catch(() => null)) as { value?: string } | null;
    if (typeof b?.value !== "string") return err(400, "value is required");
    this.putSecret(a, name, b.value);
    a.secretsVersion++;
    const { value: _, ...shown } = a.secrets.get(name) as Secret;
    return json({ name, ...shown, version: a.secretsVersion });
  }

  private unsetSecret(a: AppRec, m: RegExpExecArray): Response {
    const name = decodeURIComponent(m[2] ?? "");
    if (!a.secrets.delete(name)) return err(404, "secret not found");
    a.secretsVersion++;
    return json({ version: a.secretsVersion });
  }

  // ---- IPs ----

  private async assignIp(a: AppRec, req: Request): Promise<Response> {
    const b = (await req.json().catch(() => ({}))) as {
      type?: string;
      region?: string;
      service_name?: string;
    };
    const base = { region: b.region || "global", service_name: b.service_name ?? "", created_at: iso() };
    const n = a.ips.length + 1;
    let ip: Ip;
    switch (b.type) {
      case "shared_v4": {
        // fake: an app has one shared IPv4; asking again returns it.
        const existing = a.ips.find((x) => x.shared);
        if (existing) return json(existing);
        ip = { ...base, ip: `66.241.125.${(n % 250) + 1}`, shared: true };
        break;
      }
      case "v6":
        ip = { ...base, ip: `2a09:8280:1::${hex(2)}:${n}`, shared: false };
        break;
      case "v4":
        ip = { ...base, ip: `137.66.${n}.${(n % 250) + 1}`, shared: false };
        break;
      case "private_v6":
        ip = { ...base, ip: `fdaa:0:${hex(2)}:0:1::${n}`, shared: false };
        break;
      default:
        return err(400, `invalid ip type ${String(b.type)}`);
    }
    a.ips.push(ip);
    return json(ip);
  }

  private deleteIp(a: AppRec, m: RegExpExecArray): Response {
    const ip = decodeURIComponent(m[2] ?? "");
    const i = a.ips.findIndex((x) => x.ip === ip);
    if (i === -1) return err(404, "ip not found");
    a.ips.splice(i, 1);
    return new Response(null, { status: 204 });
  }

  // ---- machines ----

  private view(m: MachineRec): MachineView {
    return {
      id: m.id,
      name: m.name,
      state: m.state,
      region: m.region,
      instance_id: m.instanceId,
      version: m.instanceId,
      private_ip: m.privateIp,
      created_at: m.createdAt,
      updated_at: m.updatedAt,
      config: structuredClone(m.config),
      events: structuredClone(m.events),
      checks: structuredClone(m.checks),
      image_ref: imageRef(String(m.config.image ?? "")),
      host_status: "ok",
      cordoned: false,
    };
  }

  private listMachines(a: AppRec, url: URL): Response {
    const deleted = url.searchParams.get("include_deleted") === "true";
    const region = url.searchParams.get("region");
    const meta = [...url.searchParams].filter(([k]) => k.startsWith("metadata."));
    const list = [...a.machines.values()].filter(
      (m) =>
        (deleted || m.state !== "destroyed") &&
        (!region || m.region === region) &&
        meta.every(([k, v]) => m.config.metadata?.[k.slice("metadata.".length)] === v),
    );
    return json(list.map((m) => this.view(m)));
  }

  private async createMachine(a: AppRec, req: Request): Promise<Response> {
    const b = (await req.json().catch(() => null)) as {
      name?: string;
      region?: string;
      config?: MachineView["config"];
      skip_launch?: boolean;
      min_secrets_version?: number;
    } | null;
    if (!b?.config || typeof b.config.image !== "string" || b.config.image === "") {
      return err(400, "invalid machine config: image is required");
    }
    if (b.min_secrets_version !== undefined && b.min_secrets_version > a.secretsVersion) {
      // fake: Fly's answer for a secrets version that does not exist yet is undocumented.
      return err(400, `min_secrets_version ${b.min_secrets_version} is newer than the app's secrets`);
    }
    const id = hex(7);
    const m: MachineRec = {
      app: a,
      id,
      name: b.name ?? `fake-${hex(3)}`,
      region: b.region ?? "iad",
      state: "created",
      instanceId: fakeUlid(),
      privateIp: `fdaa:0:${hex(2)}:a7b:${hex(2)}::2`,
      createdAt: iso(),
      updatedAt: iso(),
      config: structuredClone(b.config),
      events: [],
      checks: [],
      lease: undefined,
      secretEnv: this.secretEnv(a),
      process: undefined,
      frozen: false,
      restarts: 0,
      gen: 0,
    };
    a.machines.set(id, m);
    this.event(m, "launch", "created", "user");
    if (!b.skip_launch) this.launch(m, "user", false);
    return json(this.view(m));
  }

  private async updateMachine(m: MachineRec, req: Request): Promise<Response> {
    const blocked = this.leaseBlocks(m, req);
    if (blocked) return blocked;
    const b = (await req.json().catch(() => null)) as {
      config?: MachineView["config"];
      skip_launch?: boolean;
      min_secrets_version?: number;
    } | null;
    if (!b?.config || typeof b.config.image !== "string" || b.config.image === "") {
      return err(400, "invalid machine config: image is required");
    }
    if (m.state === "destroyed" || m.state === "destroying")
      return err(412, "failed_precondition: machine is destroyed");
    m.gen++;
    await this.killProcess(m);
    m.config = structuredClone(b.config);
    m.instanceId = fakeUlid();
    m.secretEnv = this.secretEnv(m.app);
    m.restarts = 0;
    m.updatedAt = iso();
    this.setState(m, "replacing");
    this.event(m, "update", "replacing", "user");
    if (b.skip_launch) this.later(m, () => this.setState(m, "stopped"));
    else this.launch(m, "user", false);
    return json(this.view(m));
  }

  private async deleteMachine(m: MachineRec, req: Request, url: URL): Promise<Response> {
    const blocked = this.leaseBlocks(m, req);
    if (blocked) return blocked;
    const force = url.searchParams.get("force") === "true" || url.searchParams.get("kill") === "true";
    if (!force && !["stopped", "suspended", "failed", "created"].includes(m.state)) {
      return err(
        412,
        "failed_precondition: unable to destroy machine, not currently stopped, suspended, failed or created",
      );
    }
    m.gen++;
    this.setState(m, "destroying");
    this.event(m, "destroy", "destroying", "user");
    await this.killProcess(m);
    this.later(m, () => {
      this.setState(m, "destroyed");
      m.lease = undefined;
    });
    return json({ ok: true });
  }

  private startMachine(m: MachineRec, req: Request): Response {
    const blocked = this.leaseBlocks(m, req);
    if (blocked) return blocked;
    if (!["stopped", "suspended", "created", "failed"].includes(m.state)) {
      return err(412, "failed_precondition: machine still active, refusing to start");
    }
    const previous = m.state;
    this.launch(m, "user", previous === "suspended");
    return json({ previous_state: previous, migrated: false, new_host: "" });
  }

  private stopMachine(m: MachineRec, req: Request): Response {
    const blocked = this.leaseBlocks(m, req);
    if (blocked) return blocked;
    // fake: stopping a stopped Machine is a no-op; stopping a suspended one drops its snapshot.
    if (m.state === "stopped") return json({ ok: true });
    if (!["started", "starting", "suspended"].includes(m.state)) {
      return err(412, `failed_precondition: unable to stop machine, currently ${m.state}`);
    }
    this.halt(m, "stop", "user");
    return json({ ok: true });
  }

  private suspendMachine(m: MachineRec, req: Request): Response {
    const blocked = this.leaseBlocks(m, req);
    if (blocked) return blocked;
    if (m.state === "suspended") return json({ ok: true });
    if (m.state !== "started")
      return err(412, `failed_precondition: unable to suspend machine, currently ${m.state}`);
    this.halt(m, "suspend", "user");
    return json({ ok: true });
  }

  /** fake: `instance_id` (docs) and `version` (fly-go) are accepted and not checked. */
  private async wait(m: MachineRec, url: URL): Promise<Response> {
    const states = url.searchParams.getAll("state");
    const wanted = states.length ? states : ["started"];
    if (wanted.some((s) => !["started", "stopped", "suspended", "destroyed"].includes(s))) {
      return err(400, `invalid state ${wanted.join(",")}`);
    }
    const timeout = Number(url.searchParams.get("timeout") ?? "60");
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60) {
      return err(400, "invalid timeout: must be between 1 and 60 seconds");
    }
    if (await this.waitFor(m, wanted, timeout * 1000)) return json({ ok: true });
    return err(
      408,
      `deadline_exceeded: machine failed to reach desired state, ${wanted.join(",")}, currently ${m.state}`,
    );
  }

  // ---- leases ----

  private liveLease(m: MachineRec): Lease | undefined {
    if (m.lease && m.lease.expiresAt * 1000 <= Date.now()) m.lease = undefined;
    return m.lease;
  }

  private leaseBlocks(m: MachineRec, req: Request): Response | undefined {
    const lease = this.liveLease(m);
    if (!lease || req.headers.get("fly-machine-lease-nonce") === lease.nonce) return undefined;
    return err(409, this.heldMessage(m, lease));
  }

  private heldMessage(m: MachineRec, lease: Lease): string {
    const at = new Date(lease.expiresAt * 1000)
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d+Z$/, " +0000 UTC");
    return `machine ID ${m.id} lease currently held by ${lease.owner}, expires at ${at}`;
  }

  private getLease(m: MachineRec): Response {
    const lease = this.liveLease(m);
    if (!lease) return json({ status: "error", message: "lease not found", code: "not_found" }, 404);
    return json({ status: "success", data: this.leaseData(m, lease) });
  }

  private leaseData(m: MachineRec, lease: Lease) {
    return {
      nonce: lease.nonce,
      expires_at: lease.expiresAt,
      owner: lease.owner,
      description: lease.description,
      version: m.instanceId,
    };
  }

  private async acquireLease(m: MachineRec, req: Request, url: URL): Promise<Response> {
    const b = (await req.json().catch(() => ({}))) as { ttl?: number; description?: string };
    const ttl = Number(url.searchParams.get("ttl") ?? b.ttl ?? 30);
    const held = this.liveLease(m);
    const nonce = req.headers.get("fly-machine-lease-nonce");
    if (held && held.nonce !== nonce) {
      return json({ status: "error", message: this.heldMessage(m, held), code: "invalid" }, 409);
    }
    m.lease = {
      nonce: held?.nonce ?? hex(6),
      expiresAt: Math.floor(Date.now() / 1000) + ttl,
      owner: "catwalk@fake.fly",
      description: b.description ?? "",
    };
    return json({ status: "success", data: this.leaseData(m, m.lease) }, 201);
  }

  private releaseLease(m: MachineRec, req: Request): Response {
    const held = this.liveLease(m);
    const nonce = req.headers.get("fly-machine-lease-nonce");
    if (!nonce)
      return json(
        { status: "error", message: "fly-machine-lease-nonce header is required", code: "invalid" },
        400,
      );
    if (held && held.nonce !== nonce) {
      return json({ status: "error", message: this.heldMessage(m, held), code: "invalid" }, 409);
    }
    m.lease = undefined;
    return json({ status: "success", data: { ok: true } });
  }

  // ---- metadata ----

  private async setMeta(m: MachineRec, p: RegExpExecArray, req: Request): Promise<Response> {
    const b = (await req.json().catch(() => null)) as { value?: string } | null;
    if (typeof b?.value !== "string") return err(400, "value is required");
    m.config.metadata = { ...m.config.metadata, [decodeURIComponent(p[3] ?? "")]: b.value };
    return new Response(null, { status: 204 });
  }

  private deleteMeta(m: MachineRec, p: RegExpExecArray, _req: Request): Response {
    const { [decodeURIComponent(p[3] ?? "")]: _, ...rest } = m.config.metadata ?? {};
    m.config.metadata = rest;
    return new Response(null, { status: 204 });
  }

  // ---- logs (api.fly.io) ----

  private logs(a: AppRec, url: URL): Response {
    const token = url.searchParams.get("next_token") ?? "";
    const instance = url.searchParams.get("instance");
    const region = url.searchParams.get("region");
    let lines = a.logs.filter(
      (l) => (!instance || l.instance === instance) && (!region || l.region === region),
    );
    if (/^\d+$/.test(token)) lines = lines.filter((l) => l.ns > BigInt(token)).slice(0, 100);
    else lines = lines.slice(-100);
    const last = lines.at(-1);
    return json({
      data: lines.map((l) => ({
        id: String(l.ns),
        type: "logs",
        attributes: {
          timestamp: l.timestamp,
          message: l.message,
          level: l.level,
          instance: l.instance,
          region: l.region,
          meta: { event: { provider: "app" } },
        },
      })),
      meta: { next_token: last ? String(last.ns) : token },
    });
  }

  // ---- the Machine state machine ----

  private secretEnv(a: AppRec): Record<string, string> {
    return Object.fromEntries([...a.secrets].map(([k, s]) => [k, s.value]));
  }

  private event(
    m: MachineRec,
    type: string,
    status: string,
    source: string,
    request?: Record<string, unknown>,
  ) {
    m.events.unshift({
      id: fakeUlid(),
      type,
      status,
      source,
      timestamp: Date.now(),
      ...(request ? { request } : {}),
    });
    m.updatedAt = iso();
  }

  private setState(m: MachineRec, state: string): void {
    m.state = state;
    m.updatedAt = iso();
    for (const w of this.waiters) {
      if (w.machine === m && w.states.includes(state)) {
        this.waiters.delete(w);
        w.resolve(true);
      }
    }
  }

  private waitFor(m: MachineRec, states: string[], timeoutMs: number): Promise<boolean> {
    if (states.includes(m.state)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w: Waiter = { machine: m, states, resolve };
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.waiters.delete(w);
        resolve(false);
      }, timeoutMs);
      this.timers.add(t);
      w.resolve = (ok) => {
        clearTimeout(t);
        this.timers.delete(t);
        resolve(ok);
      };
      this.waiters.add(w);
    });
  }

  /** Runs `fn` after one transition, unless a newer command superseded it. */
  private later(m: MachineRec, fn: () => void | Promise<void>): void {
    const gen = m.gen;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed && m.gen === gen) void fn();
    }, this.transitionMs);
    this.timers.add(t);
  }

  private launch(m: MachineRec, source: string, resume: boolean): void {
    m.gen++;
    this.setState(m, "starting");
    this.sysLog(m, resume ? "Resuming machine" : "Starting machine");
    this.later(m, async () => {
      const gen = m.gen;
      try {
        if (resume && m.process?.thaw && m.frozen) await m.process.thaw();
        else {
          await this.killProcess(m);
          m.process = await this.onStart(this.view(m), {
            app: m.app.name,
            env: this.processEnv(m),
            log: (line) => this.log(m.app.name, m.id, line),
          });
        }
      } catch (e) {
        if (m.gen === gen) this.exited(m, 1, false, `process failed to start: ${String(e)}`);
        return;
      }
      m.frozen = false;
      if (m.gen !== gen || this.closed) return;
      const crash = this.faults.find(
        (f): f is Extract<Fault, { kind: "crash_on_start" }> & { left: number } =>
          f.kind === "crash_on_start" && f.left > 0,
      );
      if (crash) {
        crash.left--;
        await this.exited(m, crash.exitCode ?? 1, false);
        return;
      }
      this.setState(m, "started");
      this.event(m, "start", "started", source);
      this.sysLog(m, "Machine started");
      await this.healthCheck(m);
    });
  }

  private processEnv(m: MachineRec): Record<string, string> {
    return {
      ...(m.config.env ?? {}),
      ...m.secretEnv,
      FLY_APP_NAME: m.app.name,
      FLY_MACHINE_ID: m.id,
      FLY_REGION: m.region,
      FLY_PRIVATE_IP: m.privateIp,
      FLY_IMAGE_REF: String(m.config.image ?? ""),
    };
  }

  private async healthCheck(m: MachineRec): Promise<void> {
    const services = (m.config.services ?? []) as { checks?: { type?: string; path?: string }[] }[];
    const check = services[0]?.checks?.find((c) => c.type === "http");
    if (!check || !m.process) return;
    const ok = await fetch(`${m.process.url}${check.path ?? "/"}`)
      .then((r) => r.ok)
      .catch(() => false);
    m.checks = [
      { name: "servicecheck-00-http", status: ok ? "passing" : "critical", output: ok ? "200 OK" : "failed" },
    ];
  }

  private halt(m: MachineRec, mode: "stop" | "suspend", source: string): void {
    m.gen++;
    const transient = mode === "stop" ? "stopping" : "suspending";
    const final = mode === "stop" ? "stopped" : "suspended";
    this.setState(m, transient);
    this.sysLog(m, mode === "stop" ? "Sending signal SIGINT to main child" : "Suspending machine");
    this.later(m, async () => {
      if (mode === "suspend" && m.process?.freeze) {
        await m.process.freeze();
        m.frozen = true;
      } else await this.killProcess(m);
      this.setState(m, final);
      this.event(m, mode, final, source);
      if (mode === "stop") {
        this.event(m, "exit", "stopped", "flyd", {
          exit_event: { exit_code: 0, requested_stop: true, restarting: false, exited_at: iso() },
          restart_count: m.restarts,
        });
      }
    });
  }

  private async exited(m: MachineRec, code: number, requested: boolean, why?: string): Promise<void> {
    m.gen++;
    await this.killProcess(m);
    const restart = (m.config.restart ?? {}) as { policy?: string; max_retries?: number };
    const policy = restart.policy ?? "on-failure";
    const again =
      policy === "always" ||
      (policy === "on-failure" && code !== 0 && m.restarts < (restart.max_retries ?? 10));
    this.sysLog(m, why ?? `Main child exited normally with code: ${code}`);
    this.event(m, "exit", "stopped", "flyd", {
      exit_event: { exit_code: code, requested_stop: requested, restarting: again, exited_at: iso() },
      restart_count: m.restarts,
    });
    if (again) {
      m.restarts++;
      this.launch(m, "flyd", false);
      return;
    }
    this.setState(m, "stopped");
  }

  private async killProcess(m: MachineRec): Promise<void> {
    const p = m.process;
    m.process = undefined;
    m.frozen = false;
    m.checks = [];
    if (p) await p.stop().catch(() => undefined);
  }

  private async destroyNow(m: MachineRec): Promise<void> {
    m.gen++;
    await this.killProcess(m);
    this.setState(m, "destroyed");
  }

  private sysLog(m: MachineRec, message: string): void {
    this.log(m.app.name, m.id, message);
  }
}

/**
 * The default Machine process: `/healthz` answers 200; every other path needs
 * `Authorization: Bearer <CATWALK_BRIDGE_SECRET>` and answers which Machine and boot served it.
 * A boot id that survives suspend/resume but not stop/start shows memory was kept.
 */
export const placeholderProcess: OnMachineStart = async (machine, ctx) => {
  const boot = hex(4);
  let frozen = false;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      if (frozen) return new Response("frozen", { status: 503 });
      if (url.pathname === "/healthz") return new Response("ok");
      const secret = ctx.env.CATWALK_BRIDGE_SECRET;
      if (!secret || req.headers.get("authorization") !== `Bearer ${secret}`) {
        return Response.json({ error: "unauthorized" }, { status: 401 });
      }
      ctx.log(`placeholder served ${req.method} ${url.pathname}`);
      return Response.json({
        machine: machine.id,
        app: ctx.app,
        boot,
        path: url.pathname,
        method: req.method,
      });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    stop: async () => {
      server.stop(true);
    },
    freeze: async () => {
      frozen = true;
    },
    thaw: async () => {
      frozen = false;
    },
  };
};
