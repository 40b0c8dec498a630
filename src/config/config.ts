import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { z } from "zod";
import { CatwalkError } from "../util/error.ts";
import { type EnvVars, hostEnv, processEnv } from "./env.ts";
import { type Config, ConfigSchema } from "./schema.ts";

export { type Config, ConfigSchema } from "./schema.ts";

/** A configuration value the user gave that cannot be used. The CLI exits with code 2 for it. */
export class ConfigInvalidError extends CatwalkError {
  readonly code = "config.invalid";
  readonly status = 422;
}

export type Source = "default" | `file ${string}` | `env ${string}` | `flag --${string}`;

/** A resolved configuration plus where each explicitly set key came from. */
export interface Loaded {
  config: Config & { dataDir: string };
  sources: Map<string, Source>;
  file: string | undefined;
}

export interface LoadOptions {
  env?: EnvVars;
  /** Values from command-line flags, by key path (`port`, `dataDir`, `fly.region`). */
  flags?: Record<string, unknown>;
  /** Explicit config file (`--config`); otherwise `CATWALK_CONFIG` or the default location. */
  file?: string;
}

type Kind = "string" | "number" | "boolean" | "array" | "object";

interface Leaf {
  path: string;
  env: string;
  kind: Kind;
  description: string | undefined;
  schema: z.ZodType;
}

/** Unwraps optional/default wrappers to the type a user writes. */
function inner(schema: z.ZodType): z.ZodType {
  let cur: z.ZodType = schema;
  for (;;) {
    const def = cur._zod.def as { type: string; innerType?: z.ZodType };
    if (!def.innerType) return cur;
    cur = def.innerType;
  }
}

function kindOf(schema: z.ZodType): Kind {
  const type = (inner(schema)._zod.def as { type: string }).type;
  if (type === "number" || type === "int") return "number";
  if (type === "boolean") return "boolean";
  if (type === "array") return "array";
  if (type === "object") return "object";
  return "string";
}

export function envName(path: string): string {
  const snake = path
    .split(".")
    .map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase())
    .join("_");
  return `CATWALK_${snake}`;
}

/** Every settable key of the schema, in declaration order. */
export function leaves(schema: z.ZodType = ConfigSchema, prefix = ""): Leaf[] {
  const shape = (inner(schema)._zod.def as { shape?: Record<string, z.ZodType> }).shape ?? {};
  return Object.entries(shape).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    if (kindOf(child) === "object") return leaves(child, path);
    return [{ path, env: envName(path), kind: kindOf(child), description: child.description, schema: child }];
  });
}

function coerce(leaf: Leaf, raw: string, source: Source): unknown {
  if (leaf.kind === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) {
      throw new ConfigInvalidError(`${leaf.path} (${source}) must be a number, got ${JSON.stringify(raw)}.`, {
        hint: `Set ${leaf.env} to a number, or unset it to use the default.`,
      });
    }
    return n;
  }
  if (leaf.kind === "boolean") {
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    throw new ConfigInvalidError(
      `${leaf.path} (${source}) must be true or false, got ${JSON.stringify(raw)}.`,
      {
        hint: `Set ${leaf.env} to true or false.`,
      },
    );
  }
  if (leaf.kind === "array") {
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  }
  return raw;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = target;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (typeof next === "object" && next !== null && !Array.isArray(next)) {
      cur = next as Record<string, unknown>;
      continue;
    }
    const fresh: Record<string, unknown> = {};
    cur[part] = fresh;
    cur = fresh;
  }
  cur[parts[parts.length - 1] as string] = value;
}

function flatten(value: unknown, prefix = ""): [string, unknown][] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [[prefix, value]];
  return Object.entries(value).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
}

export function defaultConfigFile(env: EnvVars): string {
  const host = hostEnv(env);
  const base = host.xdgConfigHome ?? join(host.home ?? homedir(), ".config");
  return join(base, "catwalk", "config.json");
}

export function defaultDataDir(env: EnvVars): string {
  const host = hostEnv(env);
  const base = host.xdgDataHome ?? join(host.home ?? homedir(), ".local", "share");
  return join(base, "catwalk");
}

function readFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigInvalidError(`Cannot read config file ${path}: ${(e as Error).message}.`, {
      hint: "Check the path given with --config or CATWALK_CONFIG, and its permissions.",
    });
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith(".toml") ? Bun.TOML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigInvalidError(
      `Config file ${path} is not valid ${path.endsWith(".toml") ? "TOML" : "JSON"}: ${(e as Error).message}.`,
      {
        hint: "Fix the syntax error, or move the file away to start from defaults.",
      },
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigInvalidError(`Config file ${path} must hold an object of settings.`, {
      hint: 'Write it as {"port": 7400, ...}; `catwalk config schema` lists every key.',
    });
  }
  return parsed as Record<string, unknown>;
}

/** The first problem, with every unknown key named at once so one edit fixes the file. */
function explain(issues: readonly z.core.$ZodIssue[], sources: Map<string, Source>): ConfigInvalidError {
  const unknown = issues.flatMap((i) =>
    i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path.map(String), k].join(".")) : [],
  );
  if (unknown.length > 0) {
    return new ConfigInvalidError(
      `Unknown config key${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}.`,
      {
        hint: "Remove or rename them; `catwalk config schema` lists every valid key.",
      },
    );
  }
  const issue = issues[0] as z.core.$ZodIssue;
  const path = issue.path.join(".");
  const leaf = leaves().find((l) => l.path === path);
  const source = sources.get(path) ?? "default";
  const where = source === "default" ? "" : ` (from ${source})`;
  const fix = leaf
    ? `Fix ${leaf.path}${leaf.description ? `: ${leaf.description}` : ""} Env: ${leaf.env}.`
    : "See `catwalk config schema`.";
  return new ConfigInvalidError(`Invalid config ${path || "value"}${where}: ${issue.message}.`, {
    hint: fix,
  });
}

/** Resolves the configuration: defaults < config file < `CATWALK_*` env < flags. */
export function loadConfig(opts: LoadOptions = {}): Loaded {
  const env = opts.env ?? processEnv();
  const sources = new Map<string, Source>();
  const raw: Record<string, unknown> = {};

  const explicit = opts.file ?? env.CATWALK_CONFIG;
  const file = explicit ?? defaultConfigFile(env);
  const useFile = explicit !== undefined || existsSync(file);
  if (useFile) {
    for (const [path, value] of flatten(readFile(file))) {
      setPath(raw, path, value);
      sources.set(path, `file ${file}`);
    }
  }

  for (const leaf of leaves()) {
    const value = env[leaf.env];
    if (value === undefined || value === "") continue;
    const source: Source = `env ${leaf.env}`;
    setPath(raw, leaf.path, coerce(leaf, value, source));
    sources.set(leaf.path, source);
  }

  for (const [path, value] of Object.entries(opts.flags ?? {})) {
    if (value === undefined) continue;
    setPath(raw, path, value);
    sources.set(path, `flag --${path.replace(/([A-Z])/g, "-$1").toLowerCase()}`);
  }

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw explain(parsed.error.issues, sources);
  const dataDir = resolve(parsed.data.dataDir ?? defaultDataDir(env));
  return { config: { ...parsed.data, dataDir }, sources, file: useFile ? file : undefined };
}

/** Absolute path of a file inside the data dir, or the path itself when absolute. */
export function inDataDir(config: { dataDir: string }, path: string): string {
  return isAbsolute(path) ? path : join(config.dataDir, path);
}

/** Whether a host string names only the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
}
