import { createContext, type ReactNode, type RefObject, useContext, useLayoutEffect, useRef } from "react";
import type { Keypress } from "./keys.ts";

/** Where the operator is: a stack of these, the last one shown. */
export type Route =
  | { name: "dashboard" }
  | { name: "detail"; id: string; tab?: DetailTab }
  | { name: "logs"; id: string; slug: string }
  | { name: "events"; deployment?: { id: string; slug: string } }
  | { name: "wizard" }
  | { name: "fly" };

export type DetailTab = "overview" | "tokens" | "connect" | "calls" | "clients";

export interface Nav {
  push(r: Route): void;
  /** Leaves the current screen (no-op on the dashboard). */
  pop(): void;
  replace(r: Route): void;
  /** Back to the dashboard, dropping the stack. */
  home(): void;
  quit(): void;
}

/** Handles one key; returns true when it used it (then global keys do not see it). */
export type KeyHandler = (k: Keypress) => boolean | undefined;

export interface ScreenCtx {
  nav: Nav;
  keys: RefObject<KeyHandler | undefined>;
  /** Columns and rows the screen may use (below the header and banner). */
  width: number;
  height: number;
}

const ScreenContext = createContext<ScreenCtx | undefined>(undefined);

export function ScreenProvider({ value, children }: { value: ScreenCtx; children: ReactNode }) {
  return <ScreenContext value={value}>{children}</ScreenContext>;
}

function useScreenCtx(): ScreenCtx {
  const c = useContext(ScreenContext);
  if (!c) throw new Error("screen hooks need a ScreenProvider");
  return c;
}

export function useNav(): Nav {
  return useScreenCtx().nav;
}

export function useLayout(): { width: number; height: number } {
  const { width, height } = useScreenCtx();
  return { width, height };
}

/**
 * Makes `handler` the current screen's key handler. It always sees the latest render's state:
 * the shell feeds a burst of keys one per tick, after the previous key's update was rendered.
 */
export function useKeys(handler: KeyHandler): void {
  useSubKeys(useScreenCtx().keys, handler);
}

/** Installs `handler` into `slot` while mounted (a screen's tab or step hands keys down this way). */
export function useSubKeys(slot: RefObject<KeyHandler | undefined>, handler: KeyHandler): void {
  const ref = useRef(handler);
  ref.current = handler;
  useLayoutEffect(() => {
    const h: KeyHandler = (k) => ref.current(k);
    slot.current = h;
    return () => {
      if (slot.current === h) slot.current = undefined;
    };
  }, [slot]);
}
