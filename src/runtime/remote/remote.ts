import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { handshake } from "../../mcp/handshake.ts";
import { ErrorCode, failure, isRequest, isResponse, type JsonRpcMessage } from "../../mcp/jsonrpc.ts";
import { HandlerSlot } from "../channel.ts";
import { CapacityError, UpstreamUnavailableError } from "../errors.ts";
import type { Channel, ChannelHandlers, PoolHooks, PoolState, Upstream, UpstreamPool } from "../types.ts";

/** Longest wait for the remote to acknowledge the end of a session. */
const CLOSE_TIMEOUT_MS = 5000;

function statusOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/**
 * One session with a remote Streamable HTTP MCP server. The SDK's client transport does the HTTP
 * work (session id, SSE parsing as bytes arrive, the GET stream after `initialized`); this adapts
 * it to a `Channel`. A request whose POST fails is answered locally with a JSON-RPC error, so the
 * client never waits forever; a 404 means the remote session is gone and closes the channel.
 */
export class RemoteChannel implements Channel {
  private readonly slot = new HandlerSlot();
  private readonly transport: StreamableHTTPClientTransport;
  private closedFlag = false;

  constructor(
    readonly url: string,
    headers: Record<string, string>,
    private readonly onError: (message: string) => void = () => {},
  ) {
    this.transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers },
      reconnectionOptions: {
        initialReconnectionDelay: 500,
        maxReconnectionDelay: 10_000,
        reconnectionDelayGrowFactor: 2,
        maxRetries: 5,
      },
    });
    this.transport.onmessage = (m) => this.received(m as JsonRpcMessage);
    this.transport.onerror = (e) => this.onError(e.message);
    this.transport.onclose = () => this.finish("the remote session closed");
  }

  async start(): Promise<void> {
    await this.transport.start();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get description(): string {
    const session = this.transport.sessionId;
    return `${this.url}${session ? ` (session ${session.slice(0, 8)})` : ""}`;
  }

  setHandlers(handlers: ChannelHandlers): void {
    this.slot.set(handlers);
  }

  send(message: JsonRpcMessage): void {
    if (this.closedFlag) throw new Error("remote session closed");
    this.transport.send(message as JSONRPCMessage).catch((e: unknown) => {
      const status = statusOf(e);
      if (isRequest(message)) {
        this.slot.message(
          failure(
            message.id,
            ErrorCode.internalError,
            `The remote MCP server failed: ${(e as Error).message}`,
          ),
        );
      }
      if (status === 404) this.finish("the remote server ended the session (404)");
    });
  }

  /** Ends the session: its owner learns at once; the DELETE to the remote is bounded (it may hang). */
  async close(reason?: string): Promise<void> {
    if (this.closedFlag) return;
    this.finish(reason ?? "closed by the gateway", reason === undefined ? "closed" : "error");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bounded = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    });
    // the remote may not support DELETE (405), be gone already, or not answer at all
    await Promise.race([this.transport.terminateSession().catch(() => {}), bounded]);
    clearTimeout(timer);
    await this.transport.close().catch(() => {});
  }

  private received(m: JsonRpcMessage): void {
    // The transport sends MCP-Protocol-Version only once told the negotiated version.
    if (
      isResponse(m) &&
      "result" in m &&
      typeof m.result.protocolVersion === "string" &&
      m.result.serverInfo
    ) {
      this.transport.setProtocolVersion(m.result.protocolVersion);
    }
    this.slot.message(m);
  }

  private finish(message: string, kind: "closed" | "error" = "closed"): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.slot.close({ kind, message });
  }
}

export interface RemotePoolOptions {
  url: string;
  headers: Record<string, string>;
  hooks: PoolHooks;
  maxChildren: number;
  startTimeoutMs: number;
  warm: boolean;
}

/**
 * Upstreams of a remote deployment: a fresh remote session per isolated client session, one shared
 * session otherwise. `start()` probes with a real handshake, so `running` means the remote answered
 * `initialize`; failures retry with backoff and are reported as `crashed` with the cause.
 */
