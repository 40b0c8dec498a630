/**
 * Fault tests for the gateway and its upstreams: each one breaks something on purpose and asserts
 * the exact recovery (statuses, messages, states, which session survives), not just "no crash".
 */
import { describe, expect, test } from "bun:test";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startFakeRemote } from "../helpers/fake-remote.ts";
import {
  type Connected,
  connectLegacy,
  type Deployed,
  deploy,
  initializeBody,
  rawPost,
} from "../helpers/mcp.ts";
import { alive, processesMatching, until } from "../helpers/proc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { fixtureArgv } from "../helpers/upstream.ts";

const ALLOW = { CATWALK_LOCAL_ALLOW_COMMANDS: "true" };
const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text ?? "";

function echoCommand(...extra: string[]): string[] {
  return fixtureArgv("echo-server.ts", ...extra);
}

async function sessionsOf(srv: TestServer, id: string): Promise<number> {
  return ((await (await srv.api(`/api/deployments/${id}`)).json()) as { sessions: number }).sessions;
}

async function openSession(url: string, token: string): Promise<string> {
  const res = await rawPost(url, initializeBody(), { authorization: `Bearer ${token}` });
  const id = res.headers.get("mcp-session-id");
  await res.text();
  if (res.status !== 200 || !id) throw new Error(`initialize answered ${res.status}`);
  return id;
}

async function endSession(url: string, token: string, session: string): Promise<number> {
  const res = await fetch(url, {
    method: "DELETE",
    headers: { authorization: `Bearer ${token}`, "mcp-session-id": session },
  });
  await res.text();
  return res.status;
}

describe("session accounting", () => {
  test("the open-session count stays exact when a session ends while another one is initializing", async () => {
    const remote = startFakeRemote();
    const srv = await startTestServer();
    try {
      const dep = await deploy(srv, { source: remote.url, name: "gated" });
      // The pool holds one warm remote session; every later remote initialize waits at the gate.
      const gate = remote.gate(remote.initializes());
      const first = await openSession(dep.url, dep.token);
      const second = openSession(dep.url, dep.token);
      // The second client's initialize is waiting for its upstream (the gated replacement).
      await until(() => remote.initializes() >= 3, 10_000, "the second initialize to reach the upstream");
      expect(await endSession(dep.url, dep.token, first)).toBe(200);
      gate.open();
      const id = await second;
      expect(await sessionsOf(srv, dep.id)).toBe(1);
      expect(await endSession(dep.url, dep.token, id)).toBe(200);
      expect(await sessionsOf(srv, dep.id)).toBe(0);
    } finally {
      await srv.close();
      await remote.stop();
    }
  });
});

interface Worker {
  dep: Deployed & { mode: "isolated" | "shared" };
  conn: Connected;
  sessions: string[];
  ok: number;
  errors: string[];
  /** Statuses the ended session's id got afterwards. */
  stale: number[];
}

async function attach(w: Pick<Worker, "dep">): Promise<{ conn: Connected; pid: number; session: string }> {
  const conn = await connectLegacy(w.dep);
  const pid = Number(text(await conn.client.callTool({ name: "pid", arguments: {} })));
  return { conn, pid, session: conn.transport.sessionId as string };
}

/** The pid behind a worker's session; retried while its loop swaps in a re-initialized client. */
async function pidOf(w: Worker): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return Number(text(await w.conn.client.callTool({ name: "pid", arguments: {} })));
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await Bun.sleep(50);
    }
  }
}

