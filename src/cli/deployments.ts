import { readSse } from "../client/sse.ts";
import type { DeploymentInfo } from "../deployment/deployment.ts";
import { CatwalkError } from "../util/error.ts";
import { CLIENT_OPTIONS, type Command, type Context, JSON_OPTION, sessionModeFlag } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { ago, printJson, printTable } from "./output.ts";

type Created = DeploymentInfo & { token: string };

/** `KEY=VALUE`, or `KEY` alone to take the value from this shell's environment (keeps it out of history). */
export function parseEnvFlags(ctx: Context, values: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf("=");
    const key = eq === -1 ? item : item.slice(0, eq);
    const value = eq === -1 ? ctx.env[key] : item.slice(eq + 1);
    if (!key)
      throw new UsageError(`--env ${JSON.stringify(item)} has no variable name.`, {
        hint: "Write --env KEY=VALUE.",
      });
    if (value === undefined) {
      throw new UsageError(`--env ${key} has no value and ${key} is not set in this shell.`, {
        hint: `Write --env ${key}=VALUE, or export ${key} first.`,
      });
    }
    env[key] = value;
  }
  return env;
}

export function parseHeaders(values: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const item of values) {
    const colon = item.indexOf(":");
    if (colon <= 0)
      throw new UsageError(`--header ${JSON.stringify(item.slice(0, 40))} is not "Name: value".`, {
        hint: 'Write --header "Authorization: Bearer …".',
      });
    headers[item.slice(0, colon).trim()] = item.slice(colon + 1).trim();
  }
  return headers;
}

const SETTLED = new Set(["running", "failed", "stopped"]);

interface AnalysisView {
  id: string;
  status: "pending" | "running" | "succeeded" | "failed";
  error: { code: string; message: string; hint?: string } | null;
  warnings: string[];
}

class AnalysisFailedError extends CatwalkError {
  readonly code = "analysis.failed";
  readonly status = 502;
}

/** Runs an analysis with its steps on stderr; returns the analysis id once it succeeded. */
async function analyse(ctx: Context, source: string): Promise<string> {
  const client = ctx.client();
  const started = await client.post<AnalysisView>("/api/analyses", { source });
  if (started.status === "pending" || started.status === "running") {
    const res = await client.raw("GET", `/api/analyses/${started.id}/events`, {
      headers: { accept: "text/event-stream" },
    });
    if (res.ok && res.body) {
      await readSse(res.body, (e) => {
        if (e.event !== "step" || ctx.bool("json")) return;
        const step = JSON.parse(e.data) as { step: string; status: string; message: string };
        ctx.io.err(`analysis: ${step.step} ${step.status}${step.message ? ` — ${step.message}` : ""}`);
      });
    }
  }
  const done = await client.get<AnalysisView>(`/api/analyses/${started.id}`);
  if (!ctx.bool("json")) for (const w of done.warnings) ctx.io.err(`analysis warning: ${w}`);
  if (done.status !== "succeeded") {
    throw new AnalysisFailedError(`Analysis of ${source} failed: ${done.error?.message ?? done.status}.`, {
      hint: done.error?.hint ?? `See \`catwalk analyze ${source}\` for details.`,
    });
  }
  return done.id;
}

/** Polls until the deployment runs or fails; returns the last state seen. */
async function waitSettled(ctx: Context, id: string, timeoutSec: number): Promise<DeploymentInfo> {
  const client = ctx.client();
  const deadline = Date.now() + timeoutSec * 1000;
  let last = "";
  for (;;) {
    const info = await client.get<DeploymentInfo>(`/api/deployments/${encodeURIComponent(id)}`);
    if (info.state !== last && !ctx.bool("json"))
      ctx.io.err(
        `${info.slug}: ${info.state}${info.stateReason ? ` (${info.stateReason.split("\n")[0]})` : ""}`,
      );
    last = info.state;
    if (SETTLED.has(info.state) || Date.now() > deadline) return info;
    await Bun.sleep(250);
  }
}

