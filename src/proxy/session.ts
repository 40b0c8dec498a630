import { randomBytes } from "node:crypto";
import {
  ErrorCode,
  failure,
  isResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
} from "../mcp/jsonrpc.ts";
import type { CloseReason, Upstream } from "../runtime/types.ts";
import type { Downstream, Mux, RequestSink } from "./mux.ts";
import { LogicalStream, SseConnection } from "./stream.ts";

export interface SessionOptions {
  deploymentId: string;
  mode: "isolated" | "shared";
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  clientInfo: { name?: string; version?: string } | undefined;
  tokenId: string | undefined;
  /** The dedicated upstream of an isolated session. */
  upstream: Upstream | undefined;
  eventBufferSize: number;
  keepAliveMs: number;
  onEnded(session: Session, reason: string): void;
}

/** Finished POST streams kept per session so a client can still resume them. */
const KEEP_FINISHED = 16;

/**
 * A 2025-era MCP session (`Mcp-Session-Id`). It owns the logical SSE streams of its POSTs and the
 * standalone GET stream, and is a `Downstream` of the mux of whichever upstream serves it.
 */
export class Session implements Downstream {
  readonly id = randomBytes(24).toString("base64url");
  readonly createdAt = Date.now();
  lastSeen = Date.now();
  mux: Mux | undefined;
  ended = false;
  endReason = "";
  readonly subscriptions = new Set<string>();
  readonly standalone: LogicalStream;
  private readonly streams = new Map<string, LogicalStream>();
  private finished: string[] = [];
  private streamSeq = 0;

  constructor(readonly opts: SessionOptions) {
    this.standalone = new LogicalStream("g", opts.eventBufferSize);
  }

  get label(): string {
    return `session ${this.id.slice(0, 8)}`;
  }

  get capabilities(): Record<string, unknown> {
    return this.opts.capabilities;
  }

  get protocolVersion(): string {
    return this.opts.protocolVersion;
  }

  /** 2025-11-25 clients get a priming event on every SSE stream so they can resume from its start. */
  get primes(): boolean {
    return this.opts.protocolVersion >= "2025-11-25";
  }

  /** Whether a client is connected to any stream, or requests are in flight (not idle). */
  get busy(): boolean {
    if (this.standalone.attached) return true;
    for (const s of this.streams.values()) if (s.attached || !s.done) return true;
    return false;
  }

  unsolicited(message: JsonRpcMessage): void {
    this.standalone.write(message);
  }

  upstreamClosed(reason: CloseReason): void {
    this.mux = undefined;
    // An isolated session is bound to its child: end it so the client's next request gets 404 and it
    // re-initializes onto a fresh child. Shared sessions move to the restarted upstream.
    if (this.opts.mode === "isolated") this.end(`the MCP server exited: ${reason.message}`);
  }

  stream(id: string): LogicalStream | undefined {
    return id === this.standalone.id ? this.standalone : this.streams.get(id);
  }

  /** Opens the logical stream for the requests of one POST. */
  exchange(requests: readonly JsonRpcRequest[]): Exchange {
    const id = `p${++this.streamSeq}`;
    const stream = new LogicalStream(id, this.opts.eventBufferSize, () => this.retire(id));
    this.streams.set(id, stream);
    return new Exchange(this, stream, requests);
  }

  connect(signal: AbortSignal, headers: Record<string, string>): SseConnection {
    let conn: SseConnection;
    conn = new SseConnection({
      keepAliveMs: this.opts.keepAliveMs,
      headers,
      signal,
      onClose: () => {
        for (const s of [this.standalone, ...this.streams.values()]) s.detach(conn);
      },
    });
    return conn;
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = reason;
    this.mux?.detach(this, reason);
    this.mux = undefined;
    this.standalone.finish();
    for (const s of this.streams.values()) s.finish();
    this.streams.clear();
    if (this.opts.upstream) this.opts.upstream.release().catch(() => {});
    this.opts.onEnded(this, reason);
  }

  /** Forgets a stream at once: its answer went out as JSON, so there is nothing to resume. */
  drop(id: string): void {
    this.streams.delete(id);
    this.finished = this.finished.filter((f) => f !== id);
  }

  private retire(id: string): void {
    this.finished.push(id);
    while (this.finished.length > KEEP_FINISHED) {
      const old = this.finished.shift() as string;
      const s = this.streams.get(old);
      if (s && !s.attached) this.streams.delete(old);
    }
  }
}

/**
 * The requests of one POST and the logical stream their answers go to. The HTTP response is JSON
 * when the only request's answer is the first thing to arrive within the grace period, and SSE
 * otherwise (progress, server requests, batches, or a slow answer that needs keep-alives).
 */
export class Exchange {
  private readonly open = new Set<JsonRpcId>();
  private first: JsonRpcMessage | undefined;
  private waiter: (() => void) | undefined;
  private decided: "json" | "sse" | undefined;

  constructor(
    readonly session: Session,
    readonly stream: LogicalStream,
    readonly requests: readonly JsonRpcRequest[],
  ) {
    for (const r of requests) this.open.add(r.id);
  }

  sink(): RequestSink {
    return {
      message: (m) => this.push(m),
      end: () => this.push(undefined),
    };
  }

  private push(m: JsonRpcMessage | undefined): void {
    if (m && isResponse(m) && m.id !== null) this.open.delete(m.id);
    if (!m) this.open.clear();
    if (m) {
      if (this.first === undefined) this.first = m;
      if (this.decided !== "json") this.stream.write(m);
    }
    if (this.open.size === 0 && this.decided !== "json") this.stream.finish();
    this.waiter?.();
  }

  /**
   * Waits for the first message up to `graceMs`. Returns it when it is the single request's final
   * response (the caller answers JSON); otherwise returns undefined and the caller answers SSE.
   */
  async decide(graceMs: number, signal: AbortSignal): Promise<JsonRpcMessage | undefined> {
    if (this.requests.length !== 1) {
      this.decided = "sse";
      return undefined;
    }
    if (this.first === undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
        signal.addEventListener("abort", () => this.waiter?.(), { once: true });
      });
      this.waiter = undefined;
    }
    const first = this.first;
    if (first && isResponse(first)) {
      this.decided = "json";
      this.stream.finish();
      this.session.drop(this.stream.id);
      return first;
    }
    this.decided = "sse";
    return undefined;
  }

  /** Error answer for every still-open request (upstream unavailable before forwarding). */
  failAll(code: number, message: string): void {
    for (const id of [...this.open]) this.push(failure(id, code, message));
  }
}

export { ErrorCode };