describe("children killed at random under load", () => {
  test("shared sessions carry on with the restarted child, isolated ones get 404 and re-initialize, nothing leaks", async () => {
    const srv = await startTestServer({ env: ALLOW });
    const pids = new Set<number>();
    try {
      const deps: Worker["dep"][] = [];
      for (const [i, mode] of (["isolated", "shared", "isolated", "shared"] as const).entries()) {
        deps.push({
          ...(await deploy(srv, { command: echoCommand(), name: `k${i}`, sessionMode: mode })),
          mode,
        });
      }
      const workers: Worker[] = [];
      for (const dep of [...deps, ...deps]) {
        const { conn, pid, session } = await attach({ dep });
        workers.push({ dep, conn, sessions: [session], ok: 0, errors: [], stale: [] });
        pids.add(pid);
      }
      let running = true;
      const unexpected: string[] = [];
      const loops = workers.map(async (w, i) => {
        while (running) {
          try {
            const want = `w${i}-${w.ok}`;
            const got = text(await w.conn.client.callTool({ name: "echo", arguments: { text: want } }));
            if (got !== want) throw new Error(`wrong answer ${got} for ${want}`);
            w.ok++;
          } catch (e) {
            w.errors.push(e instanceof StreamableHTTPError ? `HTTP ${e.code}` : (e as Error).message);
            if (w.dep.mode === "shared") continue;
            try {
              // An isolated session ends with its child: 404 for it, then a new initialize.
              const stale = await rawPost(
                w.dep.url,
                JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
                {
                  authorization: `Bearer ${w.dep.token}`,
                  "mcp-session-id": w.sessions.at(-1) as string,
                },
              );
              w.stale.push(stale.status);
              await w.conn.client.close();
              const next = await attach(w);
              w.conn = next.conn;
              w.sessions.push(next.session);
              pids.add(next.pid);
            } catch (e2) {
              unexpected.push(`re-initialize: ${(e2 as Error).message}`);
              return;
            }
          }
        }
      });
      // Two kills per deployment in random order, each of the process serving a live session (an
      // isolated one's own child, or the shared child), with every worker making progress in between.
      const victims = [...deps, ...deps]
        .map((dep) => ({ dep, order: Math.random() }))
        .sort((a, b) => a.order - b.order)
        .map(({ dep }) => workers.find((w) => w.dep === dep) as Worker);
      const killed: number[] = [];
      for (const victim of victims) {
        const marks = workers.map((w) => w.ok);
        await until(
          () => workers.every((w, j) => w.ok > (marks[j] as number)),
          30_000,
          "every worker to progress",
        );
        // Asked now: a shared child restarted by an earlier kill has a new pid.
        const pid = await pidOf(victim);
        pids.add(pid);
        killed.push(pid);
        process.kill(pid, "SIGKILL");
      }
      const marks = workers.map((w) => w.ok);
      await until(
        () => workers.every((w, j) => w.ok > (marks[j] as number) + 2),
        30_000,
        "recovery after the last kill",
      );
      running = false;
      await Promise.all(loops);
      expect(unexpected).toEqual([]);

      const inFlight =
        "MCP error -32603: The MCP server stopped while handling this request: killed by SIGKILL";
      for (const w of workers) {
        if (w.dep.mode === "shared") {
          const kills = victims.filter((v) => v.dep === w.dep).length;
          // One session throughout, now served by a new child; only calls in flight at a kill failed.
          expect(w.sessions.length).toBe(1);
          expect(w.errors.every((e) => e === inFlight)).toBe(true);
          expect(w.errors.length).toBeLessThanOrEqual(kills);
          const now = Number(text(await w.conn.client.callTool({ name: "pid", arguments: {} })));
          expect(killed).not.toContain(now);
        } else {
          const kills = victims.filter((v) => v === w).length;
          // Exactly one error per kill of its own child (the call in flight, or the 404 after it),
          // the stale session answered 404, and each time a new session took over.
          expect(w.errors.length).toBe(kills);
          expect(w.errors.every((e) => e === inFlight || e === "HTTP 404")).toBe(true);
          expect(w.stale).toEqual(w.errors.map(() => 404));
          expect(w.sessions.length).toBe(kills + 1);
        }
      }
      await until(
        async () => {
          const res = await srv.api("/api/deployments");
          const list = ((await res.json()) as { deployments: { state: string }[] }).deployments;
          return list.every((d) => d.state === "running");
        },
        30_000,
        "every deployment running again",
      );
      for (const w of workers) await w.conn.close();
    } finally {
      await srv.close();
    }
    await until(() => [...pids].every((p) => !alive(p)), 15_000, "no child left after the server closed");
  }, 120_000);
});

interface DeploymentState {
  state: string;
  stateReason: string | null;
}

