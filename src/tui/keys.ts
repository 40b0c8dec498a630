import type { Key } from "ink";

/** One key press, after bursts are split: a printable character, or a named key. */
export interface Keypress {
  /** The character typed; empty for named keys. */
  ch: string;
  name?: KeyName;
  ctrl: boolean;
  shift: boolean;
}

export type KeyName =
  | "up"
  | "down"
  | "left"
  | "right"
  | "pageup"
  | "pagedown"
  | "home"
  | "end"
  | "return"
  | "escape"
  | "tab"
  | "backspace";

const NAMED: [keyof Key, KeyName][] = [
  ["upArrow", "up"],
  ["downArrow", "down"],
  ["leftArrow", "left"],
  ["rightArrow", "right"],
  ["pageUp", "pageup"],
  ["pageDown", "pagedown"],
  ["home", "home"],
  ["end", "end"],
  ["return", "return"],
  ["escape", "escape"],
  ["tab", "tab"],
  ["backspace", "backspace"],
  ["delete", "backspace"],
];

function fromChar(c: string): Keypress {
  if (c === "\r" || c === "\n") return { ch: "", name: "return", ctrl: false, shift: false };
  if (c === "\t") return { ch: "", name: "tab", ctrl: false, shift: false };
  if (c === "\x7f" || c === "\b") return { ch: "", name: "backspace", ctrl: false, shift: false };
  return { ch: c, ctrl: false, shift: c !== c.toLowerCase() };
}

/**
 * Ink hands over keys typed quickly (or pasted) as one string, e.g. "jj" or "abc\r": those are
 * split into one key press per character, so every character is handled.
 */
export function keypresses(input: string, key: Key): Keypress[] {
  for (const [flag, name] of NAMED) {
    if (key[flag] === true) return [{ ch: "", name, ctrl: key.ctrl, shift: key.shift }];
  }
  if (key.ctrl) return [{ ch: input, ctrl: true, shift: key.shift }];
  return [...input].map(fromChar);
}

/** Shorthands that keep key handlers readable. */
export const is = {
  up: (k: Keypress) => k.name === "up" || k.ch === "k",
  down: (k: Keypress) => k.name === "down" || k.ch === "j",
  enter: (k: Keypress) => k.name === "return",
  escape: (k: Keypress) => k.name === "escape",
  ctrl: (k: Keypress, c: string) => k.ctrl && k.ch === c,
};

/** A single-line text field: its value and the cursor position in it. */
export interface LineState {
  value: string;
  cursor: number;
}

export const line = (value = ""): LineState => ({ value, cursor: value.length });

/**
 * Applies an editing key to a line; undefined when the key is not an edit (enter, escape, tab,
 * arrows up/down), so the caller handles it. Every printable character is text.
 */
export function editLine(s: LineState, k: Keypress): LineState | undefined {
  if (k.ctrl) {
    if (k.ch === "u") return line("");
    if (k.ch === "a") return { ...s, cursor: 0 };
    if (k.ch === "e") return { ...s, cursor: s.value.length };
    if (k.ch === "w") {
      const head = s.value.slice(0, s.cursor).replace(/\S+\s*$/, "");
      return { value: head + s.value.slice(s.cursor), cursor: head.length };
    }
    return undefined;
  }
  switch (k.name) {
    case "backspace":
      if (s.cursor === 0) return s;
      return { value: s.value.slice(0, s.cursor - 1) + s.value.slice(s.cursor), cursor: s.cursor - 1 };
    case "left":
      return { ...s, cursor: Math.max(0, s.cursor - 1) };
    case "right":
      return { ...s, cursor: Math.min(s.value.length, s.cursor + 1) };
    case "home":
      return { ...s, cursor: 0 };
    case "end":
      return { ...s, cursor: s.value.length };
    case undefined:
      if (k.ch === "" || k.ch < " ") return undefined;
      return { value: s.value.slice(0, s.cursor) + k.ch + s.value.slice(s.cursor), cursor: s.cursor + 1 };
    default:
      return undefined;
  }
}
