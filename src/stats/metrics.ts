import type { DeploymentInfo } from "../deployment/deployment.ts";
import type { Stats } from "./stats.ts";

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Prometheus text exposition (version 0.0.4) of deployments, sessions, calls and the process. */
export function prometheus(
  deployments: readonly DeploymentInfo[],
  stats: Stats,
  extra: { droppedEvents: number; droppedLogLines: number },
): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  metric(
    "catwalk_deployment_up",
    "gauge",
    "1 when the deployment is running, 0 otherwise.",
    deployments.map((d) => [
      `{deployment="${label(d.slug)}",state="${label(d.state)}",runtime="${d.runtime}"}`,
      d.state === "running" ? 1 : 0,
    ]),
  );
  metric(
    "catwalk_sessions",
    "gauge",
    "Open MCP sessions per deployment.",
    deployments.map((d) => [`{deployment="${label(d.slug)}"}`, d.sessions]),
  );
  const slugOf = new Map(deployments.map((d) => [d.id, d.slug]));
  const totals = stats.totals().filter((t) => slugOf.has(t.deploymentId));
  metric(
    "catwalk_mcp_requests_total",
    "counter",
    "MCP requests answered, by deployment and method.",
    totals.map((t) => [
      `{deployment="${label(slugOf.get(t.deploymentId) as string)}",method="${label(t.method)}"}`,
      t.calls,
    ]),
  );
  metric(
    "catwalk_mcp_request_errors_total",
    "counter",
    "MCP requests answered with an error.",
    totals.map((t) => [
      `{deployment="${label(slugOf.get(t.deploymentId) as string)}",method="${label(t.method)}"}`,
      t.errors,
    ]),
  );
  metric(
    "catwalk_mcp_rate_limited_total",
    "counter",
    "MCP requests refused with 429 by gateway.rateLimitPerMinute.",
    stats
      .limitedTotals()
      .filter((t) => slugOf.has(t.deploymentId))
      .map((t) => [`{deployment="${label(slugOf.get(t.deploymentId) as string)}"}`, t.limited]),
  );
  const mem = process.memoryUsage();
  metric("catwalk_process_resident_memory_bytes", "gauge", "Resident set size of the catwalk process.", [
    ["", mem.rss],
  ]);
  metric("catwalk_process_heap_used_bytes", "gauge", "JavaScript heap in use.", [["", mem.heapUsed]]);
  metric(
    "catwalk_events_dropped_total",
    "counter",
    "Events not persisted (store unavailable or backlog full).",
    [["", extra.droppedEvents]],
  );
  metric("catwalk_log_lines_dropped_total", "counter", "Deployment log lines not persisted.", [
    ["", extra.droppedLogLines],
  ]);
  return `${out.join("\n")}\n`;
}
