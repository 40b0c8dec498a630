import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { FakeFlyMachines, type MachineView, type OnMachineStart } from "../fakes/fly-machines.ts";
import { FakeFlyProxy } from "../fakes/fly-proxy.ts";
import { freePort } from "./everything.ts";
import { alive, processTree } from "./proc.ts";
import { tempDir } from "./server.ts";

const INDEX = join(import.meta.dir, "..", "..", "src", "index.ts");

/** One "Machine process": a real `catwalk bridge` started as the runner image's ENTRYPOINT would. */
export interface BridgeProcess {
  /** Marker of this boot in the environment of every process it started. */
  boot: string;
  machineId: string;
  app: string;
  pid: number;
  url: string;
  /** Every pid of the process tree at the last look (the bridge and its MCP server children). */
  tree(): number[];
  proc: Subprocess<"ignore", "pipe", "pipe">;
}

const BOOT_VAR = "FAKE_FLY_BOOT";

/**
 * Processes of one Machine boot: every process that inherited the boot's marker variable (the
 * runner and the MCP servers it started, even those re-parented after the runner died), which is
 * what a Machine's VM holds.
 */
export function bootProcesses(boot: string): number[] {
  const needle = `${BOOT_VAR}=${boot}\0`;
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (`${readFileSync(`/proc/${entry}/environ`, "latin1")}\0`.includes(needle) && alive(Number(entry))) {
        out.push(Number(entry));
      }
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
}

async function pipeLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl = buffered.indexOf("\n");
    while (nl !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim()) onLine(line);
      nl = buffered.indexOf("\n");
    }
  }
  if (buffered.trim()) onLine(buffered);
}

export interface FlyWorld {
  fake: FakeFlyMachines;
  proxy: FakeFlyProxy;
  /** Bridges by Machine id (the latest boot of each). */
  bridges: Map<string, BridgeProcess>;
  /** Every bridge ever started, for the no-orphans check. */
  all: BridgeProcess[];
  /** Processes that outlived a graceful stop (SIGTERM) of their runner: must stay empty. */
  orphans: number[];
  /** The server env pointing Catwalk's Fly runtime at the fakes. */
  env: Record<string, string>;
  /**
   * Stops the fakes (every Machine's runner with them); returns the pids that outlived a graceful
   * stop of their runner or the fakes, after killing them.
   */
  close(): Promise<number[]>;
}

/**
 * The fake Machines API and Fly Proxy, where each Machine's process is a real `catwalk bridge`
 * (from source, with this Bun) running the Machine's `init.cmd` with the Machine's env (config env
 * plus app secrets, as Fly injects them at boot). Each Machine has its own HOME ("root
 * filesystem"); the package cache is shared so a package is downloaded once per test run. The
 * listen port is remapped (every Machine has its own network on Fly; here they share one). Suspend
 * freezes the process tree (SIGSTOP), resume thaws it (SIGCONT), stop terminates it. A bridge
 * that exits on its own is reported to the fake as the Machine's process dying.
 */
