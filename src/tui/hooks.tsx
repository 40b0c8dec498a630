import { useWindowSize } from "ink";
import {
  createContext,
  type DependencyList,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
} from "react";
import { ApiError, ServerUnreachableError } from "../client/client.ts";
import type { TuiApi } from "./api.ts";
import { useConnection } from "./connection.tsx";

const ApiContext = createContext<TuiApi | undefined>(undefined);

export function ApiProvider({ api, children }: { api: TuiApi; children: ReactNode }) {
  return <ApiContext value={api}>{children}</ApiContext>;
}

export function useApi(): TuiApi {
  const api = useContext(ApiContext);
  if (!api) throw new Error("useApi outside ApiProvider");
  return api;
}

export interface Size {
  columns: number;
  rows: number;
}

/** Tests pin the terminal size here; otherwise it follows stdout and its resize events. */
const SizeContext = createContext<Size | undefined>(undefined);

export function SizeProvider({ value, children }: { value: Size; children: ReactNode }) {
  return <SizeContext value={value}>{children}</SizeContext>;
}

export function useTerminalSize(): Size {
  const pinned = useContext(SizeContext);
  const live = useWindowSize();
  const size = pinned ?? live;
  return { columns: Math.max(20, size.columns || 80), rows: Math.max(8, size.rows || 24) };
}

/** Re-renders every `ms` while active (clocks, relative times, spinners). */
export function useTick(ms: number, active = true): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms, active]);
  return n;
}

export interface Resource<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Loads `load()` now, again every `intervalMs` (if given), when `deps` change, on `reload()`,
 * and when the server comes back after an outage. Failures keep the last data.
 */
export function useResource<T>(
  load: (() => Promise<T>) | undefined,
  deps: DependencyList,
  intervalMs?: number,
): Resource<T> {
  const conn = useConnection();
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const { ok, report, epoch } = conn;
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to reload.
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      const fn = loadRef.current;
      if (!fn) return;
      try {
        const data = await fn();
        if (!alive) return;
        ok();
        setState({ data, loading: false });
      } catch (e) {
        if (!alive) return;
        report(e);
        setState((s) => ({ ...s, error: e as Error, loading: false }));
      }
      if (alive && intervalMs) timer = setTimeout(() => void run(), intervalMs);
    };
    void run();
    return () => {
      alive = false;
      if (timer) clearTimeout(timer);
    };
  }, [...deps, epoch, nonce, intervalMs, ok, report]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/**
 * Keeps an SSE stream open while `key` is set: `open(signal, opened)` reads it (calling `opened`
 * once the server accepted it). A stream the server ends is reopened after a second; an
 * unreachable server waits for the connection probe; a refused one (4xx) stops with its error.
 */
export function useStream(
  key: string | undefined,
  open: (signal: AbortSignal, opened: () => void) => Promise<void>,
): Error | undefined {
  const { ok, report, epoch } = useConnection();
  const [error, setError] = useState<Error | undefined>(undefined);
  const openRef = useRef(open);
  openRef.current = open;
  // biome-ignore lint/correctness/useExhaustiveDependencies: epoch reconnects after an outage.
  useEffect(() => {
    if (key === undefined) return;
    const controller = new AbortController();
    const { signal } = controller;
    const loop = async () => {
      while (!signal.aborted) {
        try {
          await openRef.current(signal, () => {
            ok();
            setError(undefined);
          });
        } catch (e) {
          if (signal.aborted) return;
          report(e);
          if (e instanceof ServerUnreachableError) return;
          if (e instanceof ApiError && e.status < 500) {
            setError(e);
            return;
          }
        }
        await sleep(1000, signal);
      }
    };
    void loop();
    return () => controller.abort();
  }, [key, epoch, ok, report]);
  return error;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Runs an API action, tracking busy state and the last error or result message. The error is
 * also reported to the connection (an unreachable server shows the banner).
 */
export function useAction() {
  const { report } = useConnection();
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [message, setMessage] = useState<{ text: string; error: boolean } | undefined>(undefined);
  const run = useCallback(
    async <T,>(label: string, fn: () => Promise<T>, done?: (r: T) => string | undefined) => {
      setBusy(label);
      setMessage(undefined);
      try {
        const r = await fn();
        const text = done?.(r);
        if (text) setMessage({ text, error: false });
        return r;
      } catch (e) {
        report(e);
        setMessage({ text: errorText(e), error: true });
        return undefined;
      } finally {
        setBusy(undefined);
      }
    },
    [report],
  );
  return { busy, message, setMessage, run };
}

/** "message (hint)" of any error, for one status line. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError || e instanceof ServerUnreachableError) {
    return e.hint ? `${e.message} ${e.hint}` : e.message;
  }
  return e instanceof Error ? e.message : String(e);
}
