import type { Io } from "../../src/cli/command.ts";
import { main } from "../../src/cli/main.ts";

export interface CliResult {
  code: number;
  out: string;
  err: string;
  /** The questions the command asked (only when run as at a terminal, with `answers`). */
  asked: string[];
}

/**
 * Runs the CLI in-process with captured output and an explicit environment. With `answers`, it
 * runs as at a terminal: each question the command asks gets the next answer.
 */
export async function cli(
  args: string[],
  env: Record<string, string> = {},
  answers?: string[],
): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), tty: answers !== undefined };
  if (answers) {
    const queue = [...answers];
    io.ask = async (question) => {
      asked.push(question);
      return queue.shift() ?? "";
    };
  }
  const code = await main(args, env, io);
  return { code, out: out.join("\n"), err: err.join("\n"), asked };
}
