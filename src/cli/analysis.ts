import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { parseEnvFlags } from "./deployments.ts";
import { EXIT, UsageError } from "./exit.ts";
import { ago, printJson, printTable } from "./output.ts";

interface AnalysisSummary {
  id: string;
  source: string;
  status: string;
  commit: string;
  createdAt: string;
  manifest: { name: { value: string } } | null;
}

const USAGE =
  "catwalk analysis ls | show <id> | server-json <id> | schema <id> | validate <id> KEY=VALUE... [--json]";

export const analysis: Command = {
  name: "analysis",
  summary: "Look at past analyses: list, show, export as server.json, credential schema, check credentials",
  usage: USAGE,
  description: "`catwalk analyze <source>` starts an analysis; this command reads the stored ones.",
  subcommands: [
    { usage: "ls", summary: "Recent analyses, newest first" },
    { usage: "show <id>", summary: "One analysis with its manifest (JSON)" },
    { usage: "server-json <id>", summary: "The manifest as an official registry server.json" },
    { usage: "schema <id>", summary: "The JSON Schema a deployment's credentials must satisfy" },
    {
      usage: "validate <id> KEY=VALUE...",
      summary: "Check credentials against that schema, naming each problem",
    },
  ],
  options: { ...JSON_OPTION, ...CLIENT_OPTIONS },
  positionals: [1, 258],
  async run(ctx) {
    const [sub, id, ...pairs] = ctx.args.positionals as [string, string | undefined, ...string[]];
    const client = ctx.client();
    if (sub === "ls") {
      const { analyses } = await client.get<{ analyses: AnalysisSummary[] }>("/api/analyses");
      if (ctx.bool("json")) printJson(ctx.io, analyses);
      else
        printTable(ctx.io, analyses, [
          { header: "id", get: (a) => a.id },
          { header: "status", get: (a) => a.status },
          { header: "server", get: (a) => a.manifest?.name.value ?? "-" },
          { header: "source", get: (a) => a.source },
          { header: "created", get: (a) => ago(a.createdAt) },
        ]);
      return EXIT.ok;
    }
    if (!id)
      throw new UsageError(`analysis ${sub} needs an analysis id (ana_…).`, { hint: `Usage: ${USAGE}` });
    const base = `/api/analyses/${encodeURIComponent(id)}`;
    if (sub === "show") printJson(ctx.io, await client.get(base));
    else if (sub === "server-json") printJson(ctx.io, await client.get(`${base}/server-json`));
    else if (sub === "schema") printJson(ctx.io, await client.get(`${base}/credential-schema`));
    else if (sub === "validate") {
      const result = await client.post<{
        ok: boolean;
        errors: { field: string; code: string; message: string }[];
      }>(`${base}/credentials/validate`, {
        values: parseEnvFlags(ctx, pairs),
      });
      if (ctx.bool("json")) printJson(ctx.io, result);
      else if (result.ok) ctx.io.out("the credentials satisfy the schema");
      else for (const e of result.errors) ctx.io.out(`${e.field}: ${e.code} — ${e.message}`);
      return result.ok ? EXIT.ok : EXIT.usage;
    } else
      throw new UsageError(`Unknown analysis command ${JSON.stringify(sub)}.`, { hint: `Usage: ${USAGE}` });
    return EXIT.ok;
  },
};
