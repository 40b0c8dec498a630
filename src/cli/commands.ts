import { admin } from "./admin.ts";
import { analysis } from "./analysis.ts";
import { analyze } from "./analyze.ts";
import { bridge } from "./bridge.ts";
import { clients, connectCode } from "./clients.ts";
import type { Command } from "./command.ts";
import { config } from "./config-cmd.ts";
import { connect } from "./connect.ts";
import { deploy, ls, rm } from "./deployments.ts";
import { env } from "./env.ts";
import { fly } from "./fly.ts";
import { backup, keys, restore } from "./keys.ts";
import { restart, show, start, stop, update } from "./lifecycle.ts";
import { events, logs } from "./logs.ts";
import { search } from "./search.ts";
import { serve } from "./serve.ts";
import { metrics, status } from "./status.ts";
import { token } from "./token.ts";
import { tui } from "./tui.ts";

/**
 * The static command table. Commands are looked up here, never discovered from the filesystem,
 * because a compiled binary has no source tree to scan. Order is the order of `catwalk help`.
 */
export const COMMANDS: readonly Command[] = [
  serve,
  tui,
  status,
  deploy,
  ls,
  show,
  start,
  stop,
  restart,
  update,
  rm,
  logs,
  events,
  env,
  token,
  connect,
  analyze,
  analysis,
  search,
  clients,
  connectCode,
  keys,
  backup,
  restore,
  fly,
  metrics,
  admin,
  config,
  bridge,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
