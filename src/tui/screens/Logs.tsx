import { Text } from "ink";
import { useRef, useState } from "react";
import type { LogLine } from "../api.ts";
import { type LiveItem, LiveScreen } from "../components/LiveList.tsx";
import { useApi, useStream } from "../hooks.tsx";

const MAX_LINES = 5000;

export function logItem(l: LogLine): LiveItem {
  return {
    key: String(l.id),
    time: l.time,
    mark: l.stream === "lifecycle" ? "▸" : "│",
    text: l.line,
    color: l.stream === "lifecycle" ? "cyan" : undefined,
  };
}

/**
 * A deployment's log, following the live stream (the last 500 lines first). After a reconnect the
 * server sends its backlog again; lines already shown (by id) are skipped.
 */
export function useLogLines(id: string): { lines: LogLine[]; error: Error | undefined } {
  const api = useApi();
  const [lines, setLines] = useState<LogLine[]>([]);
  const last = useRef(0);
  const error = useStream(`logs:${id}`, (signal, opened) =>
    api.stream(
      `/api/deployments/${encodeURIComponent(id)}/logs`,
      { tail: 500 },
      (e) => {
        const l = JSON.parse(e.data) as LogLine;
        if (l.id <= last.current) return;
        last.current = l.id;
        setLines((all) => (all.length >= MAX_LINES ? [...all.slice(-MAX_LINES + 1), l] : [...all, l]));
      },
      signal,
      opened,
    ),
  );
  return { lines, error };
}

export function Logs({ id, slug }: { id: string; slug: string }) {
  const { lines, error } = useLogLines(id);
  const title = (
    <>
      <Text bold>{slug}</Text>
      <Text dimColor> log · ▸ lifecycle │ stderr</Text>
    </>
  );
  return <LiveScreen title={title} items={lines.map(logItem)} error={error} />;
}
