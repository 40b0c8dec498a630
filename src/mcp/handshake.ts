import { DetachedChannel } from "../runtime/channel.ts";
import type { Channel, InitializeResult } from "../runtime/types.ts";
import { CatwalkError } from "../util/error.ts";
import { VERSION } from "../version.ts";
import {
  isFailure,
  isRequest,
  isResponse,
  type JsonRpcMessage,
  notification,
  request,
  success,
} from "./jsonrpc.ts";

/** Protocol versions of the session-based (2025) era, newest first. */
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export const LATEST_LEGACY_VERSION = LEGACY_VERSIONS[0];
/** The stateless revision and later. */
export const MODERN_VERSIONS = ["2026-07-28"] as const;

/**
 * What the gateway declares to upstreams: every client capability it can bridge to a client.
 * When the client of a session did not declare one, the gateway answers the upstream's request
 * itself with an error instead of forwarding it.
 */
export const GATEWAY_CAPABILITIES = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
};

export class HandshakeError extends CatwalkError {
  readonly code = "upstream.handshake_failed";
  readonly status = 502;
}

const INIT_ID = "catwalk-initialize";

function isInitializeResult(v: unknown): v is InitializeResult {
  const r = v as Partial<InitializeResult> | undefined;
  return (
    typeof r?.protocolVersion === "string" &&
    typeof r.capabilities === "object" &&
    r.capabilities !== null &&
    typeof r.serverInfo === "object" &&
    r.serverInfo !== null
  );
}

export interface HandshakeOptions {
  timeoutMs: number;
  protocolVersion?: string;
  capabilities?: Record<string, unknown>;
  clientInfo?: { name: string; version: string };
}

/**
 * Performs `initialize` + `notifications/initialized` on a fresh channel and returns the result
 * together with a channel that replays anything the server sent meanwhile (log messages, early
 * requests) to whoever wires it next. Answers `ping` during the handshake itself.
 */
export function handshake(
  raw: Channel,
  opts: HandshakeOptions,
): Promise<{ channel: Channel; init: InitializeResult }> {
  const backlog: JsonRpcMessage[] = [];
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error: Error | undefined, init?: InitializeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        raw.close().catch(() => {});
        reject(error);
        return;
      }
      resolve({ channel: new DetachedChannel(raw, backlog), init: init as InitializeResult });
    };
    const timer = setTimeout(
      () =>
        finish(
          new HandshakeError(`${raw.description} did not answer initialize within ${opts.timeoutMs} ms.`, {
            hint: "The server may need credentials or a longer start timeout (local.startTimeoutMs).",
          }),
        ),
      opts.timeoutMs,
    );
    raw.setHandlers({
      message: (m) => {
        if (isResponse(m) && m.id === INIT_ID) {
          if (isFailure(m)) {
            finish(
              new HandshakeError(
                `${raw.description} refused initialize: ${m.error.message} (code ${m.error.code}).`,
              ),
            );
            return;
          }
          if (!isInitializeResult(m.result)) {
            finish(new HandshakeError(`${raw.description} answered initialize with an invalid result.`));
            return;
          }
          raw.send(notification("notifications/initialized"));
          finish(undefined, m.result);
          return;
        }
        if (isRequest(m) && m.method === "ping") {
          raw.send(success(m.id, {}));
          return;
        }
        backlog.push(m);
      },
      close: (reason) => {
        const tail = reason.stderrTail?.length ? `\n${reason.stderrTail.join("\n")}` : "";
        finish(
          new HandshakeError(
            `${raw.description} ended before initialize completed: ${reason.message}${tail}`,
          ),
        );
      },
    });
    try {
      raw.send(
        request(INIT_ID, "initialize", {
          protocolVersion: opts.protocolVersion ?? LATEST_LEGACY_VERSION,
          capabilities: opts.capabilities ?? GATEWAY_CAPABILITIES,
          clientInfo: opts.clientInfo ?? { name: "catwalk", version: VERSION },
        }),
      );
    } catch (e) {
      finish(e instanceof Error ? e : new Error(String(e)));
    }
  });
}
