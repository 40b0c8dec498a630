import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { ago, printJson, printTable } from "./output.ts";

interface TokenInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

type NewToken = TokenInfo & { token: string };

const USAGE = "catwalk token ls|create|revoke|rotate <slug> [<token-id|name>] [--name N] [--json]";

export const token: Command = {
  name: "token",
  summary: "Manage a deployment's access tokens (each shown once, stored hashed)",
  usage: USAGE,
  description:
    "Revoking a token refuses its next request and ends the sessions opened with it; rotating replaces it with a new token of the same name.",
  subcommands: [
    { usage: "ls <slug>", summary: "List tokens with created and last-used times" },
    { usage: "create <slug> [--name N]", summary: "Create a token and print it once" },
    { usage: "revoke <slug> <token-id|name>", summary: "Revoke a token" },
    { usage: "rotate <slug> <token-id|name>", summary: "Replace a token; the old one stops working at once" },
  ],
  options: {
    name: { type: "string", value: "N", description: "Name of a new token (default: cli-<date>)" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [2, 3],
  async run(ctx) {
    const [sub, slug, ref] = ctx.args.positionals as [string, string, string | undefined];
    const base = `/api/deployments/${encodeURIComponent(slug)}/tokens`;
    const client = ctx.client();
    const needsRef = sub === "revoke" || sub === "rotate";
    if (needsRef && !ref)
      throw new UsageError(`token ${sub} needs the token id or name.`, {
        hint: `Usage: catwalk token ${sub} <slug> <token-id|name>`,
      });
    if (!needsRef && ref)
      throw new UsageError(`token ${sub} takes no token argument.`, { hint: `Usage: ${USAGE}` });
    const shown = (t: NewToken) => {
      if (ctx.bool("json")) return printJson(ctx.io, t);
      ctx.io.out(t.token);
      ctx.io.err(`token ${t.name} (${t.id}) for ${slug}: shown only now, store it safely.`);
    };
    if (sub === "ls") {
      const { tokens } = await client.get<{ tokens: TokenInfo[] }>(base);
      if (ctx.bool("json")) printJson(ctx.io, tokens);
      else
        printTable(ctx.io, tokens, [
          { header: "id", get: (t) => t.id },
          { header: "name", get: (t) => t.name },
          { header: "created", get: (t) => ago(t.createdAt) },
          { header: "last used", get: (t) => ago(t.lastUsedAt) },
          { header: "status", get: (t) => (t.revokedAt ? `revoked ${ago(t.revokedAt)}` : "active") },
        ]);
      return EXIT.ok;
    }
    if (sub === "create") {
      const name = ctx.str("name") ?? `cli-${new Date().toISOString().slice(0, 10)}`;
      shown(await client.post<NewToken>(base, { name }));
      return EXIT.ok;
    }
    if (sub === "rotate") {
      shown(await client.post<NewToken>(`${base}/${encodeURIComponent(ref as string)}/rotate`));
      return EXIT.ok;
    }
    if (sub === "revoke") {
      const t = await client.delete<TokenInfo>(`${base}/${encodeURIComponent(ref as string)}`);
      if (ctx.bool("json")) printJson(ctx.io, t);
      else ctx.io.out(`revoked token ${t.name} (${t.id})`);
      return EXIT.ok;
    }
    throw new UsageError(`Unknown token command ${JSON.stringify(sub)}.`, { hint: `Usage: ${USAGE}` });
  },
};
