import { createHash, randomBytes } from "node:crypto";
import {
  ErrorCode,
  isResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
} from "../mcp/jsonrpc.ts";
import { jsonResponse } from "./http.ts";
import { SseConnection } from "./stream.ts";

/**
 * Pieces of the 2026-07-28 multi-round-trip requests (`input_required`): one HTTP request and
 * its answer (`Leg`), and the calls parked between rounds, found again by their `requestState`.
 */

/** How long a stateless request waits for a lone answer before it switches to an SSE stream. */
const JSON_WAIT_MS = 5000;

/**
 * One HTTP request of a stateless call: what the call sends for it arrives through `deliver`
 * (already in the client's ids); the answer is JSON when the response alone comes within 5 s,
 * an SSE stream otherwise (progress first, the response last).
 */
export class Leg {
  private queue: JsonRpcMessage[] = [];
  private wake: (() => void) | undefined;
  private conn: SseConnection | undefined;
  /** The response went out, or the client went away. */
  done = false;

  constructor(
    readonly id: JsonRpcId,
    /** The progress token of this HTTP request (each round of a call has its own). */
    readonly progressToken: string | number | undefined,
  ) {}

  deliver(m: JsonRpcMessage): void {
    if (this.done) return;
    if (isResponse(m)) this.done = true;
    if (this.conn) {
      this.conn.event(undefined, JSON.stringify(m));
      if (isResponse(m)) this.conn.close();
    } else this.queue.push(m);
    this.wake?.();
  }

  /** The HTTP response; `cancel` runs when the client goes away before the answer. */
  async response(request: Request, keepAliveMs: number, cancel: (why: string) => void): Promise<Response> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, JSON_WAIT_MS);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
        request.signal.addEventListener("abort", () => this.wake?.(), { once: true });
      });
      this.wake = undefined;
    }
    const first = this.queue[0];
    if (first && isResponse(first) && this.queue.length === 1) {
      const code = "error" in first ? first.error.code : undefined;
      const status =
        code === ErrorCode.methodNotFound ? 404 : code === ErrorCode.missingCapability ? 400 : 200;
      return jsonResponse(first, {}, status);
    }
    if (request.signal.aborted && !this.done) {
      this.done = true;
      cancel("the client closed the request");
    }
    this.conn = new SseConnection({
      keepAliveMs,
      headers: {},
      signal: request.signal,
      onClose: () => {
        // Closing the response stream is how a 2026-07-28 client cancels.
        if (this.done) return;
        this.done = true;
        cancel("the client closed the stream");
      },
    });
    for (const m of this.queue.splice(0)) {
      this.conn.event(undefined, JSON.stringify(m));
      if (isResponse(m)) this.conn.close();
    }
    return this.conn.response;
  }
}

/** JSON with object keys sorted, so that equal values have one text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * What a retry must repeat of the original request: the method and its params without the
 * envelope (`_meta`), the answers (`inputResponses`) and the state echo (`requestState`).
 */
export function requestDigest(msg: JsonRpcRequest): string {
  const { _meta: _m, inputResponses: _i, requestState: _s, ...rest } = msg.params ?? {};
  return createHash("sha256").update(msg.method).update("\0").update(canonical(rest)).digest("base64url");
}

/** Who a parked call belongs to: a retry must come from the same token for the same request. */
export interface ParkedOwner {
  deploymentId: string;
  tokenId: string | undefined;
  digest: string;
}

/**
 * Calls waiting between rounds, by `requestState`. The state is an unguessable, single-round
 * handle (a new one each round) held only in this process, so nothing a client sends can forge or
 * alter a parked call; the owner check keeps another token, deployment or request from resuming it.
 */
export class ParkedCalls<T extends { owner: ParkedOwner }> {
  private readonly calls = new Map<string, T>();

  /** Parks `call` under a fresh state; `previous` (the last round's state) stops working. */
  park(call: T, previous?: string): string {
    if (previous) this.calls.delete(previous);
    const state = `cwrs_${randomBytes(24).toString("base64url")}`;
    this.calls.set(state, call);
    return state;
  }

  /**
   * The call a retry resumes, taken out of the table; a reason when there is none or it is not the
   * sender's (the call then stays parked for its owner).
   */
  take(state: string, owner: ParkedOwner): T | string {
    const call = this.calls.get(state);
    if (!call) {
      return "Unknown or expired requestState: the call it belonged to ended, timed out, or was held by another Catwalk host. Send the request again without requestState and inputResponses.";
    }
    const o = call.owner;
    if (o.deploymentId !== owner.deploymentId || o.tokenId !== owner.tokenId || o.digest !== owner.digest) {
      return "This requestState belongs to another request: a retry must repeat the original method and params, with the same token.";
    }
    this.calls.delete(state);
    return call;
  }

  drop(state: string | undefined): void {
    if (state) this.calls.delete(state);
  }

  get size(): number {
    return this.calls.size;
  }
}
