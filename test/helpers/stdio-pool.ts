import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import type { PoolFactory } from "../../src/analysis/verify.ts";
import { handshake } from "../../src/mcp/handshake.ts";
import { type JsonRpcMessage, kindOf } from "../../src/mcp/jsonrpc.ts";
import { HandlerSlot } from "../../src/runtime/channel.ts";
import type {
  Channel,
  ChannelHandlers,
  PoolOptions,
  PoolState,
  Upstream,
  UpstreamPool,
  UpstreamSpec,
} from "../../src/runtime/types.ts";

/**
 * A minimal `UpstreamPool` for verification tests: every `acquire` spawns a real child process
 * (`argvFor(spec)`), speaks newline-delimited JSON-RPC over its stdin/stdout and performs the real
 * handshake (`src/mcp/handshake.ts`). The child gets only the pool's env plus PATH/HOME. This is a
 * real upstream, not a mock; the production pool is the local runtime's.
 */
class StdioChannel implements Channel {
  private readonly slot = new HandlerSlot();
  private readonly tail: string[] = [];
  private done = false;
  readonly exited: Promise<void>;

  constructor(
    private readonly child: Subprocess<"pipe", "pipe", "pipe">,
    onStderr: (line: string) => void,
  ) {
    this.pump(child.stdout, (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (kindOf(msg) !== "invalid") this.slot.message(msg as JsonRpcMessage);
    });
    this.pump(child.stderr, (line) => {
      this.tail.push(line);
      if (this.tail.length > 20) this.tail.shift();
      onStderr(line);
    });
    this.exited = child.exited.then(async (code) => {
      await Bun.sleep(20);
      this.done = true;
      this.slot.close({
        kind: "exited",
        message: `exited with code ${code}`,
        code,
        stderrTail: [...this.tail],
      });
    });
  }

  private async pump(stream: ReadableStream<Uint8Array>, line: (l: string) => void): Promise<void> {
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const l = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        if (l) line(l);
      }
    }
  }

  send(message: JsonRpcMessage): void {
    if (this.done) return;
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
    this.child.stdin.flush();
  }

  setHandlers(handlers: ChannelHandlers): void {
    this.slot.set(handlers);
  }

  async close(): Promise<void> {
    if (!this.done) this.child.kill("SIGKILL");
    await this.exited;
  }

  get closed(): boolean {
    return this.done;
  }

  get description(): string {
    return `pid ${this.child.pid}`;
  }
}

export interface StdioPoolRecord {
  specs: UpstreamSpec[];
  envs: Record<string, string>[];
  stopped: number;
  live: () => number;
}

export function stdioPoolFactory(
  argvFor: (spec: UpstreamSpec) => string[],
  opts0: { handshakeMs?: number; extraEnv?: Record<string, string> } = {},
): PoolFactory & { record: StdioPoolRecord } {
  const handshakeMs = opts0.handshakeMs ?? 10_000;
  const children = new Set<StdioChannel>();
  const record: StdioPoolRecord = { specs: [], envs: [], stopped: 0, live: () => children.size };
  const factory = (opts: PoolOptions): UpstreamPool => {
    record.specs.push(opts.spec);
    record.envs.push(opts.env);
    const mine = new Set<StdioChannel>();
    let state: PoolState = { state: "starting", children: 0, restarts: 0 };
    const acquire = async (): Promise<Upstream> => {
      const child = Bun.spawn(argvFor(opts.spec), {
        env: {
          ...opts0.extraEnv,
          ...opts.env,
          PATH: Bun.env.PATH ?? "/usr/bin:/bin",
          HOME: Bun.env.HOME ?? "/tmp",
        },
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      });
      const raw = new StdioChannel(child, (l) => opts.hooks.log("stderr", l));
      children.add(raw);
      mine.add(raw);
      raw.exited.then(() => {
        children.delete(raw);
        mine.delete(raw);
      });
      const { channel, init } = await handshake(raw, { timeoutMs: handshakeMs });
      state = { state: "running", children: mine.size, restarts: 0 };
      return { channel, init, release: () => raw.close() };
    };
    return {
      acquire,
      shared: acquire,
      state: () => state,
      start: () => {},
      stop: async () => {
        record.stopped++;
        await Promise.all([...mine].map((c) => c.close()));
        state = { state: "stopped", children: 0, restarts: 0 };
      },
    };
  };
  return Object.assign(factory, { record });
}

/** Fixture stdio server for any spec (see test/fixtures/mcp/stdio-server.ts). */
export const FIXTURE_SERVER = new URL("../fixtures/mcp/stdio-server.ts", import.meta.url).pathname;

/** Runs npm specs from this repository's node_modules (e.g. @modelcontextprotocol/server-everything). */
export function localNodeModules(spec: UpstreamSpec): string[] {
  if (spec.kind !== "npm") throw new Error(`cannot run ${spec.kind} specs locally in tests`);
  const pkg = new URL(`../../node_modules/${spec.package}/package.json`, import.meta.url).pathname;
  const json = JSON.parse(readFileSync(pkg, "utf8")) as { bin?: Record<string, string> | string };
  const bin =
    typeof json.bin === "string"
      ? json.bin
      : (json.bin?.[spec.bin ?? ""] ?? Object.values(json.bin ?? {})[0]);
  if (!bin) throw new Error(`${spec.package} has no bin`);
  const node = Bun.which("node") ?? process.execPath;
  return [node, new URL(`../../node_modules/${spec.package}/${bin}`, import.meta.url).pathname, ...spec.args];
}
