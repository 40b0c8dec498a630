import { Box, Text, useApp, useInput } from "ink";
import { Component, type ReactNode, type RefObject, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { TuiApi } from "./api.ts";
import { Banner, bannerShown, Header } from "./components/Header.tsx";
import { ConnectionProvider, useConnection } from "./connection.tsx";
import { ApiProvider, type Size, SizeProvider, useApi, useTerminalSize } from "./hooks.tsx";
import { type Keypress, keypresses } from "./keys.ts";
import { type KeyHandler, type Nav, type Route, ScreenProvider } from "./screen.tsx";
import { Dashboard } from "./screens/Dashboard.tsx";
import { Detail } from "./screens/Detail.tsx";
import { Events } from "./screens/Events.tsx";
import { FlyOrphans } from "./screens/FlyOrphans.tsx";
import { Help, helpLines } from "./screens/Help.tsx";
import { Logs } from "./screens/Logs.tsx";
import { Wizard } from "./screens/Wizard.tsx";
import { ThemeProvider } from "./theme.tsx";

export interface AppProps {
  api: TuiApi;
  noColor?: boolean;
  /** First retry delay after the server went away (tests shorten it). */
  retryBaseMs?: number;
  /** Screens to start with (tests open a screen directly); default the dashboard. */
  initial?: Route[];
  /** Pins the terminal size (tests); default the real terminal, following resizes. */
  size?: Size;
  /** Called when the operator quits, before Ink exits. */
  onQuit?: () => void;
}

export function App(props: AppProps) {
  const shell = <Shell {...props} />;
  return (
    <ThemeProvider value={{ color: !props.noColor }}>
      <ApiProvider api={props.api}>
        <ConnectionProvider
          api={props.api}
          {...(props.retryBaseMs ? { retryBaseMs: props.retryBaseMs } : {})}
        >
          {props.size ? <SizeProvider value={props.size}>{shell}</SizeProvider> : shell}
        </ConnectionProvider>
      </ApiProvider>
    </ThemeProvider>
  );
}

interface Entry {
  id: number;
  route: Route;
  keys: RefObject<KeyHandler | undefined>;
}

let entries = 0;

function entry(route: Route): Entry {
  return { id: entries++, route, keys: { current: undefined } };
}

function title(r: Route): string {
  switch (r.name) {
    case "dashboard":
      return "Deployments";
    case "detail":
      return "Deployment";
    case "logs":
      return `Logs · ${r.slug}`;
    case "events":
      return r.deployment ? `Events · ${r.deployment.slug}` : "Events";
    case "wizard":
      return "New deployment";
    case "fly":
      return "Fly orphans";
  }
}

function RouteView({ route }: { route: Route }) {
  switch (route.name) {
    case "dashboard":
      return <Dashboard />;
    case "detail":
      return <Detail id={route.id} tab={route.tab ?? "overview"} />;
    case "logs":
      return <Logs id={route.id} slug={route.slug} />;
    case "events":
      return <Events deployment={route.deployment} />;
    case "wizard":
      return <Wizard />;
    case "fly":
      return <FlyOrphans />;
  }
}

/**
 * The shell: header, connection banner, the screen stack and the help overlay. Screens below the
 * top stay mounted (hidden), so going back finds them as they were. Keys go to the top screen's
 * handler first, then to the global keys.
 */
function Shell({ initial, onQuit }: AppProps) {
  const { columns, rows } = useTerminalSize();
  const conn = useConnection();
  const api = useApi();
  const { exit } = useApp();
  const [stack, setStack] = useState<Entry[]>(() => (initial ?? [{ name: "dashboard" }]).map(entry));
  const [help, setHelp] = useState<number | undefined>(undefined);

  const nav = useMemo<Nav>(
    () => ({
      push: (r) => setStack((s) => [...s, entry(r)]),
      pop: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
      replace: (r) => setStack((s) => [...s.slice(0, -1), entry(r)]),
      home: () => setStack((s) => s.slice(0, 1)),
      quit: () => {
        onQuit?.();
        exit();
      },
    }),
    [exit, onQuit],
  );

  const top = stack[stack.length - 1] as Entry;
  const height = rows - 1 - (bannerShown(conn) ? 1 : 0);
  const helpMax = Math.max(0, helpLines(columns).length - (height - 1));

  const dispatch = (k: Keypress) => {
    if (k.ctrl && k.ch === "c") return nav.quit();
    if (help !== undefined) {
      if (k.name === "up" || k.ch === "k") setHelp(Math.max(0, help - 1));
      else if (k.name === "down" || k.ch === "j") setHelp(Math.min(helpMax, help + 1));
      else if (k.ch === "q") nav.quit();
      else setHelp(undefined);
      return;
    }
    if (top.keys.current?.(k)) return;
    if (k.ch === "q") nav.quit();
    else if (k.ch === "?") setHelp(0);
    else if (k.name === "escape") nav.pop();
    else if (k.ch === "n" && top.route.name !== "wizard") nav.push({ name: "wizard" });
    else if (k.ch === "e" && top.route.name !== "events") nav.push({ name: "events" });
  };
  const dispatchRef = useRef(dispatch);
  dispatchRef.current = dispatch;

  // One queue for every key. After each key the probe re-renders and, once React committed it
  // (and with it every update the key made), the next key goes: each key sees the state the
  // previous one produced, and keys of two chunks never interleave.
  const queue = useRef<Keypress[]>([]);
  const draining = useRef(false);
  const probe = useRef<((then: () => void) => void) | undefined>(undefined);
  const drain = () => {
    const k = queue.current.shift();
    if (!k) {
      draining.current = false;
      return;
    }
    dispatchRef.current(k);
    if (probe.current) probe.current(drain);
    else setTimeout(drain, 0);
  };
  useInput((input, key) => {
    queue.current.push(...keypresses(input, key));
    if (draining.current) return;
    draining.current = true;
    drain();
  });

  return (
    <Box flexDirection="column" width={columns} height={rows}>
      <Header url={api.url} title={help !== undefined ? "Help" : title(top.route)} width={columns} />
      <Banner width={columns} />
      {stack.map((e) => (
        <Box key={e.id} display={e === top && help === undefined ? "flex" : "none"} height={height}>
          <ScreenProvider value={{ nav, keys: e.keys, width: columns, height }}>
            <ScreenBoundary>
              <RouteView route={e.route} />
            </ScreenBoundary>
          </ScreenProvider>
        </Box>
      ))}
      {help !== undefined ? <Help width={columns} height={height} offset={help} /> : null}
      <CommitProbe probe={probe} />
    </Box>
  );
}

/**
 * Renders nothing; `probe(then)` schedules a re-render of it and calls `then` after React
 * committed that render. Updates queued before the probe's are committed by then (same lane, same
 * root), which is what the key queue waits for.
 */
function CommitProbe({ probe }: { probe: RefObject<((then: () => void) => void) | undefined> }) {
  const [n, setN] = useState(0);
  const waiting = useRef<(() => void)[]>([]);
  probe.current = (then) => {
    waiting.current.push(then);
    setN((x) => x + 1);
  };
  useLayoutEffect(() => {
    if (n === 0) return;
    for (const then of waiting.current.splice(0)) queueMicrotask(then);
  }, [n]);
  return null;
}

/** A screen that throws shows the error instead of taking the TUI down; esc goes back. */
class ScreenBoundary extends Component<{ children: ReactNode }, { error: Error | undefined }> {
  override state = { error: undefined as Error | undefined };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <Box flexDirection="column">
        <Text bold>✖ This screen failed: {this.state.error.message}</Text>
        <Text dimColor>esc goes back · q quits. This is a bug in catwalk; please report it.</Text>
      </Box>
    );
  }
}
