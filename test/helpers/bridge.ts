import { expect } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { FakeNpm } from "../fakes/npm-registry.ts";
import { alive, processTree } from "./proc.ts";
import { tempDir } from "./server.ts";

export const RUNNER_SECRET = "cwbrg_test-bridge-secret-0123456789";

/**
 * Runs `<catwalk…> bridge --package npm:@acme/notes-mcp@1.2.3` as the runner image would (its own
 * HOME, only PATH and the runner's variables), against a fake npm registry that serves that
 * package: it must install it at boot, say where it listens, serve it to an SDK client with the
 * secret, and on SIGTERM exit 0 leaving no process behind. `catwalk` is the command prefix (the
 * compiled binary, or this Bun with src/index.ts).
 */
export async function expectRunnerServesPackage(catwalk: string[], registry: FakeNpm): Promise<void> {
  const home = tempDir("catwalk-runner-");
  const tarballs = registry.tarballs();
  const proc = Bun.spawn(
    [...catwalk, "bridge", "--port", "0", "--package", "npm:@acme/notes-mcp@1.2.3", "--", "x"],
    {
      cwd: home,
      env: {
        PATH: Bun.env.PATH ?? "/usr/bin:/bin",
        HOME: home,
        CATWALK_BRIDGE_SECRET: RUNNER_SECRET,
        CATWALK_HOST: "127.0.0.1",
        CATWALK_LOCAL_NPM_REGISTRY_URL: registry.url,
      },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  const lines: string[] = [];
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of proc.stderr) lines.push(...decoder.decode(chunk).split("\n"));
  })();
  try {
    let url: string | undefined;
    const deadline = Date.now() + 30_000;
    while (!url && Date.now() < deadline && proc.exitCode === null) {
      url = lines.map((l) => /serving .* at (http:\/\/\S+)\/mcp/.exec(l)?.[1]).find(Boolean);
      if (!url) await Bun.sleep(20);
    }
    if (!url) throw new Error(`the bridge did not say where it listens:\n${lines.join("\n")}`);
    expect(lines.join("\n")).toContain("serving npm:@acme/notes-mcp@1.2.3");
    const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${RUNNER_SECRET}` } },
    });
    const client = new Client({ name: "runner-test", version: "1.0.0" });
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["hello"]);
    const tree = processTree(proc.pid);
    expect(tree.length).toBeGreaterThan(1);
    await transport.terminateSession().catch(() => {});
    await client.close();
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await reading;
    expect(lines.join("\n")).toContain("SIGTERM, stopping");
    const gone = Date.now() + 5_000;
    while (tree.some(alive) && Date.now() < gone) await Bun.sleep(50);
    expect(tree.filter(alive)).toEqual([]);
    expect(registry.tarballs()).toBe(tarballs + 1);
  } finally {
    proc.kill("SIGKILL");
  }
}
