import { z } from "zod";
import { leaves } from "../config/config.ts";
import { isSecretKey, REDACTED } from "../log/redact.ts";
import { type Command, JSON_OPTION } from "./command.ts";
import { EXIT, UsageError } from "./exit.ts";
import { printJson, printTable } from "./output.ts";
import { configFromFlags } from "./serve.ts";

function defaultOf(schema: z.ZodType): string {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { default?: unknown };
  return json.default === undefined ? "" : JSON.stringify(json.default);
}

function lookup(obj: unknown, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>((cur, key) => (cur as Record<string, unknown> | undefined)?.[key], obj);
}

export const config: Command = {
  name: "config",
  summary: "Show configuration keys or the resolved configuration",
  usage: "catwalk config schema|show [--json] [--data-dir DIR] [--config FILE]",
  subcommands: [
    { usage: "schema", summary: "Every key with its env variable, default and meaning" },
    { usage: "show", summary: "The resolved configuration and where each value came from (secrets hidden)" },
  ],
  options: {
    ...JSON_OPTION,
    "data-dir": { type: "string", value: "DIR", description: "Data dir" },
    config: { type: "string", value: "FILE", description: "Config file (env CATWALK_CONFIG)" },
  },
  positionals: [1, 1],
  async run(ctx) {
    const sub = ctx.args.positionals[0];
    if (sub === "schema") {
      const rows = leaves().map((l) => ({
        key: l.path,
        env: l.env,
        default: defaultOf(l.schema),
        description: l.description ?? "",
      }));
      if (ctx.bool("json")) printJson(ctx.io, rows);
      else
        printTable(ctx.io, rows, [
          { header: "key", get: (r) => r.key },
          { header: "env", get: (r) => r.env },
          { header: "default", get: (r) => r.default },
          { header: "description", get: (r) => r.description },
        ]);
      return EXIT.ok;
    }
    if (sub === "show") {
      const loaded = configFromFlags(ctx);
      const rows = leaves().map((l) => {
        const value = lookup(loaded.config, l.path);
        const shown = value === undefined ? "" : isSecretKey(l.path) ? REDACTED : JSON.stringify(value);
        return { key: l.path, value: shown, source: loaded.sources.get(l.path) ?? "default" };
      });
      if (ctx.bool("json")) printJson(ctx.io, { file: loaded.file ?? null, values: rows });
      else {
        ctx.io.out(`config file: ${loaded.file ?? "(none)"}`);
        printTable(ctx.io, rows, [
          { header: "key", get: (r) => r.key },
          { header: "value", get: (r) => r.value },
          { header: "source", get: (r) => r.source },
        ]);
      }
      return EXIT.ok;
    }
    throw new UsageError(`Unknown config command ${JSON.stringify(sub)}.`, {
      hint: "Usage: catwalk config schema|show",
    });
  },
};
