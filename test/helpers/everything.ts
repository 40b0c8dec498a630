import { join } from "node:path";

export const EVERYTHING_BIN = join(
  import.meta.dir,
  "..",
  "..",
  "node_modules",
  "@modelcontextprotocol",
  "server-everything",
  "dist",
  "index.js",
);

/** A free TCP port on 127.0.0.1 (bound and released at once). */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

export interface EverythingHttp {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** server-everything in its own Streamable HTTP mode (the "direct" baseline and the remote upstream). */
export async function startEverythingHttp(): Promise<EverythingHttp> {
  const port = freePort();
  const proc = Bun.spawn(["node", EVERYTHING_BIN, "streamableHttp"], {
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", PORT: String(port), HOME: Bun.env.HOME ?? "/tmp" },
    stdout: "ignore",
    stderr: "pipe",
  });
  const url = `http://127.0.0.1:${port}/mcp`;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      await Bun.sleep(50);
    }
  }
  return {
    url,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
