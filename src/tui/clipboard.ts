/**
 * Copies text to the clipboard of the operator's own terminal with OSC 52: it works over SSH
 * (the escape sequence travels with the output) in terminals that allow it (iTerm2, kitty,
 * WezTerm, Windows Terminal, tmux with `set-clipboard on`); elsewhere nothing happens, and the
 * text stays on screen to select by hand.
 */
export function osc52(text: string): string {
  return `\x1b]52;c;${Buffer.from(text, "utf8").toString("base64")}\x07`;
}

export function copyToClipboard(stdout: { write(s: string): unknown }, text: string): void {
  stdout.write(osc52(text));
}
