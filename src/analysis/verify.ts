import {
  ErrorCode,
  failure,
  isFailure,
  isRequest,
  isResponse,
  type JsonRpcMessage,
  request,
  success,
} from "../mcp/jsonrpc.ts";
import { UpstreamUnavailableError } from "../runtime/errors.ts";
import type { Channel, CloseReason, PoolOptions, Upstream, UpstreamPool } from "../runtime/types.ts";
import { CatwalkError, messageOf } from "../util/error.ts";
import type { CapabilityItem, Manifest, Verification } from "./manifest.ts";
import { manifestToUpstreamSpec } from "./upstream.ts";

/**
 * Verification: start the manifest's package through a runtime (an injected `UpstreamPool`
 * factory; the local runtime in production, a throwaway sandbox with no credentials unless given)
 * and record what `tools/list`, `resources/list` and `prompts/list` really return, following
 * `nextCursor`. Everything is time-limited and the pool is always stopped. A server that fails
 * to start while required credentials are missing, or whose error names one, is reported as
 * `needs_credentials`, not as broken.
 */
export type PoolFactory = (opts: PoolOptions) => UpstreamPool;

export interface VerifyOptions {
  createPool: PoolFactory;
  credentials?: Record<string, string> | undefined;
  /** Budget for the whole run: start, handshake and every list call. */
  timeoutMs: number;
  deploymentId: string;
}

export class VerifierUnavailableError extends CatwalkError {
  readonly code = "analysis.verifier_unavailable";
  readonly status = 503;
}

class RpcError extends Error {}

/** Minimal JSON-RPC client over a channel: numbered requests, answers `ping`, refuses other server requests. */
class Rpc {
  private next = 1;
  private readonly pending = new Map<
    string,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  private closed: CloseReason | undefined;

  constructor(private readonly channel: Channel) {
    channel.setHandlers({
      message: (m) => this.onMessage(m),
      close: (reason) => {
        this.closed = reason;
        for (const p of this.pending.values()) p.reject(new RpcError(`the server ended: ${reason.message}`));
        this.pending.clear();
      },
    });
  }

  private onMessage(m: JsonRpcMessage): void {
    if (isRequest(m)) {
      if (m.method === "ping") this.channel.send(success(m.id, {}));
      else if (m.method === "roots/list") this.channel.send(success(m.id, { roots: [] }));
      else
        this.channel.send(
          failure(m.id, ErrorCode.methodNotFound, `${m.method} is not available during verification`),
        );
      return;
    }
    if (!isResponse(m) || m.id === null) return;
    const p = this.pending.get(String(m.id));
    if (!p) return;
    this.pending.delete(String(m.id));
    if (isFailure(m)) p.reject(new RpcError(`${m.error.message} (code ${m.error.code})`));
    else p.resolve(m.result);
  }

