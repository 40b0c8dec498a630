import { type EnvVars, processEnv } from "../config/env.ts";
import { CatwalkError, messageOf } from "../util/error.ts";
import { COMMIT, VERSION } from "../version.ts";
import { helpText, type Io, makeContext, parse } from "./command.ts";
import { COMMANDS, findCommand } from "./commands.ts";
import { EXIT, exitCodeFor } from "./exit.ts";

/** One line from the terminal; the prompt goes to stderr so stdout stays clean for the output. */
async function ask(question: string): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export const stdio: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  tty: process.stdout.isTTY === true,
  ...(process.stdin.isTTY === true && process.stdout.isTTY === true ? { ask } : {}),
};

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `catwalk ${VERSION}: turn MCP servers into stable, authenticated Streamable HTTP endpoints`,
    "",
    "Usage: catwalk <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `catwalk help <command>` for its options. `catwalk --version` prints the version.",
  ].join("\n");
}

/** Prints a failure as message + hint; unknown errors get a pointer to the log instead of a stack. */
export function report(io: Io, e: unknown): number {
  if (e instanceof CatwalkError) {
    io.err(`error: ${e.message}`);
    if (e.hint) io.err(`hint: ${e.hint}`);
    return exitCodeFor(e);
  }
  io.err(`error: unexpected failure: ${messageOf(e)}`);
  io.err("hint: this is a bug in catwalk; run again with CATWALK_LOG_LEVEL=debug and report the output.");
  return EXIT.failure;
}

export async function main(argv: string[], env: EnvVars = processEnv(), io: Io = stdio): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h") {
    io.out(overview());
    return first === undefined ? EXIT.usage : EXIT.ok;
  }
  if (first === "--version" || first === "-v" || first === "version") {
    io.out(`catwalk ${VERSION} (${COMMIT})`);
    return EXIT.ok;
  }
  if (first === "help") {
    const name = rest[0];
    if (!name) {
      io.out(overview());
      return EXIT.ok;
    }
    const cmd = findCommand(name);
    if (!cmd) return report(io, unknownCommand(name));
    io.out(helpText(cmd));
    return EXIT.ok;
  }
  const cmd = findCommand(first);
  if (!cmd) return report(io, unknownCommand(first));
  try {
    const args = parse(cmd, rest);
    if (args.values.help) {
      io.out(helpText(cmd));
      return EXIT.ok;
    }
    return await cmd.run(makeContext(args, env, io));
  } catch (e) {
    return report(io, e);
  }
}

class UnknownCommandError extends CatwalkError {
  readonly code = "cli.unknown_command";
  readonly status = 400;
}

function unknownCommand(name: string): UnknownCommandError {
  const close = COMMANDS.map((c) => c.name).filter((c) => c.startsWith(name.slice(0, 2)));
  return new UnknownCommandError(`Unknown command ${JSON.stringify(name)}.`, {
    hint: close.length
      ? `Did you mean ${close.join(" or ")}? Run \`catwalk --help\` for all commands.`
      : "Run `catwalk --help` for all commands.",
  });
}
