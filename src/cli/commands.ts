import { admin } from "./admin.ts";
import { analyze } from "./analyze.ts";
import { clients, connectCode } from "./clients.ts";
import type { Command } from "./command.ts";
import { config } from "./config-cmd.ts";
import { deploy, ls, rm } from "./deployments.ts";
import { search } from "./search.ts";
import { serve } from "./serve.ts";
import { tui } from "./tui.ts";

/**
 * The static command table. Commands are looked up here, never discovered from the filesystem,
 * because a compiled binary has no source tree to scan. Order is the order of `catwalk help`.
 */
export const COMMANDS: readonly Command[] = [
  serve,
  deploy,
  ls,
  rm,
  analyze,
  search,
  admin,
  config,
  clients,
  connectCode,
  tui,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
