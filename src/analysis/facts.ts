import type { ServerArgument, ServerJson } from "../registry/server-json.ts";
import type { Evidence } from "./manifest.ts";

/**
 * What the deterministic extractors find in one file: small facts, each with where it was found
 * and how much that kind of place is worth (`weight`, see WEIGHTS). Facts are merged into the
 * manifest by `assemble`; nothing here decides anything.
 */
export interface Loc {
  file: string;
  line?: number | undefined;
}

export type FactSource =
  | "server.json"
  | "package.json"
  | "pyproject.toml"
  | "smithery.yaml"
  | "readme-table"
  | "readme-config"
  | "readme-prose"
  | "readme-install"
  | "dockerfile"
  | "code"
  | "registry"
  | "github";

/**
 * How much one fact from each kind of place is worth. Rationale: machine-readable manifests the
 * author maintains for tooling (server.json, package.json, pyproject, smithery.yaml) beat prose;
 * a README table or a copy-paste config block is deliberate documentation; source reads prove a
 * variable exists but not its meaning; a Dockerfile describes the image, not the package.
 */
export const WEIGHTS: Record<FactSource, number> = {
  "server.json": 1,
  registry: 0.95,
  "package.json": 0.9,
  "pyproject.toml": 0.9,
  "smithery.yaml": 0.85,
  "readme-table": 0.8,
  "readme-config": 0.8,
  code: 0.7,
  github: 0.7,
  "readme-install": 0.6,
  "readme-prose": 0.55,
  dockerfile: 0.4,
};

export interface EnvFact {
  name: string;
  source: FactSource;
  loc: Loc;
  description?: string | undefined;
  required?: boolean | undefined;
  secret?: boolean | undefined;
  default?: string | undefined;
  format?: "string" | "number" | "boolean" | "filepath" | undefined;
  choices?: string[] | undefined;
  note?: string | undefined;
}

export interface PackageFact {
  registryType: "npm" | "pypi";
  identifier: string;
  version?: string | undefined;
  bin?: string | undefined;
  /** Constant arguments after the package in a documented command line. */
  args?: ServerArgument[] | undefined;
  private?: boolean | undefined;
  source: FactSource;
  loc: Loc;
}

export interface ItemFact {
  kind: "tool" | "resource" | "prompt";
  name: string;
  description?: string | undefined;
  uri?: string | undefined;
  source: FactSource;
  loc: Loc;
}

export interface MetaFact {
  field: "name" | "description" | "version" | "title";
  value: string;
  source: FactSource;
  loc: Loc;
}

export interface SignalFact {
  strength: "strong" | "weak";
  note: string;
  loc: Loc;
}

export interface RemoteFact {
  type: "streamable-http" | "sse";
  url: string;
  source: FactSource;
  loc: Loc;
}

export interface Facts {
  env: EnvFact[];
  packages: PackageFact[];
  items: ItemFact[];
  meta: MetaFact[];
  signals: SignalFact[];
  remotes: RemoteFact[];
  serverJson?: { value: ServerJson; loc: Loc } | undefined;
  warnings: string[];
}

export function emptyFacts(): Facts {
  return { env: [], packages: [], items: [], meta: [], signals: [], remotes: [], warnings: [] };
}

export function mergeFacts(into: Facts, add: Partial<Facts>): Facts {
  into.env.push(...(add.env ?? []));
  into.packages.push(...(add.packages ?? []));
  into.items.push(...(add.items ?? []));
  into.meta.push(...(add.meta ?? []));
  into.signals.push(...(add.signals ?? []));
  into.remotes.push(...(add.remotes ?? []));
  into.warnings.push(...(add.warnings ?? []));
  if (add.serverJson && !into.serverJson) into.serverJson = add.serverJson;
  return into;
}

export function evidenceOf(f: { source: FactSource; loc: Loc; note?: string | undefined }): Evidence {
  if (f.source === "registry")
    return { kind: "registry", registry: f.loc.file === "pypi" ? "pypi" : "npm", note: f.note };
  if (f.source === "github") return { kind: "registry", registry: "github", note: f.note };
  const e: Evidence = { kind: "file", file: f.loc.file };
  if (f.loc.line) e.line = f.loc.line;
  if (f.note) e.note = f.note;
  return e;
}

/** Independent sources reinforce each other: 1 − Π(1 − w), kept below 1 unless server.json says so. */
export function combine(sources: FactSource[]): number {
  if (sources.includes("server.json")) return 1;
  const miss = sources.reduce((acc, s) => acc * (1 - WEIGHTS[s]), 1);
  return Math.min(0.99, Math.round((1 - miss) * 100) / 100);
}

/** 1-based line number of a character offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
