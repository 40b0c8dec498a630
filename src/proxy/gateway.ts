import type { Config } from "../config/config.ts";
import type { Logger } from "../log/log.ts";
import { LATEST_LEGACY_VERSION, LEGACY_VERSIONS } from "../mcp/handshake.ts";
import {
  ErrorCode,
  isNotification,
  isRequest,
  isResponse,
  type JsonRpcMessage,
  type JsonRpcRequest,
  kindOf,
  success,
} from "../mcp/jsonrpc.ts";
import type { InitializeResult, Upstream, UpstreamPool } from "../runtime/types.ts";
import { realClock, TokenBuckets } from "../util/buckets.ts";
import { CatwalkError } from "../util/error.ts";
import { jsonDepth } from "../util/json.ts";
import { accepts, BodyTooLargeError, isJsonContentType, jsonResponse, readBody, rpcError } from "./http.ts";
import { handleModern, isModern, type ModernCall } from "./modern.ts";
import { Mux, type RequestSink } from "./mux.ts";
import { ParkedCalls } from "./rounds.ts";
import { type Exchange, Session } from "./session.ts";
import { parseEventId } from "./stream.ts";

/** What the gateway needs to know about a deployment. */
export interface GatewayTarget {
  id: string;
  slug: string;
  sessionMode: "isolated" | "shared";
  pool: UpstreamPool;
}

export type AuthResult = { ok: true; tokenId: string | undefined } | { ok: false; response: Response };

/** Metadata of one answered client request, for events and stats (never arguments or results). */
export interface CallRecord {
  deploymentId: string;
  sessionId: string | undefined;
  method: string;
  /** Tool, prompt or resource the request names. */
  name: string | undefined;
  durationMs: number;
  ok: boolean;
  errorCode: number | undefined;
  client: { name?: string; version?: string } | undefined;
}

export interface GatewayDeps {
  config: Config["gateway"];
  log: Logger;
  /** May look in the store (a deployment another host sharing it created). */
  target(slug: string): GatewayTarget | undefined | Promise<GatewayTarget | undefined>;
  authorize(request: Request, target: GatewayTarget): Promise<AuthResult>;
  originAllowed(origin: string | null): boolean;
  onCall?(record: CallRecord): void;
  /** A request refused by `gateway.rateLimitPerMinute`. */
  onRateLimited?(deploymentId: string): void;
  onSession?(event: {
    deploymentId: string;
    sessionId: string;
    kind: "opened" | "closed";
    reason?: string;
  }): void;
}

/** Versions a 2025-era client may name in `MCP-Protocol-Version` (2024-11-05 clients too). */
const ACCEPTED_VERSIONS = new Set<string>([...LEGACY_VERSIONS, "2024-11-05"]);

/** JSON answers are held this long for the first upstream message; slower answers stream as SSE. */
const JSON_GRACE_MS = 5000;

function nameOf(msg: JsonRpcRequest): string | undefined {
  const p = msg.params;
  const v = p?.name ?? p?.uri;
  return typeof v === "string" ? v : undefined;
}

/**
 * The MCP Streamable HTTP endpoint `/mcp/<slug>`. It speaks the 2025 session-based revisions and
 * the stateless 2026-07-28 revision on the same URL, and forwards to the deployment's upstreams.
 */
export class Gateway {
  private readonly sessions = new Map<string, Session>();
  private readonly muxes = new WeakMap<Upstream, Mux>();
  private readonly counts = new Map<string, number>();
  private readonly reaper: ReturnType<typeof setInterval>;
  private readonly buckets = new TokenBuckets(realClock, 10_000);
  /** 2026-07-28 calls waiting for their client's answers, by `requestState`. */
  readonly parked = new ParkedCalls<ModernCall>();

  constructor(readonly deps: GatewayDeps) {
    const every = Math.max(1000, Math.min(60_000, Math.floor(deps.config.sessionIdleTtlMs / 4)));
    this.reaper = setInterval(() => this.reap(), every);
    this.reaper.unref?.();
  }

  /** Open sessions of a deployment. */
  sessionCount(deploymentId: string): number {
    return this.counts.get(deploymentId) ?? 0;
  }

  /** Ends every session of a deployment (deleted, stopped, or token revoked when `tokenId` is given). */
  endSessions(deploymentId: string, reason: string, tokenId?: string): void {
    for (const s of [...this.sessions.values()]) {
      if (s.opts.deploymentId !== deploymentId) continue;
      if (tokenId !== undefined && s.opts.tokenId !== tokenId) continue;
      s.end(reason);
    }
  }

  close(): void {
    clearInterval(this.reaper);
    for (const s of [...this.sessions.values()]) s.end("the server is shutting down");
  }

