/** The compiled server as a separate process for benchmarks, with a small API client. */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { binary, waitForServer } from "../../test/helpers/binary.ts";
import { tempDir } from "../../test/helpers/server.ts";

export interface Catwalk {
  url: string;
  pid: number;
  token: string;
  dataDir: string;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Creates a deployment; with `wait`, returns once it runs. */
  deploy(body: Record<string, unknown>, wait?: boolean): Promise<{ id: string; url: string; token: string }>;
  /** Ids of deployments not yet in state running. */
  notRunning(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface CatwalkOptions {
  dataDir?: string;
  env?: Record<string, string>;
}

export async function startCatwalk(opts: CatwalkOptions = {}): Promise<Catwalk> {
  const dataDir = opts.dataDir ?? tempDir("catwalk-bench-");
  mkdirSync(dataDir, { recursive: true });
  const proc = Bun.spawn([binary(), "serve", "--port", "0", "--data-dir", dataDir], {
    env: {
      PATH: Bun.env.PATH ?? "/usr/bin:/bin",
      HOME: dataDir,
      CATWALK_LOCAL_ALLOW_COMMANDS: "true",
      CATWALK_LOCAL_MAX_CHILDREN: "64",
      CATWALK_LOG_LEVEL: "warn",
      ...opts.env,
    },
    stdout: "ignore",
    stderr: "ignore",
  });
  const url = await waitForServer(dataDir, 60_000);
  const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
  const api = (path: string, init: RequestInit = {}) =>
    fetch(url + path, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        ...(init.headers as Record<string, string>),
      },
    });
  const notRunning = async () => {
    const { deployments } = (await (await api("/api/deployments")).json()) as {
      deployments: { id: string; state: string; stateReason: string | null }[];
    };
    const failed = deployments.find((d) => d.state === "failed");
    if (failed) throw new Error(`deployment failed: ${failed.stateReason}`);
    return deployments.filter((d) => d.state !== "running").map((d) => d.id);
  };
  return {
    url,
    pid: proc.pid,
    token,
    dataDir,
    api,
    notRunning,
    deploy: async (body, wait = true) => {
      const res = await api("/api/deployments", { method: "POST", body: JSON.stringify(body) });
      const dep = (await res.json()) as { id: string; url: string; token: string };
      if (res.status !== 201) throw new Error(`deploy failed: ${JSON.stringify(dep)}`);
      if (!wait) return dep;
      for (let i = 0; i < 1200; i++) {
        const info = (await (await api(`/api/deployments/${dep.id}`)).json()) as {
          state: string;
          stateReason: string;
        };
        if (info.state === "running") return dep;
        if (info.state === "failed") throw new Error(`deployment failed: ${info.stateReason}`);
        await Bun.sleep(100);
      }
      throw new Error("deployment did not start");
    },
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
