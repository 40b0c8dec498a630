import type { RefObject } from "react";
import type { CatwalkEvent, Deployment } from "../../api.ts";
import type { KeyHandler } from "../../screen.tsx";

/** What the deployment screen hands each tab. */
export interface TabProps {
  dep: Deployment;
  width: number;
  height: number;
  /** The tab's key handler goes here (`useSubKeys`); it sees keys before the screen. */
  keys: RefObject<KeyHandler | undefined>;
  /** This deployment's events, newest last (the screen follows them). */
  events: CatwalkEvent[];
  act: Act;
}

export interface Act {
  /** Runs an API call with a spinner; failures become the status line. */
  run<T>(label: string, fn: () => Promise<T>, done?: (r: T) => string | undefined): Promise<T | undefined>;
  /** Asks a yes/no question on the status line; `yes` runs on y. */
  ask(question: string, yes: () => void): void;
  say(text: string, error?: boolean): void;
}