  /**
   * Paces each token (or OAuth grant) on each deployment with a token bucket. DELETE is never
   * refused, so a client can always end its session.
   */
  private rateLimit(
    request: Request,
    target: GatewayTarget,
    tokenId: string | undefined,
  ): Response | undefined {
    const { rateLimitPerMinute: perMinute, rateLimitBurst: burst } = this.deps.config;
    if (perMinute <= 0 || request.method === "DELETE") return undefined;
    const wait = this.buckets.tryTake(`${target.id}:${tokenId ?? "-"}`, { perSecond: perMinute / 60, burst });
    if (wait === 0) return undefined;
    this.deps.onRateLimited?.(target.id);
    const seconds = Math.max(1, Math.ceil(wait / 1000));
    return rpcError(
      429,
      ErrorCode.server,
      `Too many requests: this token may send ${perMinute} requests per minute to ${target.slug} (bursts of ${burst}). Retry in ${seconds} s, or ask the operator to raise gateway.rateLimitPerMinute.`,
      { headers: { "retry-after": String(seconds) }, data: { retryAfterSeconds: seconds } },
    );
  }

  /** Initialized upstream plus its mux (one mux per upstream connection). */
  muxFor(upstream: Upstream): Mux {
    let mux = this.muxes.get(upstream);
    if (!mux) {
      mux = new Mux(upstream.channel, upstream.init, { pingTimeoutMs: this.deps.config.pingTimeoutMs });
      this.muxes.set(upstream, mux);
    }
    return mux;
  }

  async handle(request: Request, slug: string): Promise<Response> {
    const origin = request.headers.get("origin");
    if (!this.deps.originAllowed(origin)) {
      return rpcError(403, ErrorCode.server, `Requests from origin ${origin} are not allowed.`);
    }
    const target = await this.deps.target(slug);
    if (!target) return rpcError(404, ErrorCode.server, `No MCP server is deployed at /mcp/${slug}.`);
    const auth = await this.deps.authorize(request, target);
    if (!auth.ok) return auth.response;
    const limited = this.rateLimit(request, target, auth.tokenId);
    if (limited) return limited;
    try {
      if (request.method === "POST") return await this.post(request, target, auth.tokenId);
      if (request.method === "GET") return this.get(request, target);
      if (request.method === "DELETE") return this.delete(request, target);
    } catch (e) {
      return this.failure(e, target);
    }
    return rpcError(
      405,
      ErrorCode.server,
      `Method ${request.method} is not allowed; use POST, GET or DELETE.`,
      {
        headers: { allow: "GET, POST, DELETE" },
      },
    );
  }

  private failure(e: unknown, target: GatewayTarget): Response {
    if (e instanceof BodyTooLargeError) {
      return rpcError(
        413,
        ErrorCode.invalidRequest,
        `Request body too large: the limit is ${e.limit} bytes.`,
      );
    }
    if (e instanceof CatwalkError) {
      const status = e.status >= 500 ? 503 : e.status;
      return rpcError(status, ErrorCode.server, e.hint ? `${e.message} ${e.hint}` : e.message);
    }
    this.deps.log.error("gateway failure", { deployment: target.id, error: e, stack: (e as Error).stack });
    return rpcError(500, ErrorCode.internalError, "Internal gateway error; the server log has details.");
  }

  private async post(
    request: Request,
    target: GatewayTarget,
    tokenId: string | undefined,
  ): Promise<Response> {
    if (!isJsonContentType(request.headers.get("content-type"))) {
      return rpcError(415, ErrorCode.server, "Content-Type must be application/json.");
    }
    const accept = request.headers.get("accept");
    if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream")) {
      return rpcError(406, ErrorCode.server, "Accept must list both application/json and text/event-stream.");
    }
    const text = await readBody(request, this.deps.config.maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return rpcError(400, ErrorCode.parseError, "Parse error: the body is not valid JSON.");
    }
    // Deep nesting would overflow JSON.stringify on the way upstream (closing a shared upstream for
    // every session) and the recursive parsers of many servers.
    const maxDepth = this.deps.config.maxJsonDepth;
    if (jsonDepth(body, maxDepth) > maxDepth) {
      return rpcError(
        400,
        ErrorCode.invalidRequest,
        `Invalid Request: JSON nested deeper than ${maxDepth} levels.`,
      );
    }
    if (isModern(request, body)) return handleModern(this, request, target, body, tokenId);