  call(method: string, params: Record<string, unknown>, deadline: number): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new RpcError(`the server ended: ${this.closed.message}`));
    const id = `catwalk-verify-${this.next++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(id);
          reject(new RpcError(`${method} got no answer in time`));
        },
        Math.max(deadline - Date.now(), 1),
      );
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.channel.send(request(id, method, params));
    });
  }
}

async function listAll(
  rpc: Rpc,
  method: string,
  key: string,
  deadline: number,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const res = await rpc.call(method, cursor ? { cursor } : {}, deadline);
    const list = res[key];
    if (Array.isArray(list))
      items.push(...list.filter((x): x is Record<string, unknown> => typeof x === "object" && x !== null));
    const next = res.nextCursor;
    if (typeof next !== "string" || next === "" || seen.has(next)) break;
    seen.add(next);
    cursor = next;
  }
  return items;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function within<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new RpcError(`${what} did not finish in time`)),
      Math.max(deadline - Date.now(), 1),
    );
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

const CREDENTIAL_HINT =
  /api[ _-]?key|token|credential|secret|password|unauthori[sz]ed|authenticat|environment variable|env var|not set|missing|required/i;

/** Why a start failed: needs_credentials when a missing variable is named, or implied while required ones are absent. */
export function classifyFailure(
  m: Manifest,
  given: Record<string, string>,
  text: string,
  duringStart: boolean,
): { status: "needs_credentials" | "failed"; missing: string[] } {
  const vars = m.packages[0]?.environmentVariables ?? m.remotes[0]?.headers ?? [];
  const absent = vars.filter((v) => given[v.name] === undefined || given[v.name] === "");
  const named = absent.filter((v) => new RegExp(`\\b${v.name}\\b`).test(text)).map((v) => v.name);
  if (named.length) return { status: "needs_credentials", missing: named };
  const required = absent.filter((v) => v.isRequired).map((v) => v.name);
  if (required.length && (duringStart || CREDENTIAL_HINT.test(text)))
    return { status: "needs_credentials", missing: required };
  return { status: "failed", missing: [] };
}

export async function verifyManifest(m: Manifest, opts: VerifyOptions): Promise<Verification> {
  const given = opts.credentials ?? {};
  const stderr: string[] = [];
  const lifecycle: string[] = [];
  const at = new Date().toISOString();
  const deadline = Date.now() + opts.timeoutMs;
  const base = {
    at,
    tools: [],
    resources: [],
    prompts: [],
    missingCredentials: [],
    stderr,
    lifecycle,
  } satisfies Partial<Verification>;
  const spec = manifestToUpstreamSpec(m, given);
  let pool: UpstreamPool | undefined;
  let upstream: Upstream | undefined;
  let phase: "start" | "list" = "start";
  try {
    pool = opts.createPool({
      deploymentId: opts.deploymentId,
      spec,
      env: { ...given },
      hooks: {
        log: (stream, line) => {
          const lines = stream === "stderr" ? stderr : lifecycle;
          lines.push(line.slice(0, 500));
          if (lines.length > 40) lines.shift();
        },
        state: () => {},
      },
      maxChildren: 1,
      warm: false,
    });
    // The contract: a pool installs and warms up only once started; acquire waits for that.
    pool.start();
    upstream = await within(pool.acquire(), deadline, "starting the server");
    phase = "list";
    const rpc = new Rpc(upstream.channel);
    const caps = upstream.init.capabilities;
    const tools = caps.tools ? await listAll(rpc, "tools/list", "tools", deadline) : [];
    const resources = caps.resources ? await listAll(rpc, "resources/list", "resources", deadline) : [];
    const prompts = caps.prompts ? await listAll(rpc, "prompts/list", "prompts", deadline) : [];
    return {
      ...base,
      status: "verified",
      serverInfo: {
        name: String(upstream.init.serverInfo.name),
        version: String(upstream.init.serverInfo.version),
      },
      protocolVersion: upstream.init.protocolVersion,
      tools: tools.map((t) => ({
        name: String(t.name ?? ""),
        ...(str(t.description) ? { description: str(t.description) } : {}),
      })),
      resources: resources.map((r) => ({
        name: String(r.name ?? r.uri ?? ""),
        ...(str(r.uri) ? { uri: str(r.uri) } : {}),
        ...(str(r.description) ? { description: str(r.description) } : {}),
      })),
      prompts: prompts.map((p) => ({
        name: String(p.name ?? ""),
        ...(str(p.description) ? { description: str(p.description) } : {}),
      })),
    };
  } catch (e) {
    const hint = e instanceof CatwalkError && e.hint ? ` ${e.hint}` : "";
    const text = `${messageOf(e)}${hint}\n${stderr.join("\n")}`;
    const c = classifyFailure(m, given, text, phase === "start");
    return { ...base, status: c.status, missingCredentials: c.missing, error: failureText(e, phase) };
  } finally {
    await upstream?.release().catch(() => {});
    await pool?.stop().catch(() => {});
  }
}

/**
 * The pool's errors speak of deployments and restarts; a verification has neither (the pool is
 * stopped at the first failure), so say what happened to the server instead.
 */
function failureText(e: unknown, phase: "start" | "list"): string {
  const what = phase === "start" ? "The server did not start" : "The server stopped while listing";
  if (e instanceof UpstreamUnavailableError && e.reason) return `${what}: ${e.reason}`.slice(0, 2000);
  return messageOf(e).slice(0, 2000);
}

function mark(
  list: CapabilityItem[],
  seen: { name: string; description?: string | undefined; uri?: string | undefined }[],
): CapabilityItem[] {
  const out = list.map((i) => ({ ...i, verified: false }));
  for (const s of seen) {
    const mine = out.find((i) => i.name === s.name || (s.uri !== undefined && i.uri === s.uri));
    const ev = { kind: "verification" as const, note: "listed by the running server" };
    if (mine) {
      mine.verified = true;
      mine.evidence = [...mine.evidence, ev];
      mine.confidence = 1;
      if (!mine.description && s.description) mine.description = s.description;
      continue;
    }
    out.push({
      name: s.name,
      ...(s.description ? { description: s.description } : {}),
      ...(s.uri ? { uri: s.uri } : {}),
      declared: false,
      verified: true,
      evidence: [ev],
      confidence: 1,
    });
  }
  return out;
}

/** The manifest with its verification recorded and each tool/resource/prompt marked declared vs verified. */
export function applyVerification(m: Manifest, v: Verification): { manifest: Manifest; warnings: string[] } {
  const out: Manifest = { ...m, verification: v };
  const warnings: string[] = [];
  if (v.status !== "verified") {
    warnings.push(
      v.status === "needs_credentials"
        ? `The server could not start without credentials (${v.missingCredentials.join(", ")}); verify again with them.`
        : `Verification failed: ${v.error ?? "unknown error"}`,
    );
    return { manifest: out, warnings };
  }
  out.tools = mark(m.tools, v.tools);
  out.resources = mark(m.resources, v.resources);
  out.prompts = mark(m.prompts, v.prompts);
  for (const [kind, list] of [
    ["tool", out.tools],
    ["resource", out.resources],
    ["prompt", out.prompts],
  ] as const) {
    const missing = list.filter((i) => i.declared && !i.verified).map((i) => i.name);
    if (missing.length)
      warnings.push(`Declared ${kind}s not listed by the running server: ${missing.join(", ")}.`);
  }
  return { manifest: out, warnings };
}