export const deploy: Command = {
  name: "deploy",
  summary: "Deploy an MCP server and print its endpoint and token",
  usage:
    'catwalk deploy <source> [--name N] [--env KEY=VALUE]... [--arg ARG]... [--session-mode isolated|shared] [--runtime local|fly] [--header "Name: value"]... [--analyze] [--json] [--no-wait]',
  description: [
    "<source> is npm:<package>[@version], pypi:<package>[==version], registry:<name> (official MCP registry, see `catwalk search`), a GitHub repository URL (analysed first), or a remote http(s):// MCP endpoint.",
    "The token is printed once; only its hash is stored. --env KEY without =VALUE takes the value from your shell.",
    "Waits until the deployment runs (or fails) unless --no-wait; exits 7 when it fails.",
  ].join("\n"),
  options: {
    name: {
      type: "string",
      value: "N",
      description: "Slug of the deployment (default: from the package name)",
    },
    env: {
      type: "string",
      multiple: true,
      value: "KEY=VALUE",
      description: "Environment value for the server (stored encrypted)",
    },
    arg: { type: "string", multiple: true, value: "ARG", description: "Extra argument passed to the server" },
    header: {
      type: "string",
      multiple: true,
      value: '"Name: value"',
      description: "Header sent to a remote upstream (stored encrypted)",
    },
    "session-mode": {
      type: "string",
      value: "MODE",
      description: "isolated (a server per client session, default) or shared",
    },
    runtime: {
      type: "string",
      value: "RUNTIME",
      description: "local or fly (default: the server's configured runtime)",
    },
    analyze: {
      type: "boolean",
      description: "Analyse an npm/PyPI source first (credentials checked against its schema)",
    },
    "no-wait": { type: "boolean", description: "Return at once instead of waiting until it runs" },
    timeout: { type: "string", value: "SEC", description: "How long to wait for it to run (default 300)" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    const mode = sessionModeFlag(ctx);
    const runtime = ctx.str("runtime");
    if (runtime !== undefined && runtime !== "local" && runtime !== "fly") {
      throw new UsageError(`--runtime must be local or fly, not ${JSON.stringify(runtime)}.`);
    }
    const timeout = Number(ctx.str("timeout") ?? "300");
    if (!Number.isFinite(timeout) || timeout <= 0)
      throw new UsageError("--timeout must be a positive number of seconds.");
    const source = ctx.args.positionals[0] as string;
    const analysed = /^https?:\/\/(www\.)?github\.com\//i.test(source) || ctx.bool("analyze");
    const analysis = analysed ? await analyse(ctx, source) : undefined;
    const body = {
      ...(analysis ? { analysis } : { source }),
      name: ctx.str("name"),
      env: parseEnvFlags(ctx, ctx.list("env")),
      args: ctx.list("arg"),
      headers: parseHeaders(ctx.list("header")),
      sessionMode: mode,
      runtime,
    };
    const created = await ctx.client().post<Created>("/api/deployments", body);
    const info = ctx.bool("no-wait") ? created : await waitSettled(ctx, created.id, timeout);
    const failed = info.state !== "running" && !ctx.bool("no-wait");
    if (ctx.bool("json")) {
      printJson(ctx.io, {
        id: created.id,
        slug: created.slug,
        url: created.url,
        token: created.token,
        state: info.state,
      });
      return failed ? EXIT.failed : EXIT.ok;
    }
    ctx.io.out(`deployed ${created.slug} (${created.id})`);
    ctx.io.out(`  endpoint  ${created.url}`);
    ctx.io.out(`  token     ${created.token}`);
    ctx.io.out(`  state     ${info.state}${info.stateReason ? `: ${info.stateReason}` : ""}`);
    ctx.io.out("The token is shown only now; keep it. Send it as Authorization: Bearer <token>.");
    return failed ? EXIT.failed : EXIT.ok;
  },
};

export const ls: Command = {
  name: "ls",
  summary: "List deployments",
  usage: "catwalk ls [--json]",
  options: { ...JSON_OPTION, ...CLIENT_OPTIONS },
  async run(ctx) {
    const { deployments } = await ctx.client().get<{ deployments: DeploymentInfo[] }>("/api/deployments");
    if (ctx.bool("json")) {
      printJson(ctx.io, deployments);
      return EXIT.ok;
    }
    printTable(
      ctx.io,
      deployments,
      [
        { header: "slug", get: (d) => d.slug },
        { header: "state", get: (d) => d.state },
        { header: "runtime", get: (d) => d.runtime },
        { header: "sessions", get: (d) => String(d.sessions) },
        { header: "source", get: (d) => d.source },
        { header: "updated", get: (d) => ago(d.updatedAt) },
        { header: "url", get: (d) => d.url },
      ],
      "No deployments yet. Create one with `catwalk deploy npm:<package>`.",
    );
    return EXIT.ok;
  },
};

export const rm: Command = {
  name: "rm",
  summary: "Remove a deployment with its credentials, tokens and runtime resources",
  usage: "catwalk rm <slug> [--yes] [--json]",
  description:
    "At a terminal it asks you to type the slug first (credentials cannot be recovered without a backup); --yes skips that. Scripts are never asked.",
  options: {
    yes: { type: "boolean", short: "y", description: "Do not ask for confirmation" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    const slug = ctx.args.positionals[0] as string;
    if (ctx.io.ask && !ctx.bool("yes")) {
      const typed = await ctx.io.ask(
        `Remove ${slug} with its credentials, tokens and runtime resources? Type its slug to confirm: `,
      );
      if (typed.trim() !== slug) {
        ctx.io.err(`not removed: ${typed.trim() ? `"${typed.trim()}" is not ${slug}` : "nothing typed"}`);
        return EXIT.usage;
      }
    }
    const info = await ctx.client().delete<DeploymentInfo>(`/api/deployments/${encodeURIComponent(slug)}`);
    if (ctx.bool("json")) printJson(ctx.io, { id: info.id, slug: info.slug, removed: true });
    else ctx.io.out(`removed ${info.slug} (${info.id})`);
    return EXIT.ok;
  },
};
