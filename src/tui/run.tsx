import { render } from "ink";
import type { Client } from "../client/client.ts";
import { TuiApi } from "./api.ts";
import { App } from "./app.tsx";

export interface RunOptions {
  client: Client;
  noColor: boolean;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
}

/** Shows the cursor, leaves the alternate screen and raw mode: for exits Ink could not clean up. */
export const RESTORE = "\x1b[?25h\x1b[?1049l";

/**
 * Runs the TUI in the alternate screen until the operator quits (0), or SIGTERM (143), SIGHUP
 * (129) or SIGINT (130) ends it, or an unexpected error does (1, message on stderr after the
 * terminal is restored). Every path unmounts Ink, which restores raw mode, the cursor and the
 * screen.
 */
export async function runTui(opts: RunOptions): Promise<number> {
  const stdin = opts.stdin ?? process.stdin;
  const stdout = opts.stdout ?? process.stdout;
  let code = 0;
  let fatal: unknown;
  const instance = render(<App api={new TuiApi(opts.client)} noColor={opts.noColor} />, {
    stdin,
    stdout,
    alternateScreen: true,
    // Ink turns interactivity off in CI environments; the caller checked for a terminal already.
    interactive: true,
    exitOnCtrlC: false,
    patchConsole: true,
    maxFps: 30,
  });
  const end = (c: number) => () => {
    code = c;
    instance.unmount();
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGTERM", end(143)],
    ["SIGHUP", end(129)],
    ["SIGINT", end(130)],
  ];
  const crash = (e: unknown) => {
    fatal = e;
    end(1)();
  };
  for (const [sig, h] of handlers) process.on(sig, h);
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  try {
    await instance.waitUntilExit();
  } catch (e) {
    fatal ??= e;
    code = 1;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
    process.off("uncaughtException", crash);
    process.off("unhandledRejection", crash);
    if (stdin.isTTY) stdin.setRawMode?.(false);
  }
  if (fatal !== undefined) {
    stdout.write(RESTORE);
    const message = fatal instanceof Error ? fatal.message : String(fatal);
    process.stderr.write(`error: the TUI stopped unexpectedly: ${message}\n`);
    process.stderr.write("hint: this is a bug in catwalk; please report it with the steps that led to it.\n");
    return 1;
  }
  return code;
}
