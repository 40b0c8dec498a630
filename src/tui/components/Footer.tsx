import { Box, Text } from "ink";
import { Fragment } from "react";
import { width as textWidth } from "../format.ts";
import { useColor } from "../theme.tsx";

export type Hint = [key: string, label: string];

/** One line of key hints; hints that do not fit are dropped from the end (`?` lists them all). */
export function Footer({ hints, width }: { hints: Hint[]; width: number }) {
  const color = useColor();
  const shown: Hint[] = [];
  let used = 0;
  for (const h of hints) {
    const w = textWidth(`${h[0]} ${h[1]}`) + (shown.length ? 3 : 0);
    if (used + w > width - 1) break;
    shown.push(h);
    used += w;
  }
  return (
    <Box height={1} width={width}>
      <Text wrap="truncate">
        {shown.map(([key, label], i) => (
          <Fragment key={key}>
            {i > 0 ? <Text dimColor> · </Text> : null}
            <Text bold color={color("cyan")}>
              {key}
            </Text>
            <Text> {label}</Text>
          </Fragment>
        ))}
      </Text>
    </Box>
  );
}
