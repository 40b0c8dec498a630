import { createConnectCode, listOAuthClients, revokeOAuthClient } from "../client/oauth.ts";
import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { ago, printJson, printTable } from "./output.ts";

export const clients: Command = {
  name: "clients",
  summary: "List or revoke the OAuth clients (e.g. Claude) connected to a deployment",
  usage: "catwalk clients ls <deployment> [--json] | catwalk clients revoke <deployment> <client-id>",
  description:
    "A deployment is named by its slug or id. Revoking ends every grant the client holds for the deployment at once: its access and refresh tokens stop working and it has to be approved again.",
  subcommands: [
    { usage: "ls <deployment>", summary: "Connected clients: id, name, redirect hosts, last use, grants" },
    {
      usage: "revoke <deployment> <client-id>",
      summary: "Revoke every grant of the client for the deployment",
    },
  ],
  options: { ...JSON_OPTION, ...CLIENT_OPTIONS },
  positionals: [2, 3],
  async run(ctx) {
    const [sub, deployment, clientId] = ctx.args.positionals as [string, string, string | undefined];
    if (sub === "ls" && clientId === undefined) {
      const rows = await listOAuthClients(ctx.client(), deployment);
      if (ctx.bool("json")) printJson(ctx.io, rows);
      else
        printTable(
          ctx.io,
          rows,
          [
            { header: "client id", get: (r) => r.clientId },
            { header: "name", get: (r) => r.clientName ?? "-" },
            { header: "redirects to", get: (r) => r.redirectHosts.join(",") },
            { header: "connected", get: (r) => ago(r.createdAt) },
            { header: "last used", get: (r) => ago(r.lastUsedAt) },
            { header: "grants", get: (r) => String(r.activeGrants) },
          ],
          `(no OAuth clients connected to ${deployment})`,
        );
      return EXIT.ok;
    }
    if (sub === "revoke" && clientId !== undefined) {
      const revoked = await revokeOAuthClient(ctx.client(), deployment, clientId);
      ctx.io.out(`revoked ${revoked} grant${revoked === 1 ? "" : "s"} of ${clientId} for ${deployment}`);
      return EXIT.ok;
    }
    throw new UsageError(
      `Unknown or incomplete clients command ${JSON.stringify(ctx.args.positionals.join(" "))}.`,
      {
        hint: `Usage: ${clients.usage}`,
      },
    );
  },
};

export const connectCode: Command = {
  name: "connect-code",
  summary: "Make a one-time code that approves an OAuth client (e.g. Claude) for a deployment",
  usage: "catwalk connect-code <deployment> [--json]",
  description:
    "Prints a short code and the deployment's MCP URL. Add the URL to the client (Claude: Settings → Connectors → Add custom connector); on the consent page that opens, type the code instead of the admin token. The code works once, only for this deployment, and expires (oauth.connectCodeTtlSeconds).",
  options: { ...JSON_OPTION, ...CLIENT_OPTIONS },
  positionals: [1, 1],
  async run(ctx) {
    const issued = await createConnectCode(ctx.client(), ctx.args.positionals[0] as string);
    if (ctx.bool("json")) {
      printJson(ctx.io, issued);
      return EXIT.ok;
    }
    const minutes = Math.max(1, Math.round((new Date(issued.expiresAt).getTime() - Date.now()) / 60_000));
    ctx.io.out(issued.code);
    ctx.io.err(`MCP URL:  ${issued.resource}`);
    ctx.io.err(
      `One-time code for ${issued.deployment.slug}; expires in ${minutes} min. Type it on the consent page.`,
    );
    return EXIT.ok;
  },
};
