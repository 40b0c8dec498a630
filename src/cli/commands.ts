import { admin } from "./admin.ts";
import { analyze } from "./analyze.ts";
import type { Command } from "./command.ts";
import { config } from "./config-cmd.ts";
import { search } from "./search.ts";
import { serve } from "./serve.ts";

/**
 * The static command table. Commands are looked up here, never discovered from the filesystem,
 * because a compiled binary has no source tree to scan. Order is the order of `catwalk help`.
 */
export const COMMANDS: readonly Command[] = [serve, admin, config, analyze, search];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
