import { join } from "node:path";
import type { JsonRpcMessage, JsonRpcResponse } from "../../src/mcp/jsonrpc.ts";
import type {
  Channel,
  CloseReason,
  LogStream,
  PoolHooks,
  PoolState,
  UpstreamSpec,
} from "../../src/runtime/types.ts";

/** Fixture MCP servers (see test/fixtures/servers/README.md). */
export const FIXTURES = join(import.meta.dir, "..", "fixtures", "servers");

/** A `command` spec running a fixture server with this Bun. */
export function fixtureSpec(name: string, ...args: string[]): UpstreamSpec {
  return { kind: "command", command: process.execPath, args: [join(FIXTURES, name), ...args] };
}

/** The command line of a fixture server, as a deployment's `command` takes it. */
export function fixtureArgv(name: string, ...args: string[]): string[] {
  return [process.execPath, join(FIXTURES, name), ...args];
}

/**
 * A minimal JSON-RPC client over an upstream channel: `call` sends a request and resolves with
 * its response (or rejects after `timeoutMs`); everything else the server sends is kept in
 * `received`; `closed` resolves with the close reason.
 */
export function rpc(channel: Channel) {
  const pending = new Map<string | number, (r: JsonRpcResponse) => void>();
  const received: JsonRpcMessage[] = [];
  let next = 1;
  let onClose: (reason: CloseReason) => void = () => {};
  const closed = new Promise<CloseReason>((resolve) => {
    onClose = resolve;
  });
  channel.setHandlers({
    message: (m) => {
      if (!("method" in m) && "id" in m && m.id !== null && pending.has(m.id)) {
        pending.get(m.id)?.(m);
        pending.delete(m.id);
        return;
      }
      received.push(m);
    },
    close: (reason) => onClose(reason),
  });
  return {
    received,
    closed,
    call(method: string, params: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<JsonRpcResponse> {
      const id = next++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method} got no response within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        channel.send({ jsonrpc: "2.0", id, method, params });
      });
    },
  };
}

/** The text of the first content item of a `tools/call` result. */
export function toolText(response: JsonRpcResponse): string {
  if ("error" in response) throw new Error(`tool call failed: ${response.error.message}`);
  const content = response.result.content as { type: string; text: string }[] | undefined;
  return content?.[0]?.text ?? "";
}

/** Pids from the local pool's `started pid N` lifecycle lines (a verification keeps them in `stderr`). */
export function startedPids(lines: string[]): number[] {
  return lines.flatMap((l) => {
    const m = /^started pid (\d+)$/.exec(l);
    return m ? [Number(m[1])] : [];
  });
}

/** Pool hooks that record every log line and state, with a helper to wait for a state. */
export function recordingHooks() {
  const lines: { stream: LogStream; line: string }[] = [];
  const states: PoolState[] = [];
  let wake: () => void = () => {};
  const hooks: PoolHooks = {
    log: (stream, line) => {
      lines.push({ stream, line });
      wake();
    },
    state: (state) => {
      states.push(state);
      wake();
    },
  };
  /** Resolves when `cond` holds (checked on every hook call and every 50 ms), or throws after `ms`. */
  async function until(cond: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) {
        const last = states.at(-1);
        throw new Error(`timed out waiting for ${what}; last state ${JSON.stringify(last)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
  const lifecycle = () => lines.filter((l) => l.stream === "lifecycle").map((l) => l.line);
  const stderr = () => lines.filter((l) => l.stream === "stderr").map((l) => l.line);
  /** Pids from `started pid N` lifecycle lines, in spawn order. */
  const spawned = () => startedPids(lifecycle());
  return { hooks, lines, states, until, lifecycle, stderr, spawned };
}
