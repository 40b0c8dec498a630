import { hostEnv } from "../config/env.ts";
import { CLIENT_OPTIONS, type Command } from "./command.ts";
import { UsageError } from "./exit.ts";

export const tui: Command = {
  name: "tui",
  summary: "Operate deployments in an interactive terminal UI",
  usage: "catwalk tui [--server URL] [--token TOKEN] [--data-dir DIR]",
  description:
    "Dashboard of every deployment (live), details with tokens, connect snippets, calls and OAuth clients, logs, events and a new-deployment wizard. It talks to the server over the HTTP API only: the local server and <data-dir>/admin-token by default. Press ? inside for every key. Honours NO_COLOR.",
  options: { ...CLIENT_OPTIONS },
  async run(ctx) {
    if (!ctx.io.tty || process.stdin.isTTY !== true) {
      throw new UsageError("catwalk tui needs an interactive terminal (stdin and stdout must be a TTY).", {
        hint: "Run it in a terminal (over SSH: ssh -t host catwalk tui). Scripts use `catwalk ls`, `catwalk deploy` and the HTTP API.",
      });
    }
    const client = ctx.client();
    const { runTui } = await import("../tui/run.tsx");
    return runTui({ client, noColor: hostEnv(ctx.env).noColor });
  },
};
