import { main } from "../../src/cli/main.ts";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with captured output and an explicit environment. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, env, { out: (t) => out.push(t), err: (t) => err.push(t), tty: false });
  return { code, out: out.join("\n"), err: err.join("\n") };
}
