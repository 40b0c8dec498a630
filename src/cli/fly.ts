import { deleteFlyOrphans, listFlyOrphans } from "../client/fly.ts";
import { CLIENT_OPTIONS, type Command, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson } from "./output.ts";

export const fly: Command = {
  name: "fly",
  summary: "Fly.io runtime housekeeping: list (and delete) orphaned Catwalk apps",
  usage: "catwalk fly gc [--yes] [--json]",
  description:
    "An app whose name starts with fly.appPrefix but belongs to no deployment of this server is an orphan (a deployment removed while Fly was unreachable, a data dir that was reset). `gc` lists them; with --yes it deletes them and everything in them. Servers sharing one Fly organization need distinct fly.appPrefix values, or each sees the other's apps as orphans.",
  subcommands: [{ usage: "gc [--yes]", summary: "List orphaned apps; delete them with --yes" }],
  options: {
    yes: { type: "boolean", description: "Delete the orphaned apps (without it, only list them)" },
    ...JSON_OPTION,
    ...CLIENT_OPTIONS,
  },
  positionals: [1, 1],
  async run(ctx) {
    if (ctx.args.positionals[0] !== "gc") {
      throw new UsageError(`Unknown fly command ${JSON.stringify(ctx.args.positionals[0])}.`, {
        hint: `Usage: ${fly.usage}`,
      });
    }
    const yes = ctx.bool("yes");
    const result = yes ? await deleteFlyOrphans(ctx.client()) : await listFlyOrphans(ctx.client());
    if (ctx.bool("json")) {
      printJson(ctx.io, result);
      return EXIT.ok;
    }
    if (result.orphaned.length === 0) {
      ctx.io.out("no orphaned Fly apps");
      return EXIT.ok;
    }
    for (const app of result.orphaned) {
      ctx.io.out(`${app}${result.deleted.includes(app) ? "  deleted" : ""}`);
    }
    if (!yes) ctx.io.err(`${result.orphaned.length} orphaned; run \`catwalk fly gc --yes\` to delete them.`);
    return EXIT.ok;
  },
};