async function stateOf(srv: TestServer, id: string): Promise<DeploymentState> {
  return (await (await srv.api(`/api/deployments/${id}`)).json()) as DeploymentState;
}

async function create(srv: TestServer, body: Record<string, unknown>): Promise<Deployed> {
  const res = await srv.api("/api/deployments", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Deployed;
}

/** Waits for a deployment log line that `match`es, and returns it. */
async function logLine(srv: TestServer, id: string, match: (line: string) => boolean): Promise<string> {
  let found: string | undefined;
  await until(
    async () => {
      const res = await srv.api(`/api/deployments/${id}/logs?tail=500`);
      const { lines } = (await res.json()) as { lines: { line: string }[] };
      found = lines.map((l) => l.line).find(match);
      return found !== undefined;
    },
    15_000,
    "the log line",
  );
  return found ?? "";
}

async function callError(
  c: Connected,
  args: Record<string, unknown>,
): Promise<{ code: number; message: string }> {
  const e = await c.client.callTool({ name: "echo", arguments: args }).then(
    () => undefined,
    (err: unknown) => err as { code: number; message: string },
  );
  if (!e) throw new Error("the call was expected to fail");
  return e;
}

describe("misbehaving upstreams", () => {
  test("a local upstream that hangs briefly: its calls time out with a JSON-RPC error, others are served, and the same process serves again when it resumes within the ping window", async () => {
    const srv = await startTestServer({
      env: { ...ALLOW, CATWALK_GATEWAY_REQUEST_TIMEOUT_MS: "1000", CATWALK_GATEWAY_PING_TIMEOUT_MS: "30000" },
    });
    try {
      const hung = await deploy(srv, { command: echoCommand(), name: "hung", sessionMode: "shared" });
      const bystander = await deploy(srv, { command: echoCommand(), name: "bystander" });
      const [a, b, other] = await Promise.all([
        connectLegacy(hung),
        connectLegacy(hung),
        connectLegacy(bystander),
      ]);
      const pid = Number(text(await a.client.callTool({ name: "pid", arguments: {} })));
      process.kill(pid, "SIGSTOP");
      try {
        const [ea, eb] = await Promise.all([
          callError(a, { text: "stuck a" }),
          callError(b, { text: "stuck b" }),
        ]);
        for (const e of [ea, eb]) {
          expect(e.code).toBe(-32001);
          expect(e.message).toContain("Request timed out: no response or progress for 1000 ms.");
        }
        // Another deployment, and the gateway itself, do not wait for the hung one.
        expect(text(await other.client.callTool({ name: "echo", arguments: { text: "unaffected" } }))).toBe(
          "unaffected",
        );
        expect((await stateOf(srv, hung.id)).state).toBe("running");
      } finally {
        process.kill(pid, "SIGCONT");
      }
      // The same sessions are served again by the same process once it resumes.
      expect(text(await a.client.callTool({ name: "echo", arguments: { text: "resumed" } }))).toBe("resumed");
      expect(text(await b.client.callTool({ name: "pid", arguments: {} }))).toBe(String(pid));
      for (const c of [a, b, other]) await c.close();
    } finally {
      await srv.close();
    }
  });

  test("a local upstream that stays hung is stopped when it does not answer a ping after a timeout; a fresh process serves the same shared sessions and the log says why", async () => {
    const srv = await startTestServer({
      env: { ...ALLOW, CATWALK_GATEWAY_REQUEST_TIMEOUT_MS: "800", CATWALK_GATEWAY_PING_TIMEOUT_MS: "400" },
    });
    let pid = 0;
    try {
      const dep = await deploy(srv, { command: echoCommand(), name: "stuck", sessionMode: "shared" });
      const [a, b] = await Promise.all([connectLegacy(dep), connectLegacy(dep)]);
      pid = Number(text(await a.client.callTool({ name: "pid", arguments: {} })));
      process.kill(pid, "SIGSTOP");
      const e = await callError(a, { text: "stuck" });
      expect(e.code).toBe(-32001);
      expect(e.message).toContain("Request timed out: no response or progress for 800 ms.");
      // No SIGCONT: the ping goes unanswered, so the gateway stops the process (SIGKILL ends a
      // stopped one) and the supervisor starts a fresh one.
      const why = await logLine(srv, dep.id, (l) => l.includes(`pid ${pid}`) && l.includes("hung"));
      expect(why).toContain("did not answer a ping within 400 ms");
      expect(alive(pid)).toBe(false);
      await until(async () => (await stateOf(srv, dep.id)).state === "running", 15_000, "a running state");
      const fresh = Number(text(await b.client.callTool({ name: "pid", arguments: {} })));
      expect(fresh).not.toBe(pid);
      expect(alive(fresh)).toBe(true);
      expect(text(await a.client.callTool({ name: "echo", arguments: { text: "again" } }))).toBe("again");
      // The restart is counted where operators look (the API, `catwalk show`, the TUI).
      const info = (await (await srv.api(`/api/deployments/${dep.id}`)).json()) as { restarts: number };
      expect(info.restarts).toBe(1);
      for (const c of [a, b]) await c.close();
    } finally {
      if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      await srv.close();
    }
  }, 30_000);

  test("a slow server that still answers a ping keeps its process after a request times out", async () => {
    const srv = await startTestServer({
      env: { ...ALLOW, CATWALK_GATEWAY_REQUEST_TIMEOUT_MS: "800", CATWALK_GATEWAY_PING_TIMEOUT_MS: "400" },
    });
    try {
      const dep = await deploy(srv, { command: echoCommand(), name: "slow", sessionMode: "shared" });
      const c = await connectLegacy(dep);
      const pid = Number(text(await c.client.callTool({ name: "pid", arguments: {} })));
      const e = await c.client.callTool({ name: "sleep", arguments: { ms: 5000 } }).then(
        () => undefined,
        (err: unknown) => err as { code: number },
      );
      expect(e?.code).toBe(-32001);
      await Bun.sleep(1200); // well past the ping window
      expect(text(await c.client.callTool({ name: "pid", arguments: {} }))).toBe(String(pid));
      const res = await srv.api(`/api/deployments/${dep.id}/logs?tail=500`);
      const { lines } = (await res.json()) as { lines: { line: string }[] };
      expect(lines.some((l) => l.line.includes("hung"))).toBe(false);
      await c.close();
    } finally {
      await srv.close();
    }
  }, 30_000);

  test("an isolated session whose server hangs is ended (the log names the hang); the client's next request gets 404 and it re-initializes onto a fresh process", async () => {
    const srv = await startTestServer({
      env: { ...ALLOW, CATWALK_GATEWAY_REQUEST_TIMEOUT_MS: "800", CATWALK_GATEWAY_PING_TIMEOUT_MS: "400" },
    });
    let pid = 0;
    try {
      const dep = await deploy(srv, { command: echoCommand(), name: "stuck-isolated" });
      const c = await connectLegacy(dep);
      pid = Number(text(await c.client.callTool({ name: "pid", arguments: {} })));
      process.kill(pid, "SIGSTOP");
      expect((await callError(c, { text: "stuck" })).code).toBe(-32001);
      await logLine(srv, dep.id, (l) => l.includes(`pid ${pid}`) && l.includes("hung"));
      // The session was bound to that process: it is gone (404), and a new one works.
      const gone = await c.client.callTool({ name: "pid", arguments: {} }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(gone).toBeInstanceOf(StreamableHTTPError);
      expect((gone as StreamableHTTPError).code).toBe(404);
      await c.close();
      const next = await connectLegacy(dep);
      const fresh = Number(text(await next.client.callTool({ name: "pid", arguments: {} })));
      expect(fresh).not.toBe(pid);
      await next.close();
    } finally {
      if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      await srv.close();
    }
  }, 30_000);

  test("a remote upstream that hangs: the call times out, and the next one after it answers is served", async () => {
    const remote = startFakeRemote();
    const srv = await startTestServer({ env: { CATWALK_GATEWAY_REQUEST_TIMEOUT_MS: "1000" } });
    try {
      const dep = await deploy(srv, { source: remote.url, name: "remote-hang", sessionMode: "shared" });
      const c = await connectLegacy(dep);
      remote.hang(true);
      const e = await callError(c, { text: "stuck" });
      expect(e.code).toBe(-32001);
      expect(e.message).toContain("Request timed out: no response or progress for 1000 ms.");
      remote.hang(false);
      expect(text(await c.client.callTool({ name: "echo", arguments: { text: "answered" } }))).toBe(
        "answered",
      );
      await c.close();
    } finally {
      await srv.close();
      await remote.stop();
    }
  });

  test("an upstream flooding stdout with garbage: every answer is right and the skipped lines are noted at a bounded rate", async () => {
    const srv = await startTestServer({ env: ALLOW });
    try {
      const argv = fixtureArgv("noisy-server.ts");
      const start = Date.now();
      const dep = await deploy(srv, {
        command: argv,
        name: "noisy",
        sessionMode: "shared",
      });
      const c = await connectLegacy(dep);
      for (let i = 0; i < 100; i++) {
        const t = `noisy ${i} ${"é".repeat(i)}`;
        expect(text(await c.client.callTool({ name: "echo", arguments: { text: t } }))).toBe(t);
      }
      await c.close();
      const windows = 1 + Math.floor((Date.now() - start) / 10_000);
      const res = await srv.api(`/api/deployments/${dep.id}/logs?tail=10000`);
      const lines = ((await res.json()) as { lines: { line: string }[] }).lines.map((l) => l.line);
      const noted = lines.filter((l) => l.startsWith("skipped a stdout line that is not JSON-RPC"));
      expect(noted.length).toBeGreaterThanOrEqual(1);
      expect(noted.length).toBeLessThanOrEqual(10 * windows);
      expect(lines.every((l) => l.length <= 4096 + 40)).toBe(true);
      expect((await stateOf(srv, dep.id)).state).toBe("running");
    } finally {
      await srv.close();
    }
  });

  test("an upstream writing one endless stdout line is killed at the line cap, and clients get a 503 saying so", async () => {
    const srv = await startTestServer({ env: ALLOW });
    try {
      const argv = fixtureArgv("flood-server.ts");
      const dep = await create(srv, { command: argv, name: "flood" });
      const healthy = await deploy(srv, { command: echoCommand(), name: "healthy" });
      const cap = "wrote a stdout line longer than 33554432 bytes without a newline; killed";
      await until(
        async () => (await stateOf(srv, dep.id)).stateReason?.includes(cap) ?? false,
        30_000,
        "the line cap to kill the flood child",
      );
      expect(["crashed", "starting", "failed"]).toContain((await stateOf(srv, dep.id)).state);
      const res = await rawPost(dep.url, initializeBody(), { authorization: `Bearer ${dep.token}` });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message).toContain(`Deployment ${dep.id}`);
      expect(body.error.message).toContain(cap);
      const c = await connectLegacy(healthy);
      expect(text(await c.client.callTool({ name: "echo", arguments: { text: "fine" } }))).toBe("fine");
      await c.close();
    } finally {
      await srv.close();
    }
  }, 60_000);

  test("an upstream that never answers initialize: clients get a 503 naming the handshake timeout, and no process is left running", async () => {
    const srv = await startTestServer({ env: { ...ALLOW, CATWALK_LOCAL_START_TIMEOUT_MS: "500" } });
    try {
      const argv = fixtureArgv("silent-server.ts");
      const dep = await create(srv, { command: argv, name: "silent" });
      const reason = "did not answer initialize within 500 ms";
      await until(
        async () => (await stateOf(srv, dep.id)).stateReason?.includes(reason) ?? false,
        30_000,
        "the handshake timeout to be reported",
      );
      const res = await rawPost(dep.url, initializeBody(), { authorization: `Bearer ${dep.token}` });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: number; message: string } };
      expect(body.error.message).toContain(reason);
      await until(
        async () => (await stateOf(srv, dep.id)).state === "failed",
        60_000,
        "the deployment to fail",
      );
      expect((await stateOf(srv, dep.id)).stateReason).toContain(reason);
      // The supervisor stopped every silent child it started.
      await until(() => processesMatching("silent-server.ts").length === 0, 10_000, "no silent child left");
      expect((await fetch(`${srv.url}/api/health`)).status).toBe(200);
    } finally {
      await srv.close();
    }
  }, 90_000);
});
