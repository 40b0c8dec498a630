import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import { ApiError, ServerUnreachableError } from "../client/client.ts";
import type { TuiApi } from "./api.ts";

/**
 * Whether the server answers. Any call that finds it unreachable reports it here; then one probe
 * loop (GET /api/health with backoff 1 s, 2 s, 4 s … 10 s) runs until it answers, and `epoch`
 * increments so every poll and stream reconnects at once.
 */
export type ConnStatus = "connecting" | "up" | "down" | "unauthorized";

export interface Connection {
  status: ConnStatus;
  message: string | undefined;
  /** When the next probe runs (ms since epoch), while down. */
  retryAt: number | undefined;
  /** Increments each time the server comes back. */
  epoch: number;
  report(e: unknown): void;
  ok(): void;
}

const ConnectionContext = createContext<Connection | undefined>(undefined);

export function useConnection(): Connection {
  const c = useContext(ConnectionContext);
  if (!c) throw new Error("useConnection outside ConnectionProvider");
  return c;
}

export const MAX_BACKOFF_MS = 10_000;

export function backoff(attempt: number, baseMs = 1000): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt);
}

interface State {
  status: ConnStatus;
  message: string | undefined;
  retryAt: number | undefined;
  epoch: number;
}

export function ConnectionProvider({
  api,
  retryBaseMs = 1000,
  children,
}: {
  api: TuiApi;
  retryBaseMs?: number;
  children: ReactNode;
}) {
  const [state, setState] = useState<State>({
    status: "connecting",
    message: undefined,
    retryAt: undefined,
    epoch: 0,
  });
  const status = useRef(state.status);
  status.current = state.status;

  const report = useCallback((e: unknown) => {
    if (e instanceof ServerUnreachableError) {
      if (status.current === "down") return;
      status.current = "down";
      setState((s) => ({ ...s, status: "down", message: e.message, retryAt: Date.now() }));
      return;
    }
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      status.current = "unauthorized";
      setState((s) => ({ ...s, status: "unauthorized", message: `${e.message} ${e.hint ?? ""}`.trim() }));
    }
  }, []);

  const ok = useCallback(() => {
    if (status.current === "up" || status.current === "unauthorized") return;
    const wasDown = status.current === "down";
    status.current = "up";
    setState((s) => ({
      status: "up",
      message: undefined,
      retryAt: undefined,
      epoch: wasDown ? s.epoch + 1 : s.epoch,
    }));
  }, []);

  const down = state.status === "down";
  useEffect(() => {
    if (!down) return;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const controller = new AbortController();
    const probe = async () => {
      try {
        await api.health(controller.signal);
        if (!controller.signal.aborted) ok();
      } catch {
        if (controller.signal.aborted) return;
        schedule(++attempt);
      }
    };
    const schedule = (n: number) => {
      const delay = backoff(n, retryBaseMs);
      setState((s) => ({ ...s, retryAt: Date.now() + delay }));
      timer = setTimeout(() => void probe(), delay);
    };
    schedule(0);
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [down, api, ok, retryBaseMs]);

  const value = useMemo<Connection>(() => ({ ...state, report, ok }), [state, report, ok]);
  return <ConnectionContext value={value}>{children}</ConnectionContext>;
}
