import type { Server } from "bun";
import type { FakeFlyMachines } from "./fly-machines.ts";

/**
 * A fake Fly Proxy in front of the fake Machines API. Like the real one it routes by the `Host`
 * header, `<app>.<appDomain>`; here `appDomain` is `localhost:<port>`, because Bun resolves every
 * `*.localhost` name to 127.0.0.1, so `http://<app>.localhost:<port>/mcp` reaches this proxy with
 * the right Host and no DNS set-up (config: `fly.appDomain = proxy.appDomain`, `fly.appScheme =
 * "http"`). A client that cannot resolve `*.localhost` may send to `proxy.url` with a `Host` header.
 *
 * `fly-force-instance-id` pins the Machine; with no fallback, as documented, a pinned Machine that
 * does not exist answers 503. A stopped or suspended Machine with `autostart` is started first
 * (after `wakeDelayMs`, standing in for boot); with `idleStopMs` an idle Machine is stopped or
 * suspended per its service's `autostop`.
 */

export interface FakeFlyProxyOptions {
  machines: FakeFlyMachines;
  wakeDelayMs?: number;
  /** Idle time after which a Machine is autostopped; undefined: never. */
  idleStopMs?: number;
}

export interface ProxiedRequest {
  app: string;
  machineId: string | undefined;
  status: number;
  /** True when this request had to start the Machine first. */
  woke: boolean;
}

interface ServiceConfig {
  autostart?: boolean;
}

const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"];

export class FakeFlyProxy {
  readonly requests: ProxiedRequest[] = [];
  private server!: Server<undefined>;
  private readonly inflight = new Map<string, number>();
  private readonly idleTimers = new Map<string, ReturnType<typeof setTimeout>>();

  private constructor(private readonly opts: FakeFlyProxyOptions) {}

  static start(opts: FakeFlyProxyOptions): FakeFlyProxy {
    const proxy = new FakeFlyProxy(opts);
    proxy.server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      idleTimeout: 0,
      fetch: (req) => proxy.handle(req),
    });
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** The value for `fly.appDomain`: apps answer at `<app>.localhost:<port>`. */
  get appDomain(): string {
    return `localhost:${this.server.port}`;
  }

  close(): void {
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.server.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const host = (req.headers.get("host") ?? "").toLowerCase();
    const suffix = `.${this.appDomain}`;
    if (!host.endsWith(suffix)) return this.fail(404, "", undefined, "unknown host");
    const app = host.slice(0, -suffix.length);
    if (!this.opts.machines.hasApp(app)) return this.fail(404, app, undefined, "app not found");
    const forced = req.headers.get("fly-force-instance-id") ?? undefined;
    const target = this.pick(app, forced);
    if (!target) return this.fail(503, app, forced, forced ? "forced instance unavailable" : "no machines");
    const woke = this.opts.machines.processUrl(app, target) === undefined;
    if (woke && !(await this.wake(app, target)))
      return this.fail(503, app, target, "machine could not be started");
    const base = this.opts.machines.processUrl(app, target);
    if (!base) return this.fail(502, app, target, "machine not reachable");
    return this.forward(req, app, target, base, woke);
  }

  /** The forced Machine when it exists (live), otherwise a started one, otherwise one to wake. */
  private pick(app: string, forced: string | undefined): string | undefined {
    const live = this.opts.machines
      .machines(app)
      .filter((m) => m.state !== "destroyed" && m.state !== "destroying");
    if (forced) return live.find((m) => m.id === forced)?.id;
    return (live.find((m) => m.state === "started") ?? live[0])?.id;
  }

  private async wake(app: string, id: string): Promise<boolean> {
    const m = this.opts.machines.machine(app, id);
    const services = (m?.config.services ?? []) as ServiceConfig[];
    if (!services.some((s) => s.autostart === true)) return false;
    await Bun.sleep(this.opts.wakeDelayMs ?? 50);
    return this.opts.machines.wake(app, id);
  }

  private async forward(
    req: Request,
    app: string,
    id: string,
    base: string,
    woke: boolean,
  ): Promise<Response> {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    for (const h of HOP_BY_HOP) headers.delete(h);
    headers.set("fly-client-ip", "127.0.0.1");
    headers.set("fly-forwarded-proto", "https");
    headers.set("x-forwarded-host", req.headers.get("host") ?? "");
    this.busy(app, id, +1);
    let upstream: Response;
    try {
      upstream = await fetch(`${base}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? null : await req.arrayBuffer(),
        redirect: "manual",
      });
    } catch {
      this.busy(app, id, -1);
      return this.fail(502, app, id, "failed to complete request to instance");
    }
    this.requests.push({ app, machineId: id, status: upstream.status, woke });
    const out = new Headers(upstream.headers);
    out.delete("content-length");
    out.set("fly-request-id", `fake-proxy-${Date.now()}`);
    out.set("via", "1.1 fly.io");
    return new Response(
      this.track(upstream.body, () => this.busy(app, id, -1)),
      {
        status: upstream.status,
        headers: out,
      },
    );
  }

  /** Passes the body through and calls `done` once when it ends or the client goes away. */
  private track(
    body: ReadableStream<Uint8Array> | null,
    done: () => void,
  ): ReadableStream<Uint8Array> | null {
    let called = false;
    const finish = () => {
      if (!called) {
        called = true;
        done();
      }
    };
    if (!body) {
      finish();
      return null;
    }
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done: end, value } = await reader.read();
          if (end) {
            finish();
            controller.close();
          } else controller.enqueue(value);
        } catch (e) {
          finish();
          controller.error(e);
        }
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    });
  }

  private busy(app: string, id: string, delta: number): void {
    const key = `${app}/${id}`;
    const n = (this.inflight.get(key) ?? 0) + delta;
    this.inflight.set(key, n);
    const timer = this.idleTimers.get(key);
    if (timer) clearTimeout(timer);
    this.idleTimers.delete(key);
    const idle = this.opts.idleStopMs;
    if (n > 0 || idle === undefined) return;
    this.idleTimers.set(
      key,
      setTimeout(() => {
        this.idleTimers.delete(key);
        if ((this.inflight.get(key) ?? 0) === 0) this.opts.machines.autostop(app, id);
      }, idle),
    );
  }

  private fail(status: number, app: string, machineId: string | undefined, why: string): Response {
    this.requests.push({ app, machineId, status, woke: false });
    return new Response(`fly-proxy: ${why}\n`, {
      status,
      headers: { "content-type": "text/plain", "fly-request-id": `fake-proxy-${Date.now()}` },
    });
  }
}
