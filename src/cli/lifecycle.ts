import type { DeploymentInfo } from "../deployment/deployment.ts";
import type { DeploymentStats } from "../stats/stats.ts";
import { CLIENT_OPTIONS, type Command, type Context, JSON_OPTION, sessionModeFlag } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { ago, printJson } from "./output.ts";

export function deploymentPath(ctx: Context, suffix = ""): string {
  return `/api/deployments/${encodeURIComponent(ctx.args.positionals[0] as string)}${suffix}`;
}

export function describe(ctx: Context, d: DeploymentInfo, stats?: DeploymentStats): void {
  const settled = d.desiredState === "running" ? d.state === "running" : d.state === "stopped";
  const lines: [string, string][] = [
    ["slug", `${d.slug} (${d.id})`],
    ["state", settled ? d.state : `${d.state} (desired ${d.desiredState})`],
    ...(d.stateReason
      ? ([["reason", d.stateReason.split("\n").join("\n              ")]] as [string, string][])
      : []),
    ["endpoint", d.url],
    ["source", d.source],
    ...(d.upstream.kind !== "command" && d.upstream.args?.length
      ? ([
          ["arguments", d.upstream.args.map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(" ")],
        ] as [string, string][])
      : []),
    ["runtime", `${d.runtime}, ${d.sessionMode} sessions`],
    ["env", d.env.length ? d.env.map((e) => `${e.name}${e.secret ? " (secret)" : ""}`).join(", ") : "(none)"],
    ...(d.upstream.kind === "remote"
      ? ([["headers", d.headers.length ? d.headers.join(", ") : "(none)"]] as [string, string][])
      : []),
    ["sessions", String(d.sessions)],
    ...(d.restarts ? ([["restarts", `${d.restarts} since it last started`]] as [string, string][]) : []),
    [
      "activity",
      `${d.activity.calls} calls, ${d.activity.errors} errors, ${d.activity.callsPerMinute}/min, last ${ago(d.activity.lastActivity)}`,
    ],
    ["created", `${d.createdAt} (${ago(d.createdAt)})`],
  ];
  if (stats)
    lines.push([
      "latency",
      `p50 ${stats.p50Ms?.toFixed(2) ?? "-"} ms, p99 ${stats.p99Ms?.toFixed(2) ?? "-"} ms`,
    ]);
  for (const [k, v] of lines) ctx.io.out(`${k.padEnd(12)}  ${v}`);
}

export const show: Command = {
  name: "show",
  summary: "Show a deployment: state, endpoint, source, credentials (names only), activity",
  usage: "catwalk show <slug> [--json]",
  options: { ...JSON_OPTION, ...CLIENT_OPTIONS },
  positionals: [1, 1],
  async run(ctx) {
    const client = ctx.client();
    const [d, stats] = await Promise.all([
      client.get<DeploymentInfo>(deploymentPath(ctx)),
      client.get<DeploymentStats>(deploymentPath(ctx, "/stats")),
    ]);
    if (ctx.bool("json")) printJson(ctx.io, { ...d, stats });
    else describe(ctx, d, stats);
    return EXIT.ok;
  },
};

function action(name: "start" | "stop" | "restart", summary: string): Command {
  return {
    name,
    summary,
    usage: `catwalk ${name} <slug> [--json]`,
    options: { ...JSON_OPTION, ...CLIENT_OPTIONS },
    positionals: [1, 1],
    async run(ctx) {
      const d = await ctx.client().post<DeploymentInfo>(deploymentPath(ctx, `/${name}`));
      if (ctx.bool("json")) printJson(ctx.io, d);
      else ctx.io.out(`${d.slug}: ${d.state} (desired ${d.desiredState})`);
      return EXIT.ok;
    },
  };
}

export const start = action("start", "Start a stopped deployment (desired state running)");
export const stop = action("stop", "Stop a deployment and end its sessions (desired state stopped)");
export const restart = action(
  "restart",
  "Restart a deployment's servers, a Fly deployment's Machine too (ends its sessions)",
);

export const update: Command = {
  name: "update",
  summary: "Change a deployment's package version, arguments or session mode (restarts it)",
  usage:
    "catwalk update <slug> [--version V] [--arg ARG]... [--no-args] [--session-mode isolated|shared] [--json]",
  options: {
    version: {
      type: "string",
      value: "V",
      description: "New package version, range or tag (npm/pypi deployments)",
    },
    arg: {
      type: "string",
      multiple: true,
      value: "ARG",
      description: "Replace the server's extra arguments",
    },
    "no-args": { type: "boolean", description: "Remove all extra arguments" },
    "session-mode": { type: "string", value: "MODE", description: "isolated or shared" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    const mode = sessionModeFlag(ctx);
    const args = ctx.bool("no-args") ? [] : ctx.list("arg").length ? ctx.list("arg") : undefined;
    const body = { version: ctx.str("version"), args, sessionMode: mode };
    if (body.version === undefined && args === undefined && mode === undefined) {
      throw new UsageError("Nothing to update.", {
        hint: "Give --version, --arg/--no-args or --session-mode.",
      });
    }
    const d = await ctx.client().patch<DeploymentInfo>(deploymentPath(ctx), body);
    if (ctx.bool("json")) printJson(ctx.io, d);
    else ctx.io.out(`${d.slug}: ${d.source}, ${d.sessionMode} sessions, ${d.state}`);
    return EXIT.ok;
  },
};