export function createRemotePool(opts: RemotePoolOptions): UpstreamPool {
  let state: PoolState = { state: "stopped", children: 0, restarts: 0 };
  let shared: Promise<Upstream> | undefined;
  let warm: Promise<Upstream> | undefined;
  let live = 0;
  let stopped = true;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  const open = new Set<RemoteChannel>();

  const set = (next: Partial<PoolState>) => {
    state = { ...state, ...next, children: live };
    opts.hooks.state(state);
  };

  /** Dedicated sessions count against `maxChildren`; the one shared session always has its place. */
  const connect = async (dedicated: boolean): Promise<Upstream> => {
    if (dedicated && live >= opts.maxChildren) {
      throw new CapacityError(`All ${opts.maxChildren} upstream sessions of this deployment are in use.`, {
        hint: "Raise local.maxChildren or use session mode shared.",
      });
    }
    if (dedicated) live++;
    const channel = new RemoteChannel(opts.url, opts.headers, (message) =>
      opts.hooks.log("lifecycle", `remote: ${message}`),
    );
    open.add(channel);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      open.delete(channel);
      if (dedicated) live--;
      await channel.close();
    };
    try {
      await channel.start();
      const { channel: ready, init } = await handshake(channel, { timeoutMs: opts.startTimeoutMs });
      return { channel: ready, init, release };
    } catch (e) {
      await release();
      throw e;
    }
  };

  const probe = async () => {
    if (stopped) return;
    try {
      const upstream = await connect(true);
      failures = 0;
      if (opts.warm) warm = Promise.resolve(upstream);
      else await upstream.release();
      opts.hooks.log(
        "lifecycle",
        `reached ${opts.url}: ${upstream.init.serverInfo.name} ${upstream.init.serverInfo.version}`,
      );
      set({ state: "running", reason: undefined });
    } catch (e) {
      failures++;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      opts.hooks.log(
        "lifecycle",
        `cannot reach ${opts.url}: ${(e as Error).message}; retrying in ${Math.round(delay / 1000)}s`,
      );
      set({ state: "crashed", reason: (e as Error).message, restarts: state.restarts + 1 });
      retry = setTimeout(probe, delay);
    }
  };

  const unavailable = () =>
    new UpstreamUnavailableError(
      state.state,
      state.reason,
      `The remote MCP server is ${state.state}${state.reason ? `: ${state.reason}` : ""}.`,
      {
        hint: `Check that ${opts.url} is reachable and answers MCP initialize.`,
      },
    );

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      set({ state: "starting" });
      void probe();
    },
    async acquire() {
      if (stopped) throw unavailable();
      const ready = warm;
      warm = undefined;
      if (ready) {
        if (opts.warm) warm = connect(true);
        warm?.catch(() => {
          warm = undefined;
        });
        const upstream = await ready.catch(() => undefined);
        if (upstream && !upstream.channel.closed) return upstream;
      }
      try {
        return await connect(true);
      } catch (e) {
        if (e instanceof CapacityError) throw e;
        set({ state: "crashed", reason: (e as Error).message });
        throw unavailable();
      }
    },
    async shared() {
      if (stopped) throw unavailable();
      const current = shared ? await shared.catch(() => undefined) : undefined;
      if (current && !current.channel.closed) return current;
      shared = connect(false);
      shared.catch(() => {
        shared = undefined;
      });
      try {
        return await shared;
      } catch (e) {
        set({ state: "crashed", reason: (e as Error).message });
        throw unavailable();
      }
    },
    state: () => ({ ...state, children: live }),
    async stop() {
      stopped = true;
      clearTimeout(retry);
      shared = undefined;
      warm = undefined;
      await Promise.all([...open].map((c) => c.close()));
      live = 0;
      set({ state: "stopped", reason: undefined });
    },
  };
}
