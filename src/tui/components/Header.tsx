import { Box, Text } from "ink";
import { type Connection, useConnection } from "../connection.tsx";
import { padEnd, width as textWidth, truncate } from "../format.ts";
import { useTick } from "../hooks.tsx";
import { useColor } from "../theme.tsx";

function connLabel(c: Connection): [string, string] {
  if (c.status === "up") return ["● connected", "green"];
  if (c.status === "down") return ["✖ unreachable", "red"];
  if (c.status === "unauthorized") return ["✖ token refused", "red"];
  return ["… connecting", "yellow"];
}

/** Top line: product, server URL, connection state and the screen's title. */
export function Header({ url, title, width }: { url: string; title: string; width: number }) {
  const conn = useConnection();
  const color = useColor();
  const [label, tone] = connLabel(conn);
  const right = `${title}  ${label}`;
  const urlWidth = Math.max(0, width - textWidth(right) - 9 - 1);
  return (
    <Box width={width} height={1}>
      <Text wrap="truncate">
        <Text bold color={color("magenta")}>
          catwalk
        </Text>
        <Text>{`  ${padEnd(truncate(url, urlWidth), urlWidth)} `}</Text>
        <Text bold>{title}</Text>
        <Text>{"  "}</Text>
        <Text color={color(tone)}>{label}</Text>
      </Text>
    </Box>
  );
}

/** Shown while the server is unreachable or refuses the token; counts down to the next retry. */
export function Banner({ width }: { width: number }) {
  const conn = useConnection();
  const color = useColor();
  useTick(1000, conn.status === "down");
  if (conn.status === "down") {
    const secs = Math.max(0, Math.ceil(((conn.retryAt ?? Date.now()) - Date.now()) / 1000));
    const text = `⚠ server unreachable — retrying in ${secs}s (the TUI keeps working; data may be stale)`;
    return (
      <Box width={width} height={1}>
        <Text color={color("red")} bold wrap="truncate">
          {truncate(text, width)}
        </Text>
      </Box>
    );
  }
  if (conn.status === "unauthorized") {
    return (
      <Box width={width} height={1}>
        <Text color={color("red")} bold wrap="truncate">
          {truncate(`⚠ ${conn.message ?? "the server refused the token"} — pass --token`, width)}
        </Text>
      </Box>
    );
  }
  return null;
}

export function bannerShown(c: Connection): boolean {
  return c.status === "down" || c.status === "unauthorized";
}
