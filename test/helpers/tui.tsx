import { render } from "ink-testing-library";
import type { ReactElement } from "react";
import { Client } from "../../src/client/client.ts";
import { TuiApi } from "../../src/tui/api.ts";
import { App, type AppProps } from "../../src/tui/app.tsx";
import type { Size } from "../../src/tui/hooks.tsx";
import { fixtureArgv } from "./upstream.ts";

/** Key names for `press`, as a terminal sends them. */
export const KEYS: Record<string, string> = {
  enter: "\r",
  esc: "\x1b",
  up: "\x1b[A",
  down: "\x1b[B",
  right: "\x1b[C",
  left: "\x1b[D",
  tab: "\t",
  "shift-tab": "\x1b[Z",
  backspace: "\x7f",
  pageup: "\x1b[5~",
  pagedown: "\x1b[6~",
  "ctrl-r": "\x12",
  "ctrl-u": "\x15",
  "ctrl-c": "\x03",
};

export interface Rendered {
  /** The last frame without ANSI codes. */
  frame(): string;
  /** Every frame rendered so far, without ANSI codes. */
  frames(): string[];
  /** The last frame as written (with colour codes when chalk emits them). */
  raw(): string;
  /** Waits until the frame contains `text` (or matches), failing with the last frame after `timeoutMs`. */
  waitFor(match: string | RegExp | ((frame: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Sends keys one by one (`"j"`, `"enter"`, `"esc"` …), as typed slowly. */
  press(...keys: string[]): Promise<void>;
  /** Sends `text` in one write, as a burst or a paste arrives. */
  type(text: string): Promise<void>;
  rerender(tree: ReactElement): void;
  unmount(): void;
}

export const SIZE: Size = { columns: 80, rows: 24 };

/** Renders a tree with ink-testing-library and the helpers the TUI tests share. */
export function renderInk(tree: ReactElement): Rendered {
  const r = render(tree);
  const frame = () => Bun.stripANSI(r.lastFrame() ?? "");
  return {
    frame,
    raw: () => r.lastFrame() ?? "",
    frames: () => r.frames.map((f) => Bun.stripANSI(f)),
    async waitFor(match, timeoutMs = 10_000) {
      const test =
        typeof match === "string"
          ? (f: string) => f.includes(match)
          : match instanceof RegExp
            ? (f: string) => match.test(f)
            : match;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const f = frame();
        if (test(f)) return f;
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${String(match)}; last frame:\n${f}`);
        await Bun.sleep(20);
      }
    },
    async press(...keys) {
      for (const k of keys) {
        r.stdin.write(KEYS[k] ?? k);
        // An escape alone is held by Ink for 20 ms in case a sequence follows.
        await Bun.sleep(k === "esc" ? 60 : 25);
      }
    },
    async type(text) {
      r.stdin.write(text);
      await Bun.sleep(30 + text.length * 2);
    },
    rerender: (tree) => r.rerender(tree),
    unmount: () => r.unmount(),
  };
}

export function apiFor(url: string, token: string): TuiApi {
  return new TuiApi(new Client({ url, token, via: "test" }));
}

/** The whole TUI at 80x24 against a server. */
export function renderApp(props: Omit<AppProps, "size"> & { size?: Size }): Rendered {
  return renderInk(<App size={SIZE} retryBaseMs={200} {...props} />);
}

/** A create body for a fixture MCP server run by this Bun (needs local.allowCommands). */
export function fixtureCommand(file: string, name: string): Record<string, unknown> {
  return { command: fixtureArgv(file), name };
}
