import { parseArgs } from "node:util";
import { Client, resolveTarget } from "../client/client.ts";
import type { EnvVars } from "../config/env.ts";
import { UsageError } from "./exit.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Shown in `catwalk help <command>`. */
  description: string;
  /** Placeholder in help output, e.g. `DIR`. */
  value?: string;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is a terminal (tables and colour); false for pipes and tests. */
  tty: boolean;
  /**
   * Asks the person at the terminal and resolves with the line typed; absent when stdin or stdout
   * is not a terminal (scripts are never prompted).
   */
  ask?(question: string): Promise<string>;
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export interface Context {
  args: Parsed;
  env: EnvVars;
  io: Io;
  /** API client for the server named by --server/--token/--data-dir, env, or the local data dir. */
  client(): Client;
  str(name: string): string | undefined;
  bool(name: string): boolean;
  list(name: string): string[];
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Longer help text shown by `catwalk help <command>`. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Subcommands shown in help (the command dispatches them itself). */
  subcommands?: { usage: string; summary: string }[];
  /** Minimum and maximum number of positional arguments. */
  positionals?: [number, number];
  run(ctx: Context): Promise<number>;
}

/** Options every command that talks to a server understands. */
export const CLIENT_OPTIONS: Record<string, OptionSpec> = {
  server: {
    type: "string",
    value: "URL",
    description: "Catwalk server URL (env CATWALK_SERVER; default: the local server)",
  },
  token: {
    type: "string",
    value: "TOKEN",
    description: "Admin token (env CATWALK_TOKEN; default: <data-dir>/admin-token)",
  },
  "data-dir": {
    type: "string",
    value: "DIR",
    description: "Data dir of the local server, to find its address and token",
  },
};

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: "boolean", description: "Print machine-readable JSON" },
};

export function parse(cmd: Command, argv: string[]): Parsed {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(cmd.options)) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  options.help = { type: "boolean", short: "h" };
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\. To specify.*$/s, "")}.`.replace(/\.\.$/, "."), {
      hint: `Usage: ${cmd.usage}. See \`catwalk help ${cmd.name}\`.`,
    });
  }
  const [min, max] = cmd.positionals ?? [0, 0];
  if (!parsed.values.help && (parsed.positionals.length < min || parsed.positionals.length > max)) {
    const what =
      parsed.positionals.length < min
        ? "Missing argument"
        : `Unexpected argument ${JSON.stringify(parsed.positionals[max])}`;
    throw new UsageError(`${what} for \`catwalk ${cmd.name}\`.`, { hint: `Usage: ${cmd.usage}` });
  }
  return parsed;
}

export function makeContext(args: Parsed, env: EnvVars, io: Io): Context {
  const str = (name: string) => {
    const v = args.values[name];
    return typeof v === "string" ? v : undefined;
  };
  let client: Client | undefined;
  return {
    args,
    env,
    io,
    client: () => {
      client ??= new Client(
        resolveTarget({ server: str("server"), token: str("token"), dataDir: str("data-dir"), env }),
      );
      return client;
    },
    str,
    bool: (name) => args.values[name] === true,
    list: (name) => {
      const v = args.values[name];
      if (Array.isArray(v)) return v;
      return typeof v === "string" ? [v] : [];
    },
  };
}

export function helpText(cmd: Command): string {
  const lines = [`${cmd.summary}`, "", `Usage: ${cmd.usage}`];
  if (cmd.description) lines.push("", cmd.description);
  if (cmd.subcommands?.length) {
    lines.push("", "Commands:");
    const width = Math.max(...cmd.subcommands.map((s) => s.usage.length));
    for (const s of cmd.subcommands) lines.push(`  ${s.usage.padEnd(width)}  ${s.summary}`);
  }
  const entries = Object.entries(cmd.options);
  if (entries.length) {
    lines.push("", "Options:");
    const labels = entries.map(
      ([name, spec]) =>
        `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`,
    );
    const width = Math.max(...labels.map((l) => l.length));
    entries.forEach(([, spec], i) => {
      lines.push(
        `  ${(labels[i] as string).padEnd(width)}  ${spec.description}${spec.multiple ? " (repeatable)" : ""}`,
      );
    });
  }
  return lines.join("\n");
}

/** `--session-mode`, checked: undefined when not given. */
export function sessionModeFlag(ctx: Context): "isolated" | "shared" | undefined {
  const mode = ctx.str("session-mode");
  if (mode === undefined || mode === "isolated" || mode === "shared") return mode;
  throw new UsageError(`--session-mode must be isolated or shared, not ${JSON.stringify(mode)}.`);
}
