import { parseServerJson } from "../../registry/server-json.ts";
import { MCP_SDKS } from "../../registry/validate.ts";
import type { EnvFact, Facts, Loc, MetaFact, PackageFact } from "../facts.ts";
import type { RepoFile } from "../github.ts";
import { isNoiseEnv } from "./common.ts";

/** Extractors for machine-readable files: server.json, package.json, pyproject.toml, smithery.yaml, Dockerfile. */

const JS_MCP_DEPS = MCP_SDKS.npm;
const PY_MCP_DEPS = MCP_SDKS.pypi;

/** 1-based line of the first match of `re`, if any. */
function lineOf(text: string, re: RegExp): number | undefined {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => re.test(l));
  return i >= 0 ? i + 1 : undefined;
}

function loc(file: RepoFile, re?: RegExp): Loc {
  return { file: file.path, line: re ? lineOf(file.text, re) : undefined };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function fromServerJson(file: RepoFile): Partial<Facts> {
  let raw: unknown;
  try {
    raw = JSON.parse(file.text);
  } catch {
    return { warnings: [`${file.path} is not valid JSON; it was ignored.`] };
  }
  const parsed = parseServerJson(raw);
  if (!parsed.ok) {
    return {
      warnings: [
        `${file.path} does not follow the server.json schema (${parsed.issues.join("; ")}); it was ignored.`,
      ],
    };
  }
  return {
    serverJson: { value: parsed.value, loc: { file: file.path, line: 1 } },
    signals: [
      { strength: "strong", note: "official MCP registry server.json", loc: { file: file.path, line: 1 } },
    ],
  };
}

type Json = Record<string, unknown>;

function pickBin(name: string, bin: unknown): string | undefined {
  const short = name.replace(/^@[^/]+\//, "");
  if (typeof bin === "string") return short;
  if (!bin || typeof bin !== "object") return undefined;
  const keys = Object.keys(bin);
  if (keys.length === 1) return keys[0];
  return keys.find((k) => k === short) ?? keys.find((k) => /mcp/i.test(k)) ?? keys[0];
}

export function fromPackageJson(file: RepoFile): Partial<Facts> {
  let pkg: Json;
  try {
    pkg = JSON.parse(file.text) as Json;
  } catch {
    return { warnings: [`${file.path} is not valid JSON; it was ignored.`] };
  }
  if (typeof pkg !== "object" || pkg === null) return {};
  const out: Partial<Facts> = { meta: [], packages: [], signals: [] };
  const name = typeof pkg.name === "string" ? pkg.name : undefined;
  const deps = { ...(pkg.dependencies as Json | undefined), ...(pkg.peerDependencies as Json | undefined) };
  for (const dep of JS_MCP_DEPS) {
    if (dep in deps)
      out.signals?.push({
        strength: "strong",
        note: `depends on ${dep}`,
        loc: loc(file, new RegExp(`"${escapeRe(dep)}"`)),
      });
  }
  if (typeof pkg.mcpName === "string") {
    out.meta?.push({
      field: "name",
      value: pkg.mcpName,
      source: "package.json",
      loc: loc(file, /"mcpName"/),
    });
    out.signals?.push({ strength: "strong", note: "declares mcpName", loc: loc(file, /"mcpName"/) });
  }
  if (typeof pkg.description === "string" && pkg.description.trim()) {
    out.meta?.push({
      field: "description",
      value: pkg.description.trim(),
      source: "package.json",
      loc: loc(file, /"description"/),
    });
  }
  if (name) {
    out.packages?.push({
      registryType: "npm",
      identifier: name,
      version: typeof pkg.version === "string" ? pkg.version : undefined,
      bin: pickBin(name, pkg.bin),
      private: pkg.private === true,
      source: "package.json",
      loc: loc(file, /"name"\s*:/),
    });
  }
  if (/\bmcp\b/i.test(name ?? ""))
    out.signals?.push({ strength: "weak", note: "package name mentions MCP", loc: loc(file, /"name"/) });
  return out;
}

interface Pyproject {
  project?: {
    name?: unknown;
    version?: unknown;
    description?: unknown;
    dependencies?: unknown;
    scripts?: unknown;
    dynamic?: unknown;
  };
  tool?: {
    poetry?: {
      name?: unknown;
      version?: unknown;
      description?: unknown;
      dependencies?: unknown;
      scripts?: unknown;
    };
  };
}

function depName(spec: string): string {
  return (spec.split(/[\s[<>=!~;(]/, 1)[0] ?? "").toLowerCase().replace(/[-_.]+/g, "-");
}

function pickScript(name: string, scripts: unknown): string | undefined {
  if (!scripts || typeof scripts !== "object") return undefined;
  const keys = Object.keys(scripts);
  if (keys.length === 1) return keys[0];
  return keys.find((k) => k === name) ?? keys.find((k) => /mcp|server/i.test(k)) ?? keys[0];
}

export function fromPyproject(file: RepoFile): Partial<Facts> {
  let doc: Pyproject;
  try {
    doc = Bun.TOML.parse(file.text) as Pyproject;
  } catch {
    return { warnings: [`${file.path} is not valid TOML; it was ignored.`] };
  }
  const p = doc.project ?? {};
  const poetry = doc.tool?.poetry ?? {};
  // PEP 621 [project] first, Poetry's [tool.poetry] for older projects.
  const text = (key: "name" | "version" | "description"): string | undefined => {
    const value = typeof p[key] === "string" ? p[key] : poetry[key];
    return typeof value === "string" ? value : undefined;
  };
  const name = text("name");
  const version = text("version");
  const description = text("description");
  const deps = [
    ...(Array.isArray(p.dependencies) ? p.dependencies.map(String).map(depName) : []),
    ...(poetry.dependencies && typeof poetry.dependencies === "object"
      ? Object.keys(poetry.dependencies).map(depName)
      : []),
  ];
  const out: Partial<Facts> = { meta: [], packages: [], signals: [] };
  for (const dep of PY_MCP_DEPS) {
    if (deps.includes(dep)) {
      out.signals?.push({
        strength: "strong",
        note: `depends on ${dep}`,
        loc: loc(file, new RegExp(`["']${dep}[\\[<>=!~"' ]`)),
      });
    }
  }
  if (description?.trim())
    out.meta?.push({
      field: "description",
      value: description.trim(),
      source: "pyproject.toml",
      loc: loc(file, /^description\s*=/),
    });
  if (name) {
    out.packages?.push({
      registryType: "pypi",
      identifier: name,
      version,
      bin: pickScript(name, p.scripts ?? poetry.scripts),
      source: "pyproject.toml",
      loc: loc(file, /^name\s*=/),
    });
  }
  return out;
}

interface SmitheryProp {
  type?: unknown;
  description?: unknown;
  default?: unknown;
  enum?: unknown;
}

function formatOf(type: unknown): EnvFact["format"] {
  if (type === "number" || type === "integer") return "number";
  if (type === "boolean") return "boolean";
  return "string";
}

export function fromSmithery(file: RepoFile): Partial<Facts> {
  let doc: { startCommand?: { type?: unknown; configSchema?: Json; commandFunction?: unknown } };
  try {
    doc = Bun.YAML.parse(file.text) as typeof doc;
  } catch {
    return { warnings: [`${file.path} is not valid YAML; it was ignored.`] };
  }
  const start = doc?.startCommand;
  const out: Partial<Facts> = {
    env: [],
    signals: [{ strength: "strong", note: "smithery.yaml start command", loc: loc(file, /startCommand/) }],
  };
  if (!start) return out;
  const schema = start.configSchema ?? {};
  const props = (schema.properties ?? {}) as Record<string, SmitheryProp>;
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  const fn = typeof start.commandFunction === "string" ? start.commandFunction : "";
  const mapping = new Map<string, string>();
  for (const m of fn.matchAll(/([A-Z][A-Z0-9_]*)\s*:\s*config\.([A-Za-z0-9_]+)/g))
    mapping.set(m[2] ?? "", m[1] ?? "");
  for (const [prop, spec] of Object.entries(props)) {
    const env = mapping.get(prop);
    if (!env) continue;
    out.env?.push({
      name: env,
      source: "smithery.yaml",
      loc: loc(file, new RegExp(`^\\s+${escapeRe(prop)}:`)),
      description: typeof spec.description === "string" ? spec.description : undefined,
      required: required.has(prop),
      default: spec.default === undefined || spec.default === null ? undefined : String(spec.default),
      format: formatOf(spec.type),
      choices: Array.isArray(spec.enum) ? spec.enum.map(String) : undefined,
      note: `configSchema property ${prop}`,
    });
  }
  const unmapped = Object.keys(props).filter((p) => !mapping.has(p));
  if (unmapped.length) {
    out.warnings = [
      `${file.path}: config properties ${unmapped.join(", ")} are not passed as environment variables; they were not mapped.`,
    ];
  }
  return out;
}

export function fromDockerfile(file: RepoFile): Partial<Facts> {
  const env: EnvFact[] = [];
  file.text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const m = /^ENV\s+(.+)$/i.exec(line);
    if (!m) return;
    const body = m[1] ?? "";
    const pairs = body.includes("=")
      ? [...body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)].map((p) => [
          p[1] ?? "",
          (p[2] ?? "").replace(/^"|"$/g, ""),
        ])
      : [body.split(/\s+/, 2) as [string, string]];
    for (const [name, value] of pairs) {
      if (!name || isNoiseEnv(name)) continue;
      env.push({
        name,
        source: "dockerfile",
        loc: { file: file.path, line: i + 1 },
        default: value,
        note: "ENV in the Dockerfile",
      });
    }
  });
  return { env };
}

export function metaOf(meta: MetaFact[], field: MetaFact["field"]): MetaFact[] {
  return meta.filter((m) => m.field === field);
}

export type { PackageFact };
