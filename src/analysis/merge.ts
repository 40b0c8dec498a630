import { isNpmName, isPypiName, isSafeArg } from "../registry/names.ts";
import type { ClaudeResult } from "./claude.ts";
import { looksSecret } from "./extract/common.ts";
import { stripHtmlComments } from "./extract/readme.ts";
import type { RepoFile } from "./github.ts";
import type { CapabilityItem, EnvVar, Evidence, Manifest, ManifestPackage } from "./manifest.ts";

/**
 * Folds Claude's answer into the deterministic draft. The rules, so that a fooled or wrong model
 * cannot make a deployment unsafe:
 * - Claude fills gaps; it never replaces a value with confidence ≥ 0.6 from files (disagreements
 *   become warnings).
 * - Every name Claude adds (variable, tool, resource, prompt) must occur in the repository text
 *   we sent; otherwise it is dropped with a warning.
 * - Package names and arguments pass the same strict validators as everything else.
 * - Secrets only ever get stricter: Claude may mark a variable secret, never un-secret one.
 * - A variable only Claude knows about is added as optional, with low confidence; Claude may make
 *   a known variable required only when the code reads it or a table/config documents it.
 */
const CLAUDE_CONFIDENCE = 0.6;
const CLAUDE_ONLY = 0.4;
const ITEM_NAME = /^[A-Za-z0-9_.:/{}-]{1,128}$/;
const FLAG = /^-{1,2}[A-Za-z0-9][A-Za-z0-9_-]*$/;

export interface MergeResult {
  manifest: Manifest;
  warnings: string[];
}

function claudeEv(note: string): Evidence {
  return { kind: "claude", note: note.slice(0, 300) };
}

function grounded(corpus: string, name: string): boolean {
  return corpus.includes(name);
}

function mergeEnv(
  pkg: ManifestPackage,
  claude: ClaudeResult,
  open: Set<string>,
  corpus: string,
  warnings: string[],
): void {
  for (const c of claude.environmentVariables) {
    const mine = pkg.environmentVariables.find((e) => e.name === c.name);
    if (!mine) {
      if (!grounded(corpus, c.name)) {
        warnings.push(
          `Claude named ${c.name}, which appears nowhere in the repository files; it was dropped.`,
        );
        continue;
      }
      const added: EnvVar = {
        name: c.name,
        description: c.description,
        isRequired: false,
        isSecret: c.isSecret || looksSecret(c.name),
        ...(c.default !== null && !c.isRequired ? { default: c.default } : {}),
        format: c.format,
        evidence: [
          claudeEv(
            `${c.evidence}${c.isRequired ? " (Claude says required; kept optional until evidence confirms)" : ""}`,
          ),
        ],
        confidence: CLAUDE_ONLY,
      };
      pkg.environmentVariables.push(added);
      continue;
    }
    const touched: string[] = [];
    if (open.has(c.name) && !mine.description && c.description) {
      mine.description = c.description;
      touched.push("description");
    }
    // Required-ness needs a variable the code reads or a table/config documents (confidence ≥ 0.6):
    // prose mentions alone are exactly what an injected README paragraph looks like.
    if (open.has(c.name) && mine.confidence >= CLAUDE_CONFIDENCE && c.isRequired !== mine.isRequired) {
      mine.isRequired = c.isRequired;
      if (c.isRequired) delete mine.default;
      touched.push(c.isRequired ? "required" : "optional");
    }
    if (
      open.has(c.name) &&
      !mine.isRequired &&
      mine.default === undefined &&
      c.default !== null &&
      !c.isRequired
    ) {
      mine.default = c.default;
      touched.push("default");
    }
    if (c.isSecret && !mine.isSecret) {
      mine.isSecret = true;
      touched.push("secret");
    } else if (!c.isSecret && mine.isSecret) {
      warnings.push(`Claude called ${c.name} not secret; it stays secret.`);
    }
    if (touched.length) {
      mine.evidence.push(claudeEv(`${touched.join(", ")}: ${c.evidence}`));
      mine.confidence = Math.min(0.95, Math.max(mine.confidence, 0.5) + 0.05);
    }
  }
}

function mergeItems(
  list: CapabilityItem[],
  claude: ClaudeResult["tools"],
  kind: string,
  corpus: string,
  warnings: string[],
): void {
  for (const c of claude) {
    if (!ITEM_NAME.test(c.name)) {
      warnings.push(
        `Claude proposed an invalid ${kind} name ${JSON.stringify(c.name.slice(0, 60))}; it was dropped.`,
      );
      continue;
    }
    const mine = list.find((i) => i.name === c.name);
    if (mine) {
      if (!mine.description && c.description) mine.description = c.description;
      mine.evidence.push(claudeEv(c.evidence));
      mine.confidence = Math.min(0.95, mine.confidence + 0.1);
      continue;
    }
    if (!grounded(corpus, c.name)) {
      warnings.push(
        `Claude named the ${kind} ${c.name}, which appears nowhere in the repository files; it was dropped.`,
      );
      continue;
    }
    list.push({
      name: c.name,
      ...(c.description ? { description: c.description } : {}),
      ...(c.uri ? { uri: c.uri } : {}),
      declared: true,
      verified: false,
      evidence: [claudeEv(c.evidence)],
      confidence: CLAUDE_ONLY,
    });
  }
}

