import { isExactSemver, isNpmName, isPep440, isPypiName } from "../registry/names.ts";
import type { ServerJson, ServerKeyValueInput } from "../registry/server-json.ts";
import { looksSecret } from "./extract/common.ts";
import {
  combine,
  type EnvFact,
  evidenceOf,
  type FactSource,
  type Facts,
  type ItemFact,
  type PackageFact,
  WEIGHTS,
} from "./facts.ts";
import type {
  BoolField,
  CapabilityItem,
  EnvVar,
  Evidence,
  Manifest,
  ManifestPackage,
  ManifestRemote,
  StringField,
} from "./manifest.ts";

/**
 * Turns facts into a draft manifest, deterministically. Per field, the value comes from the most
 * trusted place that states it (see WEIGHTS) and the confidence grows with every independent
 * place that agrees. A repository's own `server.json` is authoritative: when present, packages,
 * remotes and environment variables come from it alone, and other evidence only adds warnings
 * and the declared tools/resources/prompts. Returns the open questions left for Claude.
 */
export interface RepoContext {
  owner: string;
  repo: string;
  repoId?: number | undefined;
  description?: string | undefined;
  subdir: string;
  commit: string;
}

export interface Assembled {
  manifest: Manifest;
  /** Variables whose required-ness or description no evidence stated. */
  openEnv: Set<string>;
  /** Fields Claude may fill: description, package, isMcpServer, env, tools. */
  questions: string[];
  warnings: string[];
}

