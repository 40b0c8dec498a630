import {
  ErrorCode,
  failure,
  isNotification,
  isRequest,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  notification,
  type Params,
  success,
} from "../mcp/jsonrpc.ts";
import type { Channel, CloseReason, InitializeResult } from "../runtime/types.ts";

/** Where the answer and related notifications of one forwarded request go. */
export interface RequestSink {
  message(message: JsonRpcMessage): void;
  /** The request ended without a response reaching the client (cancelled). */
  end(): void;
}

/** One party downstream of an upstream: a 2025 session, or a stateless 2026 request. */
export interface Downstream {
  readonly label: string;
  /** Client capabilities declared by this party (`sampling`, `elicitation`, `roots`). */
  readonly capabilities: Record<string, unknown>;
  /** Messages not tied to one of this party's requests (list changes, logs, server requests). */
  unsolicited(message: JsonRpcMessage): void;
  /** The upstream is gone; pending requests have already been answered with errors. */
  upstreamClosed(reason: CloseReason): void;
  /** A server request needed a client capability this party did not declare (it was refused). */
  refused?(method: string, capability: string): void;
  /** A single stateless request: it only gets server requests made while its own call runs. */
  readonly transient?: boolean;
  /**
   * True while this party's call is parked waiting for its client's answers (a 2026-07-28
   * `input_required` round): a new server request then most likely belongs to another call.
   */
  quiet?(): boolean;
}

interface Pending {
  downstream: Downstream;
  clientId: JsonRpcId;
  method: string;
  sink: RequestSink;
  progressToken: string | number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  timeoutMs: number;
}

export interface MuxOptions {
  /**
   * After a request times out, how long the upstream has to answer a `ping` (or anything else)
   * before it is closed as hung, so its supervisor restarts it; 0 never probes.
   */
  pingTimeoutMs?: number;
}

/** How long a server request waits for a session to attach before the gateway answers it. */
const HOLD_MS = 30_000;

const LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

const CAPABILITY_OF: Record<string, string> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/**
 * Multiplexes downstream parties onto one upstream connection. Request ids are renumbered per
 * upstream (so parties cannot collide or answer each other), progress tokens are rewritten and
 * routed back, server-to-client requests go to the party they belong to, resource subscriptions
 * are reference-counted, and each party's log level is honoured even when they share a server.
 */
export class Mux {
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly byToken = new Map<string, number>();
  private readonly serverRequests = new Map<string, Downstream>();
  private readonly parties = new Set<Downstream>();
  private readonly subscribers = new Map<string, Set<Downstream>>();
  private readonly levels = new Map<Downstream, number>();
  private upstreamLevel: number | undefined;
  private closedWith: CloseReason | undefined;
  /** Server requests that arrived while no party was attached (a warm child asking for roots). */
  private held: { message: JsonRpcRequest; timer: ReturnType<typeof setTimeout> }[] = [];
  /** The liveness ping sent after a timeout, while it waits for an answer. */
  private probing: { id: number; timer: ReturnType<typeof setTimeout> } | undefined;

