import { Box, Text } from "ink";
import { useCallback, useEffect, useRef, useState } from "react";
import type { Deployment } from "../api.ts";
import { Footer, type Hint } from "../components/Footer.tsx";
import { StatusLine } from "../components/Notice.tsx";
import { stateLabel } from "../components/StateBadge.tsx";
import { type Column, Table } from "../components/Table.tsx";
import { TextInput } from "../components/TextInput.tsx";
import { ago, plural, truncate } from "../format.ts";
import { errorText, useApi, useResource, useStream, useTick } from "../hooks.tsx";
import { editLine, is, type LineState, line } from "../keys.ts";
import { useKeys, useLayout, useNav } from "../screen.tsx";
import { stateStyle } from "../theme.tsx";

const COLUMNS: Column<Deployment>[] = [
  { header: "NAME", min: 12, get: (d) => d.slug },
  { header: "RUNTIME", width: 7, priority: 2, get: (d) => d.runtime },
  {
    header: "STATE",
    width: 13,
    priority: 10,
    get: (d) => stateLabel(d.state),
    color: (d) => stateStyle(d.state).color,
  },
  { header: "SESS", width: 4, align: "right", priority: 5, get: (d) => String(d.sessions) },
  {
    header: "CALLS/M",
    width: 7,
    align: "right",
    priority: 4,
    get: (d) => String(d.activity.callsPerMinute),
  },
  {
    header: "ERRORS",
    width: 6,
    align: "right",
    priority: 3,
    get: (d) => String(d.activity.errors),
    color: (d) => (d.activity.errors > 0 ? "red" : undefined),
  },
  { header: "LAST", width: 8, priority: 1, get: (d) => ago(d.activity.lastActivity) },
];

export function matches(d: Deployment, filter: string): boolean {
  const q = filter.trim().toLowerCase();
  if (!q) return true;
  return [d.slug, d.name, d.source, d.state, d.runtime].some((f) => f.toLowerCase().includes(q));
}

/**
 * Every deployment, refreshed from the event stream (a change shows within half a second) and
 * polled every 5 s for the per-minute figures.
 */
export function useDeployments() {
  const api = useApi();
  const res = useResource(() => api.deployments(), [], 5000);
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const { reload } = res;
  const refresh = useCallback(() => {
    if (pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = undefined;
      reload();
    }, 250);
  }, [reload]);
  useEffect(() => () => clearTimeout(pending.current), []);
  useStream("events", (signal, opened) =>
    api.stream("/api/events", { limit: 1 }, () => refresh(), signal, opened),
  );
  return res;
}

function summary(all: Deployment[]): string {
  const by = (s: string) => all.filter((d) => d.state === s).length;
  const parts = [plural(all.length, "deployment")];
  for (const s of ["running", "starting", "installing", "crashed", "failed", "stopped"]) {
    if (by(s)) parts.push(`${by(s)} ${s}`);
  }
  const sessions = all.reduce((n, d) => n + d.sessions, 0);
  const cpm = all.reduce((n, d) => n + d.activity.callsPerMinute, 0);
  parts.push(plural(sessions, "session"), `${cpm} calls/min`);
  return parts.join(" · ");
}

const HINTS: Hint[] = [
  ["↑↓", "move"],
  ["enter", "open"],
  ["n", "new"],
  ["l", "logs"],
  ["t", "tokens"],
  ["/", "filter"],
  ["e", "events"],
  ["?", "help"],
  ["q", "quit"],
];

export function Dashboard() {
  const { width, height } = useLayout();
  const nav = useNav();
  const res = useDeployments();
  useTick(10_000);
  const [selected, setSelected] = useState(0);
  const [filter, setFilter] = useState<LineState>(line());
  const [editing, setEditing] = useState(false);
  const all = res.data ?? [];
  const rows = all.filter((d) => matches(d, filter.value));
  const index = Math.max(0, Math.min(selected, rows.length - 1));
  const current = rows[index];

  useKeys((k) => {
    if (editing) {
      if (is.enter(k)) setEditing(false);
      else if (is.escape(k)) {
        setFilter(line());
        setEditing(false);
      } else if (k.name === "up") setSelected(Math.max(0, index - 1));
      else if (k.name === "down") setSelected(Math.min(rows.length - 1, index + 1));
      else {
        const next = editLine(filter, k);
        if (next) {
          setFilter(next);
          setSelected(0);
        }
      }
      return true;
    }
    if (is.up(k)) setSelected(Math.max(0, index - 1));
    else if (is.down(k)) setSelected(Math.min(rows.length - 1, index + 1));
    else if (k.name === "home" || k.ch === "g") setSelected(0);
    else if (k.name === "end" || k.ch === "G") setSelected(rows.length - 1);
    else if (k.ch === "/") setEditing(true);
    else if (is.escape(k) && filter.value) setFilter(line());
    else if (is.enter(k) && current) nav.push({ name: "detail", id: current.id });
    else if (k.ch === "t" && current) nav.push({ name: "detail", id: current.id, tab: "tokens" });
    else if (k.ch === "l" && current) nav.push({ name: "logs", id: current.id, slug: current.slug });
    else if (k.ch === "r") res.reload();
    else if (k.ch === "F") nav.push({ name: "fly" });
    else return false;
    return true;
  });

  const status = (() => {
    if (editing || filter.value) {
      return (
        <Text wrap="truncate">
          <Text bold>/ </Text>
          <TextInput state={filter} focused={editing} width={width - 30} />
          <Text dimColor>{`  ${rows.length} of ${all.length} shown`}</Text>
        </Text>
      );
    }
    if (res.error && !res.data)
      return <StatusLine message={{ text: errorText(res.error), error: true }} width={width} />;
    return <Text> </Text>;
  })();

  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text dimColor wrap="truncate">
        {res.data ? truncate(summary(all), width) : res.loading ? "loading deployments…" : " "}
      </Text>
      <Table
        columns={COLUMNS}
        rows={rows}
        selected={index}
        width={width}
        height={height - 3}
        rowKey={(d) => d.id}
        empty={
          all.length === 0
            ? res.data
              ? "No deployments yet. Press n to deploy an MCP server."
              : ""
            : "Nothing matches the filter (esc clears it)."
        }
      />
      {status}
      <Footer
        hints={
          editing
            ? [
                ["enter", "keep filter"],
                ["esc", "clear"],
                ["↑↓", "move"],
              ]
            : HINTS
        }
        width={width}
      />
    </Box>
  );
}