export async function startFlyWorld(
  opts: { cacheDir?: string; npmRegistryUrl?: string } = {},
): Promise<FlyWorld> {
  const cacheDir = opts.cacheDir ?? tempDir("catwalk-fly-cache-");
  const bridges = new Map<string, BridgeProcess>();
  const all: BridgeProcess[] = [];
  const orphans: number[] = [];
  let fake: FakeFlyMachines | undefined;

  const start: OnMachineStart = async (machine: MachineView, ctx) => {
    const home = tempDir("catwalk-machine-");
    const port = freePort();
    const cmd = ((machine.config.init as { cmd?: string[] } | undefined)?.cmd ?? []).map(String);
    const boot = crypto.randomUUID();
    const env: Record<string, string> = {
      ...ctx.env,
      [BOOT_VAR]: boot,
      CATWALK_HOST: "127.0.0.1",
      CATWALK_PORT: String(port),
      PATH: Bun.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: home,
      TMPDIR: Bun.env.TMPDIR ?? "/tmp",
      CATWALK_DATA_DIR: join(home, "data"),
      CATWALK_LOCAL_PACKAGE_CACHE_DIR: cacheDir,
      ...(opts.npmRegistryUrl ? { CATWALK_LOCAL_NPM_REGISTRY_URL: opts.npmRegistryUrl } : {}),
    };
    const proc = Bun.spawn([process.execPath, INDEX, "bridge", ...cmd], {
      cwd: home,
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let tree = [proc.pid];
    const bridge: BridgeProcess = {
      boot,
      machineId: machine.id,
      app: ctx.app,
      pid: proc.pid,
      url: `http://127.0.0.1:${port}`,
      tree: () => {
        if (alive(proc.pid)) tree = processTree(proc.pid);
        return tree;
      },
      proc,
    };
    bridges.set(machine.id, bridge);
    all.push(bridge);
    void pipeLines(proc.stdout, ctx.log);
    void pipeLines(proc.stderr, ctx.log);
    let stopping = false;
    let exited = false;
    void proc.exited.then((code) => {
      exited = true;
      // The runner died on its own: that is the Machine's main process exiting.
      if (!stopping) fake?.kill(ctx.app, machine.id, code ?? 128 + (proc.signalCode === "SIGKILL" ? 9 : 15));
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const up = await fetch(`${bridge.url}/healthz`)
        .then(() => true)
        .catch(() => false);
      if (up) break;
      if (proc.exitCode !== null || Date.now() > deadline) {
        stopping = true;
        proc.kill("SIGKILL");
        throw new Error(`bridge for ${machine.id} did not listen (exit ${proc.exitCode})`);
      }
      await Bun.sleep(50);
    }
    return {
      url: bridge.url,
      stop: async () => {
        // Asked to stop while it runs (not after it died): then it must stop its servers itself.
        const graceful = !stopping && !exited;
        stopping = true;
        signal(bootProcesses(boot), "SIGCONT");
        proc.kill("SIGTERM");
        await Promise.race([proc.exited, Bun.sleep(8_000)]);
        if (graceful) {
          // The runner was asked to stop: it must have stopped its servers itself.
          const deadline = Date.now() + 3_000;
          while (bootProcesses(boot).length > 0 && Date.now() < deadline) await Bun.sleep(50);
          orphans.push(...bootProcesses(boot));
        }
        // The VM goes away with whatever still runs in it (after a crash, the runner's children).
        signal(bootProcesses(boot), "SIGKILL");
      },
      freeze: async () => signal(bootProcesses(boot), "SIGSTOP"),
      thaw: async () => signal(bootProcesses(boot), "SIGCONT"),
    };
  };

  fake = await FakeFlyMachines.start({ transitionMs: 20, onMachineStart: start });
  const proxy = FakeFlyProxy.start({ machines: fake, wakeDelayMs: 20 });
  const env = {
    CATWALK_FLY_API_URL: fake.url,
    CATWALK_FLY_LOGS_API_URL: fake.url,
    CATWALK_FLY_API_TOKEN: `FlyV1 ${fake.token}`,
    CATWALK_FLY_APP_DOMAIN: proxy.appDomain,
    CATWALK_FLY_APP_SCHEME: "http",
    CATWALK_FLY_IMAGE: "registry.fly.io/catwalk-runner:test",
    CATWALK_FLY_FALLBACK_REGIONS: "ams",
    CATWALK_FLY_MAX_RESTARTS: "0",
    CATWALK_FLY_START_TIMEOUT_MS: "60000",
    CATWALK_FLY_LOG_POLL_MS: "200",
    CATWALK_FLY_RECONCILE_MS: "0",
  };
  const world: FlyWorld = {
    fake,
    proxy,
    bridges,
    all,
    env,
    orphans,
    close: async () => {
      proxy.close();
      await fake?.close();
      const leftover = all.flatMap((b) => bootProcesses(b.boot));
      signal(leftover, "SIGKILL");
      return [...orphans, ...leftover];
    },
  };
  return world;
}
