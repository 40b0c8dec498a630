import type { JsonRpcMessage } from "../mcp/jsonrpc.ts";

/**
 * Contracts between the gateway and the runtimes. A runtime turns a deployment's upstream spec
 * into an `UpstreamPool`; the gateway asks the pool for initialized upstreams and exchanges
 * JSON-RPC messages with them over a `Channel`. Local children, remote Streamable HTTP servers and
 * Fly Machines all look the same from the gateway's side.
 */

/** Why a channel ended. `stderrTail` holds the last stderr lines of a local child, for reasons. */
export interface CloseReason {
  kind: "exited" | "closed" | "error";
  message: string;
  code?: number | null;
  signal?: string | null;
  stderrTail?: string[];
}

export interface ChannelHandlers {
  message(message: JsonRpcMessage): void;
  close(reason: CloseReason): void;
}

/**
 * One bidirectional JSON-RPC connection to an MCP server: a child's stdin/stdout, or a session of a
 * remote Streamable HTTP server. Messages arriving before `setHandlers` are queued, so nothing is
 * lost between spawn and wiring. `close` is idempotent and resolves when the upstream is gone
 * (for a child: the whole process group has exited).
 */
export interface Channel {
  send(message: JsonRpcMessage): void;
  setHandlers(handlers: ChannelHandlers): void;
  /** `reason`, when given, becomes the close reason (an `error`): why catwalk ended a healthy-looking upstream. */
  close(reason?: string): Promise<void>;
  readonly closed: boolean;
  /** For logs and errors: `pid 4242`, `https://example.com/mcp (session abc)`. */
  readonly description: string;
}

/** The result of the `initialize` handshake the pool performed with the upstream. */
export interface InitializeResult {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: { name: string; version: string; [key: string]: unknown };
  instructions?: string;
  [key: string]: unknown;
}

/** An initialized upstream handed to the gateway. */
export interface Upstream {
  readonly channel: Channel;
  readonly init: InitializeResult;
  /** Ends this upstream (dedicated ones: kill the child or DELETE the remote session). */
  release(): Promise<void>;
}

export type PoolStateName = "installing" | "starting" | "running" | "crashed" | "failed" | "stopped";

export interface PoolState {
  state: PoolStateName;
  /** Human-readable cause for crashed/failed (for failed: the last stderr lines). */
  reason?: string | undefined;
  /** Live upstream connections (children or remote sessions). */
  children: number;
  /** Restarts since the pool started. */
  restarts: number;
}

/**
 * Upstreams of one deployment. `acquire` gives a dedicated upstream to one client session
 * (isolated mode); `shared` gives the single upstream many sessions multiplex onto (shared mode,
 * and every stateless 2026-07-28 request). Both resolve only once the handshake succeeded, and
 * reject with an `UpstreamUnavailableError` (state, reason) when the deployment cannot serve.
 */
export interface UpstreamPool {
  acquire(): Promise<Upstream>;
  shared(): Promise<Upstream>;
  state(): PoolState;
  /** Starts installation and warm-up in the background; `state()` reports progress. */
  start(): void;
  /** Stops every upstream; no process outlives it. Idempotent. */
  stop(): Promise<void>;
}

export type LogStream = "stderr" | "lifecycle";

export interface PoolHooks {
  /** A line for the deployment's log (child stderr, lifecycle notes). */
  log(stream: LogStream, line: string): void;
  /** Called on every state change. */
  state(state: PoolState): void;
}

/** What to run or reach. Package versions are exact by the time a spec reaches a runtime. */
export type UpstreamSpec =
  | { kind: "npm"; package: string; version: string; bin?: string | undefined; args: string[] }
  | { kind: "pypi"; package: string; version: string; entry?: string | undefined; args: string[] }
  | { kind: "remote"; url: string; headers: Record<string, string> }
  | { kind: "command"; command: string; args: string[] };

export interface PoolOptions {
  /** Identifies the deployment in logs and process titles. */
  deploymentId: string;
  spec: UpstreamSpec;
  /** The deployment's environment (decrypted credentials); the only env a child gets besides PATH/HOME/LANG/TMPDIR. */
  env: Record<string, string>;
  hooks: PoolHooks;
  /** Upper bound of simultaneous upstream connections (children or remote sessions). */
  maxChildren: number;
  /** Keep one initialized upstream ready for the next isolated session. */
  warm: boolean;
}
