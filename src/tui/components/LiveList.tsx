import { Box, Text } from "ink";
import { type ReactNode, useState } from "react";
import { chunk, clock, plural } from "../format.ts";
import { errorText } from "../hooks.tsx";
import { editLine, type Keypress, type LineState, line } from "../keys.ts";
import { useKeys, useLayout } from "../screen.tsx";
import { useColor } from "../theme.tsx";
import { Footer, type Hint } from "./Footer.tsx";
import { StatusLine } from "./Notice.tsx";
import { TextInput } from "./TextInput.tsx";

export interface LiveItem {
  key: string;
  time: string;
  /** One character in front of the text that tells kinds apart without colour. */
  mark: string;
  text: string;
  color?: string | undefined;
}

interface Row {
  key: string;
  text: string;
  color: string | undefined;
}

function Highlighted({ text, query, color }: { text: string; query: string; color: string | undefined }) {
  const c = useColor();
  if (!query) return <Text color={c(color)}>{text}</Text>;
  const parts: ReactNode[] = [];
  const lower = text.toLowerCase();
  let at = 0;
  let i = lower.indexOf(query);
  while (i !== -1) {
    if (i > at) parts.push(text.slice(at, i));
    parts.push(
      <Text key={i} inverse>
        {text.slice(i, i + query.length)}
      </Text>,
    );
    at = i + query.length;
    i = lower.indexOf(query, at);
  }
  parts.push(text.slice(at));
  return <Text color={c(color)}>{parts}</Text>;
}

/**
 * A live, wrapped list (logs, events) that follows new items, pauses (the view stays put while
 * items keep arriving), scrolls and searches. `LiveScreen` forwards keys to `handle`.
 */
function useLiveList(items: LiveItem[], width: number, height: number) {
  const [follow, setFollow] = useState(true);
  const [offset, setOffset] = useState(0);
  const [pausedAt, setPausedAt] = useState(0);
  const [search, setSearch] = useState<LineState>(line());
  const [editing, setEditing] = useState(false);
  const query = search.value.toLowerCase();
  const shown = query ? items.filter((it) => it.text.toLowerCase().includes(query)) : items;
  const rows: Row[] = shown.flatMap((it) =>
    `${clock(it.time)} ${it.mark} ${it.text}`
      .split(/\r?\n/)
      .flatMap((part, i) => chunk(i ? `           ${part}` : part, width))
      .map((text, j) => ({
        key: `${it.key}:${j}`,
        text,
        color: it.color,
      })),
  );
  const room = Math.max(1, height);
  const max = Math.max(0, rows.length - room);
  const top = follow ? max : Math.min(offset, max);
  const pause = (to: number) => {
    if (follow) setPausedAt(items.length);
    setFollow(false);
    setOffset(Math.max(0, Math.min(to, max)));
  };

  const handle = (k: Keypress): boolean => {
    if (editing) {
      if (k.name === "return") setEditing(false);
      else if (k.name === "escape") {
        setSearch(line());
        setEditing(false);
      } else {
        const next = editLine(search, k);
        if (next) setSearch(next);
      }
      return true;
    }
    if (k.ch === " " || k.ch === "p") {
      if (follow) pause(top);
      else setFollow(true);
    } else if (k.name === "up" || k.ch === "k") pause(top - 1);
    else if (k.name === "down" || k.ch === "j") pause(top + 1);
    else if (k.name === "pageup") pause(top - room);
    else if (k.name === "pagedown") pause(top + room);
    else if (k.name === "home" || k.ch === "g") pause(0);
    else if (k.name === "end" || k.ch === "G") setFollow(true);
    else if (k.ch === "/") setEditing(true);
    else if (k.name === "escape" && search.value) setSearch(line());
    else return false;
    return true;
  };

  const fresh = follow ? 0 : Math.max(0, items.length - pausedAt);
  const state = follow ? "● following" : `‖ paused${fresh ? ` · ${fresh} new` : ""}`;
  const count = query ? `${shown.length} of ${plural(items.length, "line")}` : plural(items.length, "line");
  const status = (
    <Text wrap="truncate">
      <Text bold>{state}</Text>
      <Text dimColor>{` · ${count}`}</Text>
      {editing || search.value ? (
        <Text>
          {"  / "}
          <TextInput state={search} focused={editing} width={Math.max(8, width - 40)} />
        </Text>
      ) : null}
    </Text>
  );

  const view = (
    <Box flexDirection="column" height={room} width={width}>
      {rows.slice(top, top + room).map((r) => (
        <Text key={r.key} wrap="truncate">
          <Highlighted text={r.text} query={query} color={r.color} />
        </Text>
      ))}
    </Box>
  );
  return { view, status, handle, editing, follow };
}

const HINTS: Hint[] = [
  ["space", "pause/follow"],
  ["/", "search"],
  ["↑↓", "scroll"],
  ["g G", "top/bottom"],
  ["esc", "back"],
  ["?", "help"],
  ["q", "quit"],
];

const SEARCH_HINTS: Hint[] = [
  ["enter", "keep search"],
  ["esc", "clear search"],
];

/** A live list as a whole screen (a log, events): title line, list, state or stream error, keys. */
export function LiveScreen({
  title,
  items,
  error,
}: {
  title: ReactNode;
  items: LiveItem[];
  error: Error | undefined;
}) {
  const { width, height } = useLayout();
  const list = useLiveList(items, width, height - 3);
  useKeys((k) => list.handle(k));
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">{title}</Text>
      {list.view}
      {error ? <StatusLine message={{ text: errorText(error), error: true }} width={width} /> : list.status}
      <Footer hints={list.editing ? SEARCH_HINTS : HINTS} width={width} />
    </Box>
  );
}
