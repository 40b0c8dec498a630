import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NpmPackageSpec } from "../fakes/npm-registry.ts";

const EVERYTHING_DIR = join(
  import.meta.dir,
  "..",
  "..",
  "node_modules",
  "@modelcontextprotocol",
  "server-everything",
);

export const EVERYTHING_BIN = join(EVERYTHING_DIR, "dist", "index.js");

/** The version of server-everything installed in this repository. */
export const EVERYTHING_VERSION = (
  JSON.parse(readFileSync(join(EVERYTHING_DIR, "package.json"), "utf8")) as { version: string }
).version;

/**
 * server-everything as a package of the fake npm registry (`startFakeNpm`, test/fakes/npm-registry.ts),
 * so the local runtime really resolves, installs and runs `npm:@modelcontextprotocol/server-everything`
 * without the network. Its dependencies (the SDK, express, ...) are not served, so the installed bin
 * runs this repository's copy of the real server, whose dependencies are installed here.
 */
export function everythingPackage(): NpmPackageSpec {
  return {
    name: "@modelcontextprotocol/server-everything",
    versions: [
      {
        version: EVERYTHING_VERSION,
        bin: { "mcp-server-everything": "server.js" },
        files: { "server.js": `#!/usr/bin/env node\nimport(${JSON.stringify(EVERYTHING_BIN)});\n` },
      },
    ],
  };
}

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
