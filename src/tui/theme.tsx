import { createContext, type ReactNode, useContext } from "react";

/**
 * Colour is decoration only: every state has a symbol and a name, so the UI reads the same under
 * `NO_COLOR` (colours are then never emitted) and on monochrome terminals.
 */
export interface Theme {
  color: boolean;
}

const ThemeContext = createContext<Theme>({ color: true });

export function ThemeProvider({ value, children }: { value: Theme; children: ReactNode }) {
  return <ThemeContext value={value}>{children}</ThemeContext>;
}

export function useTheme(): Theme {
  return useContext(ThemeContext);
}

/** Returns the colour to use, or undefined when colour is off. */
export function useColor(): (c: string | undefined) => string | undefined {
  const { color } = useContext(ThemeContext);
  return (c) => (color ? c : undefined);
}

export interface StateStyle {
  symbol: string;
  color: string | undefined;
}

export const STATE_STYLES: Record<string, StateStyle> = {
  running: { symbol: "●", color: "green" },
  starting: { symbol: "◌", color: "yellow" },
  installing: { symbol: "↓", color: "cyan" },
  pending: { symbol: "…", color: "gray" },
  stopped: { symbol: "■", color: "gray" },
  crashed: { symbol: "!", color: "red" },
  failed: { symbol: "✖", color: "red" },
};

export function stateStyle(state: string): StateStyle {
  return STATE_STYLES[state] ?? { symbol: "?", color: undefined };
}

/** Colour for a confidence between 0 and 1. */
export function confidenceColor(c: number): string {
  if (c >= 0.8) return "green";
  if (c >= 0.5) return "yellow";
  return "red";
}
