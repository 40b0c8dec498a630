import { Text } from "ink";
import { useRef, useState } from "react";
import type { CatwalkEvent } from "../api.ts";
import { type LiveItem, LiveScreen } from "../components/LiveList.tsx";
import { ms, padEnd } from "../format.ts";
import { useApi, useResource, useStream } from "../hooks.tsx";
import { stateStyle } from "../theme.tsx";

const MAX_EVENTS = 2000;

const str = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

/** What an event says, in one line. */
export function describe(e: CatwalkEvent): string {
  const d = e.data;
  switch (e.type) {
    case "deployment.state":
      return `${str(d.from)} → ${str(d.to)}${d.reason ? `: ${str(d.reason).split("\n")[0]}` : ""}`;
    case "deployment.created":
      return `${str(d.source)} (${str(d.runtime)}, ${str(d.sessionMode)})`;
    case "deployment.updated":
      return Array.isArray(d.fields) ? `changed ${d.fields.join(", ")}` : "";
    case "credentials.updated":
      return Array.isArray(d.names) ? d.names.join(", ") : "";
    case "session.opened":
    case "session.closed":
      return `session ${str(d.sessionId).slice(0, 12)}${d.reason ? ` (${str(d.reason)})` : ""}`;
    case "mcp.call":
      return `${str(d.method)}${d.name ? ` ${str(d.name)}` : ""}  ${ms(Number(d.durationMs))}  ${
        d.ok ? "ok" : `error ${String(d.errorCode ?? "")}`.trim()
      }`;
    default:
      if (e.type.startsWith("token.")) return `token ${str(d.name ?? d.tokenId)}`;
      return Object.entries(d)
        .filter(([, v]) => typeof v !== "object" || v === null)
        .map(([k, v]) => `${k}=${str(v)}`)
        .join(" ");
  }
}

function tone(e: CatwalkEvent): string | undefined {
  if (e.type === "deployment.state") return stateStyle(str(e.data.to)).color;
  if (e.type === "mcp.call" && !e.data.ok) return "red";
  if (e.type === "deployment.removed" || e.type.endsWith(".revoked")) return "yellow";
  return undefined;
}

export function eventItem(e: CatwalkEvent, slugOf: (id: string | null) => string): LiveItem {
  return {
    key: e.id,
    time: e.time,
    mark: e.type === "mcp.call" ? (e.data.ok ? "·" : "✖") : "▸",
    text: `${padEnd(e.type, 18)} ${padEnd(slugOf(e.deploymentId), 14)} ${describe(e)}`,
    color: tone(e),
  };
}

/** Events, newest last: the last 200, then live; after a reconnect it resumes after the last one. */
export function useEventFeed(deployment: string | undefined, limit = 200) {
  const api = useApi();
  const [events, setEvents] = useState<CatwalkEvent[]>([]);
  const last = useRef<string | undefined>(undefined);
  const error = useStream(`events:${deployment ?? "*"}`, (signal, opened) =>
    api.stream(
      "/api/events",
      { limit, deployment, after: last.current },
      (m) => {
        const e = JSON.parse(m.data) as CatwalkEvent;
        if (last.current && e.id <= last.current) return;
        last.current = e.id;
        setEvents((all) => (all.length >= MAX_EVENTS ? [...all.slice(-MAX_EVENTS + 1), e] : [...all, e]));
      },
      signal,
      opened,
    ),
  );
  return { events, error };
}

export function Events({ deployment }: { deployment?: { id: string; slug: string } | undefined }) {
  const api = useApi();
  const { events, error } = useEventFeed(deployment?.id);
  const deps = useResource(() => api.deployments(), [], 10_000);
  const slugs = new Map((deps.data ?? []).map((d) => [d.id, d.slug]));
  for (const e of events) {
    if (e.deploymentId && typeof e.data.slug === "string") slugs.set(e.deploymentId, e.data.slug);
  }
  const slugOf = (id: string | null) => (id ? (slugs.get(id) ?? id.slice(0, 12)) : "-");
  const title = (
    <>
      <Text bold>{deployment ? `Events of ${deployment.slug}` : "All events"}</Text>
      <Text dimColor> · ▸ event · call ok ✖ call failed</Text>
    </>
  );
  return <LiveScreen title={title} items={events.map((e) => eventItem(e, slugOf))} error={error} />;
}
