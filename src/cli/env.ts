import type { DeploymentInfo } from "../deployment/deployment.ts";
import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { parseEnvFlags } from "./deployments.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson, printTable } from "./output.ts";

export const env: Command = {
  name: "env",
  summary: "Set, unset or list a deployment's credentials (values are write-only)",
  usage: "catwalk env set <slug> KEY=VALUE... [--unset KEY]... | catwalk env ls <slug> [--json]",
  description:
    "Values are stored encrypted and never shown again. `KEY` without =VALUE takes the value from your shell, which keeps it out of shell history. A running deployment restarts to pick the change up.",
  subcommands: [
    {
      usage: "set <slug> KEY=VALUE... [--unset KEY]...",
      summary: "Change credentials (restarts the deployment)",
    },
    { usage: "ls <slug>", summary: "List credential names (never values)" },
  ],
  options: {
    unset: { type: "string", multiple: true, value: "KEY", description: "Remove a credential" },
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
        printTable(ctx.io, d.env, [
          { header: "name", get: (e) => e.name },
          { header: "secret", get: (e) => (e.secret ? "yes" : "no") },
        ]);
      return EXIT.ok;
    }
    if (sub !== "set")
      throw new UsageError(`Unknown env command ${JSON.stringify(sub)}.`, { hint: "Use env set or env ls." });
    const set = parseEnvFlags(ctx, pairs);
    const unset = ctx.list("unset");
    if (Object.keys(set).length === 0 && unset.length === 0)
      throw new UsageError("Nothing to change.", { hint: "Give KEY=VALUE pairs or --unset KEY." });
    const d = await ctx.client().post<DeploymentInfo>(`${path}/env`, { set, unset });
    if (ctx.bool("json")) printJson(ctx.io, { slug: d.slug, state: d.state, env: d.env });
    else
      ctx.io.out(
        `${d.slug}: ${[...Object.keys(set).map((k) => `set ${k}`), ...unset.map((k) => `unset ${k}`)].join(", ")}; ${d.state}`,
      );
    return EXIT.ok;
  },
};
