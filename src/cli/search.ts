import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson, printTable } from "./output.ts";

interface Summary {
  name: string;
  description: string;
  version: string;
  status?: string;
  packages: { registryType: string; identifier: string; version?: string }[];
  remotes: { type: string; url: string }[];
}

interface SearchAnswer {
  servers: Summary[];
  nextCursor: string | null;
  skipped: number;
}

export const search: Command = {
  name: "search",
  summary: "Search the official MCP registry",
  usage: "catwalk search <query> [--json] [--limit N] [--cursor C] | catwalk search --show <name>",
  description:
    "Searches registry.modelcontextprotocol.io (mcpRegistry.url) by name. A server found here deploys from its server.json without analysing its repository: `catwalk deploy registry:<name>`. --show <name> prints one entry's manifest and credential schema.",
  options: {
    ...JSON_OPTION,
    limit: { type: "string", value: "N", description: "Results per page (1-100, default 20)" },
    cursor: { type: "string", value: "C", description: "Page cursor printed by the previous search" },
    show: { type: "boolean", description: "Treat the argument as an exact server name and print its entry" },
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    if (ctx.bool("show")) {
      const name = ctx.args.positionals[0] as string;
      printJson(ctx.io, await ctx.client().get(`/api/registry/servers/${encodeURIComponent(name)}`));
      if (!ctx.bool("json")) ctx.io.err(`Deploy it with: catwalk deploy registry:${name}`);
      return EXIT.ok;
    }
    const limit = ctx.str("limit");
    if (limit !== undefined && !/^\d{1,3}$/.test(limit))
      throw new UsageError(`--limit must be a number, not ${JSON.stringify(limit)}.`);
    const res = await ctx.client().get<SearchAnswer>("/api/registry/servers", {
      query: { search: ctx.args.positionals[0], limit, cursor: ctx.str("cursor") },
    });
    if (ctx.bool("json")) {
      printJson(ctx.io, res);
      return EXIT.ok;
    }
    printTable(
      ctx.io,
      res.servers,
      [
        { header: "name", get: (s) => s.name },
        { header: "version", get: (s) => s.version },
        {
          header: "runs as",
          get: (s) =>
            [
              ...s.packages.map((p) => `${p.registryType}:${p.identifier}`),
              ...s.remotes.map((r) => `remote:${r.type}`),
            ].join(" ") || "-",
        },
        {
          header: "description",
          get: (s) => (s.description.length > 70 ? `${s.description.slice(0, 69)}…` : s.description),
        },
      ],
      "No server matches.",
    );
    if (res.nextCursor)
      ctx.io.out(
        `More: catwalk search ${JSON.stringify(ctx.args.positionals[0])} --cursor ${res.nextCursor}`,
      );
    return EXIT.ok;
  },
};
