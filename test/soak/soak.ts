/**
 * The soak: one compiled server process on loopback, `deployments` echo-fixture deployments (half
 * isolated, half shared, each with its own secret), `clients` concurrent clients that connect, call,
 * pause, drop without saying goodbye, reconnect to their session, and close, for `minutes`. Every
 * answer is checked; the server's descriptors, RSS, children and sessions are sampled throughout.
 * `test/soak/soak.test.ts` runs it and asserts; `bun run soak` runs the bounded form.
 */
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type Deployed, deploy } from "../helpers/mcp.ts";
import { alive, childrenOf, fds, rssKiB } from "../helpers/proc.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process-server.ts";
import { tempDir } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

export interface SoakOptions {
  minutes: number;
  deployments: number;
  clients: number;
  /** Idle time after which the server reaps a dropped session. */
  sessionTtlMs: number;
  log?: (line: string) => void;
}

export interface Sample {
  atS: number;
  rssMiB: number;
  fds: number;
  fdKinds: Record<string, number>;
  children: number;
  sessions: number;
}

export interface SoakReport {
  options: Omit<SoakOptions, "log">;
  durationS: number;
  sessions: { opened: number; closed: number; dropped: number; reconnected: number };
  calls: { total: number; echo: number; env: number; sleep: number; pid: number };
  failures: string[];
  /** At rest after set-up (every deployment running, one warm-up round done). */
  baseline: Sample;
  /** At rest after the traffic stopped and dropped sessions were reaped. */
  final: Sample;
  peak: { rssMiB: number; fds: number; children: number; sessions: number };
  samples: Sample[];
  metrics: { droppedEvents: number; droppedLogLines: number };
  exitCode: number;
  childrenLeftAfterStop: number[];
}

interface SoakDeployment extends Deployed {
  mode: "isolated" | "shared";
  secret: string;
}

const ALPHABET = "abcXYZ019 \"'\\/<>&;|$`{}[]\n\t—ü中🙂";