function mergePackage(m: Manifest, claude: ClaudeResult, corpus: string, warnings: string[]): void {
  const c = claude.package;
  const mine = m.packages[0];
  if (mine) {
    if (c && c.identifier !== mine.identifier.value) {
      warnings.push(
        `Claude proposed the package ${JSON.stringify(c.identifier.slice(0, 80))}; the one the files declare (${mine.identifier.value}) was kept.`,
      );
    }
    if (!mine.bin && c?.bin && isSafeArg(c.bin) && grounded(corpus, c.bin)) {
      mine.bin = { value: c.bin, evidence: [claudeEv(c.evidence)], confidence: CLAUDE_CONFIDENCE };
    }
    return;
  }
  if (!c) return;
  const valid = c.registryType === "npm" ? isNpmName(c.identifier) : isPypiName(c.identifier);
  if (!valid || !grounded(corpus, c.identifier)) {
    warnings.push(
      `Claude proposed the package ${JSON.stringify(c.identifier.slice(0, 80))}, which is not a valid ${c.registryType} name found in the files; it was dropped.`,
    );
    return;
  }
  m.packages.push({
    registryType: c.registryType,
    identifier: { value: c.identifier, evidence: [claudeEv(c.evidence)], confidence: 0.5 },
    version: { value: "", evidence: [], confidence: 0 },
    runtimeHint: c.registryType === "npm" ? "npx" : "uvx",
    ...(c.bin && isSafeArg(c.bin)
      ? { bin: { value: c.bin, evidence: [claudeEv(c.evidence)], confidence: 0.5 } }
      : {}),
    transport: { type: "stdio" },
    packageArguments: [],
    environmentVariables: [],
  });
}

function mergeArgs(pkg: ManifestPackage, claude: ClaudeResult, warnings: string[]): void {
  if (pkg.packageArguments.length > 0 || claude.packageArguments.length === 0) return;
  for (const a of claude.packageArguments) {
    const okName = a.type === "positional" || (a.name !== null && FLAG.test(a.name));
    const okValue = a.value === null || isSafeArg(a.value);
    if (!okName || !okValue || (a.type === "positional" && a.value === null)) {
      warnings.push(
        `Claude proposed an unsafe or incomplete argument ${JSON.stringify(`${a.name ?? ""} ${a.value ?? ""}`.trim().slice(0, 60))}; it was dropped.`,
      );
      continue;
    }
    const argument =
      a.type === "named"
        ? {
            type: "named" as const,
            name: a.name as string,
            ...(a.value !== null ? { value: a.value } : {}),
            description: a.description,
          }
        : { type: "positional" as const, value: a.value as string, description: a.description };
    pkg.packageArguments.push({ argument, evidence: [claudeEv(a.description)], confidence: 0.5 });
  }
}

export function mergeClaude(
  draft: Manifest,
  claude: ClaudeResult,
  ctx: { openEnv: Set<string>; files: RepoFile[]; model: string },
): MergeResult {
  const m = structuredClone(draft);
  const warnings: string[] = [];
  // Grounding uses what Claude was shown: README HTML comments are blanked there too.
  const corpus = ctx.files
    .map((f) => (/readme/i.test(f.path) ? stripHtmlComments(f.text) : f.text))
    .join("\n");
  if (m.isMcpServer.confidence < CLAUDE_CONFIDENCE) {
    m.isMcpServer = {
      value: claude.isMcpServer,
      evidence: [...m.isMcpServer.evidence, claudeEv(claude.isMcpServerReason)],
      confidence: CLAUDE_CONFIDENCE,
    };
  } else if (claude.isMcpServer !== m.isMcpServer.value) {
    warnings.push(
      `Claude said this is ${claude.isMcpServer ? "" : "not "}an MCP server; the file evidence says otherwise and was kept.`,
    );
  }
  if (claude.description && m.description.confidence < CLAUDE_CONFIDENCE) {
    m.description = {
      value: claude.description,
      evidence: [claudeEv("summary of the repository")],
      confidence: CLAUDE_CONFIDENCE,
    };
  }
  mergePackage(m, claude, corpus, warnings);
  const pkg = m.packages[0];
  if (pkg && m.analysis.mode !== "server.json") {
    mergeEnv(pkg, claude, ctx.openEnv, corpus, warnings);
    mergeArgs(pkg, claude, warnings);
  }
  mergeItems(m.tools, claude.tools, "tool", corpus, warnings);
  mergeItems(m.resources, claude.resources, "resource", corpus, warnings);
  mergeItems(m.prompts, claude.prompts, "prompt", corpus, warnings);
  for (const n of claude.notes) warnings.push(`Claude noted: ${n}`);
  m.analysis = {
    ...m.analysis,
    mode: m.analysis.mode === "server.json" ? "server.json" : "claude",
    model: ctx.model,
  };
  return { manifest: m, warnings };
}