  constructor(
    readonly channel: Channel,
    readonly init: InitializeResult,
    private readonly opts: MuxOptions = {},
  ) {
    channel.setHandlers({ message: (m) => this.fromUpstream(m), close: (r) => this.closed(r) });
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  get size(): number {
    return this.parties.size;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  attach(d: Downstream, resubscribe: Iterable<string> = []): void {
    this.parties.add(d);
    for (const uri of resubscribe) this.subscribe(d, uri);
    if (d.transient) return;
    for (const h of this.held.splice(0)) {
      clearTimeout(h.timer);
      this.serverRequest(h.message);
    }
  }

  /**
   * Removes a party: cancels its in-flight requests upstream and drops its subscriptions. With
   * `reason` (its session ended: stopped, restarted, token revoked), those requests are answered
   * with an error too, so clients do not wait for their own timeout.
   */
  detach(d: Downstream, reason?: string): void {
    if (!this.parties.delete(d)) return;
    for (const [id, p] of this.pending) {
      if (p.downstream !== d) continue;
      this.forget(id, p);
      this.sendUpstream(
        notification("notifications/cancelled", { requestId: id, reason: "client session ended" }),
      );
      if (reason !== undefined) {
        p.sink.message(
          failure(
            p.clientId,
            ErrorCode.internalError,
            `The session ended before the MCP server answered: ${reason}.`,
          ),
        );
      }
    }
    for (const [uri, set] of this.subscribers) {
      if (set.delete(d) && set.size === 0) this.unsubscribeUpstream(uri);
    }
    for (const [key, owner] of this.serverRequests) if (owner === d) this.serverRequests.delete(key);
    if (this.levels.delete(d)) this.syncLevel();
  }

  /** Forwards a client request; the response and related notifications reach `sink`. */
  request(d: Downstream, msg: JsonRpcRequest, sink: RequestSink, timeoutMs: number): void {
    if (this.closedWith) {
      sink.message(
        failure(
          msg.id,
          ErrorCode.internalError,
          `The MCP server is not available: ${this.closedWith.message}`,
        ),
      );
      return;
    }
    if (msg.method === "logging/setLevel") this.setLevel(d, msg, sink);
    else if (msg.method === "resources/subscribe" || msg.method === "resources/unsubscribe") {
      this.subscription(d, msg, sink, timeoutMs);
    } else this.forward(d, msg, sink, timeoutMs);
  }

  /** Forwards a client notification (cancellation ids are translated, `initialized` is absorbed). */
  notify(d: Downstream, msg: JsonRpcNotification): void {
    if (msg.method === "notifications/initialized") return;
    if (msg.method === "notifications/cancelled") {
      const requestId = msg.params?.requestId;
      for (const [id, p] of this.pending) {
        if (p.downstream !== d || p.clientId !== requestId) continue;
        this.forget(id, p);
        p.sink.end();
        this.sendUpstream(notification("notifications/cancelled", { ...msg.params, requestId: id }));
      }
      return;
    }
    this.sendUpstream(msg);
  }

  /** A client's answer to a server-to-client request; only the party that received it may answer. */
  respond(d: Downstream, msg: JsonRpcResponse): boolean {
    const key = keyOf(msg.id);
    if (this.serverRequests.get(key) !== d) return false;
    this.serverRequests.delete(key);
    this.sendUpstream(msg);
    return true;
  }

  /** Cancels one of `d`'s in-flight requests upstream (the client closed its stream). */
  cancel(d: Downstream, clientId: JsonRpcId, reason: string): void {
    for (const [id, p] of this.pending) {
      if (p.downstream !== d || p.clientId !== clientId) continue;
      this.forget(id, p);
      this.sendUpstream(notification("notifications/cancelled", { requestId: id, reason }));
    }
  }

  private forward(d: Downstream, msg: JsonRpcRequest, sink: RequestSink, timeoutMs: number): void {
    const id = this.next++;
    const params = msg.params;
    const meta = params?._meta as Params | undefined;
    const token = meta?.progressToken as string | number | undefined;
    let outParams = params;
    if (token !== undefined) {
      const upstreamToken = `cw${id}`;
      this.byToken.set(upstreamToken, id);
      outParams = { ...params, _meta: { ...meta, progressToken: upstreamToken } };
    }
    const p: Pending = {
      downstream: d,
      clientId: msg.id,
      method: msg.method,
      sink,
      progressToken: token,
      timer: undefined,
      timeoutMs,
    };
    this.pending.set(id, p);
    this.arm(id, p);
    this.sendUpstream(
      outParams === undefined
        ? { jsonrpc: "2.0", id, method: msg.method }
        : { jsonrpc: "2.0", id, method: msg.method, params: outParams },
    );
  }

  private arm(id: number, p: Pending): void {
    if (p.timeoutMs <= 0) return;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (!this.pending.has(id)) return;
      this.forget(id, p);
      this.sendUpstream(
        notification("notifications/cancelled", { requestId: id, reason: "request timed out" }),
      );
      p.sink.message(
        failure(
          p.clientId,
          ErrorCode.requestTimeout,
          `Request timed out: no response or progress for ${p.timeoutMs} ms.`,
          {
            timeoutMs: p.timeoutMs,
          },
        ),
      );
      this.probe();
    }, p.timeoutMs);
  }

