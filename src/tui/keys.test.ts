import { describe, expect, test } from "bun:test";
import type { Key } from "ink";
import { editLine, keypresses, line } from "./keys.ts";

const none: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

describe("keypresses", () => {
  test("a burst of characters becomes one key press per character", () => {
    expect(keypresses("jj", none).map((k) => k.ch)).toEqual(["j", "j"]);
  });

  test("enter, tab and backspace inside a burst are named keys, in order", () => {
    expect(keypresses("ab\r\tc\x7f", none).map((k) => k.name ?? k.ch)).toEqual([
      "a",
      "b",
      "return",
      "tab",
      "c",
      "backspace",
    ]);
  });

  test("named keys from Ink keep their name; ctrl combinations keep the letter", () => {
    expect(keypresses("", { ...none, upArrow: true })).toEqual([
      { ch: "", name: "up", ctrl: false, shift: false },
    ]);
    expect(keypresses("", { ...none, tab: true, shift: true })[0]).toMatchObject({
      name: "tab",
      shift: true,
    });
    expect(keypresses("r", { ...none, ctrl: true })).toEqual([{ ch: "r", ctrl: true, shift: false }]);
    expect(keypresses("G", none)[0]).toMatchObject({ ch: "G", shift: true });
  });
});

describe("editLine", () => {
  test("every printable character is text, inserted at the cursor", () => {
    let s = line("ac");
    s = { ...s, cursor: 1 };
    s = editLine(s, { ch: "b", ctrl: false, shift: false }) ?? s;
    expect(s).toEqual({ value: "abc", cursor: 2 });
    for (const ch of ["q", "?", "/", "n", " "])
      expect(editLine(s, { ch, ctrl: false, shift: false })).toBeDefined();
  });

  test("backspace, arrows, home/end and ctrl-u/a/e/w edit; enter and escape are left to the caller", () => {
    const s = line("hello world");
    const k = (name: "backspace" | "left" | "home" | "return" | "escape") => ({
      ch: "",
      name,
      ctrl: false,
      shift: false,
    });
    const c = (ch: string) => ({ ch, ctrl: true, shift: false });
    expect(editLine(s, k("backspace"))).toEqual({ value: "hello worl", cursor: 10 });
    expect(editLine(s, k("left"))?.cursor).toBe(10);
    expect(editLine(s, k("home"))?.cursor).toBe(0);
    expect(editLine(s, c("u"))).toEqual({ value: "", cursor: 0 });
    expect(editLine(s, c("a"))?.cursor).toBe(0);
    expect(editLine(s, c("w"))).toEqual({ value: "hello ", cursor: 6 });
    expect(editLine(s, k("return"))).toBeUndefined();
    expect(editLine(s, k("escape"))).toBeUndefined();
  });
});
