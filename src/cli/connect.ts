import type { ConnectInfo } from "../deployment/connect.ts";
import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson } from "./output.ts";

const CLIENTS = ["desktop", "code", "curl", "all"] as const;

function fill(info: ConnectInfo, token: string): ConnectInfo {
  return JSON.parse(JSON.stringify(info).replaceAll(info.token, token)) as ConnectInfo;
}

export const connect: Command = {
  name: "connect",
  summary: "Print ready-to-paste configuration for Claude Desktop, Claude Code and curl",
  usage: "catwalk connect <slug> [--new-token [--name N]] [--client desktop|code|curl|all] [--json]",
  description:
    "Tokens are shown only when created, so the snippets carry <TOKEN> unless you pass --new-token, which creates a token for this client and fills it in. For Claude custom connectors (OAuth) use the endpoint URL alone.",
  options: {
    "new-token": { type: "boolean", description: "Create a new access token and put it in the snippets" },
    name: {
      type: "string",
      value: "N",
      description: "Name of the new token (default: connect-<client>-<date>)",
    },
    client: { type: "string", value: "CLIENT", description: "desktop, code, curl or all (default all)" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    const slug = ctx.args.positionals[0] as string;
    const which = (ctx.str("client") ?? "all") as (typeof CLIENTS)[number];
    if (!CLIENTS.includes(which)) throw new UsageError(`--client must be one of ${CLIENTS.join(", ")}.`);
    const base = `/api/deployments/${encodeURIComponent(slug)}`;
    let info = await ctx.client().get<ConnectInfo>(`${base}/connect`);
    if (ctx.bool("new-token")) {
      const name = ctx.str("name") ?? `connect-${which}-${new Date().toISOString().slice(0, 10)}`;
      const created = await ctx.client().post<{ token: string }>(`${base}/tokens`, { name });
      info = fill(info, created.token);
    }
    if (ctx.bool("json")) {
      printJson(ctx.io, info);
      return EXIT.ok;
    }
    const out = (title: string, body: string) => ctx.io.out(`# ${title}\n${body}\n`);
    ctx.io.out(`# Endpoint\n${info.url}\n`);
    if (which === "desktop" || which === "all") {
      out(
        `Claude Desktop: merge into claude_desktop_config.json (${info.claudeDesktop.file})`,
        JSON.stringify(info.claudeDesktop.config, null, 2),
      );
    }
    if (which === "code" || which === "all") out("Claude Code", info.claudeCode);
    if (which === "curl" || which === "all") out("curl (initialize)", info.curl);
    if (!ctx.bool("new-token"))
      ctx.io.err("Replace <TOKEN> with a token of this deployment, or rerun with --new-token.");
    return EXIT.ok;
  },
};