  /**
   * A request timed out: a server that still answers a ping is only slow (the timeout stands); one
   * that answers nothing at all is hung, and is closed so its supervisor starts a fresh one
   * instead of every later request waiting out its own timeout.
   */
  private probe(): void {
    const ms = this.opts.pingTimeoutMs ?? 0;
    if (ms <= 0 || this.probing || this.closedWith) return;
    const id = this.next++;
    const timer = setTimeout(() => {
      this.probing = undefined;
      const message = `hung: a request timed out and the server did not answer a ping within ${ms} ms; stopped`;
      // The reason goes to the channel first (it is what the supervisor logs); everyone waiting
      // learns now, not after the process group has been signalled away.
      void this.channel.close(message);
      this.closed({ kind: "error", message });
    }, ms);
    timer.unref?.();
    this.probing = { id, timer };
    this.sendUpstream({ jsonrpc: "2.0", id, method: "ping" });
  }

  private forget(id: number, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
    if (p.progressToken !== undefined) this.byToken.delete(`cw${id}`);
  }

  private setLevel(d: Downstream, msg: JsonRpcRequest, sink: RequestSink): void {
    const level = LEVELS.indexOf(String(msg.params?.level));
    if (level < 0) {
      sink.message(
        failure(msg.id, ErrorCode.invalidParams, `Unknown log level ${JSON.stringify(msg.params?.level)}.`),
      );
      return;
    }
    this.levels.set(d, level);
    this.syncLevel();
    sink.message(success(msg.id, {}));
  }

  /** The upstream logs at the most verbose level any party asked for; each party gets its own level. */
  private syncLevel(): void {
    if (this.levels.size === 0) return;
    const wanted = Math.min(...this.levels.values());
    if (wanted === this.upstreamLevel) return;
    this.upstreamLevel = wanted;
    const id = this.next++;
    this.sendUpstream({ jsonrpc: "2.0", id, method: "logging/setLevel", params: { level: LEVELS[wanted] } });
  }

  private subscription(d: Downstream, msg: JsonRpcRequest, sink: RequestSink, timeoutMs: number): void {
    const uri = String(msg.params?.uri ?? "");
    const set = this.subscribers.get(uri) ?? new Set<Downstream>();
    if (msg.method === "resources/subscribe") {
      const first = set.size === 0;
      set.add(d);
      this.subscribers.set(uri, set);
      if (first) this.forward(d, msg, sink, timeoutMs);
      else sink.message(success(msg.id, {}));
      return;
    }
    set.delete(d);
    if (set.size > 0) {
      sink.message(success(msg.id, {}));
      return;
    }
    this.subscribers.delete(uri);
    this.forward(d, msg, sink, timeoutMs);
  }

  private subscribe(d: Downstream, uri: string): void {
    const set = this.subscribers.get(uri) ?? new Set<Downstream>();
    const first = set.size === 0;
    set.add(d);
    this.subscribers.set(uri, set);
    if (first)
      this.sendUpstream({ jsonrpc: "2.0", id: this.next++, method: "resources/subscribe", params: { uri } });
  }

  private unsubscribeUpstream(uri: string): void {
    this.subscribers.delete(uri);
    this.sendUpstream({ jsonrpc: "2.0", id: this.next++, method: "resources/unsubscribe", params: { uri } });
  }

  private fromUpstream(m: JsonRpcMessage): void {
    if (isRequest(m)) {
      this.serverRequest(m);
      return;
    }
    if (isNotification(m)) {
      this.serverNotification(m);
      return;
    }
    if (this.probing) {
      // Any answer shows the server still handles requests.
      clearTimeout(this.probing.timer);
      this.probing = undefined;
    }
    const id = typeof m.id === "number" ? m.id : Number.NaN;
    const p = this.pending.get(id);
    if (!p) return; // answers to the gateway's own requests (setLevel, re-subscribe) or late ones
    this.forget(id, p);
    p.sink.message({ ...m, id: p.clientId });
  }

