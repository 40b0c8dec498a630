import { z } from "zod";
import { ENV_NAME } from "../registry/names.ts";
import { Argument, InputFormat, SERVER_JSON_SCHEMA_URL, type ServerJson } from "../registry/server-json.ts";

/**
 * The manifest: what analysis found out about one MCP server, shaped like the official registry's
 * `server.json` so `toServerJson` can export it, with the evidence and a confidence (0–1) for
 * every field. Evidence is a file and line, a registry answer, Claude, or a verification run.
 */
export const Evidence = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("file"),
    file: z.string(),
    line: z.number().int().positive().optional(),
    note: z.string().optional(),
  }),
  z.object({ kind: z.literal("claude"), note: z.string().optional() }),
  z.object({
    kind: z.literal("registry"),
    registry: z.enum(["npm", "pypi", "mcp-registry", "github"]),
    note: z.string().optional(),
  }),
  z.object({ kind: z.literal("verification"), note: z.string().optional() }),
]);
export type Evidence = z.infer<typeof Evidence>;

const Confidence = z.number().min(0).max(1);

function field<T extends z.ZodType>(value: T) {
  return z.object({ value, evidence: z.array(Evidence), confidence: Confidence });
}

export const StringField = field(z.string());
export type StringField = z.infer<typeof StringField>;
export const BoolField = field(z.boolean());
export type BoolField = z.infer<typeof BoolField>;

export const EnvVar = z.object({
  name: z.string().regex(ENV_NAME),
  description: z.string(),
  isRequired: z.boolean(),
  isSecret: z.boolean(),
  default: z.string().optional(),
  format: InputFormat,
  choices: z.array(z.string()).optional(),
  /** A regular expression the value must match (Catwalk extension; not exported to server.json). */
  pattern: z.string().optional(),
  evidence: z.array(Evidence),
  confidence: Confidence,
});
export type EnvVar = z.infer<typeof EnvVar>;

export const PackageArgument = z.object({
  argument: Argument,
  evidence: z.array(Evidence),
  confidence: Confidence,
});
export type PackageArgument = z.infer<typeof PackageArgument>;

export const PackageCheckView = z.object({
  exists: z.boolean(),
  resolvedVersion: z.string().optional(),
  latest: z.string().optional(),
  deprecated: z.string().optional(),
  yanked: z.string().optional(),
  declaredRepository: z.string().optional(),
  provenance: z.enum(["match", "mismatch", "undeclared", "not_checked"]),
  error: z.string().optional(),
});
export type PackageCheckView = z.infer<typeof PackageCheckView>;

export const ManifestPackage = z.object({
  registryType: z.enum(["npm", "pypi"]),
  identifier: StringField,
  version: StringField,
  runtimeHint: z.enum(["npx", "uvx"]),
  /** npm bin or Python console script that starts the server (Catwalk extension). */
  bin: StringField.optional(),
  transport: z.object({ type: z.literal("stdio") }),
  packageArguments: z.array(PackageArgument),
  environmentVariables: z.array(EnvVar),
  check: PackageCheckView.optional(),
});
export type ManifestPackage = z.infer<typeof ManifestPackage>;

export const ManifestRemote = z.object({
  type: z.enum(["streamable-http", "sse"]),
  url: z.string(),
  headers: z.array(EnvVar),
  evidence: z.array(Evidence),
  confidence: Confidence,
});
export type ManifestRemote = z.infer<typeof ManifestRemote>;

export const CapabilityItem = z.object({
  name: z.string(),
  description: z.string().optional(),
  /** Resource URI or URI template, for resources. */
  uri: z.string().optional(),
  declared: z.boolean(),
  verified: z.boolean(),
  evidence: z.array(Evidence),
  confidence: Confidence,
});
export type CapabilityItem = z.infer<typeof CapabilityItem>;

export const Verification = z.object({
  status: z.enum(["verified", "needs_credentials", "failed"]),
  at: z.string(),
  serverInfo: z.object({ name: z.string(), version: z.string() }).optional(),
  protocolVersion: z.string().optional(),
  tools: z.array(z.object({ name: z.string(), description: z.string().optional() })),
  resources: z.array(
    z.object({ name: z.string(), uri: z.string().optional(), description: z.string().optional() }),
  ),
  prompts: z.array(z.object({ name: z.string(), description: z.string().optional() })),
  /** Required variables that were not given and that the failure mentions or implies. */
  missingCredentials: z.array(z.string()),
  error: z.string().optional(),
  /** What the server printed on stderr (last 40 lines). */
  stderr: z.array(z.string()),
  /** The runtime's own steps: install, start, exit, restart (absent in analyses made before it existed). */
  lifecycle: z.array(z.string()).optional(),
});
export type Verification = z.infer<typeof Verification>;

export const Manifest = z.object({
  schemaVersion: z.literal(1),
  name: StringField,
  title: StringField.optional(),
  description: StringField,
  version: StringField,
  repository: z
    .object({
      url: z.string(),
      source: z.literal("github"),
      id: z.string().optional(),
      subfolder: z.string().optional(),
      commit: z.string().optional(),
    })
    .optional(),
  isMcpServer: BoolField,
  packages: z.array(ManifestPackage),
  remotes: z.array(ManifestRemote),
  tools: z.array(CapabilityItem),
  resources: z.array(CapabilityItem),
  prompts: z.array(CapabilityItem),
  verification: Verification.optional(),
  analysis: z.object({
    /** `server.json`: the repository's own server.json; `registry`: the MCP registry entry. */
    mode: z.enum(["deterministic", "claude", "server.json", "registry"]),
    model: z.string().optional(),
    filesRead: z.array(z.string()),
  }),
});
export type Manifest = z.infer<typeof Manifest>;

function envToInput(e: EnvVar) {
  return {
    name: e.name,
    ...(e.description ? { description: e.description } : {}),
    isRequired: e.isRequired,
    isSecret: e.isSecret,
    ...(e.default !== undefined ? { default: e.default } : {}),
    format: e.format,
    ...(e.choices ? { choices: e.choices } : {}),
  };
}

/** The manifest as an official `server.json` (evidence, confidence and Catwalk extensions dropped). */
export function toServerJson(m: Manifest): ServerJson {
  const out: ServerJson = {
    $schema: SERVER_JSON_SCHEMA_URL,
    name: m.name.value,
    description: m.description.value.slice(0, 100),
    version: m.version.value,
  };
  if (m.title) out.title = m.title.value;
  if (m.repository) {
    out.repository = { url: m.repository.url, source: "github" };
    if (m.repository.id) out.repository.id = m.repository.id;
    if (m.repository.subfolder) out.repository.subfolder = m.repository.subfolder;
  }
  if (m.packages.length) {
    out.packages = m.packages.map((p) => ({
      registryType: p.registryType,
      registryBaseUrl: p.registryType === "npm" ? "https://registry.npmjs.org" : "https://pypi.org",
      identifier: p.identifier.value,
      version: p.version.value,
      runtimeHint: p.runtimeHint,
      transport: { type: "stdio" as const },
      ...(p.packageArguments.length ? { packageArguments: p.packageArguments.map((a) => a.argument) } : {}),
      ...(p.environmentVariables.length
        ? { environmentVariables: p.environmentVariables.map(envToInput) }
        : {}),
    }));
  }
  if (m.remotes.length) {
    out.remotes = m.remotes.map((r) => ({
      type: r.type,
      url: r.url,
      ...(r.headers.length ? { headers: r.headers.map(envToInput) } : {}),
    }));
  }
  return out;
}
