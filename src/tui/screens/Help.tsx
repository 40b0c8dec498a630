import { Box, Text } from "ink";
import { padEnd } from "../format.ts";

/** Every key of the TUI, by where it works. The README's key table lists the same. */
export const HELP: [section: string, keys: [key: string, what: string][]][] = [
  [
    "Everywhere",
    [
      ["↑↓ j k", "move"],
      ["enter esc", "open / back, leave a field"],
      ["n", "new deployment"],
      ["e", "events"],
      ["?", "this help"],
      ["q ctrl-c", "quit"],
    ],
  ],
  [
    "Dashboard",
    [
      ["/", "filter (esc clears)"],
      ["l", "logs of the selected one"],
      ["t", "tokens of the selected one"],
      ["g G", "first / last"],
      ["r F", "refresh now / Fly orphans"],
    ],
  ],
  [
    "Deployment",
    [
      ["1-5 ← →", "switch tab (tab too)"],
      ["t", "tokens tab"],
      ["l", "logs"],
      ["e", "its events"],
      ["S X R", "start / stop / restart"],
      ["D", "delete (asks first)"],
    ],
  ],
  [
    "Deployment tabs",
    [
      ["v u", "set / unset a variable"],
      ["V A M", "version / arguments / mode"],
      ["c", "create token / connect code"],
      ["r", "rotate token (asks first)"],
      ["x", "revoke token / client"],
      ["y", "copy token or Claude Code"],
      ["Y", "copy Claude Desktop entry"],
    ],
  ],
  [
    "Logs and events",
    [
      ["space p", "pause / follow"],
      ["/", "search (esc clears)"],
      ["g G", "top / bottom (follows)"],
      ["pgup pgdn", "page up / down"],
    ],
  ],
  [
    "New deployment",
    [
      ["enter", "next / edit the field"],
      ["a", "accept the manifest"],
      ["tab ↑ ↓", "next / previous field"],
      ["← →", "choose an option"],
      ["ctrl-r", "reveal the secret typed"],
      ["d", "deploy without analysis"],
    ],
  ],
];

/** Lines of the help text, laid out in two columns when the terminal is wide enough. */
export function helpLines(width: number): string[] {
  const blocks = HELP.map(([title, keys]) => [
    title.toUpperCase(),
    ...keys.map(([k, w]) => `  ${padEnd(k, 9)} ${w}`),
  ]);
  const flat = (bs: string[][]) => bs.flatMap((b, i) => (i ? ["", ...b] : b));
  if (width < 80) return flat(blocks);
  const col = Math.floor((width - 2) / 2);
  const left = flat(blocks.slice(0, 3));
  const right = flat(blocks.slice(3));
  return Array.from({ length: Math.max(left.length, right.length) }, (_, i) =>
    `${padEnd(left[i] ?? "", col)}  ${right[i] ?? ""}`.trimEnd(),
  );
}

export function Help({ width, height, offset }: { width: number; height: number; offset: number }) {
  const lines = helpLines(width);
  const room = height - 1;
  const start = Math.max(0, Math.min(offset, lines.length - room));
  return (
    <Box flexDirection="column" width={width} height={height}>
      {lines.slice(start, start + room).map((l, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: static lines, positions are identities.
        <Text key={i} wrap="truncate">
          {l || " "}
        </Text>
      ))}
      <Text dimColor wrap="truncate">
        {lines.length > room ? "↑↓ scroll · " : ""}esc or ? closes the help · q quits
      </Text>
    </Box>
  );
}
