import { readSse } from "../client/sse.ts";
import type { CatwalkEvent } from "../events/bus.ts";
import type { LogLine } from "../logs/logs.ts";
import { CLIENT_OPTIONS, type Command, type Context, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { deploymentPath } from "./lifecycle.ts";
import { printJson } from "./output.ts";

function formatLine(l: LogLine): string {
  return `${l.time.slice(11, 23)} ${l.stream === "lifecycle" ? "|" : " "} ${l.line}`;
}

/** Streams SSE until Ctrl-C (or the server closes); each event's data is JSON. */
async function follow<T>(
  ctx: Context,
  path: string,
  query: Record<string, string | number | undefined>,
  print: (v: T) => void,
): Promise<number> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  try {
    const res = await ctx.client().raw("GET", path, {
      query: { ...query, follow: "true" },
      signal: abort.signal,
      headers: { accept: "text/event-stream" },
    });
    if (!res.ok || !res.body) {
      await ctx.client().parse(res);
      return EXIT.failure;
    }
    await readSse(res.body, (e) => print(JSON.parse(e.data) as T), abort.signal);
  } catch (e) {
    if (!abort.signal.aborted) throw e;
  } finally {
    process.off("SIGINT", stop);
  }
  return EXIT.ok;
}

export const logs: Command = {
  name: "logs",
  summary: "Show a deployment's log (server stderr and lifecycle lines); -f follows",
  usage: "catwalk logs <slug> [-f] [--tail N] [--since 10m|ISO] [--json]",
  description:
    "Lifecycle lines are marked with |. Secret values the server prints are redacted before they are stored.",
  options: {
    follow: { type: "boolean", short: "f", description: "Keep printing new lines until Ctrl-C" },
    tail: { type: "string", value: "N", description: "How many recent lines (default 200, max 10000)" },
    since: {
      type: "string",
      value: "WHEN",
      description: "Only lines since a time (ISO) or a duration (30s, 10m, 2h, 1d)",
    },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    const tail = ctx.str("tail");
    if (tail !== undefined && !/^\d+$/.test(tail)) throw new UsageError("--tail must be a number of lines.");
    const query = { tail, since: ctx.str("since") };
    const print = (l: LogLine) => ctx.io.out(ctx.bool("json") ? JSON.stringify(l) : formatLine(l));
    if (ctx.bool("follow")) return follow<LogLine>(ctx, deploymentPath(ctx, "/logs"), query, print);
    const { lines } = await ctx.client().get<{ lines: LogLine[] }>(deploymentPath(ctx, "/logs"), { query });
    if (ctx.bool("json")) printJson(ctx.io, lines);
    else for (const l of lines) print(l);
    return EXIT.ok;
  },
};

function formatEvent(e: CatwalkEvent): string {
  const data = Object.entries(e.data)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${e.time.slice(0, 19).replace("T", " ")}  ${e.type.padEnd(20)} ${e.deploymentId ?? "-"}  ${data}`;
}

export const events: Command = {
  name: "events",
  summary: "Show recent events (lifecycle, tokens, credentials, sessions, calls); -f follows",
  usage: "catwalk events [-f] [--deployment SLUG] [--types a,b] [--limit N] [--json]",
  options: {
    follow: { type: "boolean", short: "f", description: "Keep printing new events until Ctrl-C" },
    deployment: { type: "string", value: "SLUG", description: "Only this deployment's events" },
    types: {
      type: "string",
      value: "TYPES",
      description: "Comma-separated types, e.g. deployment.state,token.revoked",
    },
    limit: { type: "string", value: "N", description: "How many recent events (default 50)" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  async run(ctx) {
    const slug = ctx.str("deployment");
    const deployment = slug
      ? (await ctx.client().get<{ id: string }>(`/api/deployments/${encodeURIComponent(slug)}`)).id
      : undefined;
    const query = { deployment, types: ctx.str("types"), limit: ctx.str("limit") ?? "50" };
    const print = (e: CatwalkEvent) => ctx.io.out(ctx.bool("json") ? JSON.stringify(e) : formatEvent(e));
    if (ctx.bool("follow")) return follow<CatwalkEvent>(ctx, "/api/events", query, print);
    const res = await ctx.client().get<{ events: CatwalkEvent[] }>("/api/events", { query });
    if (ctx.bool("json")) printJson(ctx.io, res.events);
    else for (const e of res.events) print(e);
    return EXIT.ok;
  },
};