  private serverNotification(m: JsonRpcNotification): void {
    const method = m.method;
    if (method === "notifications/progress") {
      const id = this.byToken.get(String(m.params?.progressToken));
      const p = id === undefined ? undefined : this.pending.get(id);
      if (!p || id === undefined) return;
      this.arm(id, p);
      p.sink.message({ ...m, params: { ...m.params, progressToken: p.progressToken } });
      return;
    }
    if (method === "notifications/cancelled") {
      const owner = this.serverRequests.get(keyOf(m.params?.requestId as JsonRpcId));
      if (!owner) return;
      this.serverRequests.delete(keyOf(m.params?.requestId as JsonRpcId));
      owner.unsolicited(m);
      return;
    }
    if (method === "notifications/message") {
      const level = LEVELS.indexOf(String(m.params?.level));
      for (const d of this.parties) {
        const min = this.levels.get(d);
        if (min === undefined || level < 0 || level >= min) d.unsolicited(m);
      }
      return;
    }
    if (method === "notifications/resources/updated") {
      const set = this.subscribers.get(String(m.params?.uri));
      const targets = set && this.parties.size > 1 ? set : this.parties;
      for (const d of targets) d.unsolicited(m);
      return;
    }
    for (const d of this.parties) d.unsolicited(m);
  }

  /**
   * Routes a server-to-client request. Over stdio nothing links it to the client request that
   * caused it, so it goes to the only party with requests in flight (or the only party); when that
   * is ambiguous on a shared upstream, the server gets an error instead of a wrong client.
   */
  private serverRequest(m: JsonRpcRequest): void {
    if (m.method === "ping") {
      this.sendUpstream(success(m.id, {}));
      return;
    }
    const sessions = [...this.parties].filter((p) => !p.transient);
    const waiting = new Set([...this.pending.values()].map((p) => p.downstream));
    // A call parked between rounds is not asking; if only parked calls are left, one of them is.
    const active = new Set([...waiting].filter((p) => !p.quiet?.()));
    const busy = active.size > 0 ? active : waiting;
    if (sessions.length === 0 && busy.size === 0) {
      // Nobody to ask yet (a warm child asking for roots before its session attached): hold it,
      // and answer the server ourselves if no session turns up.
      const timer = setTimeout(() => {
        this.held = this.held.filter((h) => h.message !== m);
        this.sendUpstream(
          failure(m.id, ErrorCode.internalError, `No client session is connected to answer ${m.method}.`),
        );
      }, HOLD_MS);
      timer.unref?.();
      this.held.push({ message: m, timer });
      return;
    }
    const target =
      busy.size === 1 ? [...busy][0] : busy.size === 0 && sessions.length === 1 ? sessions[0] : undefined;
    if (!target) {
      this.sendUpstream(
        failure(
          m.id,
          ErrorCode.internalError,
          `Cannot route ${m.method}: several clients share this server (session mode shared).`,
        ),
      );
      return;
    }
    const capability = CAPABILITY_OF[m.method];
    if (capability && !(capability in target.capabilities)) {
      this.sendUpstream(
        failure(m.id, ErrorCode.methodNotFound, `The client does not support ${capability} (${m.method}).`),
      );
      // Sampling and elicitation are asked for inside the call that needs them; roots/list can come
      // at any time (after initialized, on list changes), so it never fails a stateless call.
      if (!target.transient || capability !== "roots") target.refused?.(m.method, capability);
      return;
    }
    this.serverRequests.set(keyOf(m.id), target);
    const related = [...this.pending.values()].filter((p) => p.downstream === target);
    if (related.length === 1) related[0]?.sink.message(m);
    else target.unsolicited(m);
  }

  private sendUpstream(m: JsonRpcMessage): void {
    if (this.closedWith) return;
    try {
      this.channel.send(m);
    } catch (e) {
      this.closed({ kind: "error", message: `write failed: ${(e as Error).message}` });
    }
  }

  private closed(reason: CloseReason): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    clearTimeout(this.probing?.timer);
    this.probing = undefined;
    const detail = reason.stderrTail?.length ? ` (${reason.stderrTail.slice(-3).join(" | ")})` : "";
    for (const [id, p] of this.pending) {
      this.forget(id, p);
      p.sink.message(
        failure(
          p.clientId,
          ErrorCode.internalError,
          `The MCP server stopped while handling this request: ${reason.message}${detail}`,
        ),
      );
    }
    for (const d of [...this.parties]) d.upstreamClosed(reason);
    this.parties.clear();
  }
}

function keyOf(id: JsonRpcId | null | undefined): string {
  return `${typeof id}:${String(id)}`;
}
