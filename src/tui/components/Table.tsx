import { Box, Text } from "ink";
import { useRef } from "react";
import { padEnd, padStart, truncate } from "../format.ts";
import { useColor, useTheme } from "../theme.tsx";

export interface Column<T> {
  header: string;
  /** Fixed width; the column without one takes the remaining space. */
  width?: number;
  /** Minimum width of the flexible column. */
  min?: number;
  align?: "left" | "right";
  /** Columns with the lowest priority are dropped first when the table is too narrow. */
  priority?: number;
  get(row: T): string;
  color?(row: T): string | undefined;
}

const GAP = 2;
const MARK = 2;

/** Which columns fit in `width`, and the width of each (the flexible one gets the rest). */
export function fitColumns<T>(columns: Column<T>[], width: number): { col: Column<T>; width: number }[] {
  let cols = [...columns];
  const need = (cs: Column<T>[]) =>
    cs.reduce((sum, c) => sum + (c.width ?? c.min ?? 10), 0) + GAP * (cs.length - 1) + MARK;
  while (need(cols) > width && cols.length > 1) {
    const droppable = cols.filter((c) => c.width !== undefined);
    if (!droppable.length) break;
    const lowest = droppable.reduce((a, b) => ((b.priority ?? 1) < (a.priority ?? 1) ? b : a));
    cols = cols.filter((c) => c !== lowest);
  }
  const fixed = cols.reduce((sum, c) => sum + (c.width ?? 0), 0) + GAP * (cols.length - 1) + MARK;
  const flex = Math.max(4, width - fixed);
  return cols.map((col) => ({ col, width: col.width ?? flex }));
}

/**
 * A table that fits its width (cells truncated, low-priority columns dropped) and its height
 * (scrolled to keep the selected row visible). The selected row is marked with `›`.
 */
export function Table<T>({
  columns,
  rows,
  selected,
  width,
  height,
  rowKey,
  empty,
}: {
  columns: Column<T>[];
  rows: T[];
  selected: number;
  width: number;
  height: number;
  rowKey(row: T): string;
  empty?: string;
}) {
  const color = useColor();
  const theme = useTheme();
  const offset = useRef(0);
  const fitted = fitColumns(columns, width);
  const visible = Math.max(1, height - 1);
  if (selected < offset.current) offset.current = selected;
  if (selected >= offset.current + visible) offset.current = selected - visible + 1;
  offset.current = Math.max(0, Math.min(offset.current, Math.max(0, rows.length - visible)));
  const cell = (c: { col: Column<T>; width: number }, text: string) =>
    c.col.align === "right" ? padStart(text, c.width) : padEnd(text, c.width);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text bold wrap="truncate">
        {" ".repeat(MARK)}
        {fitted.map((c) => cell(c, c.col.header)).join(" ".repeat(GAP))}
      </Text>
      {rows.length === 0 && empty ? <Text dimColor>{truncate(`  ${empty}`, width)}</Text> : null}
      {rows.slice(offset.current, offset.current + visible).map((row, i) => {
        const index = offset.current + i;
        const isSel = index === selected;
        return (
          <Text key={rowKey(row)} wrap="truncate" bold={isSel} inverse={isSel && theme.color}>
            {isSel ? "› " : "  "}
            {fitted.map((c, j) => (
              <Text key={c.col.header} color={color(c.col.color?.(row))}>
                {j > 0 ? " ".repeat(GAP) : ""}
                {cell(c, c.col.get(row))}
              </Text>
            ))}
          </Text>
        );
      })}
    </Box>
  );
}