function uniqueEvidence(list: Evidence[]): Evidence[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const key = JSON.stringify(e);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function byWeight<T extends { source: FactSource }>(facts: T[]): T[] {
  return [...facts].sort((a, b) => WEIGHTS[b.source] - WEIGHTS[a.source]);
}

function strField(
  value: string,
  facts: { source: FactSource; loc: { file: string; line?: number | undefined }; note?: string }[],
): StringField {
  return {
    value,
    evidence: uniqueEvidence(facts.map(evidenceOf)),
    confidence: combine(facts.map((f) => f.source)),
  };
}

function sources(group: { source: FactSource }[]): FactSource[] {
  return [...new Set(group.map((f) => f.source))];
}

/** Named only in README prose while the scanned code reads other variables: likely not used. */
function proseOnly(group: EnvFact[]): boolean {
  return group.every(
    (f) => f.source === "readme-prose" || f.source === "readme-install" || f.source === "dockerfile",
  );
}

function formatFor(name: string, fact: EnvFact | undefined, def: string | undefined): EnvVar["format"] {
  if (fact?.format) return fact.format;
  if (/_(PATH|DIR|DIRECTORY|FILE)$/.test(name)) return "filepath";
  if (def !== undefined && /^-?\d+(\.\d+)?$/.test(def)) return "number";
  if (def !== undefined && /^(true|false)$/i.test(def)) return "boolean";
  return "string";
}

function assembleEnv(facts: EnvFact[], open: Set<string>): EnvVar[] {
  const groups = new Map<string, EnvFact[]>();
  for (const f of facts) groups.set(f.name, [...(groups.get(f.name) ?? []), f]);
  const out: EnvVar[] = [];
  const codeScanned = facts.some((f) => f.source === "code");
  for (const [name, raw] of groups) {
    if (raw.every((f) => f.source === "dockerfile")) continue;
    const group = byWeight(raw);
    const first = <K extends keyof EnvFact>(k: K) => group.find((f) => f[k] !== undefined)?.[k];
    let required = first("required") as boolean | undefined;
    const implied = required === undefined && group.some((f) => f.source === "readme-config");
    if (required === undefined) required = implied;
    const description = (first("description") as string | undefined) ?? "";
    if (first("required") === undefined || description === "") open.add(name);
    const def = required ? undefined : (first("default") as string | undefined);
    const secret = group.some((f) => f.secret === true) || looksSecret(name);
    const withFormat = group.find((f) => f.format !== undefined);
    const choices = first("choices") as string[] | undefined;
    out.push({
      name,
      description,
      isRequired: required,
      isSecret: secret,
      ...(def !== undefined ? { default: def } : {}),
      format: formatFor(name, withFormat, def),
      ...(choices ? { choices } : {}),
      evidence: uniqueEvidence(group.map(evidenceOf)),
      confidence:
        proseOnly(group) && codeScanned
          ? Math.round(combine(sources(group)) * 60) / 100
          : combine(sources(group)),
    });
  }
  return out.sort((a, b) => Number(b.isRequired) - Number(a.isRequired) || a.name.localeCompare(b.name));
}

function envFromServerJson(inputs: ServerKeyValueInput[] | undefined, ev: Evidence): EnvVar[] {
  return (inputs ?? [])
    .filter((i) => /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(i.name))
    .map((i) => ({
      name: i.name,
      description: i.description ?? "",
      isRequired: i.isRequired === true,
      isSecret: i.isSecret === true || (i.isSecret === undefined && looksSecret(i.name)),
      ...(i.default !== undefined ? { default: i.default } : {}),
      format: i.format ?? "string",
      ...(i.choices ? { choices: i.choices } : {}),
      evidence: [ev],
      confidence: 1,
    }));
}

function assembleItems(facts: ItemFact[], kind: ItemFact["kind"]): CapabilityItem[] {
  const groups = new Map<string, ItemFact[]>();
  for (const f of facts.filter((x) => x.kind === kind)) {
    const key = kind === "resource" && f.uri ? f.uri : f.name;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  return [...groups.values()].map((raw) => {
    const group = byWeight(raw);
    const name = (group.find((f) => !f.name.includes("://")) ?? group[0])?.name ?? "";
    const description = group.find((f) => f.description)?.description;
    const uri = group.find((f) => f.uri)?.uri;
    return {
      name,
      ...(description ? { description } : {}),
      ...(uri ? { uri } : {}),
      declared: true,
      verified: false,
      evidence: uniqueEvidence(group.map(evidenceOf)),
      confidence: combine([...new Set(group.map((f) => f.source))]),
    };
  });
}

function validIdentifier(p: PackageFact): boolean {
  return p.registryType === "npm" ? isNpmName(p.identifier) : isPypiName(p.identifier);
}

function validVersion(p: PackageFact): boolean {
  if (!p.version) return false;
  return p.registryType === "npm" ? isExactSemver(p.version) : isPep440(p.version);
}

/** Picks the package the evidence agrees on most; published packages only (not `private`). */
function choosePackage(facts: PackageFact[]): { pkg: ManifestPackage; also: string[] } | undefined {
  const groups = new Map<string, PackageFact[]>();
  for (const f of facts.filter((x) => !x.private && validIdentifier(x))) {
    const key = `${f.registryType}:${f.registryType === "pypi" ? f.identifier.toLowerCase().replace(/[-_.]+/g, "-") : f.identifier}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const ranked = [...groups.values()]
    .map((g) => ({ g: byWeight(g), score: combine([...new Set(g.map((f) => f.source))]) }))
    .sort((a, b) => b.score - a.score);
  const best = ranked[0];
  if (!best) return undefined;
  const top = best.g[0] as PackageFact;
  const versioned = best.g.filter(validVersion);
  const withBin = best.g.find((f) => f.bin);
  const withArgs = best.g.find((f) => f.args && f.args.length > 0);
  const pkg: ManifestPackage = {
    registryType: top.registryType,
    identifier: strField(top.identifier, best.g),
    version: versioned[0]
      ? strField(
          versioned[0].version as string,
          versioned.filter((f) => f.version === versioned[0]?.version),
        )
      : { value: "", evidence: [], confidence: 0 },
    runtimeHint: top.registryType === "npm" ? "npx" : "uvx",
    ...(withBin?.bin ? { bin: strField(withBin.bin, [withBin]) } : {}),
    transport: { type: "stdio" },
    packageArguments: (withArgs?.args ?? []).map((argument) => ({
      argument,
      evidence: [evidenceOf(withArgs as PackageFact)],
      confidence: WEIGHTS[(withArgs as PackageFact).source],
    })),
    environmentVariables: [],
  };
  const also = ranked.slice(1).map((r) => `${r.g[0]?.registryType}:${r.g[0]?.identifier}`);
  return { pkg, also };
}

export function packagesFromServerJson(sj: ServerJson, ev: Evidence, warnings: string[]): ManifestPackage[] {
  const out: ManifestPackage[] = [];
  for (const p of sj.packages ?? []) {
    if (p.registryType !== "npm" && p.registryType !== "pypi") {
      warnings.push(
        `server.json lists a ${p.registryType} package (${p.identifier}); Catwalk runs npm and PyPI packages only.`,
      );
      continue;
    }
    const env = envFromServerJson(p.environmentVariables, ev);
    out.push({
      registryType: p.registryType,
      identifier: { value: p.identifier, evidence: [ev], confidence: 1 },
      version: { value: p.version ?? "", evidence: p.version ? [ev] : [], confidence: p.version ? 1 : 0 },
      runtimeHint: p.registryType === "npm" ? "npx" : "uvx",
      transport: { type: "stdio" },
      packageArguments: (p.packageArguments ?? []).map((argument) => ({
        argument,
        evidence: [ev],
        confidence: 1,
      })),
      environmentVariables: env,
    });
  }
  return out;
}

export function remotesFromServerJson(sj: ServerJson, ev: Evidence): ManifestRemote[] {
  return (sj.remotes ?? []).map((r) => ({
    type: r.type,
    url: r.url,
    headers: envFromServerJson(r.headers, ev),
    evidence: [ev],
    confidence: 1,
  }));
}

function isMcp(facts: Facts): BoolField {
  const strong = facts.signals.filter((s) => s.strength === "strong");
  const weak = facts.signals.filter((s) => s.strength === "weak");
  const ev = (list: typeof facts.signals) =>
    uniqueEvidence(
      list.map(
        (s): Evidence =>
          s.loc.file === "npm" || s.loc.file === "pypi"
            ? { kind: "registry", registry: s.loc.file, note: s.note }
            : { kind: "file", file: s.loc.file, ...(s.loc.line ? { line: s.loc.line } : {}), note: s.note },
      ),
    );
  if (strong.length)
    return {
      value: true,
      evidence: ev(strong),
      confidence: Math.min(0.99, 0.9 + 0.03 * (strong.length - 1)),
    };
  if (weak.length) return { value: true, evidence: ev(weak), confidence: 0.45 };
  return {
    value: false,
    evidence: [
      {
        kind: "registry",
        registry: "github",
        note: "no server.json, smithery.yaml, MCP SDK dependency or SDK import found",
      },
    ],
    confidence: 0.85,
  };
}

function githubEvidence(note: string): Evidence {
  return { kind: "registry", registry: "github", note };
}

function baseName(ctx: RepoContext): string {
  const last = ctx.subdir ? (ctx.subdir.split("/").at(-1) ?? ctx.repo) : ctx.repo;
  const clean = last.replace(/[^a-zA-Z0-9._-]/g, "-");
  return `io.github.${ctx.owner.replace(/[^a-zA-Z0-9.-]/g, "-")}/${clean}`;
}

export function assemble(facts: Facts, ctx: RepoContext, filesRead: string[]): Assembled {
  const warnings = [...facts.warnings];
  const questions: string[] = [];
  const open = new Set<string>();
  const sj = facts.serverJson;
  const sjEv: Evidence | undefined = sj ? { kind: "file", file: sj.loc.file, line: 1 } : undefined;
  const meta = (field: "name" | "description" | "version" | "title") =>
    byWeight(facts.meta.filter((m) => m.field === field));

  let packages: ManifestPackage[];
  let remotes: ManifestRemote[];
  if (sj && sjEv) {
    packages = packagesFromServerJson(sj.value, sjEv, warnings);
    remotes = remotesFromServerJson(sj.value, sjEv);
    const declared = new Set([
      ...packages.flatMap((p) => p.environmentVariables.map((e) => e.name)),
      ...remotes.flatMap((r) => r.headers.map((h) => h.name)),
    ]);
    const undeclared = [
      ...new Set(facts.env.filter((e) => e.source === "code" && !declared.has(e.name)).map((e) => e.name)),
    ];
    if (undeclared.length)
      warnings.push(`The code reads ${undeclared.join(", ")}, which server.json does not declare.`);
  } else {
    const chosen = choosePackage(facts.packages);
    packages = chosen ? [chosen.pkg] : [];
    if (chosen?.also.length)
      warnings.push(
        `Other packages are mentioned too: ${chosen.also.join(", ")}; the best-supported one was chosen.`,
      );
    const env = assembleEnv(facts.env, open);
    if (chosen) chosen.pkg.environmentVariables = env;
    remotes = dedupeRemotes(facts.remotes).map((r) => ({
      type: r.type,
      url: r.url,
      headers: [],
      evidence: [evidenceOf(r)],
      confidence: WEIGHTS[r.source],
    }));
    if (!chosen) questions.push("package");
    if (open.size) questions.push("env");
  }

  const nameFacts = meta("name");
  const name: StringField = sj
    ? { value: sj.value.name, evidence: [sjEv as Evidence], confidence: 1 }
    : nameFacts[0]
      ? strField(
          nameFacts[0].value,
          nameFacts.filter((m) => m.value === nameFacts[0]?.value),
        )
      : {
          value: baseName(ctx),
          evidence: [githubEvidence("derived from the repository name")],
          confidence: 0.5,
        };

  const descFacts = meta("description").filter((m) => m.source !== "readme-prose");
  const proseDesc = meta("description").find((m) => m.source === "readme-prose");
  let description: StringField;
  if (sj) description = { value: sj.value.description, evidence: [sjEv as Evidence], confidence: 1 };
  else if (descFacts[0]) description = strField(descFacts[0].value, [descFacts[0]]);
  else if (ctx.description)
    description = {
      value: ctx.description,
      evidence: [githubEvidence("repository description")],
      confidence: 0.7,
    };
  else if (proseDesc) description = strField(proseDesc.value, [proseDesc]);
  else description = { value: "", evidence: [], confidence: 0 };
  if (description.confidence < 0.6) questions.push("description");

  const pkgVersion = packages[0]?.version;
  const version: StringField = sj
    ? { value: sj.value.version, evidence: [sjEv as Evidence], confidence: 1 }
    : pkgVersion?.value
      ? pkgVersion
      : {
          value: `0.0.0-git.${ctx.commit.slice(0, 7)}`,
          evidence: [githubEvidence("no released version; the commit")],
          confidence: 0.3,
        };

  const isMcpServer: BoolField = sj
    ? { value: true, evidence: [sjEv as Evidence], confidence: 1 }
    : isMcp(facts);
  if (isMcpServer.confidence < 0.6) questions.push("isMcpServer");
  questions.push("capabilities");

  const manifest: Manifest = {
    schemaVersion: 1,
    name,
    ...(sj?.value.title
      ? { title: { value: sj.value.title, evidence: [sjEv as Evidence], confidence: 1 } }
      : {}),
    description,
    version,
    repository: {
      url: `https://github.com/${ctx.owner}/${ctx.repo}`,
      source: "github",
      ...(ctx.repoId ? { id: String(ctx.repoId) } : {}),
      ...(ctx.subdir ? { subfolder: ctx.subdir } : {}),
      commit: ctx.commit,
    },
    isMcpServer,
    packages,
    remotes,
    tools: assembleItems(facts.items, "tool"),
    resources: assembleItems(facts.items, "resource"),
    prompts: assembleItems(facts.items, "prompt"),
    analysis: { mode: sj ? "server.json" : "deterministic", filesRead },
  };
  return { manifest, openEnv: open, questions, warnings };
}

function dedupeRemotes(list: Facts["remotes"]): Facts["remotes"] {
  const seen = new Set<string>();
  return list.filter((r) => {
    if (seen.has(r.url)) return false;
    seen.add(r.url);
    return true;
  });
}