function randomText(): string {
  const long = Math.random() < 0.02;
  const n = long ? 65_536 : 1 + Math.floor(Math.random() * 400);
  const chars = [...ALPHABET];
  let s = "";
  for (let i = 0; i < n; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
const text = (r: unknown) => ((r as { content: { text?: string }[] }).content[0]?.text ?? "") as string;

async function sample(srv: ServerProcess, start: number): Promise<Sample> {
  const res = await srv.api("/api/deployments");
  const { deployments } = (await res.json()) as { deployments: { sessions: number }[] };
  const f = fds(srv.pid);
  return {
    atS: Math.round((Date.now() - start) / 1000),
    rssMiB: Math.round((rssKiB(srv.pid) / 1024) * 10) / 10,
    fds: f.total,
    fdKinds: f.byKind,
    children: childrenOf(srv.pid).length,
    sessions: deployments.reduce((a, d) => a + d.sessions, 0),
  };
}

async function metrics(srv: ServerProcess): Promise<SoakReport["metrics"]> {
  const body = await (await srv.api("/metrics")).text();
  const value = (name: string) =>
    Number(new RegExp(`^${name}\\S* (\\d+)`, "m").exec(body)?.[1] ?? Number.NaN);
  return {
    droppedEvents: value("catwalk_events_dropped_total"),
    droppedLogLines: value("catwalk_log_lines_dropped_total"),
  };
}

/** Waits until `cond` holds, polling every 250 ms; false after `ms`. */
async function settle(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await Bun.sleep(250);
  }
  return false;
}

export class Traffic {
  readonly failures: string[] = [];
  readonly sessions = { opened: 0, closed: 0, dropped: 0, reconnected: 0 };
  readonly calls = { total: 0, echo: 0, env: 0, sleep: 0, pid: 0 };

  constructor(
    private readonly deps: SoakDeployment[],
    private readonly until: number,
  ) {}

  private fail(dep: SoakDeployment, what: string): void {
    if (this.failures.length < 50) this.failures.push(`${dep.slug}: ${what}`);
  }

  private transport(dep: SoakDeployment, sessionId?: string): StreamableHTTPClientTransport {
    return new StreamableHTTPClientTransport(new URL(dep.url), {
      ...(sessionId ? { sessionId } : {}),
      requestInit: { headers: { authorization: `Bearer ${dep.token}` } },
    });
  }

  /** One checked call of a random kind; `pid` is the session's upstream process when known. */
  private async call(client: Client, dep: SoakDeployment, pid: { value?: string }): Promise<void> {
    const kind = pick(["echo", "echo", "echo", "env", "sleep", "pid"] as const);
    this.calls.total++;
    this.calls[kind]++;
    if (kind === "echo") {
      const t = randomText();
      const got = text(await client.callTool({ name: "echo", arguments: { text: t } }));
      if (got !== t) this.fail(dep, `echo returned ${got.length} chars for ${t.length}`);
    } else if (kind === "env") {
      const got = text(await client.callTool({ name: "env", arguments: { name: "SOAK_SECRET" } }));
      if (got !== dep.secret) this.fail(dep, "env returned another deployment's or no secret");
    } else if (kind === "sleep") {
      let progress = 0;
      const got = text(
        await client.callTool({ name: "sleep", arguments: { ms: 250 } }, undefined, {
          onprogress: () => {
            progress++;
          },
        }),
      );
      if (got !== "slept 250") this.fail(dep, `sleep returned ${JSON.stringify(got)}`);
      if (progress === 0) this.fail(dep, "sleep sent no progress notification");
    } else {
      const got = text(await client.callTool({ name: "pid", arguments: {} }));
      if (!/^\d+$/.test(got)) this.fail(dep, `pid returned ${JSON.stringify(got)}`);
      // An isolated session keeps its own child for its whole life; a shared one its shared child.
      else if (pid.value !== undefined && pid.value !== got) this.fail(dep, "the session's upstream changed");
      pid.value = got;
    }
  }

  private async calls_(client: Client, dep: SoakDeployment, pid: { value?: string }): Promise<void> {
    const n = 1 + Math.floor(Math.random() * 12);
    for (let i = 0; i < n && Date.now() < this.until; i++) {
      await this.call(client, dep, pid);
      if (Math.random() < 0.15) await Bun.sleep(300 + Math.random() * 2500);
    }
  }

  /** One client session from initialize to its end: close, drop, or reconnect then close. */
  private async session(): Promise<void> {
    const dep = pick(this.deps);
    const transport = this.transport(dep);
    const client = new Client({ name: "soak", version: "1" });
    const pid: { value?: string } = {};
    try {
      await client.connect(transport);
      this.sessions.opened++;
      await this.calls_(client, dep, pid);
      const end = Math.random();
      if (end < 0.2) {
        // Drop: the connection goes away without DELETE; the server reaps the session later.
        await client.close();
        this.sessions.dropped++;
        return;
      }
      let active = { client, transport };
      if (end < 0.45) {
        const id = transport.sessionId as string;
        await client.close();
        await Bun.sleep(Math.random() * 1500);
        const again = this.transport(dep, id);
        const c2 = new Client({ name: "soak-reconnect", version: "1" });
        await c2.connect(again);
        again.setProtocolVersion("2025-11-25");
        this.sessions.reconnected++;
        active = { client: c2, transport: again };
        await this.calls_(c2, dep, pid);
      }
      await active.transport.terminateSession();
      await active.client.close();
      this.sessions.closed++;
    } catch (e) {
      this.fail(dep, `${(e as Error).message}`.slice(0, 300));
      await client.close().catch(() => {});
    }
  }

  async worker(): Promise<void> {
    while (Date.now() < this.until) await this.session();
  }
}

async function createDeployments(srv: ServerProcess, count: number): Promise<SoakDeployment[]> {
  const argv = fixtureArgv("echo-server.ts");
  const out: SoakDeployment[] = [];
  for (let i = 0; i < count; i++) {
    const mode = i % 2 === 0 ? "isolated" : "shared";
    const secret = `soak-${i}-${randomBytes(8).toString("hex")}`;
    const dep = await deploy(
      srv,
      {
        command: [...argv, `soak-${i}`],
        name: `soak-${i}`,
        sessionMode: mode,
        env: { SOAK_SECRET: secret },
      },
      120_000,
    );
    out.push({ ...dep, mode, secret });
  }
  return out;
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => {});
  const dataDir = tempDir("catwalk-soak-");
  const srv = await startServerProcess({
    dataDir,
    env: {
      CATWALK_LOCAL_ALLOW_COMMANDS: "true",
      CATWALK_GATEWAY_SESSION_IDLE_TTL_MS: String(opts.sessionTtlMs),
      CATWALK_LOG_LEVEL: "info",
    },
  });
  let exitCode = -1;
  let leftover: number[] = [];
  try {
    const deps = await createDeployments(srv, opts.deployments);
    const t0 = Date.now();
    // Warm-up: one short round, then rest, so the baseline includes JIT and allocator growth.
    const warm = new Traffic(deps, Date.now() + 15_000);
    await Promise.all(Array.from({ length: opts.clients }, () => warm.worker()));
    const rest = async () => {
      await settle(async () => (await sample(srv, t0)).sessions === 0, opts.sessionTtlMs * 3 + 10_000);
      await settle(
        async () => (await sample(srv, t0)).children === opts.deployments,
        opts.sessionTtlMs + 30_000,
      );
      await Bun.sleep(2000);
      return sample(srv, t0);
    };
    const baseline = await rest();
    log(`baseline ${JSON.stringify(baseline)}`);

    const start = Date.now();
    const traffic = new Traffic(deps, start + opts.minutes * 60_000);
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await sample(srv, start);
        samples.push(s);
        log(
          `t=${s.atS}s rss=${s.rssMiB}MiB fds=${s.fds} children=${s.children} sessions=${s.sessions} calls=${traffic.calls.total} failures=${traffic.failures.length}`,
        );
        const wait = Date.now() + 15_000;
        while (sampling && Date.now() < wait) await Bun.sleep(250);
      }
    })();
    await Promise.all(Array.from({ length: opts.clients }, () => traffic.worker()));
    const durationS = (Date.now() - start) / 1000;
    sampling = false;
    await sampler;
    const final = await rest();
    log(`final ${JSON.stringify(final)}`);
    const m = await metrics(srv);
    const all = [baseline, ...samples, final];
    const children = childrenOf(srv.pid);
    exitCode = await srv.kill("SIGTERM");
    await settle(async () => children.every((p) => !alive(p)), 15_000);
    leftover = children.filter(alive);
    return {
      options: {
        minutes: opts.minutes,
        deployments: opts.deployments,
        clients: opts.clients,
        sessionTtlMs: opts.sessionTtlMs,
      },
      durationS,
      sessions: traffic.sessions,
      calls: traffic.calls,
      failures: [...warm.failures, ...traffic.failures],
      baseline,
      final,
      peak: {
        rssMiB: Math.max(...all.map((s) => s.rssMiB)),
        fds: Math.max(...all.map((s) => s.fds)),
        children: Math.max(...all.map((s) => s.children)),
        sessions: Math.max(...all.map((s) => s.sessions)),
      },
      samples,
      metrics: m,
      exitCode,
      childrenLeftAfterStop: leftover,
    };
  } finally {
    if (exitCode === -1) await srv.kill("SIGKILL");
  }
}