    const batch = Array.isArray(body);
    const messages = (batch ? body : [body]) as unknown[];
    if (messages.length === 0)
      return rpcError(400, ErrorCode.invalidRequest, "Invalid Request: empty batch.");
    for (const m of messages) {
      if (kindOf(m) === "invalid") {
        const id = (m as { id?: unknown })?.id;
        return rpcError(400, ErrorCode.invalidRequest, "Invalid Request: not a JSON-RPC 2.0 message.", {
          id: typeof id === "string" || typeof id === "number" ? id : null,
        });
      }
    }
    const msgs = messages as JsonRpcMessage[];
    const init = msgs.find((m) => isRequest(m) && m.method === "initialize") as JsonRpcRequest | undefined;
    if (init) {
      if (msgs.length > 1)
        return rpcError(400, ErrorCode.invalidRequest, "initialize must be sent alone, not in a batch.", {
          id: init.id,
        });
      if (request.headers.get("mcp-session-id")) {
        return rpcError(
          400,
          ErrorCode.invalidRequest,
          "Session already initialized; omit Mcp-Session-Id to start a new one.",
          { id: init.id },
        );
      }
      return this.initialize(init, target, tokenId);
    }

    const session = this.session(request, target);
    if (session instanceof Response) return session;
    const version = request.headers.get("mcp-protocol-version");
    if (version !== null && !ACCEPTED_VERSIONS.has(version)) {
      return rpcError(
        400,
        ErrorCode.server,
        `Unsupported MCP-Protocol-Version ${version}; supported: ${[...ACCEPTED_VERSIONS].join(", ")}.`,
      );
    }
    if (batch && session.protocolVersion >= "2025-06-18") {
      return rpcError(
        400,
        ErrorCode.invalidRequest,
        `Batches are not allowed in protocol version ${session.protocolVersion}.`,
      );
    }
    session.lastSeen = Date.now();
    return this.dispatch(request, target, session, msgs);
  }

  private async dispatch(
    request: Request,
    target: GatewayTarget,
    session: Session,
    msgs: JsonRpcMessage[],
  ): Promise<Response> {
    const requests = msgs.filter(isRequest);
    const mux = await this.sessionMux(session, target).catch((e: unknown) => e as Error);
    for (const m of msgs) {
      if (mux instanceof Error) break;
      if (isNotification(m)) mux.notify(session, m);
      else if (isResponse(m)) mux.respond(session, m);
    }
    if (requests.length === 0)
      return new Response(null, { status: 202, headers: { "mcp-session-id": session.id } });

    const exchange = session.exchange(requests);
    if (mux instanceof Error) {
      exchange.failAll(ErrorCode.internalError, `The MCP server is not available: ${mux.message}`);
    } else {
      for (const r of requests) {
        if (r.method === "resources/subscribe") session.subscriptions.add(String(r.params?.uri));
        if (r.method === "resources/unsubscribe") session.subscriptions.delete(String(r.params?.uri));
        mux.request(
          session,
          r,
          this.observed(target, session, r, exchange.sink()),
          this.deps.config.requestTimeoutMs,
        );
      }
    }
    return this.respond(request, session, exchange);
  }

  /** JSON when the single answer comes first and fast, SSE otherwise. */
  private async respond(request: Request, session: Session, exchange: Exchange): Promise<Response> {
    const headers = { "mcp-session-id": session.id };
    const json = await exchange.decide(JSON_GRACE_MS, request.signal);
    if (json) return jsonResponse(json, headers);
    const conn = session.connect(request.signal, headers);
    exchange.stream.attach(conn, { prime: session.primes, after: 0 });
    return conn.response;
  }

  /** Wraps a sink to report the call's metadata when its response passes. */
  observed(
    target: GatewayTarget,
    session: Session | undefined,
    r: JsonRpcRequest,
    sink: RequestSink,
  ): RequestSink {
    const report = this.deps.onCall;
    if (!report) return sink;
    const start = performance.now();
    return {
      message: (m) => {
        if (isResponse(m) && m.id === r.id) {
          report({
            deploymentId: target.id,
            sessionId: session?.id,
            method: r.method,
            name: nameOf(r),
            durationMs: performance.now() - start,
            ok: !("error" in m),
            errorCode: "error" in m ? m.error.code : undefined,
            client: session?.opts.clientInfo,
          });
        }
        sink.message(m);
      },
      end: () => sink.end(),
    };
  }

  private async sessionMux(session: Session, target: GatewayTarget): Promise<Mux> {
    if (session.mux && !session.mux.isClosed) return session.mux;
    if (session.opts.mode === "isolated")
      throw new Error(session.endReason || "the session's MCP server is gone");
    const upstream = await target.pool.shared();
    const mux = this.muxFor(upstream);
    mux.attach(session, session.subscriptions);
    session.mux = mux;
    return mux;
  }

  private async initialize(
    init: JsonRpcRequest,
    target: GatewayTarget,
    tokenId: string | undefined,
  ): Promise<Response> {
    const open = this.counts.get(target.id) ?? 0;
    if (open >= this.deps.config.maxSessions) {
      return rpcError(
        503,
        ErrorCode.server,
        `This deployment has reached its limit of ${this.deps.config.maxSessions} sessions; close idle sessions or raise gateway.maxSessions.`,
        {
          id: init.id,
          headers: { "retry-after": "5" },
        },
      );
    }
    const isolated = target.sessionMode === "isolated";
    const upstream = isolated ? await target.pool.acquire() : await target.pool.shared();
    const params = init.params ?? {};
    const requested =
      typeof params.protocolVersion === "string" ? params.protocolVersion : LATEST_LEGACY_VERSION;
    const result = negotiate(upstream.init, requested);
    const session = new Session({
      deploymentId: target.id,
      mode: target.sessionMode,
      protocolVersion: result.protocolVersion,
      capabilities: (params.capabilities as Record<string, unknown> | undefined) ?? {},
      clientInfo: params.clientInfo as { name?: string; version?: string } | undefined,
      tokenId,
      upstream: isolated ? upstream : undefined,
      eventBufferSize: this.deps.config.eventBufferSize,
      keepAliveMs: this.deps.config.keepAliveMs,
      onEnded: (s, reason) => this.ended(s, reason),
    });
    const mux = this.muxFor(upstream);
    mux.attach(session);
    session.mux = mux;
    this.sessions.set(session.id, session);
    // Counted now, not from `open`: other sessions may have ended while the upstream was acquired.
    this.counts.set(target.id, (this.counts.get(target.id) ?? 0) + 1);
    this.deps.onSession?.({ deploymentId: target.id, sessionId: session.id, kind: "opened" });
    return jsonResponse(success(init.id, result), { "mcp-session-id": session.id });
  }

  private ended(session: Session, reason: string): void {
    if (!this.sessions.delete(session.id)) return;
    const id = session.opts.deploymentId;
    this.counts.set(id, Math.max(0, (this.counts.get(id) ?? 1) - 1));
    this.deps.onSession?.({ deploymentId: id, sessionId: session.id, kind: "closed", reason });
  }

  private session(request: Request, target: GatewayTarget): Session | Response {
    const id = request.headers.get("mcp-session-id");
    if (!id)
      return rpcError(
        400,
        ErrorCode.server,
        "Bad Request: Mcp-Session-Id header is required (send initialize first).",
      );
    const session = this.sessions.get(id);
    if (!session || session.ended || session.opts.deploymentId !== target.id) {
      return rpcError(
        404,
        ErrorCode.sessionNotFound,
        "Session not found: it ended or never existed; send initialize to start a new one.",
      );
    }
    return session;
  }

  private get(request: Request, target: GatewayTarget): Response {
    if (!accepts(request.headers.get("accept"), "text/event-stream")) {
      return rpcError(406, ErrorCode.server, "Accept must include text/event-stream for the GET stream.");
    }
    const session = this.session(request, target);
    if (session instanceof Response) return session;
    session.lastSeen = Date.now();
    const headers = { "mcp-session-id": session.id };
    const resume = parseEventId(request.headers.get("last-event-id"));
    const stream = (resume && session.stream(resume.stream)) || session.standalone;
    const conn = session.connect(request.signal, headers);
    stream.attach(conn, {
      prime: session.primes && !resume,
      ...(resume && stream.id === resume.stream ? { after: resume.seq } : {}),
    });
    return conn.response;
  }

  private delete(request: Request, target: GatewayTarget): Response {
    const session = this.session(request, target);
    if (session instanceof Response) return session;
    session.end("the client ended the session");
    return new Response(null, { status: 200 });
  }

  private reap(): void {
    const cutoff = Date.now() - this.deps.config.sessionIdleTtlMs;
    for (const s of [...this.sessions.values()]) {
      if (s.lastSeen < cutoff && !s.busy) s.end("idle for longer than gateway.sessionIdleTtlMs");
    }
  }
}

/**
 * The client gets the version it asked for when the upstream speaks it too, otherwise the
 * upstream's version; everything else is the upstream's own handshake result.
 */
export function negotiate(upstream: InitializeResult, requested: string): InitializeResult {
  const known = (LEGACY_VERSIONS as readonly string[]).includes(requested);
  const version = known && requested <= upstream.protocolVersion ? requested : upstream.protocolVersion;
  return { ...upstream, protocolVersion: version };
}
