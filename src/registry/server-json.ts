import { z } from "zod";

/**
 * The official MCP registry's `server.json` (schema 2025-12-11, camelCase), as far as Catwalk reads
 * it. Objects are loose: unknown fields are kept and ignored, so a newer schema still parses. The
 * 2025-07 draft used snake_case (`registry_type`, `version_detail`, `transport_type`);
 * `normalizeServerJson` converts such files first.
 */
export const SERVER_JSON_SCHEMA_URL =
  "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

export const InputFormat = z.enum(["string", "number", "boolean", "filepath"]);

export const Input = z.looseObject({
  description: z.string().optional(),
  isRequired: z.boolean().optional(),
  format: InputFormat.optional(),
  value: z.string().optional(),
  isSecret: z.boolean().optional(),
  default: z.string().optional(),
  placeholder: z.string().optional(),
  choices: z.array(z.string()).optional(),
});

export const KeyValueInput = Input.extend({
  name: z.string().min(1),
  variables: z.record(z.string(), Input).optional(),
});

export const PositionalArgument = Input.extend({
  type: z.literal("positional"),
  valueHint: z.string().optional(),
  isRepeated: z.boolean().optional(),
  variables: z.record(z.string(), Input).optional(),
});

export const NamedArgument = Input.extend({
  type: z.literal("named"),
  name: z.string().min(1),
  isRepeated: z.boolean().optional(),
  variables: z.record(z.string(), Input).optional(),
});

export const Argument = z.discriminatedUnion("type", [PositionalArgument, NamedArgument]);

const HttpTransport = z.looseObject({
  type: z.enum(["streamable-http", "sse"]),
  url: z.string().min(1),
  headers: z.array(KeyValueInput).optional(),
});

export const Transport = z.union([z.looseObject({ type: z.literal("stdio") }), HttpTransport]);

export const Package = z.looseObject({
  registryType: z.string().min(1),
  registryBaseUrl: z.string().optional(),
  identifier: z.string().min(1),
  version: z.string().min(1).optional(),
  fileSha256: z.string().optional(),
  runtimeHint: z.string().optional(),
  transport: Transport.optional(),
  runtimeArguments: z.array(Argument).optional(),
  packageArguments: z.array(Argument).optional(),
  environmentVariables: z.array(KeyValueInput).optional(),
});

export const Remote = HttpTransport.extend({ variables: z.record(z.string(), Input).optional() });

export const Repository = z.looseObject({
  url: z.string(),
  source: z.string(),
  id: z.string().optional(),
  subfolder: z.string().optional(),
});

export const ServerJson = z.looseObject({
  $schema: z.string().optional(),
  name: z
    .string()
    .min(3)
    .max(200)
    .regex(/^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/, "reverse-DNS name with exactly one '/'"),
  title: z.string().optional(),
  description: z.string(),
  version: z.string().min(1),
  repository: Repository.optional(),
  websiteUrl: z.string().optional(),
  packages: z.array(Package).optional(),
  remotes: z.array(Remote).optional(),
  _meta: z.record(z.string(), z.unknown()).optional(),
});

export type ServerJson = z.infer<typeof ServerJson>;
export type ServerPackage = z.infer<typeof Package>;
export type ServerRemote = z.infer<typeof Remote>;
export type ServerArgument = z.infer<typeof Argument>;
export type ServerKeyValueInput = z.infer<typeof KeyValueInput>;

function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function convert(value: unknown, depth: number): unknown {
  if (depth > 12) return value;
  if (Array.isArray(value)) return value.map((v) => convert(v, depth + 1));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "_meta" || k === "$schema") {
      out[k] = v;
      continue;
    }
    const key = k === "transport_type" ? "type" : camel(k);
    out[key] = convert(v, depth + 1);
  }
  return out;
}

const SNAKE_KEYS =
  /"(version_detail|registry_type|registry_base_url|environment_variables|package_arguments|runtime_arguments|runtime_hint|transport_type|is_required|is_secret|value_hint|is_repeated|website_url)"\s*:/;

/** Converts a 2025-07 snake_case file (and `version_detail.version`) to the current camelCase form. */
export function normalizeServerJson(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  if (!SNAKE_KEYS.test(JSON.stringify(raw))) return raw;
  const out = convert(raw, 0) as Record<string, unknown>;
  const detail = out.versionDetail as { version?: unknown } | undefined;
  if (out.version === undefined && typeof detail?.version === "string") out.version = detail.version;
  delete out.versionDetail;
  return out;
}

export type ParsedServerJson = { ok: true; value: ServerJson } | { ok: false; issues: string[] };

export function parseServerJson(raw: unknown): ParsedServerJson {
  const res = ServerJson.safeParse(normalizeServerJson(raw));
  if (res.success) return { ok: true, value: res.data };
  return {
    ok: false,
    issues: res.error.issues.slice(0, 10).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`),
  };
}
