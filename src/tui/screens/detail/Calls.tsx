import { Box, Text } from "ink";
import { useState } from "react";
import type { CatwalkEvent } from "../../api.ts";
import { Footer } from "../../components/Footer.tsx";
import { type Column, Table } from "../../components/Table.tsx";
import { clock, ms, plural } from "../../format.ts";
import { useApi, useResource } from "../../hooks.tsx";
import { is } from "../../keys.ts";
import { useSubKeys } from "../../screen.tsx";
import type { TabProps } from "./tab.ts";

const str = (v: unknown) => (typeof v === "string" ? v : "");

/** The MCP client a call came from (`clientInfo` of its session): name and version. */
export function clientName(v: unknown): string {
  if (typeof v === "string") return v;
  if (!v || typeof v !== "object") return "";
  const c = v as { name?: unknown; version?: unknown };
  return [str(c.name), str(c.version)].filter(Boolean).join(" ");
}

export function callOutcome(e: CatwalkEvent): string {
  const code = e.data.errorCode;
  return e.data.ok ? "✔ ok" : `✖ ${typeof code === "number" || typeof code === "string" ? code : "error"}`;
}

export const CALL_COLUMNS: Column<CatwalkEvent>[] = [
  { header: "TIME", width: 8, priority: 4, get: (e) => clock(e.time) },
  {
    header: "CALL",
    min: 14,
    get: (e) => `${str(e.data.method)}${e.data.name ? ` ${str(e.data.name)}` : ""}`,
  },
  { header: "LATENCY", width: 9, align: "right", priority: 5, get: (e) => ms(Number(e.data.durationMs)) },
  {
    header: "OUTCOME",
    width: 12,
    priority: 6,
    get: callOutcome,
    color: (e) => (e.data.ok ? "green" : "red"),
  },
  { header: "CLIENT", width: 14, priority: 1, get: (e) => clientName(e.data.client) || "-" },
];

/** Recent MCP requests (newest first) with latency and outcome, and the counters since start. */
export function Calls({ dep, width, height, keys, events }: TabProps) {
  const api = useApi();
  const calls = events.filter((e) => e.type === "mcp.call").reverse();
  const stats = useResource(() => api.stats(dep.id), [dep.id, calls.length], 5000);
  const [selected, setSelected] = useState(0);
  const index = Math.max(0, Math.min(selected, calls.length - 1));
  useSubKeys(keys, (k) => {
    if (is.up(k)) setSelected(Math.max(0, index - 1));
    else if (is.down(k)) setSelected(Math.min(calls.length - 1, index + 1));
    else return false;
    return true;
  });
  const s = stats.data;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate" dimColor>
        {s
          ? `since start: ${plural(s.calls, "call")} · ${plural(s.errors, "error")} · ${s.callsPerMinute}/min · p50 ${ms(s.p50Ms)} · p99 ${ms(s.p99Ms)}${s.rateLimited ? ` · ${s.rateLimited} rate-limited` : ""}`
          : " "}
      </Text>
      <Table
        columns={CALL_COLUMNS}
        rows={calls}
        selected={index}
        width={width}
        height={height - 2}
        rowKey={(e) => e.id}
        empty="No calls yet."
      />
      <Footer hints={[["↑↓", "scroll"]]} width={width} />
    </Box>
  );
}
