import type { DeploymentInfo } from "../deployment/deployment.ts";
import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { parseEnvFlags, parseHeaders } from "./deployments.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson, printTable } from "./output.ts";

export const env: Command = {
  name: "env",
  summary: "Set, unset or list a deployment's credentials (values are write-only)",
  usage:
    'catwalk env set <slug> KEY=VALUE... [--unset KEY]... [--header "Name: value"]... [--unset-header NAME]... | catwalk env ls <slug> [--json]',
  description:
    "Values are stored encrypted and never shown again. `KEY` without =VALUE takes the value from your shell, which keeps it out of shell history. A remote deployment's credentials are the headers it sends upstream (--header, --unset-header). A running deployment restarts to pick the change up.",
  subcommands: [
    {
      usage: 'set <slug> KEY=VALUE... [--unset KEY]... [--header "Name: value"]... [--unset-header NAME]...',
      summary: "Change credentials (restarts the deployment)",
    },
    { usage: "ls <slug>", summary: "List credential and header names (never values)" },
  ],
  options: {
    unset: { type: "string", multiple: true, value: "KEY", description: "Remove a credential" },
    header: {
      type: "string",
      multiple: true,
      value: "NAME: VALUE",
      description: "Set a header a remote deployment sends upstream (replaces any spelling of the name)",
    },
    "unset-header": {
      type: "string",
      multiple: true,
      value: "NAME",
      description: "Stop sending a header (remote deployments)",
    },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [2, 258],
  async run(ctx) {
    const [sub, slug, ...pairs] = ctx.args.positionals as [string, string, ...string[]];
    const path = `/api/deployments/${encodeURIComponent(slug)}`;
    if (sub === "ls") {
      if (pairs.length) throw new UsageError("env ls takes only the deployment.");
      const d = await ctx.client().get<DeploymentInfo>(path);
      if (ctx.bool("json")) printJson(ctx.io, d.env);
      else
        printTable(
          ctx.io,
          [...d.env, ...d.headers.map((h) => ({ name: `${h} (header)`, secret: true }))],
          [
            { header: "name", get: (e) => e.name },
            { header: "secret", get: (e) => (e.secret ? "yes" : "no") },
          ],
        );
      return EXIT.ok;
    }
    if (sub !== "set")
      throw new UsageError(`Unknown env command ${JSON.stringify(sub)}.`, { hint: "Use env set or env ls." });
    const set = parseEnvFlags(ctx, pairs);
    const unset = ctx.list("unset");
    const headers = parseHeaders(ctx.list("header"));
    const unsetHeaders = ctx.list("unset-header");
    if (!Object.keys(set).length && !unset.length && !Object.keys(headers).length && !unsetHeaders.length)
      throw new UsageError("Nothing to change.", {
        hint: 'Give KEY=VALUE pairs, --unset KEY, --header "Name: value" or --unset-header NAME.',
      });
    const d = await ctx.client().post<DeploymentInfo>(`${path}/env`, { set, unset, headers, unsetHeaders });
    if (ctx.bool("json")) printJson(ctx.io, { slug: d.slug, state: d.state, env: d.env, headers: d.headers });
    else {
      const changes = [
        ...Object.keys(set).map((k) => `set ${k}`),
        ...unset.map((k) => `unset ${k}`),
        ...Object.keys(headers).map((h) => `set header ${h}`),
        ...unsetHeaders.map((h) => `unset header ${h}`),
      ];
      ctx.io.out(`${d.slug}: ${changes.join(", ")}; ${d.state}`);
    }
    return EXIT.ok;
  },
};
